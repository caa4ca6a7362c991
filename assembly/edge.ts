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

// The elementwise loops below run on f64x2 lanes; each lane does the scalar loop's operations
// in the same order, so the results are bit-identical.

/** Mean of `count` contiguous profiles of n f64 each. */
export function profiles_mean(ring: usize, count: i32, n: i32, out: usize): void {
  const inv = count > 0 ? 1.0 / <f64>count : NaN
  const stride = <usize>n << 3
  const n4 = n & ~3
  for (let i = 0; i < n4; i += 4) mean4At(ring, count, stride, out, <usize>i << 3, inv)
  for (let i = n4; i < n; i++) meanAt(ring, count, stride, out, <usize>i << 3, inv)
}

// @ts-ignore: decorator
@inline function mean4At(ring: usize, count: i32, stride: usize, out: usize, o: usize,
  inv: f64): void {
  let s0 = f64x2.splat(0)
  let s1 = f64x2.splat(0)
  let p = ring + o
  for (let k = 0; k < count; k++) {
    s0 = f64x2.add(s0, v128.load(p))
    s1 = f64x2.add(s1, v128.load(p, 16))
    p += stride
  }
  const v = f64x2.splat(inv)
  v128.store(out + o, f64x2.mul(s0, v))
  v128.store(out + o, f64x2.mul(s1, v), 16)
}

// @ts-ignore: decorator
@inline function meanAt(ring: usize, count: i32, stride: usize, out: usize, o: usize,
  inv: f64): void {
  let s: f64 = 0
  let p = ring + o
  for (let k = 0; k < count; k++) {
    s += load<f64>(p)
    p += stride
  }
  store<f64>(out + o, s * inv)
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

/** out = a - b (out may be a or b). */
export function profile_subtract(a: usize, b: usize, n: i32, out: usize): void {
  const n2 = n & ~1
  for (let i = 0; i < n2; i += 2) sub2At(a, b, out, <usize>i << 3)
  if (n & 1) subAt(a, b, out, <usize>n2 << 3)
}

// @ts-ignore: decorator
@inline function sub2At(a: usize, b: usize, out: usize, o: usize): void {
  v128.store(out + o, f64x2.sub(v128.load(a + o), v128.load(b + o)))
}

// @ts-ignore: decorator
@inline function subAt(a: usize, b: usize, out: usize, o: usize): void {
  store<f64>(out + o, load<f64>(a + o) - load<f64>(b + o))
}

/**
 * Copies n f64 with v128 moves. memory.copy (V8's memmove) is 20x slower when dst is 8 or 16
 * bytes ahead of src modulo 4 KiB, the case of profiles of 2560 f64 (5 pages) allocated back to
 * back; overlapping buffers still go to memory.copy.
 */
function copyF64(dst: usize, src: usize, n: i32): void {
  const bytes = <usize>n << 3
  if (dst < src + bytes && src < dst + bytes) {
    memory.copy(dst, src, bytes)
    return
  }
  const n2 = n & ~1
  for (let i = 0; i < n2; i += 2) {
    const o = <usize>i << 3
    v128.store(dst + o, v128.load(src + o))
  }
  if (n & 1) store<f64>(dst + (<usize>n2 << 3), load<f64>(src + (<usize>n2 << 3)))
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
    copyF64(out, src, count)
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

// The secondary peak is the highest local maximum (a sample >= both neighbours, a missing
// neighbour at the ends being -Infinity) on either side of the half-maximum region. Walking away
// from the region, samples below their neighbour on the region's side are no local maxima (the
// slope off the peak); the highest sample of the rest of that side is one (>= its neighbours
// inside, and the first one was checked against the slope), so a vector max gives it. A NaN
// (never a local maximum, and it spoils its neighbours) or a zero result (the literal rule keeps
// the first of -0 and +0) falls back to the literal scan.

/** The highest local maximum of c[lo .. hi) by the literal rule, NaN when there is none. */
function localMaxScan(c: usize, lo: i32, hi: i32, count: i32): f64 {
  let next: f64 = NaN
  for (let k = lo; k < hi; k++) {
    const cur = at(c, k)
    const prev = k > 0 ? at(c, k - 1) : -Infinity
    const nxt = k + 1 < count ? at(c, k + 1) : -Infinity
    if (cur >= prev && cur >= nxt && (isNaN(next) || cur > next)) next = cur
  }
  return next
}

/** max(c[lo .. hi)) for lo < hi, NaN when the range holds a NaN. */
function rangeMax(c: usize, lo: i32, hi: i32): f64 {
  let best = at(c, lo)
  let nan = <i32>isNaN(best)
  let k = lo + 1
  if (hi - k >= 4) {
    // pmax is max for numbers; NaN lanes are caught apart.
    let m0 = f64x2.splat(best)
    let m1 = m0
    let un = f64x2.ne(m0, m0)
    for (; k + 4 <= hi; k += 4) {
      const p = c + (<usize>k << 3)
      const a = v128.load(p)
      const b = v128.load(p, 16)
      m0 = f64x2.pmax(m0, a)
      m1 = f64x2.pmax(m1, b)
      un = v128.or(un, v128.or(f64x2.ne(a, a), f64x2.ne(b, b)))
    }
    const m = f64x2.pmax(m0, m1)
    best = max(f64x2.extract_lane(m, 0), f64x2.extract_lane(m, 1))
    nan |= <i32>v128.any_true(un)
  }
  for (; k < hi; k++) {
    const v = at(c, k)
    nan |= <i32>isNaN(v)
    best = max(best, v)
  }
  return nan ? NaN : best
}

/** Highest local maximum of c[0 .. end), the side left of the peak region. */
function localMaxBefore(c: usize, end: i32, count: i32): f64 {
  // Skip the slope: samples not >= their right neighbour (or beside a NaN).
  let q = end - 1
  while (q >= 0 && !(at(c, q) >= at(c, q + 1))) q--
  if (q < 0) return NaN
  const r = rangeMax(c, 0, q + 1)
  return r == 0 || isNaN(r) ? localMaxScan(c, 0, end, count) : r
}

/** Highest local maximum of c[start .. count), the side right of the peak region. */
function localMaxAfter(c: usize, start: i32, count: i32): f64 {
  let q = start
  while (q < count && !(at(c, q) >= at(c, q - 1))) q++
  if (q == count) return NaN
  const r = rangeMax(c, q, count)
  return r == 0 || isNaN(r) ? localMaxScan(c, start, count, count) : r
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
  // One pass: the prefix sums S[j] = p[0] + ... + p[j-1] go to scratch[j], and as soon as
  // S[k + taps] exists, c[k] = sum(p[k .. k+half)) - sum(p[k+half .. k+taps))
  //                       = 2 S[k+half] - S[k] - S[k+taps]
  // overwrites S[k], which no later k reads (they read indices >= k + 1). The serial sum is
  // the critical path; the correlation and argmax run beside it.
  const half = taps >> 1
  const sign: f64 = rising != 0 ? -1.0 : 1.0
  const count = m - taps + 1
  const c = scratch
  let acc: f64 = 0
  store<f64>(scratch, 0)
  for (let j = 1; j <= taps; j++) {
    acc += at(profile, j - 1)
    store<f64>(scratch + (<usize>j << 3), acc)
  }
  // k = 0 sets the peak unconditionally (it stays NaN if c[0] is).
  let peak = sign * (2 * at(c, half) - at(c, 0) - acc)
  store<f64>(c, peak)
  let best = 0
  const hOff = <usize>half << 3
  const tOff = <usize>taps << 3
  let pp = profile + tOff
  let pc = c + 8
  for (let k = 1; k < count; k++) {
    acc += load<f64>(pp)
    store<f64>(pc + tOff, acc)
    const v = sign * (2 * load<f64>(pc + hOff) - load<f64>(pc) - acc)
    store<f64>(pc, v)
    if (v > peak) { peak = v; best = k }
    pp += 8
    pc += 8
  }
  writePeakMetrics(c, count, best, peak, out)
  return count
}

/**
 * Writes f64[5] to out for the correlation c[0 .. count) whose first maximum `peak` is at
 * `best`: argmax, peak, FWHM, highest secondary peak, parabolic offset (see edge_find).
 */
export function writePeakMetrics(c: usize, count: i32, best: i32, peak: f64, out: usize): void {
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
  if (left > 0) next = localMaxBefore(c, left, count)
  if (right < count - 1) {
    const r = localMaxAfter(c, right + 1, count)
    // The left side was found first, so it wins ties.
    if (isNaN(next) || r > next) next = r
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
}
