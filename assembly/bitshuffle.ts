// bsread's bitshuffle_lz4: a 12-byte big-endian header (total bytes, block bytes), then
// length-prefixed LZ4 blocks of bit-shuffled elements, then the n mod 8 leftover elements raw.
// The bit transpose of a block (SIMD, in pairs of paths that must stay in step) is in
// bitshuffle-transpose.ts.
import {
  ERR_BAD_ARGUMENT, ERR_CORRUPT, ERR_OUTPUT_OVERFLOW, ERR_SIZE_MISMATCH, ERR_TRUNCATED,
} from './errors'
import { lz4_compress, lz4_compress_bound, lz4_decompress } from './lz4'
import {
  shuffleBlock, shuffleBlockGeneric, unshuffleBlock, unshuffleBlockGeneric,
} from './bitshuffle-transpose'

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

/**
 * Test hook: bitshuffles (mode bit 0 set) or unshuffles n elements (a multiple of 8); with mode
 * bit 1 (GENERIC, 2) on the generic path whatever the element size, so tests reach both paths
 * of each SIMD pair (see bitshuffle-transpose.ts).
 */
export function bitshuffle_block(inp: usize, out: usize, n: i32, elemSize: i32, mode: i32): i32 {
  if (!validElemSize(elemSize) || n < 0 || (n & 7) != 0) return ERR_BAD_ARGUMENT
  const generic = (mode & 2) != 0
  if ((mode & 1) != 0) {
    if (generic) shuffleBlockGeneric(inp, out, <usize>n, elemSize)
    else shuffleBlock(inp, out, <usize>n, elemSize)
  } else if (generic) {
    unshuffleBlockGeneric(inp, out, <usize>n, elemSize)
  } else {
    unshuffleBlock(inp, out, <usize>n, elemSize)
  }
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
