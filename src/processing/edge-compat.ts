/**
 * The old code's correlation (compatibility mode): the step waveform resampled as numpy did and
 * the peak metrics computed in TypeScript. Its correlation stays linear (prefix sums plus the
 * few interpolated taps), because the resampled waveform is not a pure step.
 * @module
 */
import type { Kernel } from '../kernel/kernel.js'
import type { ProcessingParameters } from './parameters.js'

/** Peak metrics of a correlation, the same rules as the edge_find kernel (for compat mode). */
export function peakMetrics(
  c: ArrayLike<number>,
  n: number,
): [number, number, number, number, number] {
  let best = 0
  for (let k = 1; k < n; k++) if (c[k]! > c[best]!) best = k
  const peak = c[best]!
  const hm = peak / 2
  let left = best
  while (left > 0 && c[left - 1]! >= hm) left--
  let right = best
  while (right < n - 1 && c[right + 1]! >= hm) right++
  let fwhm = NaN
  if (peak > 0 && left > 0 && right < n - 1) {
    const xl = left - 1 + (hm - c[left - 1]!) / (c[left]! - c[left - 1]!)
    const xr = right + (c[right]! - hm) / (c[right]! - c[right + 1]!)
    fwhm = xr - xl
  }
  let next = NaN
  for (let k = 0; k < n; k++) {
    if (k >= left && k <= right) continue
    const prev = k > 0 ? c[k - 1]! : -Infinity
    const nxt = k < n - 1 ? c[k + 1]! : -Infinity
    if (c[k]! >= prev && c[k]! >= nxt && (Number.isNaN(next) || c[k]! > next)) next = c[k]!
  }
  let offset = 0
  if (best > 0 && best < n - 1) {
    const den = c[best - 1]! - 2 * peak + c[best + 1]!
    if (den < 0) offset = Math.max(-0.5, Math.min(0.5, (0.5 * (c[best - 1]! - c[best + 1]!)) / den))
  }
  return [best, peak, fwhm, next, offset]
}

/** Correlation buffers and the cached waveform of compatibility mode; one per finder. */
export class CompatCorrelator {
  readonly #kernel: Kernel
  #params: ProcessingParameters
  #compatCorr = new Float64Array(0)
  #compatS = new Float64Array(0)
  #compatWave: { w: Float64Array; plus: number; minus: number } | undefined
  #compatWaveKey = ''

  constructor(kernel: Kernel, parameters: ProcessingParameters) {
    this.#kernel = kernel
    this.#params = parameters
  }

  /** The correlation of the last `correlate` call (its first `count` samples). */
  get correlation(): Float64Array {
    return this.#compatCorr
  }

  setParameters(parameters: ProcessingParameters): void {
    this.#params = parameters
  }

  /**
   * The old code's correlation: refined profile against ones(L) with [int(L/2):] = -1 (the
   * opposite for rising), resampled at arange(0, L - 1, step). Prefix sums cover the +1 / -1
   * runs; the few interpolated taps of the transition are added one by one.
   */
  correlate(refinedPtr: number, m: number): number {
    const wave = this.#waveform()
    const taps = wave.w.length
    const count = m - taps + 1
    if (taps < 1 || count <= 0) return 0
    const prof = new Float64Array(this.#kernel.exports.memory.buffer, refinedPtr, m)
    if (this.#compatCorr.length < m + 1) {
      this.#compatCorr = new Float64Array(m + 1)
      this.#compatS = new Float64Array(m + 1)
    }
    const S = this.#compatS
    for (let i = 0; i < m; i++) S[i + 1] = S[i]! + prof[i]!
    const c = this.#compatCorr
    const { plus, minus, w } = wave
    for (let k = 0; k < count; k++) {
      // w is +1 on [0, plus), -1 on [minus, taps) (or the opposite for rising), between: explicit.
      let v = w[0]! * (S[k + plus]! - S[k]! - (S[k + taps]! - S[k + minus]!))
      for (let j = plus; j < minus; j++) v += w[j]! * prof[k + j]!
      c[k] = v
    }
    return count
  }

  /**
   * The old step waveform, built exactly as numpy did: ones(L), [int(L/2):] = -1 (falling) or
   * [:int(L/2)] = -1 (rising), then interp at arange(0, L - 1, step). Cached per parameters.
   */
  #waveform(): { w: Float64Array; plus: number; minus: number } {
    const p = this.#params
    const key = `${p.step_length}/${p.refinement_step}/${p.edge_type}`
    if (this.#compatWave && this.#compatWaveKey === key) return this.#compatWave
    const L = p.step_length
    const step = p.refinement_step
    const half = Math.trunc(L / 2)
    const rising = p.edge_type === 'rising'
    const base = Array.from({ length: L }, (_, i) => (i >= half !== rising ? -1 : 1))
    const taps = Math.ceil((L - 1) / step)
    const w = new Float64Array(taps)
    for (let j = 0; j < taps; j++) {
      const x = j * step
      const i = Math.floor(x)
      w[j] = i >= L - 1 ? base[L - 1]! : base[i]! + (x - i) * (base[i + 1]! - base[i]!)
    }
    const first = w[0]!
    let plus = 0
    while (plus < taps && w[plus] === first) plus++
    let minus = taps
    while (minus > plus && w[minus - 1] === -first) minus--
    this.#compatWave = { w, plus, minus }
    this.#compatWaveKey = key
    return this.#compatWave
  }
}
