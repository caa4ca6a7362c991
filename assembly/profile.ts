// x-profiles: exact column sums over a ROI of a row-major frame. Integer pixels sum into 64-bit
// integers, float pixels row by row in their own precision, output as f64 (the same numbers as
// numpy's `roi.sum(axis=0)`, which the old service sent). 8/16-bit pixels use SIMD: blocks of
// 8 rows are summed in registers, then added into narrow lanes of a static block (L1-sized),
// flushed into the 64-bit output before the lanes could overflow. Reading 8 rows side by side
// keeps 8 sequential streams going, which the hardware prefetchers serve well on a frame that
// is not in cache; walking column strips down all rows (accumulators in registers) was slower.
//
// SIMD PAIRS: the same sums are written out more than once, and the copies must stay in step.
// - sumRows16 and sumRows8 are one algorithm at two lane widths (u16 words in 32-bit lanes with
//   flush16, ACC_COLS and ACC_ROWS; u8 bytes in 16-bit lanes with flush8, ACC_COLS8 and ROWS8):
//   a change to one (the bias, the flush, a limit) is a change to both.
// - Inside each of sumRows16, sumRows8, sumRowsWide and sumRowsF32, the 8-row block in registers
//   and the single-row remainder add the same quantities (whole words into a, hi halves into b;
//   row by row per column for floats, so float sums keep numpy's order), and the vector columns
//   and the scalar tail columns (sumColumns, the loops after them) compute the same sums.
// Generics, not copies, make the per-type and per-byte-order versions (profileLE/profileBE).
// test/kernel-simd-pairs.test.ts runs every path (heights 1-7: remainder only; 8, 16: blocks
// only; 263: past the 8-bit flush; 37 columns: vectors and tails) against
// test/reference/profile.ts on random frames and the golden vectors' frames.
import {
  DT_UINT8, DT_INT8, DT_UINT16, DT_INT16, DT_UINT32, DT_INT32, DT_UINT64, DT_INT64,
  DT_FLOAT32, DT_FLOAT64, dtype_size,
} from './dtype'
import { ERR_BAD_ARGUMENT } from './errors'

/** Columns per pass of the accumulator: 4 bytes per column (16 KiB static block). */
const ACC_COLS: i32 = 4096
/** 8-bit pixels need 2 bytes per column. */
const ACC_COLS8: i32 = ACC_COLS * 2
/** 65535 rows of u16 (or biased i16) fit a 32-bit lane: 65535 * 65535 < 2^32. */
const ACC_ROWS: i32 = 65535
/** 256 rows of u8 (or biased i8) fit a 16-bit lane: 256 * 255 < 2^16. */
const ROWS8: i32 = 256
/** Rows summed in registers before they are added to the accumulator. */
const BLOCK: i32 = 8
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

/** Swaps the bytes of every 16-bit lane. */
// @ts-ignore: decorator
@inline function swap16(v: v128): v128 {
  return i8x16.shuffle(v, v, 1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14)
}

/**
 * Eight 16-bit pixels at p as unsigned 16-bit lanes: signed ones biased by +32768 (top bit
 * flipped), which the flush takes off again.
 */
// @ts-ignore: decorator
@inline function load16<T>(p: usize, be: bool): v128 {
  let v = v128.load(p)
  if (be) v = swap16(v)
  if (isSigned<T>()) v = v128.xor(v, i16x8.splat(-32768))
  return v
}

/** Sixteen 8-bit pixels at p as unsigned bytes: signed ones biased by +128. */
// @ts-ignore: decorator
@inline function load8<T>(p: usize): v128 {
  const v = v128.load(p)
  return isSigned<T>() ? v128.xor(v, i8x16.splat(-128)) : v
}

/**
 * Adds the column sums held by one pair of 32-bit accumulators, minus bias, to out[0..8).
 * Read as i32x4, eight u16 pixels are four words lo + 65536 * hi; a sums the whole words
 * (wrapping), b the hi halves, so a - (b << 16) is the sum of the lo halves, exact while the
 * sums fit 32 bits (ACC_ROWS). This costs one shift per load where widening costs two extends.
 */
// @ts-ignore: decorator
@inline function flush16(o: usize, a: v128, b: v128, bias: i64): void {
  const lo = i32x4.sub(a, i32x4.shl(b, 16))
  const c0 = i32x4.shuffle(lo, b, 0, 4, 1, 5)
  const c1 = i32x4.shuffle(lo, b, 2, 6, 3, 7)
  const k = i64x2.splat(bias)
  v128.store(o, i64x2.add(v128.load(o), i64x2.sub(i64x2.extend_low_i32x4_u(c0), k)))
  v128.store(o, i64x2.add(v128.load(o, 16), i64x2.sub(i64x2.extend_high_i32x4_u(c0), k)), 16)
  v128.store(o, i64x2.add(v128.load(o, 32), i64x2.sub(i64x2.extend_low_i32x4_u(c1), k)), 32)
  v128.store(o, i64x2.add(v128.load(o, 48), i64x2.sub(i64x2.extend_high_i32x4_u(c1), k)), 48)
}

/** Adds the eight u16 lanes of v, minus bias, to the 64-bit sums at o. */
// @ts-ignore: decorator
@inline function addU16x8(o: usize, v: v128, k: v128): void {
  const w0 = i32x4.extend_low_i16x8_u(v)
  const w1 = i32x4.extend_high_i16x8_u(v)
  v128.store(o, i64x2.add(v128.load(o), i64x2.sub(i64x2.extend_low_i32x4_u(w0), k)))
  v128.store(o, i64x2.add(v128.load(o, 16), i64x2.sub(i64x2.extend_high_i32x4_u(w0), k)), 16)
  v128.store(o, i64x2.add(v128.load(o, 32), i64x2.sub(i64x2.extend_low_i32x4_u(w1), k)), 32)
  v128.store(o, i64x2.add(v128.load(o, 48), i64x2.sub(i64x2.extend_high_i32x4_u(w1), k)), 48)
}

/**
 * flush16 for 8-bit pixels into out[0..16): 16-bit words lo + 256 * hi, a sums the words, b
 * the hi bytes; exact while the sums fit 16 bits (ROWS8).
 */
// @ts-ignore: decorator
@inline function flush8(o: usize, a: v128, b: v128, bias: i64): void {
  const lo = i16x8.sub(a, i16x8.shl(b, 8))
  const k = i64x2.splat(bias)
  addU16x8(o, i8x16.shuffle(lo, b, 0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23), k)
  addU16x8(o + 64,
    i8x16.shuffle(lo, b, 8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31), k)
}

/** Scalar column sums of columns [c, sx): the few right of the last whole vector. */
// @ts-ignore: decorator
@inline function sumColumns<T>(
  frame: usize, width: i32, be: bool, ox: i32, c: i32, sx: i32, oy: i32, sy: i32, out: usize,
): void {
  const stride = <usize>width * sizeof<T>()
  for (; c < sx; c++) {
    let p = frame + (<usize>oy * <usize>width + <usize>(ox + c)) * sizeof<T>()
    let s: i64 = 0
    for (let r = 0; r < sy; r++) {
      s += <i64>loadPx<T>(p, be)
      p += stride
    }
    store<i64>(out + (<usize>c << 3), s)
  }
}

/**
 * 16-bit pixels: per 8 columns the words of BLOCK rows are summed in registers (see flush16)
 * and added to a pair of 32-bit accumulators at ACC (4 bytes per column).
 */
// @ts-ignore: decorator
@inline function sumRows16<T>(
  frame: usize, width: i32, be: bool, ox: i32, sx: i32, oy: i32, sy: i32, out: usize,
): void {
  const stride = <usize>width << 1
  const bias: i64 = isSigned<T>() ? 32768 : 0
  const vcols = sx & ~7
  for (let c0 = 0; c0 < vcols; c0 += ACC_COLS) {
    const cols = min(ACC_COLS, vcols - c0)
    for (let r0 = 0; r0 < sy; r0 += ACC_ROWS) {
      const rows = min(ACC_ROWS, sy - r0)
      memory.fill(ACC, 0, <usize>cols << 2)
      let row = frame + ((<usize>(oy + r0) * <usize>width + <usize>(ox + c0)) << 1)
      const len = <usize>cols << 1
      let r = 0
      for (; r + BLOCK <= rows; r += BLOCK) {
        const end = row + len
        let a = ACC
        for (let p = row; p != end; p += 16) {
          const v0 = load16<T>(p, be)
          const v1 = load16<T>(p + stride, be)
          const v2 = load16<T>(p + 2 * stride, be)
          const v3 = load16<T>(p + 3 * stride, be)
          const v4 = load16<T>(p + 4 * stride, be)
          const v5 = load16<T>(p + 5 * stride, be)
          const v6 = load16<T>(p + 6 * stride, be)
          const v7 = load16<T>(p + 7 * stride, be)
          const s = i32x4.add(i32x4.add(i32x4.add(v0, v1), i32x4.add(v2, v3)),
            i32x4.add(i32x4.add(v4, v5), i32x4.add(v6, v7)))
          const h = i32x4.add(
            i32x4.add(i32x4.add(i32x4.shr_u(v0, 16), i32x4.shr_u(v1, 16)),
              i32x4.add(i32x4.shr_u(v2, 16), i32x4.shr_u(v3, 16))),
            i32x4.add(i32x4.add(i32x4.shr_u(v4, 16), i32x4.shr_u(v5, 16)),
              i32x4.add(i32x4.shr_u(v6, 16), i32x4.shr_u(v7, 16))))
          v128.store(a, i32x4.add(v128.load(a), s))
          v128.store(a, i32x4.add(v128.load(a, 16), h), 16)
          a += 32
        }
        row += stride * BLOCK
      }
      for (; r < rows; r++) {
        const end = row + len
        let a = ACC
        for (let p = row; p != end; p += 16) {
          const v = load16<T>(p, be)
          v128.store(a, i32x4.add(v128.load(a), v))
          v128.store(a, i32x4.add(v128.load(a, 16), i32x4.shr_u(v, 16)), 16)
          a += 32
        }
        row += stride
      }
      const k = bias * rows
      for (let c = 0; c < cols; c += 8) {
        const a = ACC + (<usize>c << 2)
        flush16(out + (<usize>(c0 + c) << 3), v128.load(a), v128.load(a, 16), k)
      }
    }
  }
  sumColumns<T>(frame, width, be, ox, vcols, sx, oy, sy, out)
}

/**
 * 8-bit pixels: sumRows16 with 16-bit lanes (see flush8), 16 columns per v128 and 2 bytes
 * per column at ACC, flushed every ROWS8 rows.
 */
// @ts-ignore: decorator
@inline function sumRows8<T>(
  frame: usize, width: i32, ox: i32, sx: i32, oy: i32, sy: i32, out: usize,
): void {
  const stride = <usize>width
  const bias: i64 = isSigned<T>() ? 128 : 0
  const vcols = sx & ~15
  for (let c0 = 0; c0 < vcols; c0 += ACC_COLS8) {
    const cols = min(ACC_COLS8, vcols - c0)
    for (let r0 = 0; r0 < sy; r0 += ROWS8) {
      const rows = min(ROWS8, sy - r0)
      memory.fill(ACC, 0, <usize>cols << 1)
      let row = frame + <usize>(oy + r0) * <usize>width + <usize>(ox + c0)
      const len = <usize>cols
      let r = 0
      for (; r + BLOCK <= rows; r += BLOCK) {
        const end = row + len
        let a = ACC
        for (let p = row; p != end; p += 16) {
          const v0 = load8<T>(p)
          const v1 = load8<T>(p + stride)
          const v2 = load8<T>(p + 2 * stride)
          const v3 = load8<T>(p + 3 * stride)
          const v4 = load8<T>(p + 4 * stride)
          const v5 = load8<T>(p + 5 * stride)
          const v6 = load8<T>(p + 6 * stride)
          const v7 = load8<T>(p + 7 * stride)
          const s = i16x8.add(i16x8.add(i16x8.add(v0, v1), i16x8.add(v2, v3)),
            i16x8.add(i16x8.add(v4, v5), i16x8.add(v6, v7)))
          const h = i16x8.add(
            i16x8.add(i16x8.add(i16x8.shr_u(v0, 8), i16x8.shr_u(v1, 8)),
              i16x8.add(i16x8.shr_u(v2, 8), i16x8.shr_u(v3, 8))),
            i16x8.add(i16x8.add(i16x8.shr_u(v4, 8), i16x8.shr_u(v5, 8)),
              i16x8.add(i16x8.shr_u(v6, 8), i16x8.shr_u(v7, 8))))
          v128.store(a, i16x8.add(v128.load(a), s))
          v128.store(a, i16x8.add(v128.load(a, 16), h), 16)
          a += 32
        }
        row += stride * BLOCK
      }
      for (; r < rows; r++) {
        const end = row + len
        let a = ACC
        for (let p = row; p != end; p += 16) {
          const v = load8<T>(p)
          v128.store(a, i16x8.add(v128.load(a), v))
          v128.store(a, i16x8.add(v128.load(a, 16), i16x8.shr_u(v, 8)), 16)
          a += 32
        }
        row += stride
      }
      const k = bias * rows
      for (let c = 0; c < cols; c += 16) {
        const a = ACC + (<usize>c << 1)
        flush8(out + (<usize>(c0 + c) << 3), v128.load(a), v128.load(a, 16), k)
      }
    }
  }
  sumColumns<T>(frame, width, false, ox, vcols, sx, oy, sy, out)
}

/** Adds 64-bit lanes as T sums: f64 for floats, wrapping i64 otherwise. */
// @ts-ignore: decorator
@inline function add64<T>(a: v128, b: v128): v128 {
  return isFloat<T>() ? f64x2.add(a, b) : i64x2.add(a, b)
}

/** Pixels 0-1 (hi: 2-3) of the four pixels of type T at p, as 64-bit lanes. */
// @ts-ignore: decorator
@inline function wide2<T>(p: usize, be: bool, hi: bool): v128 {
  if (sizeof<T>() == 4) {
    if (!be) {
      if (isSigned<T>()) return hi ? v128.load32x2_s(p, 8) : v128.load32x2_s(p)
      return hi ? v128.load32x2_u(p, 8) : v128.load32x2_u(p)
    }
    let v = hi ? v128.load64_zero(p, 8) : v128.load64_zero(p)
    v = i8x16.shuffle(v, v, 3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12)
    return isSigned<T>() ? i64x2.extend_low_i32x4_s(v) : i64x2.extend_low_i32x4_u(v)
  }
  let v = hi ? v128.load(p, 16) : v128.load(p)
  if (be) v = i8x16.shuffle(v, v, 7, 6, 5, 4, 3, 2, 1, 0, 15, 14, 13, 12, 11, 10, 9, 8)
  return v
}

/**
 * 32- and 64-bit integer and float64 pixels: per 4 columns, the 8-byte sums are loaded from
 * out, BLOCK rows added in registers and stored back (32-bit pixels widened to 64 bits).
 * Each column still adds its rows one by one in row order, so float64 sums equal the scalar
 * (numpy) ones bit for bit.
 */
// @ts-ignore: decorator
@inline function sumRowsWide<T>(
  frame: usize, width: i32, be: bool, ox: i32, sx: i32, oy: i32, sy: i32, out: usize,
): void {
  const es = <usize>sizeof<T>()
  const stride = <usize>width * es
  const vcols = sx & ~3
  let row = frame + (<usize>oy * <usize>width + <usize>ox) * es
  let r = 0
  for (; r + BLOCK <= sy; r += BLOCK) {
    for (let c = 0; c < vcols; c += 4) {
      const o = out + (<usize>c << 3)
      let a0 = v128.load(o)
      let a1 = v128.load(o, 16)
      let p = row + <usize>c * es
      for (let k = 0; k < BLOCK; k++) {
        a0 = add64<T>(a0, wide2<T>(p, be, false))
        a1 = add64<T>(a1, wide2<T>(p, be, true))
        p += stride
      }
      v128.store(o, a0)
      v128.store(o, a1, 16)
    }
    row += stride * BLOCK
  }
  for (; r < sy; r++) {
    for (let c = 0; c < vcols; c += 4) {
      const o = out + (<usize>c << 3)
      const p = row + <usize>c * es
      v128.store(o, add64<T>(v128.load(o), wide2<T>(p, be, false)))
      v128.store(o, add64<T>(v128.load(o, 16), wide2<T>(p, be, true)), 16)
    }
    row += stride
  }
  for (let c = vcols; c < sx; c++) {
    const o = out + (<usize>c << 3)
    let p = frame + (<usize>oy * <usize>width + <usize>(ox + c)) * es
    if (isFloat<T>()) {
      let s: f64 = 0
      for (let i = 0; i < sy; i++) {
        s += <f64>loadPx<T>(p, be)
        p += stride
      }
      store<f64>(o, s)
    } else {
      let s: i64 = 0
      for (let i = 0; i < sy; i++) {
        s += <i64>loadPx<T>(p, be)
        p += stride
      }
      store<i64>(o, s)
    }
  }
}

/** Four float32 pixels at p, byte order swapped when be. */
// @ts-ignore: decorator
@inline function loadF32x4(p: usize, be: bool): v128 {
  const v = v128.load(p)
  return be ? i8x16.shuffle(v, v, 3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12) : v
}

/**
 * float32 pixels: columns accumulate in f32 lanes of the static block (numpy sums float32 in
 * float32, row by row: same order, same roundings), BLOCK rows at a time in registers,
 * widened to f64 once per column chunk.
 */
// @ts-ignore: decorator
@inline function sumRowsF32(
  frame: usize, width: i32, be: bool, ox: i32, sx: i32, oy: i32, sy: i32, out: usize,
): void {
  const stride = <usize>width << 2
  for (let c0 = 0; c0 < sx; c0 += ACC_COLS) {
    const cols = min(ACC_COLS, sx - c0)
    memory.fill(ACC, 0, <usize>cols << 2)
    let row = frame + ((<usize>oy * <usize>width + <usize>(ox + c0)) << 2)
    let r = 0
    for (; r + BLOCK <= sy; r += BLOCK) {
      let c = 0
      for (; c + 4 <= cols; c += 4) {
        const a = ACC + (<usize>c << 2)
        let s = v128.load(a)
        let p = row + (<usize>c << 2)
        for (let k = 0; k < BLOCK; k++) {
          s = f32x4.add(s, loadF32x4(p, be))
          p += stride
        }
        v128.store(a, s)
      }
      for (; c < cols; c++) {
        const a = ACC + (<usize>c << 2)
        let s = load<f32>(a)
        let p = row + (<usize>c << 2)
        for (let k = 0; k < BLOCK; k++) {
          s += loadPx<f32>(p, be)
          p += stride
        }
        store<f32>(a, s)
      }
      row += stride * BLOCK
    }
    for (; r < sy; r++) {
      let c = 0
      for (; c + 4 <= cols; c += 4) {
        const a = ACC + (<usize>c << 2)
        v128.store(a, f32x4.add(v128.load(a), loadF32x4(row + (<usize>c << 2), be)))
      }
      for (; c < cols; c++) {
        const a = ACC + (<usize>c << 2)
        store<f32>(a, load<f32>(a) + loadPx<f32>(row + (<usize>c << 2), be))
      }
      row += stride
    }
    for (let c = 0; c < cols; c++) {
      store<f64>(out + (<usize>(c0 + c) << 3), <f64>load<f32>(ACC + (<usize>c << 2)))
    }
  }
}

/** Column sums of one ROI for pixels of type T; be must be a literal here. */
// @ts-ignore: decorator
@inline function sumRows<T>(
  frame: usize, width: i32, be: bool, ox: i32, sx: i32, oy: i32, sy: i32, out: usize,
): void {
  if (sizeof<T>() == 1) sumRows8<T>(frame, width, ox, sx, oy, sy, out)
  else if (sizeof<T>() == 2) sumRows16<T>(frame, width, be, ox, sx, oy, sy, out)
  else if (isFloat<T>() && sizeof<T>() == 4) sumRowsF32(frame, width, be, ox, sx, oy, sy, out)
  else sumRowsWide<T>(frame, width, be, ox, sx, oy, sy, out)
}

// The byte order is a literal in each copy of the loops: with a runtime flag the optimizer
// turned `if (be) v = swap(v)` into a swap and a select on every load of the hot loop, and
// both arms of one `if (be)` got folded back into one copy, hence two functions.
function profileLE<T>(
  frame: usize, width: i32, ox: i32, sx: i32, oy: i32, sy: i32, out: usize,
): void {
  sumRows<T>(frame, width, false, ox, sx, oy, sy, out)
}

function profileBE<T>(
  frame: usize, width: i32, ox: i32, sx: i32, oy: i32, sy: i32, out: usize,
): void {
  sumRows<T>(frame, width, true, ox, sx, oy, sy, out)
}

// @ts-ignore: decorator
@inline function profile<T>(
  frame: usize, width: i32, be: bool, ox: i32, sx: i32, oy: i32, sy: i32, out: usize,
): void {
  if (be) profileBE<T>(frame, width, ox, sx, oy, sy, out)
  else profileLE<T>(frame, width, ox, sx, oy, sy, out)
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
    // One byte: no byte order.
    case DT_UINT8: profileLE<u8>(frame, width, ox, sx, oy, sy, out); break
    case DT_INT8: profileLE<i8>(frame, width, ox, sx, oy, sy, out); break
    case DT_UINT16: profile<u16>(frame, width, be, ox, sx, oy, sy, out); break
    case DT_INT16: profile<i16>(frame, width, be, ox, sx, oy, sy, out); break
    case DT_UINT32: profile<u32>(frame, width, be, ox, sx, oy, sy, out); break
    case DT_INT32: profile<i32>(frame, width, be, ox, sx, oy, sy, out); break
    case DT_UINT64: profile<u64>(frame, width, be, ox, sx, oy, sy, out); break
    case DT_INT64: profile<i64>(frame, width, be, ox, sx, oy, sy, out); break
    case DT_FLOAT32: profile<f32>(frame, width, be, ox, sx, oy, sy, out); break
    case DT_FLOAT64: profile<f64>(frame, width, be, ox, sx, oy, sy, out); break
  }
  return 0
}
