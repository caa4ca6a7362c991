/**
 * Connects the EdgeFinder (src/processing/edge-finder.ts) to the pipeline: picks the reference
 * ROI and event channel the parameters ask for, decodes the event value, hands each frame's
 * profiles with the frame's own parameter snapshot, and keeps the edge statistics.
 * @module
 */
import { decodeValue, type RawValue } from '../bsread/decoder.js'
import type { BsreadCodec } from '../bsread/types.js'
import type { Kernel } from '../kernel/kernel.js'
import { EdgeFinder } from './edge-finder.js'
import { emptyResult } from './edge-result.js'
import { EdgeStatistics } from './edge-statistics.js'
import { EdgeStatus, type ProcessingParameters } from './parameters.js'
import type { EdgeOutputs, EdgeStage, EdgeStageInput } from './edge-stage-contract.js'
import type { Roi } from './roi.js'
import type { Snapshot } from './settings.js'

type EventValue = number | bigint | boolean | string | null

/** An event value is a scalar or a few elements: anything bigger is no event (not decoded). */
const MAX_EVENT_BYTES = 4096

/** The default edge stage of the service. */
export class FinderStage implements EdgeStage<ProcessingParameters> {
  readonly finder: EdgeFinder
  /** Rolling median / std of valid edges, for /statistics; reset when the signal ROI changes. */
  readonly edgeStatistics = new EdgeStatistics()
  readonly #codec: BsreadCodec | undefined
  #roi: readonly number[] = []

  constructor(kernel: Kernel, opts: { codec?: BsreadCodec } = {}) {
    this.finder = new EdgeFinder(kernel)
    this.#codec = opts.codec
  }

  referenceRoi(s: Snapshot<ProcessingParameters>): Roi | undefined {
    const r = s.parameters.reference
    return r.mode === 'reference_roi' ? (r.roi as Roi) : undefined
  }

  eventChannel(s: Snapshot<ProcessingParameters>): string | undefined {
    const r = s.parameters.reference
    return r.mode === 'event_channel' ? r.channel : undefined
  }

  process(input: EdgeStageInput<ProcessingParameters>): EdgeOutputs {
    const snap = input.snapshot
    let out: EdgeOutputs
    if (input.problem === 'no_image') {
      out = emptyResult(EdgeStatus.error)
    } else {
      out = this.finder.process(
        {
          pulseId: input.pulseId,
          signal: input.signal ?? null,
          signalRoi: snap.roiSignal,
          signalRoiOutside: input.problem === 'roi_outside_frame',
          background: input.background ?? null,
          reference: input.reference ?? null,
          eventValue: input.event === undefined ? null : this.#eventValue(input.event),
        },
        snap.parameters,
      )
    }
    const stats = this.edgeStatistics
    if (snap.roiSignal !== this.#roi) {
      // Snapshots are immutable: a new array means a change (compare values to be sure).
      if (snap.roiSignal.join() !== this.#roi.join()) stats.reset()
      this.#roi = snap.roiSignal
    }
    stats.resize(snap.parameters.statistics_window)
    if (out.edge_status === EdgeStatus.ok) stats.push(out.edge_position)
    return out
  }

  statistics(): Record<string, unknown> {
    return { ...this.edgeStatistics.snapshot() }
  }

  /** A new run (POST /start) starts its edge statistics afresh, like the other counters. */
  resetStatistics(): void {
    this.edgeStatistics.reset()
  }

  #eventValue(raw: RawValue): EventValue {
    try {
      const v = decodeValue(raw, this.#codec, MAX_EVENT_BYTES)
      if (typeof v === 'object') {
        // An array channel: its first element decides (a scalar stored with shape [n]).
        const first = (v as ArrayLike<unknown>)[0]
        return typeof first === 'number' || typeof first === 'bigint' || typeof first === 'boolean'
          ? first
          : null
      }
      return v
    } catch {
      return null
    }
  }
}
