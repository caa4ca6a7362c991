// Profile math on f64 arrays and the step-correlation edge finder. Every function works in
// place on caller-owned memory (no allocation) and is linear in the profile length.
import { ERR_BAD_ARGUMENT } from './errors'

/** Converts n 8-byte sums (kind 0 u64, 1 i64, 2 f64) to f64. */
export function profile_to_f64(src: usize, n: i32, kind: i32, dst: usize): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 3
    let v: f64
    if (kind == 0) v = <f64>load<u64>(src + o)
    else if (kind == 1) v = <f64>load<i64>(src + o)
    else v = load<f64>(src + o)
    store<f64>(dst + o, v)
  }
}

/** Mean of `count` contiguous profiles of n f64 each. */
export function profiles_mean(ring: usize, count: i32, n: i32, out: usize): void {
  const inv = count > 0 ? 1.0 / <f64>count : NaN
  const stride = <usize>n << 3
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 3
    let s: f64 = 0
    let p = ring + o
    for (let k = 0; k < count; k++) {
      s += load<f64>(p)
      p += stride
    }
    store<f64>(out + o, s * inv)
  }
}

/** ema = alpha * src + (1 - alpha) * ema, in place. */
export function profile_ema(ema: usize, src: usize, n: i32, alpha: f64): void {
  const keep = 1.0 - alpha
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 3
    store<f64>(ema + o, alpha * load<f64>(src + o) + keep * load<f64>(ema + o))
  }
}

/** mode 0: out = sig - ref; mode 1: out = sig / ref - 1 (0 where ref == 0). */
export function profile_normalise(sig: usize, ref: usize, n: i32, mode: i32, out: usize): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 3
    const s = load<f64>(sig + o)
    const r = load<f64>(ref + o)
    let v: f64
    if (mode == 0) v = s - r
    else v = r == 0 ? 0 : s / r - 1
    store<f64>(out + o, v)
  }
}

/** out = a - b. */
export function profile_subtract(a: usize, b: usize, n: i32, out: usize): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 3
    store<f64>(out + o, load<f64>(a + o) - load<f64>(b + o))
  }
}

/**
 * Centred moving average over `window` samples: sample i averages [i - (w-1)/2, i + w/2]
 * (integer division), clipped to the profile, so the window shrinks at the edges. A running
 * sum keeps it linear in n; out must not alias src.
 */
export function profile_smooth(src: usize, n: i32, window: i32, out: usize): void {
  if (window <= 1) {
    memory.copy(out, src, <usize>n << 3)
    return
  }
  const before = (window - 1) >> 1
  const after = window >> 1
  let s: f64 = 0
  let lo = 0
  let hi = -1
  for (let i = 0; i < n; i++) {
    const wantHi = min(n - 1, i + after)
    const wantLo = max(0, i - before)
    while (hi < wantHi) { hi++; s += load<f64>(src + (<usize>hi << 3)) }
    while (lo < wantLo) { s -= load<f64>(src + (<usize>lo << 3)); lo++ }
    store<f64>(out + (<usize>i << 3), s / <f64>(hi - lo + 1))
  }
}

/**
 * Linear interpolation at x = 0, step, 2*step, ... while x <= lastX (lastX = n - 1, or n - 2
 * for the old code's arange quirk); returns the number of samples written. x is computed as
 * k * step (like numpy's arange), with a 1e-9 relative tolerance on the end point.
 */
export function profile_refine(src: usize, n: i32, step: f64, lastX: f64, out: usize): i32 {
  if (n < 1 || !(step > 0) || !(lastX >= 0) || lastX > <f64>(n - 1) + 1e-9) return ERR_BAD_ARGUMENT
  const count = <i32>Math.floor(lastX / step + 1e-9) + 1
  const lastIdx = n - 1
  if (step == 1.0) {
    // Integer sample points: the interpolation returns the samples themselves.
    memory.copy(out, src, <usize>count << 3)
    return count
  }
  for (let k = 0; k < count; k++) {
    const x = <f64>k * step
    let i = <i32>Math.floor(x)
    let v: f64
    if (i >= lastIdx) {
      v = load<f64>(src + (<usize>lastIdx << 3))
    } else {
      const a = load<f64>(src + (<usize>i << 3))
      const b = load<f64>(src + (<usize>(i + 1) << 3))
      v = a + (x - <f64>i) * (b - a)
    }
    store<f64>(out + (<usize>k << 3), v)
  }
  return count
}

// @ts-ignore: decorator
@inline function at(p: usize, i: i32): f64 {
  return load<f64>(p + (<usize>i << 3))
}

/**
 * Cross-correlates a profile of m samples with a step of `taps` samples (falling: first
 * floor(taps/2) = +1, the rest -1; rising: the opposite), 'valid' mode, using prefix sums
 * (linear in m). scratch holds m + 1 f64 (prefix sums, then the correlation). Writes f64[5]
 * to out: argmax index (first maximum),
 * max amplitude, FWHM of the peak in samples (linear-interpolated half-maximum crossings, NaN
 * when the peak is not positive or a crossing falls outside), highest secondary peak (a local
 * maximum outside the half-maximum region, NaN when none), parabolic sub-sample offset of the
 * peak (0 at the ends). Returns the number of correlation samples (0 when m < taps).
 */
export function edge_find(
  profile: usize, m: i32, taps: i32, rising: i32, scratch: usize, out: usize,
): i32 {
  if (taps < 2 || m < 0) return ERR_BAD_ARGUMENT
  if (m < taps) {
    store<f64>(out, NaN)
    store<f64>(out, NaN, 8)
    store<f64>(out, NaN, 16)
    store<f64>(out, NaN, 24)
    store<f64>(out, NaN, 32)
    return 0
  }
  let acc: f64 = 0
  store<f64>(scratch, 0)
  for (let i = 0; i < m; i++) {
    acc += load<f64>(profile + (<usize>i << 3))
    store<f64>(scratch + (<usize>(i + 1) << 3), acc)
  }
  // In place: c[k] = sum(p[k .. k+half)) - sum(p[k+half .. k+taps))
  //                = 2 S[k+half] - S[k] - S[k+taps]
  // overwrites S[k], which no later k reads (they read indices >= k + 1).
  const half = taps >> 1
  const sign: f64 = rising != 0 ? -1.0 : 1.0
  const count = m - taps + 1
  const c = scratch
  let best = 0
  let peak = -Infinity
  for (let k = 0; k < count; k++) {
    const v = sign * (2 * at(c, k + half) - at(c, k) - at(c, k + taps))
    store<f64>(c + (<usize>k << 3), v)
    if (k == 0 || v > peak) { peak = v; best = k }
  }
  // Half-maximum region: walk out from the peak to the first samples below peak / 2.
  const hm = peak * 0.5
  let left = best
  while (left > 0 && at(c, left - 1) >= hm) left--
  let right = best
  while (right < count - 1 && at(c, right + 1) >= hm) right++
  let fwhm: f64 = NaN
  if (peak > 0 && left > 0 && right < count - 1) {
    const l0 = at(c, left - 1)
    const l1 = at(c, left)
    const r0 = at(c, right)
    const r1 = at(c, right + 1)
    const xl = <f64>(left - 1) + (hm - l0) / (l1 - l0)
    const xr = <f64>right + (r0 - hm) / (r0 - r1)
    fwhm = xr - xl
  }
  // Highest local maximum outside [left, right] (ends count when above their one neighbour).
  let next: f64 = NaN
  for (let k = 0; k < count; k++) {
    if (k >= left && k <= right) continue
    const cur = at(c, k)
    const prev = k > 0 ? at(c, k - 1) : -Infinity
    const nxt = k + 1 < count ? at(c, k + 1) : -Infinity
    if (cur >= prev && cur >= nxt && (isNaN(next) || cur > next)) next = cur
  }
  let offset: f64 = 0
  if (best > 0 && best < count - 1) {
    const ym = at(c, best - 1)
    const yp = at(c, best + 1)
    const den = ym - 2 * peak + yp
    if (den < 0) offset = max(-0.5, min(0.5, 0.5 * (ym - yp) / den))
  }
  store<f64>(out, <f64>best)
  store<f64>(out, peak, 8)
  store<f64>(out, fwhm, 16)
  store<f64>(out, next, 24)
  store<f64>(out, offset, 32)
  return count
}
