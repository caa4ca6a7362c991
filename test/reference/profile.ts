/** Plain TypeScript references of assembly/profile.ts and assembly/stats.ts. */
import { DTYPE_SIZE, type DTypeName } from '../../src/kernel/dtype.js'

export type Roi = readonly [number, number, number, number]

/** Reads element i of a little- or big-endian frame of the given type as number or bigint. */
export function readPx(bytes: Uint8Array, dtype: DTypeName, bigEndian: boolean, i: number):
  number | bigint {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const o = i * DTYPE_SIZE[dtype]
  const le = !bigEndian
  switch (dtype) {
    case 'uint8': return dv.getUint8(o)
    case 'int8': return dv.getInt8(o)
    case 'uint16': return dv.getUint16(o, le)
    case 'int16': return dv.getInt16(o, le)
    case 'uint32': return dv.getUint32(o, le)
    case 'int32': return dv.getInt32(o, le)
    case 'uint64': return dv.getBigUint64(o, le)
    case 'int64': return dv.getBigInt64(o, le)
    case 'float32': return dv.getFloat32(o, le)
    case 'float64': return dv.getFloat64(o, le)
  }
}

/**
 * Column sums like numpy's `frame[oy:oy+sy, ox:ox+sx].sum(axis=0)`: 64-bit integer accumulators,
 * float32 in float32 and float64 in float64, row by row; floats returned as f64.
 */
export function xProfileRef(
  bytes: Uint8Array, width: number, dtype: DTypeName, bigEndian: boolean, roi: Roi,
): BigUint64Array | BigInt64Array | Float64Array {
  const [ox, sx, oy, sy] = roi
  if (dtype === 'float32' || dtype === 'float64') {
    const out = new Float64Array(sx)
    for (let r = 0; r < sy; r++) {
      for (let c = 0; c < sx; c++) {
        const v = out[c]! + (readPx(bytes, dtype, bigEndian, (oy + r) * width + ox + c) as number)
        // numpy sums float32 columns in float32, row by row.
        out[c] = dtype === 'float32' ? Math.fround(v) : v
      }
    }
    return out
  }
  const acc = new Array<bigint>(sx).fill(0n)
  for (let r = 0; r < sy; r++) {
    for (let c = 0; c < sx; c++) {
      acc[c]! += BigInt(readPx(bytes, dtype, bigEndian, (oy + r) * width + ox + c))
    }
  }
  if (dtype.startsWith('u')) return BigUint64Array.from(acc.map((v) => BigInt.asUintN(64, v)))
  return BigInt64Array.from(acc.map((v) => BigInt.asIntN(64, v)))
}

/** [sum, min, max, mean, saturated count] like the roi_stats kernel (rows summed exactly). */
export function roiStatsRef(
  bytes: Uint8Array, width: number, dtype: DTypeName, bigEndian: boolean, roi: Roi,
  saturation: number,
): number[] {
  const [ox, sx, oy, sy] = roi
  let sum = 0
  let lo = Infinity
  let hi = -Infinity
  let sat = 0
  const float = dtype.startsWith('float')
  for (let r = 0; r < sy; r++) {
    let rowF = 0
    let rowI = 0n
    for (let c = 0; c < sx; c++) {
      const v = readPx(bytes, dtype, bigEndian, (oy + r) * width + ox + c)
      const f = Number(v)
      if (float) rowF += f
      else rowI += BigInt(v)
      if (f < lo) lo = f
      if (f > hi) hi = f
      if (f >= saturation) sat++
    }
    if (float) sum += rowF
    else sum += Number(dtype === 'uint64' ? BigInt.asUintN(64, rowI) : BigInt.asIntN(64, rowI))
  }
  return [sum, lo, hi, sum / (sx * sy), sat]
}

export function minMaxRef(
  bytes: Uint8Array, n: number, dtype: DTypeName, bigEndian: boolean, stride: number,
): [number, number] {
  let lo = Infinity
  let hi = -Infinity
  for (let i = 0; i < n; i += stride) {
    const f = Number(readPx(bytes, dtype, bigEndian, i))
    if (f < lo) lo = f
    if (f > hi) hi = f
  }
  return [lo, hi]
}

export function histogramRef(
  bytes: Uint8Array, n: number, dtype: DTypeName, bigEndian: boolean, stride: number,
  lo: number, hi: number, bins: number,
): Uint32Array {
  const out = new Uint32Array(bins)
  const scale = hi > lo ? bins / (hi - lo) : 0
  for (let i = 0; i < n; i += stride) {
    const f = Number(readPx(bytes, dtype, bigEndian, i))
    if (!(f >= lo && f <= hi)) continue
    out[Math.min(Math.trunc((f - lo) * scale), bins - 1)]!++
  }
  return out
}
