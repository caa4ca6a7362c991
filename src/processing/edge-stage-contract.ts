/**
 * What the frame pipeline (pipeline.ts) and its edge stage (edge-stage.ts) exchange per frame:
 * the stage's interface, its input and its outputs.
 * @module
 */
import type { RawValue } from '../bsread/decoder.js'
import type { ProfileInKernel } from '../kernel/profiles.js'
import type { EdgeResult } from './edge-result.js'
import type { Roi } from './roi.js'
import type { Snapshot } from './settings.js'

/** The edge outputs of one frame (float64 channels; edge_status int32): the finder's result. */
export type EdgeOutputs = EdgeResult

/** What the edge stage gets per frame. */
export interface EdgeStageInput<P extends object> {
  pulseId: bigint
  snapshot: Snapshot<P>
  /**
   * Signal ROI profile, left in kernel memory (valid during the call); undefined when it could
   * not be computed (see `problem`).
   */
  signal: ProfileInKernel | undefined
  background: ProfileInKernel | undefined
  /** Profile of the reference ROI (when the parameters select one). */
  reference: ProfileInKernel | undefined
  /** The event channel's value (when the parameters name one), undefined when absent. */
  event: RawValue | undefined
  /** Why the signal profile is missing: 'roi_outside_frame' | 'no_image' | 'no_signal_roi'. */
  problem: 'roi_outside_frame' | 'no_image' | 'no_signal_roi' | undefined
}

/** The science step (src/processing/edge-stage.ts wraps the EdgeFinder). */
export interface EdgeStage<P extends object> {
  /** An extra ROI whose profile the edge finder wants (reference ROI), or undefined. */
  referenceRoi(snapshot: Snapshot<P>): Roi | undefined
  /** The name of an input channel the edge finder wants (event channel), or undefined. */
  eventChannel(snapshot: Snapshot<P>): string | undefined
  process(input: EdgeStageInput<P>): EdgeOutputs
}
