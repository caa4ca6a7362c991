// x-profiles: exact column sums over a ROI of a row-major frame. Integer pixels sum into 64-bit
// integers, float pixels row by row in their own precision, output as f64 (the same numbers as
// numpy's `roi.sum(axis=0)`, which the old service sent). 8/16-bit pixels use
// SIMD: rows accumulate into 32-bit lanes of a static block, flushed into the 64-bit output
// before the lanes could overflow, so the hot loop is v128 adds over contiguous memory.
import {
  DT_UINT8, DT_INT8, DT_UINT16, DT_INT16, DT_UINT32, DT_INT32, DT_UINT64, DT_INT64,
  DT_FLOAT32, DT_FLOAT64, dtype_size,
} from './dtype'
import { ERR_BAD_ARGUMENT } from './errors'

/** Columns per pass of the 32-bit accumulator (16 KiB static block). */
const ACC_COLS: i32 = 4096
/** 65535 rows of u16 (or i16) fit a 32-bit lane: 65535 * 65535 < 2^32, 32768 * 65535 < 2^31. */
const ACC_ROWS: i32 = 65535
const ACC: usize = memory.data(ACC_COLS * 4, 16)

/** Loads one element of type T at p, swapping the byte order when be. */
// @ts-ignore: decorator
@inline export function loadPx<T>(p: usize, be: bool): T {
  if (sizeof<T>() == 1) return load<T>(p)
  if (isFloat<T>()) {
    if (sizeof<T>() == 4) {
      let b = load<u32>(p)
      if (be) b = bswap<u32>(b)
      return <T>reinterpret<f32>(b)
    } else {
      let b = load<u64>(p)
      if (be) b = bswap<u64>(b)
      return <T>reinterpret<f64>(b)
    }
  }
  let v = load<T>(p)
  // @ts-ignore: T is an integer type here
  return be ? bswap<T>(v) : v
}

/** True when the ROI lies inside a width x height frame and has at least one pixel. */
export function roiValid(width: i32, height: i32, ox: i32, sx: i32, oy: i32, sy: i32): bool {
  if (width < 1 || height < 1 || ox < 0 || oy < 0 || sx < 1 || sy < 1) return false
  return <i64>ox + <i64>sx <= <i64>width && <i64>oy + <i64>sy <= <i64>height
}

/** Adds one row of `cols` 8/16-bit pixels into the 32-bit lanes at ACC. */
// @ts-ignore: decorator
@inline function accRow<T>(p: usize, cols: i32, be: bool): void {
  let c = 0
  if (sizeof<T>() == 2) {
    for (; c + 8 <= cols; c += 8) {
      let v = v128.load(p + (<usize>c << 1))
      if (be) v = i8x16.shuffle(v, v, 1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14)
      const a = ACC + (<usize>c << 2)
      if (isSigned<T>()) {
        v128.store(a, i32x4.add(v128.load(a), i32x4.extend_low_i16x8_s(v)))
        v128.store(a, i32x4.add(v128.load(a, 16), i32x4.extend_high_i16x8_s(v)), 16)
      } else {
        v128.store(a, i32x4.add(v128.load(a), i32x4.extend_low_i16x8_u(v)))
        v128.store(a, i32x4.add(v128.load(a, 16), i32x4.extend_high_i16x8_u(v)), 16)
      }
    }
  } else {
    for (; c + 16 <= cols; c += 16) {
      const v = v128.load(p + <usize>c)
      const a = ACC + (<usize>c << 2)
      let w0: v128, w1: v128
      if (isSigned<T>()) {
        w0 = i16x8.extend_low_i8x16_s(v)
        w1 = i16x8.extend_high_i8x16_s(v)
        v128.store(a, i32x4.add(v128.load(a), i32x4.extend_low_i16x8_s(w0)))
        v128.store(a, i32x4.add(v128.load(a, 16), i32x4.extend_high_i16x8_s(w0)), 16)
        v128.store(a, i32x4.add(v128.load(a, 32), i32x4.extend_low_i16x8_s(w1)), 32)
        v128.store(a, i32x4.add(v128.load(a, 48), i32x4.extend_high_i16x8_s(w1)), 48)
      } else {
        w0 = i16x8.extend_low_i8x16_u(v)
        w1 = i16x8.extend_high_i8x16_u(v)
        v128.store(a, i32x4.add(v128.load(a), i32x4.extend_low_i16x8_u(w0)))
        v128.store(a, i32x4.add(v128.load(a, 16), i32x4.extend_high_i16x8_u(w0)), 16)
        v128.store(a, i32x4.add(v128.load(a, 32), i32x4.extend_low_i16x8_u(w1)), 32)
        v128.store(a, i32x4.add(v128.load(a, 48), i32x4.extend_high_i16x8_u(w1)), 48)
      }
    }
  }
  for (; c < cols; c++) {
    const a = ACC + (<usize>c << 2)
    store<i32>(a, load<i32>(a) + <i32>loadPx<T>(p + <usize>c * sizeof<T>(), be))
  }
}

function sumRowsSimd<T>(
  frame: usize, width: i32, be: bool, ox: i32, sx: i32, oy: i32, sy: i32, out: usize,
): void {
  const es = <usize>sizeof<T>()
  for (let c0 = 0; c0 < sx; c0 += ACC_COLS) {
    const cols = min(ACC_COLS, sx - c0)
    for (let r0 = 0; r0 < sy; r0 += ACC_ROWS) {
      const rows = min(ACC_ROWS, sy - r0)
      memory.fill(ACC, 0, <usize>cols << 2)
      for (let r = 0; r < rows; r++) {
        const p = frame + (<usize>(oy + r0 + r) * <usize>width + <usize>(ox + c0)) * es
        accRow<T>(p, cols, be)
      }
      const o = out + (<usize>c0 << 3)
      for (let c = 0; c < cols; c++) {
        const a = ACC + (<usize>c << 2)
        const s: i64 = isSigned<T>() ? <i64>load<i32>(a) : <i64>load<u32>(a)
        store<i64>(o + (<usize>c << 3), load<i64>(o + (<usize>c << 3)) + s)
      }
    }
  }
}

/**
 * 32- and 64-bit integer and float64 pixels: each row adds straight into the 8-byte output
 * lanes, two columns per v128 (32-bit pixels widened to 64 bits first). Column order of the
 * additions is row by row, so float64 sums equal the scalar (numpy) ones bit for bit.
 */
function sumRowsWide<T>(
  frame: usize, width: i32, be: bool, ox: i32, sx: i32, oy: i32, sy: i32, out: usize,
): void {
  const es = <usize>sizeof<T>()
  for (let r = 0; r < sy; r++) {
    const row = frame + (<usize>(oy + r) * <usize>width + <usize>ox) * es
    let c = 0
    for (; c + 4 <= sx; c += 4) {
      const o = out + (<usize>c << 3)
      if (sizeof<T>() == 4) {
        let v = v128.load(row + (<usize>c << 2))
        if (be) v = i8x16.shuffle(v, v, 3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12)
        let lo: v128, hi: v128
        if (isSigned<T>()) {
          lo = i64x2.extend_low_i32x4_s(v)
          hi = i64x2.extend_high_i32x4_s(v)
        } else {
          lo = i64x2.extend_low_i32x4_u(v)
          hi = i64x2.extend_high_i32x4_u(v)
        }
        v128.store(o, i64x2.add(v128.load(o), lo))
        v128.store(o, i64x2.add(v128.load(o, 16), hi), 16)
      } else {
        let v0 = v128.load(row + (<usize>c << 3))
        let v1 = v128.load(row + (<usize>c << 3), 16)
        if (be) {
          v0 = i8x16.shuffle(v0, v0, 7, 6, 5, 4, 3, 2, 1, 0, 15, 14, 13, 12, 11, 10, 9, 8)
          v1 = i8x16.shuffle(v1, v1, 7, 6, 5, 4, 3, 2, 1, 0, 15, 14, 13, 12, 11, 10, 9, 8)
        }
        if (isFloat<T>()) {
          v128.store(o, f64x2.add(v128.load(o), v0))
          v128.store(o, f64x2.add(v128.load(o, 16), v1), 16)
        } else {
          v128.store(o, i64x2.add(v128.load(o), v0))
          v128.store(o, i64x2.add(v128.load(o, 16), v1), 16)
        }
      }
    }
    for (; c < sx; c++) {
      const o = out + (<usize>c << 3)
      const v = loadPx<T>(row + <usize>c * es, be)
      if (isFloat<T>()) store<f64>(o, load<f64>(o) + <f64>v)
      else store<i64>(o, load<i64>(o) + <i64>v)
    }
  }
}

/**
 * float32 pixels: columns accumulate in f32 lanes of the static block (numpy sums float32 in
 * float32, row by row: same order, same roundings), widened to f64 once per column chunk.
 */
function sumRowsF32(
  frame: usize, width: i32, be: bool, ox: i32, sx: i32, oy: i32, sy: i32, out: usize,
): void {
  for (let c0 = 0; c0 < sx; c0 += ACC_COLS) {
    const cols = min(ACC_COLS, sx - c0)
    memory.fill(ACC, 0, <usize>cols << 2)
    for (let r = 0; r < sy; r++) {
      const row = frame + (<usize>(oy + r) * <usize>width + <usize>(ox + c0)) * 4
      let c = 0
      for (; c + 4 <= cols; c += 4) {
        let v = v128.load(row + (<usize>c << 2))
        if (be) v = i8x16.shuffle(v, v, 3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12)
        const a = ACC + (<usize>c << 2)
        v128.store(a, f32x4.add(v128.load(a), v))
      }
      for (; c < cols; c++) {
        const a = ACC + (<usize>c << 2)
        store<f32>(a, load<f32>(a) + loadPx<f32>(row + (<usize>c << 2), be))
      }
    }
    for (let c = 0; c < cols; c++) {
      store<f64>(out + (<usize>(c0 + c) << 3), <f64>load<f32>(ACC + (<usize>c << 2)))
    }
  }
}

/**
 * Column sums of ROI [ox, sx, oy, sy] into out (sx elements of 8 bytes: u64 for unsigned,
 * i64 for signed, f64 for float pixels). bigEndian != 0 swaps on load. Returns 0, or
 * ERR_BAD_ARGUMENT for an unknown type or a ROI outside the frame (nothing is read then).
 */
export function x_profile(
  frame: usize, width: i32, height: i32, dtype: i32, bigEndian: i32,
  ox: i32, sx: i32, oy: i32, sy: i32, out: usize,
): i32 {
  if (dtype_size(dtype) == 0 || !roiValid(width, height, ox, sx, oy, sy)) return ERR_BAD_ARGUMENT
  memory.fill(out, 0, <usize>sx << 3)
  const be = bigEndian != 0
  switch (dtype) {
    case DT_UINT8: sumRowsSimd<u8>(frame, width, be, ox, sx, oy, sy, out); break
    case DT_INT8: sumRowsSimd<i8>(frame, width, be, ox, sx, oy, sy, out); break
    case DT_UINT16: sumRowsSimd<u16>(frame, width, be, ox, sx, oy, sy, out); break
    case DT_INT16: sumRowsSimd<i16>(frame, width, be, ox, sx, oy, sy, out); break
    case DT_UINT32: sumRowsWide<u32>(frame, width, be, ox, sx, oy, sy, out); break
    case DT_INT32: sumRowsWide<i32>(frame, width, be, ox, sx, oy, sy, out); break
    case DT_UINT64: sumRowsWide<u64>(frame, width, be, ox, sx, oy, sy, out); break
    case DT_INT64: sumRowsWide<i64>(frame, width, be, ox, sx, oy, sy, out); break
    case DT_FLOAT32: sumRowsF32(frame, width, be, ox, sx, oy, sy, out); break
    case DT_FLOAT64: sumRowsWide<f64>(frame, width, be, ox, sx, oy, sy, out); break
  }
  return 0
}
