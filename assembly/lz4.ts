// LZ4 *block* format (no frame header): a safe decoder that never reads or writes outside the
// given ranges, and a greedy single-pass encoder (LZ4 "fast" level) whose hash table lives in
// static memory, so neither allocates.
import { ERR_BAD_ARGUMENT, ERR_CORRUPT, ERR_OUTPUT_OVERFLOW, ERR_TRUNCATED } from './errors'

/** Minimum match length of the format. */
const MIN_MATCH: i32 = 4
/** The last 5 bytes of a block are always literals (block spec). */
const LAST_LITERALS: i32 = 5
/** The last match must start at least 12 bytes before the end (block spec). */
const MF_LIMIT: i32 = 12
const MAX_OFFSET: i32 = 65535

const HASH_LOG: i32 = 13
/** Hash table of the encoder: positions tagged with a per-call base (see `hashBase`). */
const HASH_TABLE: usize = memory.data(4 << HASH_LOG, 16)
/**
 * Entries below `hashBase` belong to earlier calls: advancing the base by the input length on
 * every call invalidates the whole table without clearing it (clearing 32 KiB per 8 KiB block
 * would cost more than compressing it). The table is cleared only when the u32 base wraps.
 */
let hashBase: u32 = 1

/**
 * The fast loop runs while at least this many input and output bytes remain: then every copy
 * may be done in whole 16-byte vectors that run up to 15 bytes past its end (a "wild copy";
 * later sequences overwrite the excess) without leaving either buffer.
 */
const FAST_MARGIN: usize = 32

/**
 * For a match offset d < 16: swizzle indices i % d (row d) that spread the d bytes before the
 * output into a repeating 16-byte pattern, and the largest multiple of d <= 16 (the step that
 * keeps the pattern in phase from one 16-byte store to the next). Row 16: the identity.
 */
const PATTERN: usize = memory.data<u8>([
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1,
  0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0,
  0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3,
  0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0,
  0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5, 0, 1, 2, 3,
  0, 1, 2, 3, 4, 5, 6, 0, 1, 2, 3, 4, 5, 6, 0, 1,
  0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7,
  0, 1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 2, 3, 4, 5, 6,
  0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5,
  0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0, 1, 2, 3, 4,
  0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0, 1, 2, 3,
  0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0, 1, 2,
  0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 0, 1,
  0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 0,
  0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
], 16)
const PATTERN_STEP: usize = memory.data<u8>([
  16, 16, 16, 15, 16, 15, 12, 14, 16, 9, 10, 11, 12, 13, 14, 15,
], 16)

/**
 * Decodes one LZ4 block of srcLen bytes into at most dstLen bytes; returns bytes written. Bytes
 * of dst past the returned count (but before dstLen) may be overwritten by whole-vector copies.
 */
export function lz4_decompress(src: usize, srcLen: i32, dst: usize, dstLen: i32): i32 {
  if (srcLen < 0 || dstLen < 0) return ERR_BAD_ARGUMENT
  if (srcLen == 0) return ERR_TRUNCATED
  let ip = src
  const iend = src + <usize>srcLen
  let op = dst
  const oend = dst + <usize>dstLen
  if (<usize>srcLen > FAST_MARGIN && <usize>dstLen > FAST_MARGIN) {
    // Fast loop: no per-byte checks. A sequence that needs anything unusual (a length that
    // would reach into the margins, a truncated length, the last sequence) is left to the
    // checked loop below, which starts over at that sequence's token.
    const ilimit = iend - FAST_MARGIN
    const olimit = oend - FAST_MARGIN
    while (ip < ilimit && op <= olimit) {
      const token = <u32>load<u8>(ip)
      let lit = <usize>(token >> 4)
      let p = ip + 1
      if (lit == 15) {
        let b: u32
        do {
          if (p >= ilimit) break
          b = load<u8>(p++)
          lit += b
        } while (b == 255)
        if (p >= ilimit) break
      }
      // ilimit - p >= lit also leaves the 2 offset bytes and a vector of slack after them.
      if (lit > ilimit - p || lit > olimit - op) break
      v128.store(op, v128.load(p))
      if (lit > 16) {
        let n: usize = 16
        do {
          v128.store(op + n, v128.load(p + n))
          n += 16
        } while (n < lit)
      }
      p += lit
      const offset = <usize>load<u16>(p)
      p += 2
      let len = <usize>(token & 15)
      if (len == 15) {
        let b: u32
        do {
          if (p >= ilimit) break
          b = load<u8>(p++)
          len += b
        } while (b == 255)
        if (p >= ilimit) break
      }
      len += MIN_MATCH
      const at = op + lit
      if (offset == 0 || offset > at - dst || len > olimit - at) break
      const match = at - offset
      // One swizzled vector serves every offset: row d < 16 of PATTERN repeats the d bytes
      // before `at`, row 16 is the identity (the 16 bytes at `match`, which lie before `at`).
      // Most matches are <= 16 bytes, so this store is all they need, and the offset (short
      // for a third of them, at random) costs no branch. The load may read past `at` (inside
      // dst; the swizzle ignores those bytes).
      const row = offset < 16 ? offset : 16
      const pattern = i8x16.swizzle(v128.load(match), v128.load(PATTERN + (row << 4)))
      v128.store(at, pattern)
      if (len > 16) {
        if (offset >= 16) {
          // Each source vector ends at or before the bytes written so far.
          let n: usize = 16
          do {
            v128.store(at + n, v128.load(match + n))
            n += 16
          } while (n < len)
        } else {
          // The bytes repeat with period offset: the pattern again, in phase.
          const step = <usize>load<u8>(PATTERN_STEP + offset)
          let n = step
          do {
            v128.store(at + n, pattern)
            n += step
          } while (n < len)
        }
      }
      ip = p
      op = at + len
    }
  }
  return decodeChecked(ip, iend, op, oend, dst)
}

// The fully checked loop (every length against both ends), from ip/op to the end of the block.
function decodeChecked(ip: usize, iend: usize, op: usize, oend: usize, dst: usize): i32 {
  while (true) {
    if (ip >= iend) return ERR_TRUNCATED
    const token = <u32>load<u8>(ip++)
    let lit = <usize>(token >> 4)
    if (lit == 15) {
      let b: u32
      do {
        if (ip >= iend) return ERR_TRUNCATED
        b = load<u8>(ip++)
        lit += b
      } while (b == 255)
    }
    if (lit > iend - ip) return ERR_TRUNCATED
    if (lit > oend - op) return ERR_OUTPUT_OVERFLOW
    if (iend - ip >= lit + 16 && oend - op >= lit + 16) {
      // Whole-vector copies may run up to 15 bytes past the literals, still inside both
      // buffers; later writes overwrite the excess. Cheaper than a memory.copy call.
      let n: usize = 0
      do {
        v128.store(op + n, v128.load(ip + n))
        n += 16
      } while (n < lit)
    } else {
      memory.copy(op, ip, lit)
    }
    ip += lit
    op += lit
    // The last sequence has literals only.
    if (ip == iend) break
    if (iend - ip < 2) return ERR_TRUNCATED
    const offset = <usize>load<u16>(ip)
    ip += 2
    if (offset == 0 || offset > op - dst) return ERR_CORRUPT
    let len = <usize>(token & 15)
    if (len == 15) {
      let b: u32
      do {
        if (ip >= iend) return ERR_TRUNCATED
        b = load<u8>(ip++)
        len += b
      } while (b == 255)
    }
    len += MIN_MATCH
    if (len > oend - op) return ERR_OUTPUT_OVERFLOW
    copyMatch(op, offset, len, oend)
    op += len
  }
  return <i32>(op - dst)
}

// Copies a match of `len` bytes from op - offset to op with LZ4's overlap semantics (a short
// offset repeats a pattern). op + len <= oend is checked by the caller; nothing is written at or
// past oend. Long runs of zeros (the empty high bit planes of a dark frame) end most blocks and
// arrive here, so they get vector stores too.
// @ts-ignore: decorator
@inline function copyMatch(op: usize, offset: usize, len: usize, oend: usize): void {
  const match = op - offset
  let n: usize = 0
  if (offset < 16) {
    if (oend - match >= 16) {
      // The pattern stays in a register: no store-to-load chain through memory.
      const pattern = i8x16.swizzle(v128.load(match), v128.load(PATTERN + (offset << 4)))
      const step = <usize>load<u8>(PATTERN_STEP + offset)
      while (len - n >= 16) {
        v128.store(op + n, pattern)
        n += step
      }
      if (n < len && oend - (op + n) >= 16) {
        // n is a multiple of offset, so the pattern is in phase; the excess stays inside dst.
        v128.store(op + n, pattern)
        return
      }
    }
  } else {
    // match + n .. and op + n never overlap within a 16-byte chunk (distance >= 16).
    while (len - n >= 16) {
      v128.store(op + n, v128.load(match + n))
      n += 16
    }
    if (n < len && oend - (op + n) >= 16) {
      // Over-copy into space the caller will overwrite (still inside dst).
      v128.store(op + n, v128.load(match + n))
      return
    }
  }
  while (n < len) {
    store<u8>(op + n, load<u8>(match + n))
    n++
  }
}

/** Worst-case compressed size of n bytes. */
export function lz4_compress_bound(n: i32): i32 {
  if (n < 0 || n > 0x7e000000) return ERR_BAD_ARGUMENT
  return n + n / 255 + 16
}

// @ts-ignore: decorator
@inline function hashOf(seq: u32): usize {
  return <usize>((seq * 2654435761) >> (32 - HASH_LOG)) << 2
}

/** Compresses srcLen bytes into dst (capacity dstCap); returns the compressed length. */
export function lz4_compress(src: usize, srcLen: i32, dst: usize, dstCap: i32): i32 {
  if (srcLen < 0 || dstCap < 0 || srcLen > 0x7e000000) return ERR_BAD_ARGUMENT
  if (<u64>hashBase + <u64>srcLen + 1 > <u64>0xffffffff) {
    memory.fill(HASH_TABLE, 0, 4 << HASH_LOG)
    hashBase = 1
  }
  const base = hashBase
  hashBase += <u32>srcLen + 1
  let op = dst
  const oend = dst + <usize>dstCap
  let anchor: i32 = 0
  if (srcLen >= MF_LIMIT + 1) {
    const matchLimit = srcLen - LAST_LITERALS
    const lastStart = srcLen - MF_LIMIT
    let i: i32 = 0
    while (i <= lastStart) {
      const seq = load<u32>(src + <usize>i)
      const slot = HASH_TABLE + hashOf(seq)
      const entry = load<u32>(slot)
      store<u32>(slot, base + <u32>i)
      let ref = <i32>(entry - base)
      if (entry < base || ref >= i || i - ref > MAX_OFFSET ||
          load<u32>(src + <usize>ref) != seq) {
        i += 1 + ((i - anchor) >> 6)
        continue
      }
      while (i > anchor && ref > 0 &&
             load<u8>(src + <usize>(i - 1)) == load<u8>(src + <usize>(ref - 1))) {
        i--
        ref--
      }
      let len: i32 = MIN_MATCH
      while (i + len + 8 <= matchLimit) {
        const diff = load<u64>(src + <usize>(i + len)) ^ load<u64>(src + <usize>(ref + len))
        if (diff != 0) {
          len += <i32>(ctz(diff) >> 3)
          break
        }
        len += 8
      }
      if (i + len + 8 > matchLimit) {
        while (i + len < matchLimit &&
               load<u8>(src + <usize>(i + len)) == load<u8>(src + <usize>(ref + len))) len++
      }
      op = emitSequence(op, oend, src + <usize>anchor, i - anchor, i - ref, len)
      if (op == 0) return ERR_OUTPUT_OVERFLOW
      i += len
      anchor = i
      if (i - 2 <= lastStart) {
        store<u32>(HASH_TABLE + hashOf(load<u32>(src + <usize>(i - 2))), base + <u32>(i - 2))
      }
    }
  }
  // Last literals.
  const lit = srcLen - anchor
  const need: i32 = 1 + (lit >= 15 ? (lit - 15) / 255 + 1 : 0) + lit
  if (<usize>need > oend - op) return ERR_OUTPUT_OVERFLOW
  op = writeLiteralHeader(op, lit, 0)
  memory.copy(op, src + <usize>anchor, <usize>lit)
  op += <usize>lit
  return <i32>(op - dst)
}

// Writes token + literal-length bytes; returns the position of the literals.
// @ts-ignore: decorator
@inline function writeLiteralHeader(op: usize, lit: i32, matchCode: u32): usize {
  if (lit >= 15) {
    store<u8>(op++, <u8>(0xf0 | matchCode))
    let rest = lit - 15
    while (rest >= 255) {
      store<u8>(op++, 255)
      rest -= 255
    }
    store<u8>(op++, <u8>rest)
  } else {
    store<u8>(op++, <u8>((<u32>lit << 4) | matchCode))
  }
  return op
}

// Emits one sequence; returns the new output position, or 0 when dst is too small.
function emitSequence(
  op: usize, oend: usize, lit: usize, litLen: i32, offset: i32, len: i32,
): usize {
  const ml = len - MIN_MATCH
  const need: i32 = 1 + (litLen >= 15 ? (litLen - 15) / 255 + 1 : 0) + litLen + 2 +
    (ml >= 15 ? (ml - 15) / 255 + 1 : 0)
  if (<usize>need > oend - op) return 0
  op = writeLiteralHeader(op, litLen, ml >= 15 ? 15 : <u32>ml)
  memory.copy(op, lit, <usize>litLen)
  op += <usize>litLen
  store<u16>(op, <u16>offset)
  op += 2
  if (ml >= 15) {
    let rest = ml - 15
    while (rest >= 255) {
      store<u8>(op++, 255)
      rest -= 255
    }
    store<u8>(op++, <u8>rest)
  }
  return op
}
