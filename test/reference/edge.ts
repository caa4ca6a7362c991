/**
 * Plain TypeScript references of assembly/edge.ts, written numpy-style: the step waveform is
 * built as an array and correlated sample by sample (no prefix sums), so they check the
 * kernels' arithmetic rather than repeat it.
 */

/** np.interp(np.arange(0, stop, step), np.arange(n), p) with the end point given as lastX. */
export function refineRef(p: ArrayLike<number>, step: number, lastX: number): Float64Array {
  const count = Math.floor(lastX / step + 1e-9) + 1
  const out = new Float64Array(count)
  for (let k = 0; k < count; k++) {
    const x = k * step
    const i = Math.floor(x)
    out[k] = i >= p.length - 1 ? p[p.length - 1]! : p[i]! + (x - i) * (p[i + 1]! - p[i]!)
  }
  return out
}

/** The step waveform: `falling` = +1 for the first floor(taps/2) samples, then -1. */
export function stepWaveform(taps: number, rising: boolean): Float64Array {
  const w = new Float64Array(taps)
  for (let j = 0; j < taps; j++) w[j] = j < Math.floor(taps / 2) !== rising ? 1 : -1
  return w
}

/** np.correlate(p, w, mode='valid'). */
export function correlateValid(p: ArrayLike<number>, w: ArrayLike<number>): Float64Array {
  const count = Math.max(0, p.length - w.length + 1)
  const out = new Float64Array(count)
  for (let k = 0; k < count; k++) {
    let s = 0
    for (let j = 0; j < w.length; j++) s += p[k + j]! * w[j]!
    out[k] = s
  }
  return out
}

export interface EdgeRef {
  argmax: number
  amplitude: number
  fwhm: number
  next: number
  offset: number
  count: number
}

/** What edge_find reports, from a literal correlation. */
export function edgeFindRef(p: ArrayLike<number>, taps: number, rising: boolean): EdgeRef {
  return peakRef(correlateValid(p, stepWaveform(taps, rising)))
}

/** What filter_find reports: the peak metrics of the literal correlation with `filter`. */
export function filterFindRef(p: ArrayLike<number>, filter: ArrayLike<number>): EdgeRef {
  return peakRef(correlateValid(p, filter))
}

/** Mean square of the literal correlation (filter_noise); NaN when it is empty. */
export function filterNoiseRef(p: ArrayLike<number>, filter: ArrayLike<number>): number {
  const c = correlateValid(p, filter)
  if (c.length === 0) return NaN
  let s = 0
  for (const v of c) s += v * v
  return s / c.length
}

/** Peak metrics of a correlation, by the rules edge_find documents. */
export function peakRef(c: Float64Array): EdgeRef {
  const n = c.length
  if (n === 0) return { argmax: NaN, amplitude: NaN, fwhm: NaN, next: NaN, offset: NaN, count: 0 }
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
  return { argmax: best, amplitude: peak, fwhm, next, offset, count: n }
}

/** Centred moving average with the window shrinking at the ends. */
export function smoothRef(p: ArrayLike<number>, window: number): Float64Array {
  const out = new Float64Array(p.length)
  const before = Math.floor((window - 1) / 2)
  const after = Math.floor(window / 2)
  for (let i = 0; i < p.length; i++) {
    const lo = Math.max(0, window <= 1 ? i : i - before)
    const hi = Math.min(p.length - 1, window <= 1 ? i : i + after)
    let s = 0
    for (let j = lo; j <= hi; j++) s += p[j]!
    out[i] = s / (hi - lo + 1)
  }
  return out
}

/**
 * A literal port of the old service's find_edge for one profile (numpy semantics):
 * refined = interp(arange(0, n - 1, step)); waveform = ones(L); waveform[int(L/2):] = -1
 * (falling); waveform = interp(arange(0, L - 1, step)); xcorr = correlate(refined, waveform,
 * 'valid'); edge = argmax * step + floor(L / 2); amplitude = max.
 */
export function oldFindEdge(
  profile: ArrayLike<number>,
  stepLength: number,
  rising: boolean,
  step: number,
): { edge: number; amplitude: number } {
  const arange = (stop: number): number[] => {
    const n = Math.ceil(stop / step)
    return Array.from({ length: Math.max(0, n) }, (_, k) => k * step)
  }
  const interp = (xs: number[], fp: ArrayLike<number>): Float64Array =>
    Float64Array.from(xs, (x) => {
      const i = Math.floor(x)
      return i >= fp.length - 1 ? fp[fp.length - 1]! : fp[i]! + (x - i) * (fp[i + 1]! - fp[i]!)
    })
  const refined = interp(arange(profile.length - 1), profile)
  const wave = new Float64Array(stepLength).fill(1)
  const half = Math.trunc(stepLength / 2)
  for (let j = 0; j < stepLength; j++) {
    if (rising ? j < half : j >= half) wave[j] = -1
  }
  const w = interp(arange(stepLength - 1), wave)
  const c = correlateValid(refined, w)
  let best = 0
  for (let k = 1; k < c.length; k++) if (c[k]! > c[best]!) best = k
  if (c.length === 0) return { edge: NaN, amplitude: NaN }
  return { edge: best * step + Math.floor(stepLength / 2), amplitude: c[best]! }
}
