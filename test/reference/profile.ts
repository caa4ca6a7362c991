/** Plain TypeScript references of assembly/profile.ts and assembly/stats.ts. */
import { DTYPE_SIZE, type DTypeName } from '../../src/kernel/dtype.js'

export type Roi = readonly [number, number, number, number]

/** A reader of element i of a little- or big-endian frame of the given type. */
export function pxReader(
  bytes: Uint8Array,
  dtype: DTypeName,
  bigEndian: boolean,
): (i: number) => number | bigint {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const le = !bigEndian
  switch (dtype) {
    case 'uint8':
      return (i) => dv.getUint8(i)
    case 'int8':
      return (i) => dv.getInt8(i)
    case 'uint16':
      return (i) => dv.getUint16(i * 2, le)
    case 'int16':
      return (i) => dv.getInt16(i * 2, le)
    case 'uint32':
      return (i) => dv.getUint32(i * 4, le)
    case 'int32':
      return (i) => dv.getInt32(i * 4, le)
    case 'uint64':
      return (i) => dv.getBigUint64(i * 8, le)
    case 'int64':
      return (i) => dv.getBigInt64(i * 8, le)
    case 'float32':
      return (i) => dv.getFloat32(i * 4, le)
    case 'float64':
      return (i) => dv.getFloat64(i * 8, le)
  }
}

/** Reads element i of a little- or big-endian frame of the given type as number or bigint. */
export function readPx(
  bytes: Uint8Array,
  dtype: DTypeName,
  bigEndian: boolean,
  i: number,
): number | bigint {
  return pxReader(bytes, dtype, bigEndian)(i)
}

/**
 * Column sums like numpy's `frame[oy:oy+sy, ox:ox+sx].sum(axis=0)`: 64-bit integer accumulators,
 * float32 in float32 and float64 in float64, row by row; floats returned as f64.
 */
export function xProfileRef(
  bytes: Uint8Array,
  width: number,
  dtype: DTypeName,
  bigEndian: boolean,
  roi: Roi,
): BigUint64Array | BigInt64Array | Float64Array {
  const [ox, sx, oy, sy] = roi
  const px = pxReader(bytes, dtype, bigEndian)
  if (dtype === 'float32' || dtype === 'float64') {
    const out = new Float64Array(sx)
    for (let r = 0; r < sy; r++) {
      for (let c = 0; c < sx; c++) {
        const v = out[c]! + (px((oy + r) * width + ox + c) as number)
        // numpy sums float32 columns in float32, row by row.
        out[c] = dtype === 'float32' ? Math.fround(v) : v
      }
    }
    return out
  }
  let acc: bigint[]
  if (DTYPE_SIZE[dtype] <= 4) {
    // Up to 32-bit pixels: a double holds every column sum exactly (|sum| < 2^32 * 2^21 rows).
    const sums = new Float64Array(sx)
    for (let r = 0; r < sy; r++) {
      for (let c = 0; c < sx; c++) sums[c]! += px((oy + r) * width + ox + c) as number
    }
    acc = Array.from(sums, (v) => BigInt(v))
  } else {
    acc = new Array<bigint>(sx).fill(0n)
    for (let r = 0; r < sy; r++) {
      for (let c = 0; c < sx; c++) acc[c]! += px((oy + r) * width + ox + c) as bigint
    }
  }
  if (dtype.startsWith('u')) return BigUint64Array.from(acc.map((v) => BigInt.asUintN(64, v)))
  return BigInt64Array.from(acc.map((v) => BigInt.asIntN(64, v)))
}

/** [sum, min, max, mean, saturated count] like the roi_stats kernel (rows summed exactly). */
export function roiStatsRef(
  bytes: Uint8Array,
  width: number,
  dtype: DTypeName,
  bigEndian: boolean,
  roi: Roi,
  saturation: number,
): number[] {
  const [ox, sx, oy, sy] = roi
  let sum = 0
  let lo = Infinity
  let hi = -Infinity
  let sat = 0
  const float = dtype.startsWith('float')
  const px = pxReader(bytes, dtype, bigEndian)
  for (let r = 0; r < sy; r++) {
    let rowF = 0
    let rowI = 0n
    for (let c = 0; c < sx; c++) {
      const v = px((oy + r) * width + ox + c)
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
  bytes: Uint8Array,
  n: number,
  dtype: DTypeName,
  bigEndian: boolean,
  stride: number,
): [number, number] {
  let lo = Infinity
  let hi = -Infinity
  const px = pxReader(bytes, dtype, bigEndian)
  for (let i = 0; i < n; i += stride) {
    const f = Number(px(i))
    if (f < lo) lo = f
    if (f > hi) hi = f
  }
  return [lo, hi]
}

export function histogramRef(
  bytes: Uint8Array,
  n: number,
  dtype: DTypeName,
  bigEndian: boolean,
  stride: number,
  lo: number,
  hi: number,
  bins: number,
): Uint32Array {
  const out = new Uint32Array(bins)
  const scale = hi > lo ? bins / (hi - lo) : 0
  const px = pxReader(bytes, dtype, bigEndian)
  for (let i = 0; i < n; i += stride) {
    const f = Number(px(i))
    if (!(f >= lo && f <= hi)) continue
    out[Math.min(Math.trunc((f - lo) * scale), bins - 1)]!++
  }
  return out
}
