/**
 * The filter the edge is found with, its noise and the per-shot confidence (issue 21).
 *
 * `learned` (the LCLS TimeTool's idea, learned live): the filter starts as a step of
 * filter_length and becomes the mean of the normalised X-ray profiles around their edges,
 * aligned at the found position (shots with confidence >= LEARN_CONFIDENCE; the last
 * `filter_shots` of them, exponentially weighted), minus its mean (a constant offset of the
 * reference does not move the edge), tapered and scaled to unit energy (#build). Its edge
 * position inside the filter (`origin`) is the centroid of the template's drop, so the
 * template may drift by a pixel without moving the reported edge; the template is re-centred
 * when it drifts further.
 *
 * Noise: on each reference shot the same filter is applied to that shot normalised by the
 * reference average it did not enter (what an X-ray shot without an edge looks like); the
 * mean square of that correlation, averaged over reference shots, is the variance of the
 * filter's output on noise, including the reference average's own noise and any correlation
 * between pixels. confidence = correlation peak / its noise sigma, for both methods (`step`
 * uses the same noise estimate with its +1/-1 waveform). Without reference shots (reference_roi
 * mode) the noise comes from the shot's own correlation away from the peak.
 * @module
 */
import type { Kernel, Region } from '../kernel/kernel.js'
import type { ProcessingParameters } from './parameters.js'

/** Peak of one X-ray shot's correlation (refined samples). */
export interface FilterPeak {
  argmax: number
  amplitude: number
  fwhm: number
  next: number
  offset: number
  /** Edge position inside the filter (samples from its first tap). */
  origin: number
}

/** Shots the running means start with before they become exponential. */
const NOISE_SHOTS = 20
/** Learned shots before the learned filter replaces the step. */
const MIN_LEARNED = 10
/**
 * Confidence a shot needs to enter the learned filter: above the noise's highest peaks (a shot
 * without an edge scores about 3, at most 6 in 1,500; docs/science.md), so that the filter does
 * not learn noise aligned on itself, whatever minimum_confidence is set to.
 */
export const LEARN_CONFIDENCE = 6

export class EdgeFilter {
  readonly #kernel: Kernel
  readonly #filter: Region
  readonly #corr: Region
  readonly #out: Region
  #taps = 0
  #learned = false
  #rising = false
  /** Aligned mean of the normalised X-ray profiles (the learned step), taps samples. */
  #template = new Float64Array(0)
  #templateShots = 0
  #origin = 0
  #noiseVar = NaN
  #noiseShots = 0

  constructor(kernel: Kernel) {
    this.#kernel = kernel
    this.#filter = kernel.region()
    this.#corr = kernel.region()
    this.#out = kernel.region()
  }

  /** X-ray shots in the learned template (0 while the step filter is used). */
  get learnedShots(): number {
    return this.#learned ? this.#templateShots : 0
  }

  /** The current filter (a copy), for display and tests. */
  filter(): Float64Array {
    return new Float64Array(
      this.#kernel.exports.memory.buffer,
      this.#filter.ptr,
      this.#taps,
    ).slice()
  }

  /** Forgets the learned shape and the noise (ROI, length or method changed). */
  reset(): void {
    this.#taps = 0
    this.#templateShots = 0
    this.#noiseShots = 0
    this.#noiseVar = NaN
  }

  /** Forgets the noise only (the reference window was reset). */
  resetNoise(): void {
    this.#noiseShots = 0
    this.#noiseVar = NaN
  }

  /**
   * Sizes the regions for `taps` filter samples and correlations of m samples; (re)builds the
   * step filter when the size, method or edge type changed. Call before using any pointer.
   */
  prepare(p: ProcessingParameters, taps: number, m: number): void {
    this.#corr.ensure((Math.max(1, m) + 1) * 8)
    this.#out.ensure(5 * 8)
    const learned = p.edge_method === 'learned'
    const rising = p.edge_type === 'rising'
    if (taps === this.#taps && learned === this.#learned && rising === this.#rising) return
    this.reset()
    this.#taps = taps
    this.#learned = learned
    this.#rising = rising
    this.#template = new Float64Array(taps)
    this.#filter.ensure(taps * 8)
    const f = this.#view()
    const half = Math.floor(taps / 2)
    // The step method's waveform as edge_find uses it (+1 then -1 for falling); the learned
    // method starts from the same step, tapered.
    for (let j = 0; j < taps; j++) f[j] = j < half !== rising ? 1 : -1
    this.#origin = half
    if (learned) {
      this.#template.set(f)
      this.#build()
    }
  }

  /**
   * A reference shot normalised by the average it did not enter: updates the noise. The step
   * method correlates with edge_find (prefix sums, linear in m; `rising` as for the shot).
   */
  noise(profile: number, m: number): void {
    const taps = this.#taps
    if (m < taps) return
    const corr = this.#corr.ptr
    const v = this.#kernel.run((k) => {
      if (this.#learned) return k.filter_noise(profile, m, this.#filter.ptr, taps, corr)
      k.edge_find(profile, m, taps, this.#rising ? 1 : 0, corr, this.#out.ptr)
      return k.mean_square(corr, m - taps + 1)
    })
    if (!Number.isFinite(v)) return
    this.#noiseShots++
    const w = 1 / Math.min(this.#noiseShots, NOISE_SHOTS)
    this.#noiseVar = Number.isNaN(this.#noiseVar) ? v : this.#noiseVar + w * (v - this.#noiseVar)
  }

  /**
   * Correlates an X-ray shot's normalised profile with the learned filter; null when the
   * profile is shorter than the filter.
   */
  find(profile: number, m: number): FilterPeak | null {
    const taps = this.#taps
    const out = this.#out.ptr
    const count = this.#kernel.check(
      this.#kernel.run((k) =>
        k.filter_find(profile, m, this.#filter.ptr, taps, this.#corr.ptr, out),
      ),
      'filter_find',
    )
    if (count === 0) return null
    const o = new Float64Array(this.#kernel.exports.memory.buffer, out, 5)
    return {
      argmax: o[0]!,
      amplitude: o[1]!,
      fwhm: o[2]!,
      next: o[3]!,
      offset: o[4]!,
      origin: this.#origin,
    }
  }

  /**
   * Peak / noise sigma. Without a noise estimate from reference shots, the noise is the mean
   * square of this shot's correlation outside the peak +- taps (the last filter_find's, or
   * edge_find's when `correlation` is given).
   */
  confidence(amplitude: number, argmax: number, count: number, correlation?: number): number {
    if (this.#noiseShots > 0) return amplitude / Math.sqrt(this.#noiseVar)
    const c = correlation ?? this.#corr.ptr
    const before = Math.max(0, argmax - this.#taps)
    const after = Math.min(count, argmax + this.#taps + 1)
    const k = before + (count - after)
    if (k === 0) return NaN
    const s = this.#kernel.run(
      (x) =>
        (before > 0 ? x.mean_square(c, before) * before : 0) +
        (after < count ? x.mean_square(c + after * 8, count - after) * (count - after) : 0),
    )
    return amplitude / Math.sqrt(s / k)
  }

  /**
   * Adds a confident X-ray shot's profile (confidence >= LEARN_CONFIDENCE) around its edge to
   * the learned template (the `shots` most recent ones, exponentially weighted) and rebuilds
   * the filter from it.
   */
  learn(profile: number, m: number, argmax: number, confidence: number, shots: number): void {
    const taps = this.#taps
    if (!this.#learned || argmax < 0 || argmax + taps > m) return
    // NaN (no noise estimate at all) learns: the first shots then decide, as with the step.
    if (confidence < LEARN_CONFIDENCE) return
    const d = new Float64Array(this.#kernel.exports.memory.buffer, profile + argmax * 8, taps)
    const t = this.#template
    this.#templateShots++
    const w = 1 / Math.min(this.#templateShots, shots)
    for (let j = 0; j < taps; j++) t[j]! += w * (d[j]! - t[j]!)
    if (this.#templateShots >= Math.min(MIN_LEARNED, shots)) this.#build()
  }

  #view(): Float64Array {
    return new Float64Array(this.#kernel.exports.memory.buffer, this.#filter.ptr, this.#taps)
  }

  /**
   * filter = (template minus its taper-weighted mean) x taper, unit energy; origin = centroid
   * of the template's drop. The triangular taper (1 at the edge, 0 at the filter's ends) keeps
   * the correlation's noise from the samples entering and leaving the window small: a shift
   * by one sample then changes the output mostly by the samples at the edge, as for a fit of
   * a step of known height (about 1.5x smaller position errors than the flat +1/-1 step).
   */
  #build(): void {
    const taps = this.#taps
    const t = this.#template
    let origin = dropCentroid(t)
    if (!Number.isFinite(origin)) return
    // Keep the edge near the middle: a template drifting by whole samples is shifted back.
    const shift = Math.round(origin - taps / 2)
    if (Math.abs(shift) >= 2) {
      shiftInPlace(t, shift)
      origin -= shift
    }
    const f = this.#view()
    const halfWidth = Math.max(origin, taps - origin)
    let sw = 0
    let st = 0
    for (let j = 0; j < taps; j++) {
      f[j] = Math.max(0, 1 - Math.abs(j + 0.5 - origin) / halfWidth)
      sw += f[j]!
      st += f[j]! * t[j]!
    }
    const mean = st / sw
    let energy = 0
    for (let j = 0; j < taps; j++) {
      f[j] = f[j]! * (t[j]! - mean)
      energy += f[j]! * f[j]!
    }
    if (!(energy > 0)) return
    const scale = 1 / Math.sqrt(energy)
    for (let j = 0; j < taps; j++) f[j] = f[j]! * scale
    this.#origin = origin
  }
}

/**
 * Where the template steps: the centroid of |t[j] - t[j+1]| (counted at j + 1, the boundary
 * between samples j and j + 1) over the 9 boundaries around the steepest one, counting only
 * differences of the steepest one's sign.
 */
export function dropCentroid(t: Float64Array): number {
  let best = 0
  for (let j = 1; j < t.length - 1; j++) {
    if (Math.abs(t[j]! - t[j + 1]!) > Math.abs(t[best]! - t[best + 1]!)) best = j
  }
  const sign = Math.sign(t[best]! - t[best + 1]!)
  let sw = 0
  let sx = 0
  for (let j = Math.max(0, best - 4); j <= Math.min(t.length - 2, best + 4); j++) {
    const g = sign * (t[j]! - t[j + 1]!)
    if (g <= 0) continue
    sw += g
    sx += g * (j + 1)
  }
  return sw > 0 ? sx / sw : NaN
}

/** t[j] = t[j + shift], the ends repeated. */
function shiftInPlace(t: Float64Array, shift: number): void {
  const n = t.length
  if (shift > 0) {
    for (let j = 0; j < n; j++) t[j] = t[Math.min(n - 1, j + shift)]!
  } else {
    for (let j = n - 1; j >= 0; j--) t[j] = t[Math.max(0, j + shift)]!
  }
}
