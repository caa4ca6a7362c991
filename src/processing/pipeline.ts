/**
 * One frame through the pipeline: find the image channel, decode only the rows the ROIs need
 * into a reused kernel region, compute exact x-profiles, find the edge, encode the data
 * message. Problems with a frame (no image, unsupported pixel type, ROI outside the frame) are
 * counted per cause; the data message still goes out with `processing_parameters`.
 * @module
 */
import type { BsreadMessage, RawValue } from '../bsread/decoder.js'
import { BsreadEncoder, type EncodeChannel } from '../bsread/encoder.js'
import type { ChannelInfo } from '../bsread/types.js'
import type { Codec, RowRange } from '../kernel/codec.js'
import { DTYPE_SIZE, isDTypeName, sumKind, type DTypeName, type SumKind } from '../kernel/dtype.js'
import { KernelError } from '../kernel/errors.js'
import type { Kernel, Region } from '../kernel/kernel.js'
import type { ParallelProfiler } from '../kernel/parallel-profiler.js'
import {
  ProfileKernels,
  roiFits,
  type FrameRef,
  type ProfileInKernel,
  type ProfileSums,
  type RoiTuple,
} from '../kernel/profiles.js'
import type { ChannelNaming } from '../config.js'
import type { Metrics } from '../metrics.js'
import type { Roi } from './roi.js'
import type { EdgeOutputs, EdgeStage, EdgeStageInput } from './edge-stage-contract.js'
import { emptyResult } from './edge-result.js'
import { EdgeStatus } from './parameters.js'
import type { Snapshot } from './settings.js'
import type { FrameErrorCause, RunStatistics } from './statistics.js'

export const EDGE_CHANNELS = [
  'edge_position',
  'cross_correlation_amplitude',
  'edge_position_fs',
  'edge_fwhm',
  'next_amplitude',
  'reference_amplitude',
  'edge_confidence',
  'edge_status',
] as const

/** Output channel name of a quantity, by the naming option. */
export function outputName(prefix: string, naming: ChannelNaming, quantity: string): string {
  return naming === 'short' ? `${prefix}.${quantity}` : `${prefix}:FPICTURE.${quantity}`
}

export interface PipelineOptions<P extends object> {
  kernel: Kernel
  /** The codec over `kernel` (one per kernel memory: its regions are shared by all users). */
  codec: Codec
  prefix: string
  naming: ChannelNaming
  maxFrameBytes: number
  edge: EdgeStage<P>
  /**
   * Splits decode + profiles of big integer frames across threads (--threads > 1); frames it
   * does not take go through this pipeline's own single-thread path.
   */
  parallel?: ParallelProfiler
  metrics?: Metrics
  /** Called with a frame problem (rate-limited logging lives with the caller). */
  onProblem?: (cause: FrameErrorCause, message: string) => void
}

function info(name: string, type: ChannelInfo['type'], shape: number[]): ChannelInfo {
  return { name, type, shape, encoding: 'little', compression: 'none' }
}

/** One frame's profiles in kernel memory, or why the signal profile is missing. */
interface FrameProfiles<P extends object> {
  signal: ProfileInKernel | undefined
  background: ProfileInKernel | undefined
  reference: ProfileInKernel | undefined
  problem: EdgeStageInput<P>['problem']
  kind: SumKind
}

/** Per-processor pipeline state: kernel regions, encoder, cached channel descriptions. */
export class FramePipeline<P extends object> {
  readonly imageName: string
  readonly encoder = new BsreadEncoder()
  readonly #kernel: Kernel
  readonly #codec: Codec
  readonly #profiles: ProfileKernels
  readonly #frame: Region
  readonly #sigOut: Region
  readonly #bgOut: Region
  readonly #refOut: Region
  readonly #opts: PipelineOptions<P>
  readonly #paramsInfo: ChannelInfo
  readonly #edgeInfos: ChannelInfo[]
  readonly #profileInfos = new Map<string, ChannelInfo>()

  constructor(opts: PipelineOptions<P>) {
    this.#opts = opts
    this.#kernel = opts.kernel
    this.#codec = opts.codec
    this.#profiles = new ProfileKernels(opts.kernel)
    this.#frame = opts.kernel.region()
    this.#sigOut = opts.kernel.region()
    this.#bgOut = opts.kernel.region()
    this.#refOut = opts.kernel.region()
    this.imageName = `${opts.prefix}:FPICTURE`
    const name = (q: string): string => outputName(opts.prefix, opts.naming, q)
    this.#paramsInfo = info(name('processing_parameters'), 'string', [1])
    this.#edgeInfos = EDGE_CHANNELS.map((q) =>
      info(name(q), q === 'edge_status' ? 'int32' : 'float64', [1]),
    )
  }

  get kernel(): Kernel {
    return this.#kernel
  }

  /**
   * The data message of a frame whose `process` threw (a bug or a kernel trap): its
   * `processing_parameters` alone. The service sends it, and `analyze` writes it.
   */
  parametersOnly(msg: BsreadMessage, snap: Snapshot<P>): Buffer[] {
    return this.encoder.encode({
      pulseId: msg.pulseId,
      globalTimestamp: msg.globalTimestamp,
      channels: [{ info: this.#paramsInfo, value: snap.json }],
    })
  }

  /** Edge outputs of the last processed frame (undefined when it had no signal ROI). */
  lastEdge: EdgeOutputs | undefined

  #profileInfo(which: 'roi_signal' | 'roi_background', kind: SumKind, length: number): ChannelInfo {
    const key = `${which}/${kind}/${length}`
    let i = this.#profileInfos.get(key)
    if (!i) {
      if (this.#profileInfos.size > 64) this.#profileInfos.clear()
      const name = outputName(this.#opts.prefix, this.#opts.naming, `${which}_x_profile`)
      i = info(name, kind, [length])
      this.#profileInfos.set(key, i)
    }
    return i
  }

  #problem(stats: RunStatistics, cause: FrameErrorCause, message: string): void {
    stats.error(cause, message)
    this.#opts.metrics?.frameErrors.inc({ cause })
    this.#opts.onProblem?.(cause, message)
  }

  /**
   * Processes one message with one snapshot and returns the data message's parts. Never throws
   * for a bad frame (counted instead); throws only for a bug or a kernel trap.
   */
  process(msg: BsreadMessage, snap: Snapshot<P>, stats: RunStatistics): Buffer[] {
    this.lastEdge = undefined
    const p = this.#profilesOf(msg, snap, stats)
    const out = this.#findEdge(msg, snap, p, stats)
    if (out) this.lastEdge = out
    return this.#encode(msg, snap, p, out)
  }

  /** Step 1: the image's ROI profiles, left in kernel memory (or why they are missing). */
  #profilesOf(msg: BsreadMessage, snap: Snapshot<P>, stats: RunStatistics): FrameProfiles<P> {
    const metrics = this.#opts.metrics
    const raw = msg.value(this.imageName)
    const sig = snap.roiSignal
    const bg = snap.roiBackground
    const refRoi = this.#opts.edge.referenceRoi(snap)
    const p: FrameProfiles<P> = {
      signal: undefined,
      background: undefined,
      reference: undefined,
      problem: sig.length === 0 ? 'no_signal_roi' : undefined,
      kind: 'float64',
    }

    const frame = raw === undefined ? undefined : this.#frameOf(raw, stats)
    if (raw === undefined) {
      this.#problem(
        stats,
        'missing_image',
        `message ${msg.pulseId} has no channel ${this.imageName}`,
      )
      p.problem ??= 'no_image'
      return p
    }
    if (frame === undefined) {
      p.problem ??= 'no_image'
      return p
    }
    p.kind = sumKind(frame.dtype)
    const fits = (roi: Roi | undefined): boolean =>
      roi !== undefined && roiFits(roi, frame.width, frame.height)
    const sigOk = fits(sig)
    const bgOk = fits(bg)
    const refOk = fits(refRoi)
    if (sig.length === 4 && !sigOk) {
      this.#problem(
        stats,
        'roi_signal_outside_frame',
        `signal ROI [${sig.join(', ')}] does not ` +
          `fit the ${frame.width}x${frame.height} frame of pulse ${msg.pulseId}`,
      )
      p.problem = 'roi_outside_frame'
      metrics?.framesDropped.inc({ reason: 'roi_outside_frame' })
    }
    if (bg.length === 4 && !bgOk) {
      this.#problem(
        stats,
        'roi_background_outside_frame',
        `background ROI [${bg.join(', ')}] ` +
          `does not fit the ${frame.width}x${frame.height} frame of pulse ${msg.pulseId}`,
      )
    }
    if (refRoi !== undefined && refRoi.length === 4 && !refOk) p.problem ??= 'roi_outside_frame'
    const rois = [
      sigOk ? sig : undefined,
      bgOk ? bg : undefined,
      refOk ? refRoi : undefined,
    ] as Array<RoiTuple | undefined>
    const rows: RowRange[] = []
    for (const r of rois) if (r) rows.push([r[2], r[2] + r[3]])
    if (rows.length === 0) return p

    const split =
      this.#opts.parallel !== undefined ? this.#splitProfiles(raw, frame, rois, stats) : undefined
    if (split === 'failed') {
      p.problem ??= 'no_image'
    } else if (split !== undefined) {
      ;[p.signal, p.background, p.reference] = split
    } else {
      this.#singleThreadProfiles(raw, frame, rows, rois, stats, p)
    }
    return p
  }

  /** Decode of the needed rows and the profiles on this thread. */
  #singleThreadProfiles(
    raw: RawValue,
    frame: Omit<FrameRef, 'ptr'>,
    rows: RowRange[],
    [sig, bg, ref]: Array<RoiTuple | undefined>,
    stats: RunStatistics,
    p: FrameProfiles<P>,
  ): void {
    const metrics = this.#opts.metrics
    const t0 = performance.now()
    const ptr = this.#decode(raw, frame, rows, stats)
    const t1 = performance.now()
    metrics?.stage.decode.observe((t1 - t0) / 1000)
    if (ptr === undefined) {
      p.problem ??= 'no_image'
      return
    }
    const frameRef: FrameRef = { ...frame, ptr }
    // Profiles stay in kernel memory: the edge finder reads them there, and the encoder
    // copies them out once (no intermediate JS arrays).
    const k = this.#profiles
    if (sig) p.signal = k.xProfileInKernel(frameRef, sig, this.#sigOut)
    if (bg) p.background = k.xProfileInKernel(frameRef, bg, this.#bgOut)
    if (ref) p.reference = k.xProfileInKernel(frameRef, ref, this.#refOut)
    metrics?.stage.profile.observe((performance.now() - t1) / 1000)
  }

  /** Step 2: the edge (only with a signal ROI). A kernel reset drops the profiles. */
  #findEdge(
    msg: BsreadMessage,
    snap: Snapshot<P>,
    p: FrameProfiles<P>,
    stats: RunStatistics,
  ): EdgeOutputs | undefined {
    if (snap.roiSignal.length !== 4) return undefined
    const eventName = this.#opts.edge.eventChannel(snap)
    const event = eventName === undefined ? undefined : msg.value(eventName)
    const t2 = performance.now()
    const generation = this.#kernel.generation
    let out: EdgeOutputs
    try {
      out = this.#opts.edge.process({
        pulseId: msg.pulseId,
        snapshot: snap,
        signal: p.signal,
        background: p.background,
        reference: p.reference,
        event,
        problem: p.problem,
      })
    } catch (err) {
      if (!(err instanceof KernelError) && !(err instanceof RangeError)) throw err
      this.#problem(
        stats,
        'edge_error',
        `edge finding failed for pulse ${msg.pulseId}: ${err.message}`,
      )
      out = emptyResult(EdgeStatus.error)
    }
    if (this.#kernel.generation !== generation) {
      // A trap replaced the kernel instance: the profiles' memory is gone with it.
      this.#problem(stats, 'edge_error', `kernel reset during edge finding of pulse ${msg.pulseId}`)
      p.signal = undefined
      p.background = undefined
    }
    this.#opts.metrics?.stage.edge.observe((performance.now() - t2) / 1000)
    return out
  }

  /** Step 3: the data message: parameters, the profiles, the edge channels. */
  #encode(
    msg: BsreadMessage,
    snap: Snapshot<P>,
    p: FrameProfiles<P>,
    out: EdgeOutputs | undefined,
  ): Buffer[] {
    const channels: EncodeChannel[] = [{ info: this.#paramsInfo, value: snap.json }]
    // Views made now (after every call that may grow memory); the encoder copies them.
    if (p.signal) {
      const desc = this.#profileInfo('roi_signal', p.kind, p.signal.length)
      channels.push({ info: desc, value: this.#view(p.signal) })
    }
    if (p.background) {
      const desc = this.#profileInfo('roi_background', p.kind, p.background.length)
      channels.push({ info: desc, value: this.#view(p.background) })
    }
    if (out) {
      const infos = this.#edgeInfos
      for (let i = 0; i < EDGE_CHANNELS.length; i++) {
        const value = out[EDGE_CHANNELS[i] as keyof EdgeOutputs]
        channels.push({ info: infos[i] as ChannelInfo, value })
      }
    }
    return this.encoder.encode({
      pulseId: msg.pulseId,
      globalTimestamp: msg.globalTimestamp,
      channels,
    })
  }

  #view(p: ProfileInKernel): ProfileSums {
    const buf = this.#kernel.exports.memory.buffer
    if (p.kind === 'uint64') return new BigUint64Array(buf, p.ptr, p.length)
    if (p.kind === 'int64') return new BigInt64Array(buf, p.ptr, p.length)
    return new Float64Array(buf, p.ptr, p.length)
  }

  /** Checks the image's type, shape and size; undefined (counted) when it cannot be processed. */
  #frameOf(raw: RawValue, stats: RunStatistics): Omit<FrameRef, 'ptr'> | undefined {
    const { type, shape } = raw.info
    if (!isDTypeName(type)) {
      this.#problem(
        stats,
        'unsupported_type',
        `${this.imageName}: pixel type ${type} is not supported`,
      )
      return undefined
    }
    if (shape.length !== 2 || !shape.every((d) => Number.isInteger(d) && d >= 1)) {
      this.#problem(
        stats,
        'bad_shape',
        `${this.imageName}: shape [${shape.join(', ')}] is not an image`,
      )
      return undefined
    }
    const [width, height] = shape as [number, number]
    const bytes = width * height * DTYPE_SIZE[type as DTypeName]
    if (bytes > this.#opts.maxFrameBytes) {
      this.#problem(
        stats,
        'frame_too_large',
        `${this.imageName}: ${width}x${height} ${type} is ` +
          `${bytes} bytes, above --max_frame_bytes ${this.#opts.maxFrameBytes}`,
      )
      return undefined
    }
    return { width, height, dtype: type as DTypeName, bigEndian: raw.info.encoding === 'big' }
  }

  /**
   * Decode + profiles on several threads (the decode stage's time then includes the profiles).
   * Undefined when the parallel profiler does not take this frame; 'failed' for a corrupt one.
   */
  #splitProfiles(
    raw: RawValue,
    frame: Omit<FrameRef, 'ptr'>,
    rois: Array<RoiTuple | undefined>,
    stats: RunStatistics,
  ): Array<ProfileInKernel | undefined> | 'failed' | undefined {
    const parallel = this.#opts.parallel
    if (parallel === undefined || raw.info.compression !== 'bitshuffle_lz4') return undefined
    const t0 = performance.now()
    try {
      const result = parallel.profiles(raw.bytes, frame, rois, [
        this.#sigOut,
        this.#bgOut,
        this.#refOut,
      ])
      if (result !== undefined) {
        this.#opts.metrics?.stage.decode.observe((performance.now() - t0) / 1000)
      }
      return result
    } catch (err) {
      this.#decodeFailed(err, raw, stats)
      return 'failed'
    }
  }

  #decode(
    raw: RawValue,
    frame: Omit<FrameRef, 'ptr'>,
    rows: RowRange[],
    stats: RunStatistics,
  ): number | undefined {
    try {
      return this.#codec.decompressRowsInto(
        this.#frame,
        raw.bytes,
        DTYPE_SIZE[frame.dtype],
        frame.width,
        frame.height,
        rows,
        raw.info.compression,
      )
    } catch (err) {
      this.#decodeFailed(err, raw, stats)
      return undefined
    }
  }

  /** Counts a KernelError of a decode as the frame's `decode_error`; rethrows anything else. */
  #decodeFailed(err: unknown, raw: RawValue, stats: RunStatistics): void {
    if (!(err instanceof KernelError)) throw err
    this.#problem(
      stats,
      'decode_error',
      `${this.imageName}: cannot decode ` + `${raw.info.compression} image: ${err.message}`,
    )
  }
}
