// The learned matched filter of the edge finder (edge_method "learned"): a correlation with an
// arbitrary filter of `taps` samples ('valid' mode, O(m * taps)), its peak metrics, and the
// mean square of a correlation (the filter's noise output on reference shots). No allocation.
import { ERR_BAD_ARGUMENT } from './errors'
import { writePeakMetrics } from './edge'

/**
 * c[k] = sum over j of filter[j] * profile[k + j], k = 0 .. m - taps, into out; returns the
 * count (0 when m < taps). Two outputs per step on f64x2 lanes; each lane sums in the scalar
 * order (j ascending, multiply then add), so the results equal the scalar loop's bit for bit.
 */
export function filter_correlate(profile: usize, m: i32, filter: usize, taps: i32,
  out: usize): i32 {
  if (taps < 1 || m < 0) return ERR_BAD_ARGUMENT
  const count = m - taps + 1
  if (count <= 0) return 0
  const count2 = count & ~1
  for (let k = 0; k < count2; k += 2) {
    let acc = f64x2.splat(0)
    let p = profile + (<usize>k << 3)
    let f = filter
    for (let j = 0; j < taps; j++) {
      acc = f64x2.add(acc, f64x2.mul(v128.load(p), f64x2.splat(load<f64>(f))))
      p += 8
      f += 8
    }
    v128.store(out + (<usize>k << 3), acc)
  }
  if (count & 1) {
    const k = count2
    let acc: f64 = 0
    for (let j = 0; j < taps; j++) {
      acc += load<f64>(profile + (<usize>(k + j) << 3)) * load<f64>(filter + (<usize>j << 3))
    }
    store<f64>(out + (<usize>k << 3), acc)
  }
  return count
}

/**
 * Correlates like filter_correlate into scratch (m - taps + 1 f64) and writes the peak metrics
 * of edge_find to out (f64[5]: argmax, peak, FWHM, secondary peak, parabolic offset). Returns
 * the count (0 when m < taps: out is all NaN).
 */
export function filter_find(profile: usize, m: i32, filter: usize, taps: i32, scratch: usize,
  out: usize): i32 {
  const count = filter_correlate(profile, m, filter, taps, scratch)
  if (count < 0) return count
  if (count == 0) {
    for (let i = 0; i < 5; i++) store<f64>(out + (<usize>i << 3), NaN)
    return 0
  }
  let best = 0
  let peak = load<f64>(scratch)
  for (let k = 1; k < count; k++) {
    const v = load<f64>(scratch + (<usize>k << 3))
    if (v > peak) { peak = v; best = k }
  }
  writePeakMetrics(scratch, count, best, peak, out)
  return count
}

/** Mean of c^2 over the correlation of profile with filter (scratch as for filter_find). */
export function filter_noise(profile: usize, m: i32, filter: usize, taps: i32,
  scratch: usize): f64 {
  const count = filter_correlate(profile, m, filter, taps, scratch)
  return count <= 0 ? NaN : mean_square(scratch, count)
}

/** Mean of src[i]^2 over n f64 (NaN when n < 1). */
export function mean_square(src: usize, n: i32): f64 {
  if (n < 1) return NaN
  let s: f64 = 0
  for (let i = 0; i < n; i++) {
    const v = load<f64>(src + (<usize>i << 3))
    s += v * v
  }
  return s / <f64>n
}
