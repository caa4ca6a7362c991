// bsread's bitshuffle_lz4: a 12-byte big-endian header (total bytes, block bytes), then
// length-prefixed LZ4 blocks of bit-shuffled elements, then the n mod 8 leftover elements raw.
// The bit transpose runs on v128 in chunks of 128 elements: a 3-stage butterfly turns 8 bit
// planes into 8 byte columns, and 3 + log2(elemSize) rounds of byte interleaving put the columns
// into element order (each round rotates the (vector, lane) index by one bit).
import {
  ERR_BAD_ARGUMENT, ERR_CORRUPT, ERR_OUTPUT_OVERFLOW, ERR_SIZE_MISMATCH, ERR_TRUNCATED,
} from './errors'
import { lz4_compress, lz4_compress_bound, lz4_decompress } from './lz4'

/** Two ping-pong sets of up to 64 vectors for the interleave rounds (elemSize 8). */
const VEC_A: usize = memory.data(64 * 16, 16)
const VEC_B: usize = memory.data(64 * 16, 16)

/** Block scratch (one block's shuffled bytes): allocated once, grown only for bigger blocks. */
let scratch: usize = 0
let scratchCap: usize = 0

function ensureScratch(bytes: usize): usize {
  if (bytes > scratchCap || scratch == 0) {
    if (scratch != 0) heap.free(scratch)
    scratch = 0
    scratchCap = 0
    // 16 bytes of slack let the LZ4 decoder use whole-vector copies up to the block end.
    scratch = heap.alloc(bytes + 16)
    scratchCap = bytes
  }
  return scratch
}

// @ts-ignore: decorator
@inline function validElemSize(s: i32): bool {
  return s == 1 || s == 2 || s == 4 || s == 8
}

// @ts-ignore: decorator
@inline function loadBE32(p: usize): u32 {
  return bswap<u32>(load<u32>(p))
}

// @ts-ignore: decorator
@inline function storeBE32(p: usize, v: u32): void {
  store<u32>(p, bswap<u32>(v))
}

/** The reference block size in elements: 8192 bytes, a multiple of 8 elements, at least 128. */
// @ts-ignore: decorator
@inline function defaultBlockElems(s: i32): i32 {
  const e = (8192 / s) & ~7
  return e < 128 ? 128 : e
}

// 8x8 bit transpose of 8 byte-vectors (lane-wise): out register m bit b = in register b bit m.
// Loads from base + b*stride, stores to outBase + m*outStride.
function bitTranspose8(base: usize, stride: usize, outBase: usize, outStride: usize): void {
  let p0 = v128.load(base)
  let p1 = v128.load(base + stride)
  let p2 = v128.load(base + 2 * stride)
  let p3 = v128.load(base + 3 * stride)
  let p4 = v128.load(base + 4 * stride)
  let p5 = v128.load(base + 5 * stride)
  let p6 = v128.load(base + 6 * stride)
  let p7 = v128.load(base + 7 * stride)
  // Delta swaps with 16-bit shifts: bits that cross a byte border are masked off.
  let m = i8x16.splat(0x55)
  let t: v128
  t = v128.and(v128.xor(i16x8.shr_u(p0, 1), p1), m)
  p1 = v128.xor(p1, t)
  p0 = v128.xor(p0, i16x8.shl(t, 1))
  t = v128.and(v128.xor(i16x8.shr_u(p2, 1), p3), m)
  p3 = v128.xor(p3, t)
  p2 = v128.xor(p2, i16x8.shl(t, 1))
  t = v128.and(v128.xor(i16x8.shr_u(p4, 1), p5), m)
  p5 = v128.xor(p5, t)
  p4 = v128.xor(p4, i16x8.shl(t, 1))
  t = v128.and(v128.xor(i16x8.shr_u(p6, 1), p7), m)
  p7 = v128.xor(p7, t)
  p6 = v128.xor(p6, i16x8.shl(t, 1))
  m = i8x16.splat(0x33)
  t = v128.and(v128.xor(i16x8.shr_u(p0, 2), p2), m)
  p2 = v128.xor(p2, t)
  p0 = v128.xor(p0, i16x8.shl(t, 2))
  t = v128.and(v128.xor(i16x8.shr_u(p1, 2), p3), m)
  p3 = v128.xor(p3, t)
  p1 = v128.xor(p1, i16x8.shl(t, 2))
  t = v128.and(v128.xor(i16x8.shr_u(p4, 2), p6), m)
  p6 = v128.xor(p6, t)
  p4 = v128.xor(p4, i16x8.shl(t, 2))
  t = v128.and(v128.xor(i16x8.shr_u(p5, 2), p7), m)
  p7 = v128.xor(p7, t)
  p5 = v128.xor(p5, i16x8.shl(t, 2))
  m = i8x16.splat(0x0f)
  t = v128.and(v128.xor(i16x8.shr_u(p0, 4), p4), m)
  p4 = v128.xor(p4, t)
  p0 = v128.xor(p0, i16x8.shl(t, 4))
  t = v128.and(v128.xor(i16x8.shr_u(p1, 4), p5), m)
  p5 = v128.xor(p5, t)
  p1 = v128.xor(p1, i16x8.shl(t, 4))
  t = v128.and(v128.xor(i16x8.shr_u(p2, 4), p6), m)
  p6 = v128.xor(p6, t)
  p2 = v128.xor(p2, i16x8.shl(t, 4))
  t = v128.and(v128.xor(i16x8.shr_u(p3, 4), p7), m)
  p7 = v128.xor(p7, t)
  p3 = v128.xor(p3, i16x8.shl(t, 4))
  v128.store(outBase, p0)
  v128.store(outBase + outStride, p1)
  v128.store(outBase + 2 * outStride, p2)
  v128.store(outBase + 3 * outStride, p3)
  v128.store(outBase + 4 * outStride, p4)
  v128.store(outBase + 5 * outStride, p5)
  v128.store(outBase + 6 * outStride, p6)
  v128.store(outBase + 7 * outStride, p7)
}

// `rounds` interleave rounds over n vectors starting at VEC_A; the last round writes to out.
function interleave(rounds: i32, n: usize, out: usize): void {
  const half = n >> 1
  let x = VEC_A
  for (let r = 0; r < rounds; r++) {
    const y = r == rounds - 1 ? out : ((r & 1) == 0 ? VEC_B : VEC_A)
    for (let i: usize = 0; i < half; i++) {
      const a = v128.load(x + (i << 4))
      const b = v128.load(x + ((i + half) << 4))
      v128.store(y + (i << 5), lo8(a, b))
      v128.store(y + (i << 5) + 16, hi8(a, b))
    }
    x = y
  }
}

// The inverse of `interleave`: reads n vectors at src, the result ends in VEC_A.
function deinterleave(rounds: i32, n: usize, src: usize): void {
  const half = n >> 1
  let x = src
  for (let r = 0; r < rounds; r++) {
    const y = ((rounds - 1 - r) & 1) == 0 ? VEC_A : VEC_B
    for (let i: usize = 0; i < half; i++) {
      const a = v128.load(x + (i << 5))
      const b = v128.load(x + (i << 5) + 16)
      v128.store(y + (i << 4),
        i8x16.shuffle(a, b, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30))
      v128.store(y + ((i + half) << 4),
        i8x16.shuffle(a, b, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31))
    }
    x = y
  }
}


// @ts-ignore: decorator
@inline function lo8(a: v128, b: v128): v128 {
  return i8x16.shuffle(a, b, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23)
}

// @ts-ignore: decorator
@inline function hi8(a: v128, b: v128): v128 {
  return i8x16.shuffle(a, b, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31)
}

// Unrolled bitTranspose8 + interleave for 1-byte elements (128 per call), every vector in a
// local: the common pixel sizes skip the round trips through VEC_A/VEC_B.
function unshuffleChunk1(planes: usize, nb: usize, out: usize): void {
  let m: v128
  let t: v128
  let p0_0 = v128.load(planes + 0 * nb)
  let p0_1 = v128.load(planes + 1 * nb)
  let p0_2 = v128.load(planes + 2 * nb)
  let p0_3 = v128.load(planes + 3 * nb)
  let p0_4 = v128.load(planes + 4 * nb)
  let p0_5 = v128.load(planes + 5 * nb)
  let p0_6 = v128.load(planes + 6 * nb)
  let p0_7 = v128.load(planes + 7 * nb)
  m = i8x16.splat(0x55)
  t = v128.and(v128.xor(i16x8.shr_u(p0_0, 1), p0_1), m)
  p0_1 = v128.xor(p0_1, t)
  p0_0 = v128.xor(p0_0, i16x8.shl(t, 1))
  t = v128.and(v128.xor(i16x8.shr_u(p0_2, 1), p0_3), m)
  p0_3 = v128.xor(p0_3, t)
  p0_2 = v128.xor(p0_2, i16x8.shl(t, 1))
  t = v128.and(v128.xor(i16x8.shr_u(p0_4, 1), p0_5), m)
  p0_5 = v128.xor(p0_5, t)
  p0_4 = v128.xor(p0_4, i16x8.shl(t, 1))
  t = v128.and(v128.xor(i16x8.shr_u(p0_6, 1), p0_7), m)
  p0_7 = v128.xor(p0_7, t)
  p0_6 = v128.xor(p0_6, i16x8.shl(t, 1))
  m = i8x16.splat(0x33)
  t = v128.and(v128.xor(i16x8.shr_u(p0_0, 2), p0_2), m)
  p0_2 = v128.xor(p0_2, t)
  p0_0 = v128.xor(p0_0, i16x8.shl(t, 2))
  t = v128.and(v128.xor(i16x8.shr_u(p0_1, 2), p0_3), m)
  p0_3 = v128.xor(p0_3, t)
  p0_1 = v128.xor(p0_1, i16x8.shl(t, 2))
  t = v128.and(v128.xor(i16x8.shr_u(p0_4, 2), p0_6), m)
  p0_6 = v128.xor(p0_6, t)
  p0_4 = v128.xor(p0_4, i16x8.shl(t, 2))
  t = v128.and(v128.xor(i16x8.shr_u(p0_5, 2), p0_7), m)
  p0_7 = v128.xor(p0_7, t)
  p0_5 = v128.xor(p0_5, i16x8.shl(t, 2))
  m = i8x16.splat(0x0f)
  t = v128.and(v128.xor(i16x8.shr_u(p0_0, 4), p0_4), m)
  p0_4 = v128.xor(p0_4, t)
  p0_0 = v128.xor(p0_0, i16x8.shl(t, 4))
  t = v128.and(v128.xor(i16x8.shr_u(p0_1, 4), p0_5), m)
  p0_5 = v128.xor(p0_5, t)
  p0_1 = v128.xor(p0_1, i16x8.shl(t, 4))
  t = v128.and(v128.xor(i16x8.shr_u(p0_2, 4), p0_6), m)
  p0_6 = v128.xor(p0_6, t)
  p0_2 = v128.xor(p0_2, i16x8.shl(t, 4))
  t = v128.and(v128.xor(i16x8.shr_u(p0_3, 4), p0_7), m)
  p0_7 = v128.xor(p0_7, t)
  p0_3 = v128.xor(p0_3, i16x8.shl(t, 4))
  const r0_0 = lo8(p0_0, p0_4)
  const r0_1 = hi8(p0_0, p0_4)
  const r0_2 = lo8(p0_1, p0_5)
  const r0_3 = hi8(p0_1, p0_5)
  const r0_4 = lo8(p0_2, p0_6)
  const r0_5 = hi8(p0_2, p0_6)
  const r0_6 = lo8(p0_3, p0_7)
  const r0_7 = hi8(p0_3, p0_7)
  const r1_0 = lo8(r0_0, r0_4)
  const r1_1 = hi8(r0_0, r0_4)
  const r1_2 = lo8(r0_1, r0_5)
  const r1_3 = hi8(r0_1, r0_5)
  const r1_4 = lo8(r0_2, r0_6)
  const r1_5 = hi8(r0_2, r0_6)
  const r1_6 = lo8(r0_3, r0_7)
  const r1_7 = hi8(r0_3, r0_7)
  v128.store(out + 0, lo8(r1_0, r1_4))
  v128.store(out + 16, hi8(r1_0, r1_4))
  v128.store(out + 32, lo8(r1_1, r1_5))
  v128.store(out + 48, hi8(r1_1, r1_5))
  v128.store(out + 64, lo8(r1_2, r1_6))
  v128.store(out + 80, hi8(r1_2, r1_6))
  v128.store(out + 96, lo8(r1_3, r1_7))
  v128.store(out + 112, hi8(r1_3, r1_7))
}

// The same for 2-byte elements (uint16 frames, the usual case).
function unshuffleChunk2(planes: usize, nb: usize, out: usize): void {
  let m: v128
  let t: v128
  const high = planes + (nb << 3)
  // Dark pixels (< 256) leave the high-byte planes all zero. Checked first, so that the
  // dark path keeps few vectors live (x64 has 16 vector registers: no spills).
  const any = v128.or(
    v128.or(v128.or(v128.load(high), v128.load(high + nb)),
      v128.or(v128.load(high + 2 * nb), v128.load(high + 3 * nb))),
    v128.or(v128.or(v128.load(high + 4 * nb), v128.load(high + 5 * nb)),
      v128.or(v128.load(high + 6 * nb), v128.load(high + 7 * nb))))
  let p0_0 = v128.load(planes + 0 * nb)
  let p0_1 = v128.load(planes + 1 * nb)
  let p0_2 = v128.load(planes + 2 * nb)
  let p0_3 = v128.load(planes + 3 * nb)
  let p0_4 = v128.load(planes + 4 * nb)
  let p0_5 = v128.load(planes + 5 * nb)
  let p0_6 = v128.load(planes + 6 * nb)
  let p0_7 = v128.load(planes + 7 * nb)
  m = i8x16.splat(0x55)
  t = v128.and(v128.xor(i16x8.shr_u(p0_0, 1), p0_1), m)
  p0_1 = v128.xor(p0_1, t)
  p0_0 = v128.xor(p0_0, i16x8.add(t, t))
  t = v128.and(v128.xor(i16x8.shr_u(p0_2, 1), p0_3), m)
  p0_3 = v128.xor(p0_3, t)
  p0_2 = v128.xor(p0_2, i16x8.add(t, t))
  t = v128.and(v128.xor(i16x8.shr_u(p0_4, 1), p0_5), m)
  p0_5 = v128.xor(p0_5, t)
  p0_4 = v128.xor(p0_4, i16x8.add(t, t))
  t = v128.and(v128.xor(i16x8.shr_u(p0_6, 1), p0_7), m)
  p0_7 = v128.xor(p0_7, t)
  p0_6 = v128.xor(p0_6, i16x8.add(t, t))
  m = i8x16.splat(0x33)
  t = v128.and(v128.xor(i16x8.shr_u(p0_0, 2), p0_2), m)
  p0_2 = v128.xor(p0_2, t)
  p0_0 = v128.xor(p0_0, i16x8.shl(t, 2))
  t = v128.and(v128.xor(i16x8.shr_u(p0_1, 2), p0_3), m)
  p0_3 = v128.xor(p0_3, t)
  p0_1 = v128.xor(p0_1, i16x8.shl(t, 2))
  t = v128.and(v128.xor(i16x8.shr_u(p0_4, 2), p0_6), m)
  p0_6 = v128.xor(p0_6, t)
  p0_4 = v128.xor(p0_4, i16x8.shl(t, 2))
  t = v128.and(v128.xor(i16x8.shr_u(p0_5, 2), p0_7), m)
  p0_7 = v128.xor(p0_7, t)
  p0_5 = v128.xor(p0_5, i16x8.shl(t, 2))
  m = i8x16.splat(0x0f)
  t = v128.and(v128.xor(i16x8.shr_u(p0_0, 4), p0_4), m)
  p0_4 = v128.xor(p0_4, t)
  p0_0 = v128.xor(p0_0, i16x8.shl(t, 4))
  t = v128.and(v128.xor(i16x8.shr_u(p0_1, 4), p0_5), m)
  p0_5 = v128.xor(p0_5, t)
  p0_1 = v128.xor(p0_1, i16x8.shl(t, 4))
  t = v128.and(v128.xor(i16x8.shr_u(p0_2, 4), p0_6), m)
  p0_6 = v128.xor(p0_6, t)
  p0_2 = v128.xor(p0_2, i16x8.shl(t, 4))
  t = v128.and(v128.xor(i16x8.shr_u(p0_3, 4), p0_7), m)
  p0_7 = v128.xor(p0_7, t)
  p0_3 = v128.xor(p0_3, i16x8.shl(t, 4))
  if (!v128.any_true(any)) {
    // The low bytes go in element order as for 1-byte elements (3 rounds of 8
    // interleaves instead of 4 of 16), then zero-extend to u16.
    const d0_0 = lo8(p0_0, p0_4)
    const d0_1 = hi8(p0_0, p0_4)
    const d0_2 = lo8(p0_1, p0_5)
    const d0_3 = hi8(p0_1, p0_5)
    const d0_4 = lo8(p0_2, p0_6)
    const d0_5 = hi8(p0_2, p0_6)
    const d0_6 = lo8(p0_3, p0_7)
    const d0_7 = hi8(p0_3, p0_7)
    const d1_0 = lo8(d0_0, d0_4)
    const d1_1 = hi8(d0_0, d0_4)
    const d1_2 = lo8(d0_1, d0_5)
    const d1_3 = hi8(d0_1, d0_5)
    const d1_4 = lo8(d0_2, d0_6)
    const d1_5 = hi8(d0_2, d0_6)
    const d1_6 = lo8(d0_3, d0_7)
    const d1_7 = hi8(d0_3, d0_7)
    const v0 = lo8(d1_0, d1_4)
    v128.store(out + 0, i16x8.extend_low_i8x16_u(v0))
    v128.store(out + 16, i16x8.extend_high_i8x16_u(v0))
    const v1 = hi8(d1_0, d1_4)
    v128.store(out + 32, i16x8.extend_low_i8x16_u(v1))
    v128.store(out + 48, i16x8.extend_high_i8x16_u(v1))
    const v2 = lo8(d1_1, d1_5)
    v128.store(out + 64, i16x8.extend_low_i8x16_u(v2))
    v128.store(out + 80, i16x8.extend_high_i8x16_u(v2))
    const v3 = hi8(d1_1, d1_5)
    v128.store(out + 96, i16x8.extend_low_i8x16_u(v3))
    v128.store(out + 112, i16x8.extend_high_i8x16_u(v3))
    const v4 = lo8(d1_2, d1_6)
    v128.store(out + 128, i16x8.extend_low_i8x16_u(v4))
    v128.store(out + 144, i16x8.extend_high_i8x16_u(v4))
    const v5 = hi8(d1_2, d1_6)
    v128.store(out + 160, i16x8.extend_low_i8x16_u(v5))
    v128.store(out + 176, i16x8.extend_high_i8x16_u(v5))
    const v6 = lo8(d1_3, d1_7)
    v128.store(out + 192, i16x8.extend_low_i8x16_u(v6))
    v128.store(out + 208, i16x8.extend_high_i8x16_u(v6))
    const v7 = hi8(d1_3, d1_7)
    v128.store(out + 224, i16x8.extend_low_i8x16_u(v7))
    v128.store(out + 240, i16x8.extend_high_i8x16_u(v7))
    return
  }
  let p1_0 = v128.load(high + 0 * nb)
  let p1_1 = v128.load(high + 1 * nb)
  let p1_2 = v128.load(high + 2 * nb)
  let p1_3 = v128.load(high + 3 * nb)
  let p1_4 = v128.load(high + 4 * nb)
  let p1_5 = v128.load(high + 5 * nb)
  let p1_6 = v128.load(high + 6 * nb)
  let p1_7 = v128.load(high + 7 * nb)
  m = i8x16.splat(0x55)
  t = v128.and(v128.xor(i16x8.shr_u(p1_0, 1), p1_1), m)
  p1_1 = v128.xor(p1_1, t)
  p1_0 = v128.xor(p1_0, i16x8.add(t, t))
  t = v128.and(v128.xor(i16x8.shr_u(p1_2, 1), p1_3), m)
  p1_3 = v128.xor(p1_3, t)
  p1_2 = v128.xor(p1_2, i16x8.add(t, t))
  t = v128.and(v128.xor(i16x8.shr_u(p1_4, 1), p1_5), m)
  p1_5 = v128.xor(p1_5, t)
  p1_4 = v128.xor(p1_4, i16x8.add(t, t))
  t = v128.and(v128.xor(i16x8.shr_u(p1_6, 1), p1_7), m)
  p1_7 = v128.xor(p1_7, t)
  p1_6 = v128.xor(p1_6, i16x8.add(t, t))
  m = i8x16.splat(0x33)
  t = v128.and(v128.xor(i16x8.shr_u(p1_0, 2), p1_2), m)
  p1_2 = v128.xor(p1_2, t)
  p1_0 = v128.xor(p1_0, i16x8.shl(t, 2))
  t = v128.and(v128.xor(i16x8.shr_u(p1_1, 2), p1_3), m)
  p1_3 = v128.xor(p1_3, t)
  p1_1 = v128.xor(p1_1, i16x8.shl(t, 2))
  t = v128.and(v128.xor(i16x8.shr_u(p1_4, 2), p1_6), m)
  p1_6 = v128.xor(p1_6, t)
  p1_4 = v128.xor(p1_4, i16x8.shl(t, 2))
  t = v128.and(v128.xor(i16x8.shr_u(p1_5, 2), p1_7), m)
  p1_7 = v128.xor(p1_7, t)
  p1_5 = v128.xor(p1_5, i16x8.shl(t, 2))
  m = i8x16.splat(0x0f)
  t = v128.and(v128.xor(i16x8.shr_u(p1_0, 4), p1_4), m)
  p1_4 = v128.xor(p1_4, t)
  p1_0 = v128.xor(p1_0, i16x8.shl(t, 4))
  t = v128.and(v128.xor(i16x8.shr_u(p1_1, 4), p1_5), m)
  p1_5 = v128.xor(p1_5, t)
  p1_1 = v128.xor(p1_1, i16x8.shl(t, 4))
  t = v128.and(v128.xor(i16x8.shr_u(p1_2, 4), p1_6), m)
  p1_6 = v128.xor(p1_6, t)
  p1_2 = v128.xor(p1_2, i16x8.shl(t, 4))
  t = v128.and(v128.xor(i16x8.shr_u(p1_3, 4), p1_7), m)
  p1_7 = v128.xor(p1_7, t)
  p1_3 = v128.xor(p1_3, i16x8.shl(t, 4))
  const r0_0 = lo8(p0_0, p0_4)
  const r0_1 = hi8(p0_0, p0_4)
  const r0_2 = lo8(p1_0, p1_4)
  const r0_3 = hi8(p1_0, p1_4)
  const r0_4 = lo8(p0_1, p0_5)
  const r0_5 = hi8(p0_1, p0_5)
  const r0_6 = lo8(p1_1, p1_5)
  const r0_7 = hi8(p1_1, p1_5)
  const r0_8 = lo8(p0_2, p0_6)
  const r0_9 = hi8(p0_2, p0_6)
  const r0_10 = lo8(p1_2, p1_6)
  const r0_11 = hi8(p1_2, p1_6)
  const r0_12 = lo8(p0_3, p0_7)
  const r0_13 = hi8(p0_3, p0_7)
  const r0_14 = lo8(p1_3, p1_7)
  const r0_15 = hi8(p1_3, p1_7)
  const r1_0 = lo8(r0_0, r0_8)
  const r1_1 = hi8(r0_0, r0_8)
  const r1_2 = lo8(r0_1, r0_9)
  const r1_3 = hi8(r0_1, r0_9)
  const r1_4 = lo8(r0_2, r0_10)
  const r1_5 = hi8(r0_2, r0_10)
  const r1_6 = lo8(r0_3, r0_11)
  const r1_7 = hi8(r0_3, r0_11)
  const r1_8 = lo8(r0_4, r0_12)
  const r1_9 = hi8(r0_4, r0_12)
  const r1_10 = lo8(r0_5, r0_13)
  const r1_11 = hi8(r0_5, r0_13)
  const r1_12 = lo8(r0_6, r0_14)
  const r1_13 = hi8(r0_6, r0_14)
  const r1_14 = lo8(r0_7, r0_15)
  const r1_15 = hi8(r0_7, r0_15)
  const r2_0 = lo8(r1_0, r1_8)
  const r2_1 = hi8(r1_0, r1_8)
  const r2_2 = lo8(r1_1, r1_9)
  const r2_3 = hi8(r1_1, r1_9)
  const r2_4 = lo8(r1_2, r1_10)
  const r2_5 = hi8(r1_2, r1_10)
  const r2_6 = lo8(r1_3, r1_11)
  const r2_7 = hi8(r1_3, r1_11)
  const r2_8 = lo8(r1_4, r1_12)
  const r2_9 = hi8(r1_4, r1_12)
  const r2_10 = lo8(r1_5, r1_13)
  const r2_11 = hi8(r1_5, r1_13)
  const r2_12 = lo8(r1_6, r1_14)
  const r2_13 = hi8(r1_6, r1_14)
  const r2_14 = lo8(r1_7, r1_15)
  const r2_15 = hi8(r1_7, r1_15)
  v128.store(out + 0, lo8(r2_0, r2_8))
  v128.store(out + 16, hi8(r2_0, r2_8))
  v128.store(out + 32, lo8(r2_1, r2_9))
  v128.store(out + 48, hi8(r2_1, r2_9))
  v128.store(out + 64, lo8(r2_2, r2_10))
  v128.store(out + 80, hi8(r2_2, r2_10))
  v128.store(out + 96, lo8(r2_3, r2_11))
  v128.store(out + 112, hi8(r2_3, r2_11))
  v128.store(out + 128, lo8(r2_4, r2_12))
  v128.store(out + 144, hi8(r2_4, r2_12))
  v128.store(out + 160, lo8(r2_5, r2_13))
  v128.store(out + 176, hi8(r2_5, r2_13))
  v128.store(out + 192, lo8(r2_6, r2_14))
  v128.store(out + 208, hi8(r2_6, r2_14))
  v128.store(out + 224, lo8(r2_7, r2_15))
  v128.store(out + 240, hi8(r2_7, r2_15))
}


// @ts-ignore: decorator
@inline function even8(a: v128, b: v128): v128 {
  return i8x16.shuffle(a, b, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30)
}

// @ts-ignore: decorator
@inline function odd8(a: v128, b: v128): v128 {
  return i8x16.shuffle(a, b, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31)
}

// The encoder's last step: a 3-stage butterfly (8x8 bit transpose, lane-wise) of eight byte
// columns, stored as eight bit planes nb bytes apart. Inlined: the vectors stay in registers.
// @ts-ignore: decorator
@inline function transposeStore8(
  q0: v128, q1: v128, q2: v128, q3: v128, q4: v128, q5: v128, q6: v128, q7: v128,
  planes: usize, nb: usize,
): void {
  let m = i8x16.splat(0x55)
  let t = v128.and(v128.xor(i16x8.shr_u(q0, 1), q1), m)
  q1 = v128.xor(q1, t)
  q0 = v128.xor(q0, i16x8.shl(t, 1))
  t = v128.and(v128.xor(i16x8.shr_u(q2, 1), q3), m)
  q3 = v128.xor(q3, t)
  q2 = v128.xor(q2, i16x8.shl(t, 1))
  t = v128.and(v128.xor(i16x8.shr_u(q4, 1), q5), m)
  q5 = v128.xor(q5, t)
  q4 = v128.xor(q4, i16x8.shl(t, 1))
  t = v128.and(v128.xor(i16x8.shr_u(q6, 1), q7), m)
  q7 = v128.xor(q7, t)
  q6 = v128.xor(q6, i16x8.shl(t, 1))
  m = i8x16.splat(0x33)
  t = v128.and(v128.xor(i16x8.shr_u(q0, 2), q2), m)
  q2 = v128.xor(q2, t)
  q0 = v128.xor(q0, i16x8.shl(t, 2))
  t = v128.and(v128.xor(i16x8.shr_u(q1, 2), q3), m)
  q3 = v128.xor(q3, t)
  q1 = v128.xor(q1, i16x8.shl(t, 2))
  t = v128.and(v128.xor(i16x8.shr_u(q4, 2), q6), m)
  q6 = v128.xor(q6, t)
  q4 = v128.xor(q4, i16x8.shl(t, 2))
  t = v128.and(v128.xor(i16x8.shr_u(q5, 2), q7), m)
  q7 = v128.xor(q7, t)
  q5 = v128.xor(q5, i16x8.shl(t, 2))
  m = i8x16.splat(0x0f)
  t = v128.and(v128.xor(i16x8.shr_u(q0, 4), q4), m)
  q4 = v128.xor(q4, t)
  q0 = v128.xor(q0, i16x8.shl(t, 4))
  t = v128.and(v128.xor(i16x8.shr_u(q1, 4), q5), m)
  q5 = v128.xor(q5, t)
  q1 = v128.xor(q1, i16x8.shl(t, 4))
  t = v128.and(v128.xor(i16x8.shr_u(q2, 4), q6), m)
  q6 = v128.xor(q6, t)
  q2 = v128.xor(q2, i16x8.shl(t, 4))
  t = v128.and(v128.xor(i16x8.shr_u(q3, 4), q7), m)
  q7 = v128.xor(q7, t)
  q3 = v128.xor(q3, i16x8.shl(t, 4))
  v128.store(planes + 0 * nb, q0)
  v128.store(planes + 1 * nb, q1)
  v128.store(planes + 2 * nb, q2)
  v128.store(planes + 3 * nb, q3)
  v128.store(planes + 4 * nb, q4)
  v128.store(planes + 5 * nb, q5)
  v128.store(planes + 6 * nb, q6)
  v128.store(planes + 7 * nb, q7)
}

// Unrolled deinterleave + bitTranspose8 for 1-byte elements (the encoder's inverse of
// unshuffleChunk1), every vector in a local.
function shuffleChunk1(inp: usize, planes: usize, nb: usize): void {
  const i0 = v128.load(inp + 0)
  const i1 = v128.load(inp + 16)
  const i2 = v128.load(inp + 32)
  const i3 = v128.load(inp + 48)
  const i4 = v128.load(inp + 64)
  const i5 = v128.load(inp + 80)
  const i6 = v128.load(inp + 96)
  const i7 = v128.load(inp + 112)
  const d0_0 = even8(i0, i1)
  const d0_4 = odd8(i0, i1)
  const d0_1 = even8(i2, i3)
  const d0_5 = odd8(i2, i3)
  const d0_2 = even8(i4, i5)
  const d0_6 = odd8(i4, i5)
  const d0_3 = even8(i6, i7)
  const d0_7 = odd8(i6, i7)
  const d1_0 = even8(d0_0, d0_1)
  const d1_4 = odd8(d0_0, d0_1)
  const d1_1 = even8(d0_2, d0_3)
  const d1_5 = odd8(d0_2, d0_3)
  const d1_2 = even8(d0_4, d0_5)
  const d1_6 = odd8(d0_4, d0_5)
  const d1_3 = even8(d0_6, d0_7)
  const d1_7 = odd8(d0_6, d0_7)
  const d2_0 = even8(d1_0, d1_1)
  const d2_4 = odd8(d1_0, d1_1)
  const d2_1 = even8(d1_2, d1_3)
  const d2_5 = odd8(d1_2, d1_3)
  const d2_2 = even8(d1_4, d1_5)
  const d2_6 = odd8(d1_4, d1_5)
  const d2_3 = even8(d1_6, d1_7)
  const d2_7 = odd8(d1_6, d1_7)
  transposeStore8(d2_0, d2_1, d2_2, d2_3, d2_4, d2_5, d2_6, d2_7, planes, nb)
}

// The same for 2-byte elements.
function shuffleChunk2(inp: usize, planes: usize, nb: usize): void {
  const i0 = v128.load(inp + 0)
  const i1 = v128.load(inp + 16)
  const i2 = v128.load(inp + 32)
  const i3 = v128.load(inp + 48)
  const i4 = v128.load(inp + 64)
  const i5 = v128.load(inp + 80)
  const i6 = v128.load(inp + 96)
  const i7 = v128.load(inp + 112)
  const i8 = v128.load(inp + 128)
  const i9 = v128.load(inp + 144)
  const i10 = v128.load(inp + 160)
  const i11 = v128.load(inp + 176)
  const i12 = v128.load(inp + 192)
  const i13 = v128.load(inp + 208)
  const i14 = v128.load(inp + 224)
  const i15 = v128.load(inp + 240)
  const d0_0 = even8(i0, i1)
  const d0_8 = odd8(i0, i1)
  const d0_1 = even8(i2, i3)
  const d0_9 = odd8(i2, i3)
  const d0_2 = even8(i4, i5)
  const d0_10 = odd8(i4, i5)
  const d0_3 = even8(i6, i7)
  const d0_11 = odd8(i6, i7)
  const d0_4 = even8(i8, i9)
  const d0_12 = odd8(i8, i9)
  const d0_5 = even8(i10, i11)
  const d0_13 = odd8(i10, i11)
  const d0_6 = even8(i12, i13)
  const d0_14 = odd8(i12, i13)
  const d0_7 = even8(i14, i15)
  const d0_15 = odd8(i14, i15)
  const d1_0 = even8(d0_0, d0_1)
  const d1_8 = odd8(d0_0, d0_1)
  const d1_1 = even8(d0_2, d0_3)
  const d1_9 = odd8(d0_2, d0_3)
  const d1_2 = even8(d0_4, d0_5)
  const d1_10 = odd8(d0_4, d0_5)
  const d1_3 = even8(d0_6, d0_7)
  const d1_11 = odd8(d0_6, d0_7)
  const d1_4 = even8(d0_8, d0_9)
  const d1_12 = odd8(d0_8, d0_9)
  const d1_5 = even8(d0_10, d0_11)
  const d1_13 = odd8(d0_10, d0_11)
  const d1_6 = even8(d0_12, d0_13)
  const d1_14 = odd8(d0_12, d0_13)
  const d1_7 = even8(d0_14, d0_15)
  const d1_15 = odd8(d0_14, d0_15)
  const d2_0 = even8(d1_0, d1_1)
  const d2_8 = odd8(d1_0, d1_1)
  const d2_1 = even8(d1_2, d1_3)
  const d2_9 = odd8(d1_2, d1_3)
  const d2_2 = even8(d1_4, d1_5)
  const d2_10 = odd8(d1_4, d1_5)
  const d2_3 = even8(d1_6, d1_7)
  const d2_11 = odd8(d1_6, d1_7)
  const d2_4 = even8(d1_8, d1_9)
  const d2_12 = odd8(d1_8, d1_9)
  const d2_5 = even8(d1_10, d1_11)
  const d2_13 = odd8(d1_10, d1_11)
  const d2_6 = even8(d1_12, d1_13)
  const d2_14 = odd8(d1_12, d1_13)
  const d2_7 = even8(d1_14, d1_15)
  const d2_15 = odd8(d1_14, d1_15)
  const d3_0 = even8(d2_0, d2_1)
  const d3_8 = odd8(d2_0, d2_1)
  const d3_1 = even8(d2_2, d2_3)
  const d3_9 = odd8(d2_2, d2_3)
  const d3_2 = even8(d2_4, d2_5)
  const d3_10 = odd8(d2_4, d2_5)
  const d3_3 = even8(d2_6, d2_7)
  const d3_11 = odd8(d2_6, d2_7)
  const d3_4 = even8(d2_8, d2_9)
  const d3_12 = odd8(d2_8, d2_9)
  const d3_5 = even8(d2_10, d2_11)
  const d3_13 = odd8(d2_10, d2_11)
  const d3_6 = even8(d2_12, d2_13)
  const d3_14 = odd8(d2_12, d2_13)
  const d3_7 = even8(d2_14, d2_15)
  const d3_15 = odd8(d2_14, d2_15)
  transposeStore8(d3_0, d3_2, d3_4, d3_6, d3_8, d3_10, d3_12, d3_14, planes, nb)
  transposeStore8(d3_1, d3_3, d3_5, d3_7, d3_9, d3_11, d3_13, d3_15, planes + 8 * nb, nb)
}


// 8x8 bit-matrix transpose of a u64 (byte = row, bit = column); Hacker's Delight 7-3.
// @ts-ignore: decorator
@inline function transpose8(x: u64): u64 {
  let t = (x ^ (x >> 7)) & 0x00aa00aa00aa00aa
  x = x ^ t ^ (t << 7)
  t = (x ^ (x >> 14)) & 0x0000cccc0000cccc
  x = x ^ t ^ (t << 14)
  t = (x ^ (x >> 28)) & 0x00000000f0f0f0f0
  return x ^ t ^ (t << 28)
}

/** Un-bitshuffles a block of n elements (n a multiple of 8) of s bytes from inp to out. */
function unshuffleBlock(inp: usize, out: usize, n: usize, s: i32): void {
  const nb = n >> 3
  const chunks = nb >> 4
  const ss = <usize>s
  const rounds = 3 + ctz(s)
  if (s == 2) {
    for (let c: usize = 0; c < chunks; c++) unshuffleChunk2(inp + (c << 4), nb, out + (c << 8))
  } else if (s == 1) {
    for (let c: usize = 0; c < chunks; c++) unshuffleChunk1(inp + (c << 4), nb, out + (c << 7))
  } else {
    for (let c: usize = 0; c < chunks; c++) {
      const planes = inp + (c << 4)
      for (let j: usize = 0; j < ss; j++) {
        bitTranspose8(planes + 8 * j * nb, nb, VEC_A + (j << 4), ss << 4)
      }
      interleave(rounds, 8 * ss, out + c * 128 * ss)
    }
  }
  for (let k = chunks << 4; k < nb; k++) {
    for (let j: usize = 0; j < ss; j++) {
      const plane = inp + 8 * j * nb + k
      let x: u64 = 0
      for (let b: usize = 0; b < 8; b++) x |= <u64>load<u8>(plane + b * nb) << (b << 3)
      x = transpose8(x)
      const o = out + 8 * k * ss + j
      for (let m: usize = 0; m < 8; m++) store<u8>(o + m * ss, <u8>(x >> (m << 3)))
    }
  }
}

/** Bitshuffles a block of n elements (n a multiple of 8) of s bytes from inp to out. */
function shuffleBlock(inp: usize, out: usize, n: usize, s: i32): void {
  const nb = n >> 3
  const chunks = nb >> 4
  const ss = <usize>s
  const rounds = 3 + ctz(s)
  if (s == 2) {
    for (let c: usize = 0; c < chunks; c++) shuffleChunk2(inp + (c << 8), out + (c << 4), nb)
  } else if (s == 1) {
    for (let c: usize = 0; c < chunks; c++) shuffleChunk1(inp + (c << 7), out + (c << 4), nb)
  } else {
    for (let c: usize = 0; c < chunks; c++) {
      deinterleave(rounds, 8 * ss, inp + c * 128 * ss)
      const planes = out + (c << 4)
      for (let j: usize = 0; j < ss; j++) {
        bitTranspose8(VEC_A + (j << 4), ss << 4, planes + 8 * j * nb, nb)
      }
    }
  }
  for (let k = chunks << 4; k < nb; k++) {
    for (let j: usize = 0; j < ss; j++) {
      const e = inp + 8 * k * ss + j
      let x: u64 = 0
      for (let m: usize = 0; m < 8; m++) x |= <u64>load<u8>(e + m * ss) << (m << 3)
      x = transpose8(x)
      const plane = out + 8 * j * nb + k
      for (let b: usize = 0; b < 8; b++) store<u8>(plane + b * nb, <u8>(x >> (b << 3)))
    }
  }
}

/** Test hook: bitshuffles (forward != 0) or unshuffles n elements (multiple of 8). */
export function bitshuffle_block(inp: usize, out: usize, n: i32, elemSize: i32, forward: i32): i32 {
  if (!validElemSize(elemSize) || n < 0 || (n & 7) != 0) return ERR_BAD_ARGUMENT
  if (forward != 0) shuffleBlock(inp, out, <usize>n, elemSize)
  else unshuffleBlock(inp, out, <usize>n, elemSize)
  return n
}

// Validates the header; returns the total byte count or a negative status. On success the
// block size in elements is left in hdrBlockElems.
// Its TypeScript twin is src/kernel/bitshuffle-header.ts (bsread's decoder, Codec, BlockWalker
// and the parallel profiler read the header before any kernel call): both exist because the
// wasm cannot call into TS per frame, so a change to the format changes both.
let hdrBlockElems: i32 = 0

function readHeader(src: usize, srcLen: i32, dstCap: i32, s: i32): i32 {
  if (srcLen < 0 || dstCap < 0 || !validElemSize(s)) return ERR_BAD_ARGUMENT
  if (srcLen < 12) return ERR_TRUNCATED
  const hi = loadBE32(src)
  const lo = loadBE32(src + 4)
  const blockBytes = loadBE32(src + 8)
  if (hi != 0 || lo > 0x7fffffff) return ERR_OUTPUT_OVERFLOW
  const total = <i32>lo
  if (total > dstCap) return ERR_OUTPUT_OVERFLOW
  if (total % s != 0) return ERR_SIZE_MISMATCH
  if (blockBytes == 0 || blockBytes > 0x7fffffff || blockBytes % <u32>(8 * s) != 0) {
    return ERR_CORRUPT
  }
  hdrBlockElems = <i32>(blockBytes / <u32>s)
  return total
}

/** Decodes a whole bitshuffle_lz4 value; dstCap must hold the declared size; returns bytes. */
export function bslz4_decompress(
  src: usize, srcLen: i32, dst: usize, dstCap: i32, elemSize: i32,
): i32 {
  const total = readHeader(src, srcLen, dstCap, elemSize)
  if (total < 0) return total
  const r = decodeBlocks(src, srcLen, dst, total, elemSize, 0, 0x7fffffff, 12, 0, false)
  return r < 0 ? r : total
}

/**
 * Decodes only the blocks overlapping elements [firstElem, endElem) (and the raw tail if it
 * overlaps) into their places in dst; returns the number of LZ4 blocks decoded.
 */
export function bslz4_decompress_range(
  src: usize, srcLen: i32, dst: usize, dstCap: i32, elemSize: i32, firstElem: i32, endElem: i32,
): i32 {
  const total = readHeader(src, srcLen, dstCap, elemSize)
  if (total < 0) return total
  if (firstElem < 0 || endElem < firstElem) return ERR_BAD_ARGUMENT
  return decodeBlocks(src, srcLen, dst, total, elemSize, firstElem, endElem, 12, 0, false)
}

/**
 * Like bslz4_decompress_range, but the walk of the block table starts at byte `startPos` (the
 * length prefix of the block that begins at element `startElem`, found by the caller) and stops
 * after the last block overlapping [firstElem, endElem): only the header and the bytes from
 * startPos to the end of that block are read, so a thread can be handed just its span of the
 * value. A wrong start gives an error status (every read stays bounds-checked), never a wild read.
 */
export function bslz4_decompress_from(
  src: usize, srcLen: i32, dst: usize, dstCap: i32, elemSize: i32,
  startPos: i32, startElem: i32, firstElem: i32, endElem: i32,
): i32 {
  const total = readHeader(src, srcLen, dstCap, elemSize)
  if (total < 0) return total
  if (firstElem < 0 || endElem < firstElem || startPos < 12 || startPos > srcLen ||
      startElem < 0 || startElem % hdrBlockElems != 0 || startElem > total / elemSize ||
      startElem > firstElem) {
    return ERR_BAD_ARGUMENT
  }
  return decodeBlocks(src, srcLen, dst, total, elemSize, firstElem, endElem, startPos, startElem,
    true)
}

// Walks the blocks after a validated header from (pos0, elem0); decodes those overlapping
// [first, end). With stopAfter, the walk ends at the first block past `end`.
function decodeBlocks(
  src: usize, srcLen: i32, dst: usize, total: i32, s: i32, first: i32, end: i32,
  pos0: i32, elem0: i32, stopAfter: bool,
): i32 {
  const n = total / s
  const blockElems = hdrBlockElems
  const fullBytes = (n & ~7) < blockElems ? (n & ~7) * s : blockElems * s
  const work = ensureScratch(<usize>fullBytes)
  let pos: i32 = pos0
  let elem: i32 = elem0
  let decoded: i32 = 0
  while (n - elem >= 8) {
    if (stopAfter && elem >= end) return decoded
    const left = (n - elem) & ~7
    const bn = left < blockElems ? left : blockElems
    if (srcLen - pos < 4) return ERR_TRUNCATED
    const clen = loadBE32(src + <usize>pos)
    pos += 4
    if (clen > <u32>(srcLen - pos)) return ERR_TRUNCATED
    if (elem < end && elem + bn > first) {
      const r = lz4_decompress(src + <usize>pos, <i32>clen, work, bn * s)
      if (r < 0) return r
      if (r != bn * s) return ERR_SIZE_MISMATCH
      unshuffleBlock(work, dst + <usize>(elem * s), <usize>bn, s)
      decoded++
    }
    pos += <i32>clen
    elem += bn
  }
  const tail = (n - elem) * s
  if (tail > 0 && elem < end && n > first) {
    if (srcLen - pos < tail) return ERR_TRUNCATED
    memory.copy(dst + <usize>(elem * s), src + <usize>pos, <usize>tail)
  }
  return decoded
}

// Block size in elements for a compress call, or a negative status.
function blockElemsFor(s: i32, blockBytes: i32): i32 {
  if (!validElemSize(s) || blockBytes < 0) return ERR_BAD_ARGUMENT
  if (blockBytes == 0) return defaultBlockElems(s)
  if (blockBytes % (8 * s) != 0) return ERR_BAD_ARGUMENT
  return blockBytes / s
}

/** Worst-case bitshuffle_lz4 size of srcLen bytes (header and prefixes included). */
export function bslz4_compress_bound(srcLen: i32, elemSize: i32, blockBytes: i32): i32 {
  const be = blockElemsFor(elemSize, blockBytes)
  if (be < 0) return be
  if (srcLen < 0 || srcLen % elemSize != 0 || srcLen > 0x70000000) return ERR_BAD_ARGUMENT
  const n = srcLen / elemSize
  const full = n / be
  const last = (n % be) & ~7
  let bound: i64 = 12 + <i64>full * (4 + <i64>lz4_compress_bound(be * elemSize))
  if (last > 0) bound += 4 + <i64>lz4_compress_bound(last * elemSize)
  bound += <i64>((n & 7) * elemSize)
  return bound > 0x7fffffff ? ERR_BAD_ARGUMENT : <i32>bound
}

/** Encodes like the reference C library; blockBytes 0 = the reference default. */
export function bslz4_compress(
  src: usize, srcLen: i32, dst: usize, dstCap: i32, elemSize: i32, blockBytes: i32,
): i32 {
  const be = blockElemsFor(elemSize, blockBytes)
  if (be < 0) return be
  const s = elemSize
  if (srcLen < 0 || dstCap < 0 || srcLen % s != 0) return ERR_BAD_ARGUMENT
  if (dstCap < 12) return ERR_OUTPUT_OVERFLOW
  const n = srcLen / s
  store<u32>(dst, 0)
  storeBE32(dst + 4, <u32>srcLen)
  storeBE32(dst + 8, <u32>(be * s))
  const work = ensureScratch(<usize>(((n & ~7) < be ? (n & ~7) : be) * s))
  let pos: i32 = 12
  let elem: i32 = 0
  while (n - elem >= 8) {
    const left = (n - elem) & ~7
    const bn = left < be ? left : be
    if (dstCap - pos < 4) return ERR_OUTPUT_OVERFLOW
    shuffleBlock(src + <usize>(elem * s), work, <usize>bn, s)
    const r = lz4_compress(work, bn * s, dst + <usize>(pos + 4), dstCap - pos - 4)
    if (r < 0) return r
    storeBE32(dst + <usize>pos, <u32>r)
    pos += 4 + r
    elem += bn
  }
  const tail = (n - elem) * s
  if (dstCap - pos < tail) return ERR_OUTPUT_OVERFLOW
  memory.copy(dst + <usize>pos, src + <usize>(elem * s), <usize>tail)
  return pos + tail
}

/** Reverses the byte order of nElems elements of elemSize bytes, in place. */
export function byteswap_inplace(ptr: usize, nElems: i32, elemSize: i32): void {
  if (nElems <= 0 || elemSize <= 1 || !validElemSize(elemSize)) return
  const bytes = <usize>nElems * <usize>elemSize
  const vecEnd = bytes & ~15
  let i: usize = 0
  if (elemSize == 2) {
    for (; i < vecEnd; i += 16) {
      const v = v128.load(ptr + i)
      v128.store(ptr + i, i8x16.shuffle(v, v, 1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14))
    }
    for (; i < bytes; i += 2) store<u16>(ptr + i, bswap<u16>(load<u16>(ptr + i)))
  } else if (elemSize == 4) {
    for (; i < vecEnd; i += 16) {
      const v = v128.load(ptr + i)
      v128.store(ptr + i, i8x16.shuffle(v, v, 3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12))
    }
    for (; i < bytes; i += 4) store<u32>(ptr + i, bswap<u32>(load<u32>(ptr + i)))
  } else {
    for (; i < vecEnd; i += 16) {
      const v = v128.load(ptr + i)
      v128.store(ptr + i, i8x16.shuffle(v, v, 7, 6, 5, 4, 3, 2, 1, 0, 15, 14, 13, 12, 11, 10, 9, 8))
    }
    for (; i < bytes; i += 8) store<u64>(ptr + i, bswap<u64>(load<u64>(ptr + i)))
  }
}
