// ROI statistics and whole-frame min/max/histogram (the preview's auto-contrast). Values are
// read through the same typed, byte-order-aware loader as the profiles and reduced in f64.
import {
  DT_UINT8, DT_INT8, DT_UINT16, DT_INT16, DT_UINT32, DT_INT32, DT_UINT64, DT_INT64,
  DT_FLOAT32, DT_FLOAT64, dtype_size,
} from './dtype'
import { ERR_BAD_ARGUMENT } from './errors'
import { loadPx, roiValid } from './profile'

// @ts-ignore: decorator
@inline function asF64<T>(v: T): f64 {
  return <f64>v
}

function roiStatsT<T>(
  frame: usize, width: i32, be: bool, ox: i32, sx: i32, oy: i32, sy: i32,
  saturation: f64, out: usize,
): void {
  const es = <usize>sizeof<T>()
  let sum: f64 = 0
  let lo = Infinity
  let hi = -Infinity
  let sat: f64 = 0
  for (let r = 0; r < sy; r++) {
    let p = frame + (<usize>(oy + r) * <usize>width + <usize>ox) * es
    // Integer rows sum exactly in i64 first; only the row total goes through f64.
    let rowInt: i64 = 0
    let rowF: f64 = 0
    for (let c = 0; c < sx; c++) {
      const v = loadPx<T>(p, be)
      const f = asF64<T>(v)
      if (isFloat<T>()) rowF += f
      else rowInt += <i64>v
      if (f < lo) lo = f
      if (f > hi) hi = f
      if (f >= saturation) sat += 1
      p += es
    }
    if (isFloat<T>()) sum += rowF
    else if (isSigned<T>() || sizeof<T>() < 8) sum += <f64>rowInt
    else sum += <f64><u64>rowInt
  }
  store<f64>(out, sum)
  store<f64>(out, lo, 8)
  store<f64>(out, hi, 16)
  store<f64>(out, sum / (<f64>sx * <f64>sy), 24)
  store<f64>(out, sat, 32)
}

/** f64[5] at out: sum, min, max, mean, count of pixels >= saturation. Returns 0. */
export function roi_stats(
  frame: usize, width: i32, height: i32, dtype: i32, bigEndian: i32,
  ox: i32, sx: i32, oy: i32, sy: i32, saturation: f64, out: usize,
): i32 {
  if (dtype_size(dtype) == 0 || !roiValid(width, height, ox, sx, oy, sy)) return ERR_BAD_ARGUMENT
  const be = bigEndian != 0
  switch (dtype) {
    case DT_UINT8: roiStatsT<u8>(frame, width, be, ox, sx, oy, sy, saturation, out); break
    case DT_INT8: roiStatsT<i8>(frame, width, be, ox, sx, oy, sy, saturation, out); break
    case DT_UINT16: roiStatsT<u16>(frame, width, be, ox, sx, oy, sy, saturation, out); break
    case DT_INT16: roiStatsT<i16>(frame, width, be, ox, sx, oy, sy, saturation, out); break
    case DT_UINT32: roiStatsT<u32>(frame, width, be, ox, sx, oy, sy, saturation, out); break
    case DT_INT32: roiStatsT<i32>(frame, width, be, ox, sx, oy, sy, saturation, out); break
    case DT_UINT64: roiStatsT<u64>(frame, width, be, ox, sx, oy, sy, saturation, out); break
    case DT_INT64: roiStatsT<i64>(frame, width, be, ox, sx, oy, sy, saturation, out); break
    case DT_FLOAT32: roiStatsT<f32>(frame, width, be, ox, sx, oy, sy, saturation, out); break
    case DT_FLOAT64: roiStatsT<f64>(frame, width, be, ox, sx, oy, sy, saturation, out); break
  }
  return 0
}

function minMaxT<T>(frame: usize, n: i32, be: bool, stride: i32, out: usize): void {
  let lo = Infinity
  let hi = -Infinity
  const step = <usize>stride * sizeof<T>()
  let p = frame
  for (let i = 0; i < n; i += stride) {
    const f = asF64<T>(loadPx<T>(p, be))
    // NaN compares false both ways and is skipped.
    if (f < lo) lo = f
    if (f > hi) hi = f
    p += step
  }
  store<f64>(out, lo)
  store<f64>(out, hi, 8)
}

/** f64[2] at out: min and max of every stride-th element (NaN skipped). Returns 0. */
export function frame_min_max(
  frame: usize, nElems: i32, dtype: i32, bigEndian: i32, stride: i32, out: usize,
): i32 {
  if (dtype_size(dtype) == 0 || nElems < 0 || stride < 1) return ERR_BAD_ARGUMENT
  const be = bigEndian != 0
  switch (dtype) {
    case DT_UINT8: minMaxT<u8>(frame, nElems, be, stride, out); break
    case DT_INT8: minMaxT<i8>(frame, nElems, be, stride, out); break
    case DT_UINT16: minMaxT<u16>(frame, nElems, be, stride, out); break
    case DT_INT16: minMaxT<i16>(frame, nElems, be, stride, out); break
    case DT_UINT32: minMaxT<u32>(frame, nElems, be, stride, out); break
    case DT_INT32: minMaxT<i32>(frame, nElems, be, stride, out); break
    case DT_UINT64: minMaxT<u64>(frame, nElems, be, stride, out); break
    case DT_INT64: minMaxT<i64>(frame, nElems, be, stride, out); break
    case DT_FLOAT32: minMaxT<f32>(frame, nElems, be, stride, out); break
    case DT_FLOAT64: minMaxT<f64>(frame, nElems, be, stride, out); break
  }
  return 0
}

function histT<T>(
  frame: usize, n: i32, be: bool, stride: i32, lo: f64, hi: f64, bins: i32, out: usize,
): void {
  const step = <usize>stride * sizeof<T>()
  const scale = hi > lo ? <f64>bins / (hi - lo) : 0.0
  const last = bins - 1
  let p = frame
  for (let i = 0; i < n; i += stride) {
    const f = asF64<T>(loadPx<T>(p, be))
    p += step
    // Outside [lo, hi] (and NaN) is not counted; hi itself goes into the last bin.
    if (!(f >= lo && f <= hi)) continue
    const b = min(<i32>((f - lo) * scale), last)
    const a = out + (<usize>b << 2)
    store<u32>(a, load<u32>(a) + 1)
  }
}

/**
 * u32[bins] at out: histogram of every stride-th element over [lo, hi] (equal-width bins,
 * values outside and NaN not counted). Returns 0.
 */
export function histogram(
  frame: usize, nElems: i32, dtype: i32, bigEndian: i32, stride: i32,
  lo: f64, hi: f64, bins: i32, out: usize,
): i32 {
  if (dtype_size(dtype) == 0 || nElems < 0 || stride < 1 || bins < 1) return ERR_BAD_ARGUMENT
  if (!(hi >= lo)) return ERR_BAD_ARGUMENT
  memory.fill(out, 0, <usize>bins << 2)
  const be = bigEndian != 0
  switch (dtype) {
    case DT_UINT8: histT<u8>(frame, nElems, be, stride, lo, hi, bins, out); break
    case DT_INT8: histT<i8>(frame, nElems, be, stride, lo, hi, bins, out); break
    case DT_UINT16: histT<u16>(frame, nElems, be, stride, lo, hi, bins, out); break
    case DT_INT16: histT<i16>(frame, nElems, be, stride, lo, hi, bins, out); break
    case DT_UINT32: histT<u32>(frame, nElems, be, stride, lo, hi, bins, out); break
    case DT_INT32: histT<i32>(frame, nElems, be, stride, lo, hi, bins, out); break
    case DT_UINT64: histT<u64>(frame, nElems, be, stride, lo, hi, bins, out); break
    case DT_INT64: histT<i64>(frame, nElems, be, stride, lo, hi, bins, out); break
    case DT_FLOAT32: histT<f32>(frame, nElems, be, stride, lo, hi, bins, out); break
    case DT_FLOAT64: histT<f64>(frame, nElems, be, stride, lo, hi, bins, out); break
  }
  return 0
}
