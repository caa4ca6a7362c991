/**
 * Plain TypeScript reference of the LZ4 block format: a byte-at-a-time decoder that follows the
 * spec literally, and a simple greedy encoder (Map-based hash chain of one) that obeys the
 * end-of-block rules. Slow on purpose: it is the oracle the kernel is compared with.
 * @module
 */

/** Thrown for malformed blocks. */
export class Lz4Error extends Error {}

/** Decodes one LZ4 block; `maxOut` bounds the output. */
export function lz4DecodeRef(src: Uint8Array, maxOut: number): Uint8Array {
  const out: number[] = []
  let ip = 0
  if (src.length === 0) throw new Lz4Error('empty block')
  for (;;) {
    if (ip >= src.length) throw new Lz4Error('truncated token')
    const token = src[ip++]!
    let lit = token >> 4
    if (lit === 15) {
      let b: number
      do {
        if (ip >= src.length) throw new Lz4Error('truncated literal length')
        b = src[ip++]!
        lit += b
      } while (b === 255)
    }
    if (ip + lit > src.length) throw new Lz4Error('truncated literals')
    if (out.length + lit > maxOut) throw new Lz4Error('output overflow')
    for (let i = 0; i < lit; i++) out.push(src[ip++]!)
    if (ip === src.length) break
    if (ip + 2 > src.length) throw new Lz4Error('truncated offset')
    const offset = src[ip]! | (src[ip + 1]! << 8)
    ip += 2
    if (offset === 0 || offset > out.length) throw new Lz4Error('bad offset')
    let len = token & 15
    if (len === 15) {
      let b: number
      do {
        if (ip >= src.length) throw new Lz4Error('truncated match length')
        b = src[ip++]!
        len += b
      } while (b === 255)
    }
    len += 4
    if (out.length + len > maxOut) throw new Lz4Error('output overflow')
    const from = out.length - offset
    for (let i = 0; i < len; i++) out.push(out[from + i]!)
  }
  return Uint8Array.from(out)
}

function pushLength(out: number[], n: number): void {
  while (n >= 255) {
    out.push(255)
    n -= 255
  }
  out.push(n)
}

/** Greedy encoder: last 5 bytes literal, no match starting within 12 bytes of the end. */
export function lz4EncodeRef(src: Uint8Array): Uint8Array {
  const out: number[] = []
  const table = new Map<number, number>()
  const n = src.length
  let anchor = 0
  const key = (i: number): number =>
    (src[i]! | (src[i + 1]! << 8) | (src[i + 2]! << 16) | (src[i + 3]! << 24)) >>> 0
  const emit = (litEnd: number, offset: number, len: number): void => {
    const lit = litEnd - anchor
    const ml = len - 4
    out.push((Math.min(lit, 15) << 4) | (len > 0 ? Math.min(ml, 15) : 0))
    if (lit >= 15) pushLength(out, lit - 15)
    for (let i = anchor; i < litEnd; i++) out.push(src[i]!)
    if (len > 0) {
      out.push(offset & 255, offset >> 8)
      if (ml >= 15) pushLength(out, ml - 15)
    }
  }
  let i = 0
  while (n >= 13 && i <= n - 12) {
    const k = key(i)
    const ref = table.get(k)
    table.set(k, i)
    if (ref === undefined || i - ref > 65535) {
      i++
      continue
    }
    let len = 4
    while (i + len < n - 5 && src[i + len] === src[ref + len]) len++
    emit(i, i - ref, len)
    i += len
    anchor = i
  }
  emit(n, 0, 0)
  return Uint8Array.from(out)
}
