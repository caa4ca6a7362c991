/**
 * Plain TypeScript reference of bitshuffle and of bsread's bitshuffle_lz4 framing, written
 * straight from the definition (bit b of byte j of element i goes to plane 8j+b, bit i mod 8 of
 * byte i div 8), bit by bit.
 * @module
 */
import { Lz4Error, lz4DecodeRef, lz4EncodeRef } from './lz4.js'

/** Bitshuffles n elements (n a multiple of 8) of s bytes. */
export function shuffleRef(src: Uint8Array, s: number): Uint8Array {
  const n = src.length / s
  const nb = n / 8
  const out = new Uint8Array(src.length)
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < s; j++) {
      const v = src[i * s + j]!
      for (let b = 0; b < 8; b++) {
        if ((v >> b) & 1) out[(8 * j + b) * nb + (i >> 3)]! |= 1 << (i & 7)
      }
    }
  }
  return out
}

/** Inverse of `shuffleRef`. */
export function unshuffleRef(src: Uint8Array, s: number): Uint8Array {
  const n = src.length / s
  const nb = n / 8
  const out = new Uint8Array(src.length)
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < s; j++) {
      let v = 0
      for (let b = 0; b < 8; b++) v |= ((src[(8 * j + b) * nb + (i >> 3)]! >> (i & 7)) & 1) << b
      out[i * s + j] = v
    }
  }
  return out
}

/** The reference block size in elements. */
export function defaultBlockElems(s: number): number {
  return Math.max(128, Math.floor(8192 / s) & ~7)
}

/** Encodes a bitshuffle_lz4 value like the C library (block size in elements). */
export function bslz4EncodeRef(
  src: Uint8Array,
  s: number,
  blockElems = defaultBlockElems(s),
): Uint8Array {
  const n = src.length / s
  const chunks: Uint8Array[] = []
  const header = new Uint8Array(12)
  const dv = new DataView(header.buffer)
  dv.setBigUint64(0, BigInt(src.length))
  dv.setUint32(8, blockElems * s)
  chunks.push(header)
  let elem = 0
  while (n - elem >= 8) {
    const bn = Math.min(blockElems, (n - elem) & ~7)
    const block = lz4EncodeRef(shuffleRef(src.subarray(elem * s, (elem + bn) * s), s))
    const len = new Uint8Array(4)
    new DataView(len.buffer).setUint32(0, block.length)
    chunks.push(len, block)
    elem += bn
  }
  chunks.push(src.slice(elem * s))
  const out = new Uint8Array(chunks.reduce((a, c) => a + c.length, 0))
  let o = 0
  for (const c of chunks) {
    out.set(c, o)
    o += c.length
  }
  return out
}

/** Decodes a bitshuffle_lz4 value; throws Lz4Error on malformed input. */
export function bslz4DecodeRef(src: Uint8Array, s: number): Uint8Array {
  if (src.length < 12) throw new Lz4Error('truncated header')
  const dv = new DataView(src.buffer, src.byteOffset, src.byteLength)
  const total = Number(dv.getBigUint64(0))
  const blockBytes = dv.getUint32(8)
  if (total % s !== 0 || blockBytes === 0 || blockBytes % (8 * s) !== 0) {
    throw new Lz4Error('bad header')
  }
  const blockElems = blockBytes / s
  const n = total / s
  const out = new Uint8Array(total)
  let pos = 12
  let elem = 0
  while (n - elem >= 8) {
    const bn = Math.min(blockElems, (n - elem) & ~7)
    if (pos + 4 > src.length) throw new Lz4Error('truncated block length')
    const clen = dv.getUint32(pos)
    pos += 4
    if (pos + clen > src.length) throw new Lz4Error('truncated block')
    const shuffled = lz4DecodeRef(src.subarray(pos, pos + clen), bn * s)
    if (shuffled.length !== bn * s) throw new Lz4Error('block size mismatch')
    out.set(unshuffleRef(shuffled, s), elem * s)
    pos += clen
    elem += bn
  }
  const tail = (n - elem) * s
  if (pos + tail > src.length) throw new Lz4Error('truncated tail')
  out.set(src.subarray(pos, pos + tail), elem * s)
  return out
}
