/** Seeded pseudo-random generators shared by the tests (reproducible data, not crypto). */
import { DTYPE_SIZE, type DTypeName } from '../../src/kernel/dtype.js'

/** mulberry32: uniform in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** xorshift32: uniform in [0, 1). */
export function xorshift32(seed: number): () => number {
  let s = seed >>> 0 || 1
  return () => {
    s ^= s << 13
    s >>>= 0
    s ^= s >>> 17
    s ^= s << 5
    s >>>= 0
    return s / 4294967296
  }
}

/** Random frame bytes of a type; 64-bit values span the whole range, floats include negatives. */
export function randomFrame(
  dtype: DTypeName,
  n: number,
  bigEndian: boolean,
  rnd: () => number,
): Uint8Array {
  const bytes = new Uint8Array(n * DTYPE_SIZE[dtype])
  const dv = new DataView(bytes.buffer)
  const le = !bigEndian
  for (let i = 0; i < n; i++) {
    const o = i * DTYPE_SIZE[dtype]
    const r = rnd()
    switch (dtype) {
      case 'uint8':
        dv.setUint8(o, r * 256)
        break
      case 'int8':
        dv.setInt8(o, r * 256 - 128)
        break
      case 'uint16':
        dv.setUint16(o, r * 65536, le)
        break
      case 'int16':
        dv.setInt16(o, r * 65536 - 32768, le)
        break
      case 'uint32':
        dv.setUint32(o, r * 4294967296, le)
        break
      case 'int32':
        dv.setInt32(o, r * 4294967296 - 2147483648, le)
        break
      case 'uint64':
        dv.setBigUint64(o, BigInt(Math.floor(r * 2 ** 53)) << 11n, le)
        break
      case 'int64':
        dv.setBigInt64(o, (BigInt(Math.floor(r * 2 ** 53)) - (1n << 52n)) << 11n, le)
        break
      case 'float32':
        dv.setFloat32(o, (r - 0.5) * 1e4, le)
        break
      case 'float64':
        dv.setFloat64(o, (r - 0.5) * 1e6, le)
        break
    }
  }
  return bytes
}
