/**
 * Typed wrappers over the profile and statistics kernels: x-profiles of a frame that already
 * sits in kernel memory, ROI statistics, and a subsampled histogram with percentiles for the
 * preview's auto-contrast. Scratch lives in reused regions; results that leave the process are
 * copied out of WASM memory exactly once.
 * @module
 */
import { DType, sumKind, type DTypeName, type SumKind } from './dtype.js'
import { KernelError } from './errors.js'
import type { Kernel, Region } from './kernel.js'

/** `[offset_x, size_x, offset_y, size_y]` in pixels. */
export type RoiTuple = readonly [number, number, number, number]

/** A frame already written into kernel memory (row-major, width = fastest dimension). */
export interface FrameRef {
  ptr: number
  width: number
  height: number
  dtype: DTypeName
  bigEndian: boolean
}

/** A frame's description without its address (ParallelProfiler decodes it). */
export type FrameShape = Omit<FrameRef, 'ptr'>

/** Exact column sums: u64 for unsigned pixels, i64 for signed, f64 for float pixels. */
export type ProfileSums = BigUint64Array | BigInt64Array | Float64Array

/** A profile left in kernel memory (e.g. for the edge finder), valid until the next call. */
export interface ProfileInKernel {
  ptr: number
  length: number
  kind: SumKind
}

export interface RoiStats {
  sum: number
  min: number
  max: number
  mean: number
  saturated: number
}

export interface HistogramResult {
  min: number
  max: number
  /** Bin i covers [min + i * (max - min) / bins, ...); the last bin includes max. */
  counts: Uint32Array
  /** Elements sampled (every `stride`-th element of the frame). */
  sampled: number
  stride: number
}

/** True when the ROI is 4 integers with offsets >= 0, sizes >= 1, inside width x height. */
export function roiFits(roi: readonly number[], width: number, height: number): boolean {
  if (roi.length !== 4 || !roi.every(Number.isInteger)) return false
  const [ox, sx, oy, sy] = roi as unknown as RoiTuple
  return ox >= 0 && oy >= 0 && sx >= 1 && sy >= 1 && ox + sx <= width && oy + sy <= height
}

function outside(what: string, roi: RoiTuple, frame: FrameRef): KernelError {
  const msg = `${what}: ROI [${roi.join(', ')}] outside ${frame.width}x${frame.height} frame`
  return new KernelError('BAD_ARGUMENT', msg)
}

const KIND_CODE: Readonly<Record<SumKind, number>> = { uint64: 0, int64: 1, float64: 2 }

/** Kernel code of a sum kind for profile_to_f64. */
export function sumKindCode(kind: SumKind): number {
  return KIND_CODE[kind]
}

/** One per processor: owns its scratch regions, so profiles never allocate per frame. */
export class ProfileKernels {
  readonly #kernel: Kernel
  readonly #stats: Region
  readonly #hist: Region

  constructor(kernel: Kernel) {
    this.#kernel = kernel
    this.#stats = kernel.region()
    this.#hist = kernel.region()
  }

  /**
   * Column sums of `roi` into `into` (a region reused across frames); the sums stay in kernel
   * memory. Throws KernelError BAD_ARGUMENT when the ROI does not fit the frame.
   */
  xProfileInKernel(frame: FrameRef, roi: RoiTuple, into: Region): ProfileInKernel {
    const [ox, sx, oy, sy] = roi
    if (!roiFits(roi, frame.width, frame.height)) throw outside('x_profile', roi, frame)
    // Allocation inside run(): an out-of-memory trap replaces the instance like any other.
    const out = this.#kernel.run(() => into.ensure(sx * 8))
    const status = this.#kernel.run((k) =>
      k.x_profile(
        frame.ptr,
        frame.width,
        frame.height,
        DType[frame.dtype],
        frame.bigEndian ? 1 : 0,
        ox,
        sx,
        oy,
        sy,
        out,
      ),
    )
    this.#kernel.check(status, 'x_profile')
    return { ptr: out, length: sx, kind: sumKind(frame.dtype) }
  }

  /** Copies a profile out of kernel memory (safe to hand to zeromq: not a WASM view). */
  copyOut(p: ProfileInKernel): ProfileSums {
    const buf = this.#kernel.exports.memory.buffer
    if (p.kind === 'uint64') return new BigUint64Array(buf, p.ptr, p.length).slice()
    if (p.kind === 'int64') return new BigInt64Array(buf, p.ptr, p.length).slice()
    return new Float64Array(buf, p.ptr, p.length).slice()
  }

  /** x_profile + copyOut. */
  xProfile(frame: FrameRef, roi: RoiTuple, scratch: Region): ProfileSums {
    return this.copyOut(this.xProfileInKernel(frame, roi, scratch))
  }

  /** Sum, min, max, mean and count of pixels >= saturation over a ROI. */
  roiStats(frame: FrameRef, roi: RoiTuple, saturation = Infinity): RoiStats {
    const [ox, sx, oy, sy] = roi
    if (!roiFits(roi, frame.width, frame.height)) throw outside('roi_stats', roi, frame)
    const out = this.#kernel.run(() => this.#stats.ensure(5 * 8))
    const status = this.#kernel.run((k) =>
      k.roi_stats(
        frame.ptr,
        frame.width,
        frame.height,
        DType[frame.dtype],
        frame.bigEndian ? 1 : 0,
        ox,
        sx,
        oy,
        sy,
        saturation,
        out,
      ),
    )
    this.#kernel.check(status, 'roi_stats')
    const v = new Float64Array(this.#kernel.exports.memory.buffer, out, 5)
    return { sum: v[0]!, min: v[1]!, max: v[2]!, mean: v[3]!, saturated: v[4]! }
  }

  /**
   * Histogram of the whole frame between its (sampled) min and max; big frames are sampled
   * every `stride`-th element so that about `maxSamples` elements are read.
   */
  histogram(frame: FrameRef, bins = 256, maxSamples = 1 << 18): HistogramResult {
    const n = frame.width * frame.height
    const stride = Math.max(1, Math.floor(n / Math.max(1, maxSamples)))
    const dt = DType[frame.dtype]
    const be = frame.bigEndian ? 1 : 0
    const mm = this.#kernel.run(() => this.#stats.ensure(5 * 8))
    this.#kernel.check(
      this.#kernel.run((k) => k.frame_min_max(frame.ptr, n, dt, be, stride, mm)),
      'frame_min_max',
    )
    const [lo, hi] = new Float64Array(this.#kernel.exports.memory.buffer, mm, 2)
    const min = lo!
    const max = hi!
    const out = this.#kernel.run(() => this.#hist.ensure(bins * 4))
    const sampled = Math.ceil(n / stride)
    if (!(max >= min)) {
      return { min: NaN, max: NaN, counts: new Uint32Array(bins), sampled, stride }
    }
    this.#kernel.check(
      this.#kernel.run((k) => k.histogram(frame.ptr, n, dt, be, stride, min, max, bins, out)),
      'histogram',
    )
    const counts = new Uint32Array(this.#kernel.exports.memory.buffer, out, bins).slice()
    return { min, max, counts, sampled, stride }
  }

  /** Percentiles (0..100) of the sampled frame, interpolated within histogram bins. */
  percentiles(frame: FrameRef, ps: readonly number[], bins = 1024, maxSamples = 1 << 18): number[] {
    return histogramPercentiles(this.histogram(frame, bins, maxSamples), ps)
  }
}

/** Percentiles (0..100) from a histogram, linear within the bin that crosses each rank. */
export function histogramPercentiles(h: HistogramResult, ps: readonly number[]): number[] {
  let total = 0
  for (const c of h.counts) total += c
  if (total === 0) return ps.map(() => NaN)
  const width = (h.max - h.min) / h.counts.length
  return ps.map((p) => {
    const rank = (Math.min(100, Math.max(0, p)) / 100) * total
    let acc = 0
    for (let i = 0; i < h.counts.length; i++) {
      const c = h.counts[i]!
      if (acc + c >= rank && c > 0) return h.min + (i + (rank - acc) / c) * width
      acc += c
    }
    return h.max
  })
}
