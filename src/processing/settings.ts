/**
 * The settings a frame is processed with: both ROIs and the processing parameters, held as one
 * immutable snapshot. A change builds a new snapshot (and its `processing_parameters` JSON, once)
 * and swaps the reference, so every frame sees one consistent set and nothing is torn, however
 * many updates arrive while streaming.
 * @module
 */
import type { Roi } from './roi.js'

/** The parameter model the settings use (src/processing/parameters.ts provides it). */
export interface ParameterModel<P extends object> {
  defaults(): P
  /** Validates a partial update against the current parameters; throws with a readable message. */
  merge(current: P, partial: unknown): P
  /** Parameters as reported in `processing_parameters` and by GET /parameters. */
  toJson(p: P): Record<string, unknown>
  /** Saved parameters of an older version, brought up to this one (before `merge`). */
  upgradeSaved?(saved: unknown): unknown
}

export interface Snapshot<P extends object> {
  /** Increments on every change. */
  readonly version: number
  readonly roiSignal: Roi
  readonly roiBackground: Roi
  readonly parameters: Readonly<P>
  /** The data stream's `processing_parameters` value for frames processed with this snapshot. */
  readonly json: string
}

/** Builds a snapshot; the JSON lists the ROIs first, as the old service did. */
export function makeSnapshot<P extends object>(
  model: ParameterModel<P>,
  version: number,
  roiSignal: Roi,
  roiBackground: Roi,
  parameters: P,
): Snapshot<P> {
  const json = JSON.stringify({
    roi_signal: roiSignal,
    roi_background: roiBackground,
    ...model.toJson(parameters),
  })
  return Object.freeze({
    version,
    roiSignal: Object.freeze([...roiSignal]) as Roi,
    roiBackground: Object.freeze([...roiBackground]) as Roi,
    parameters: Object.freeze(parameters),
    json,
  })
}
