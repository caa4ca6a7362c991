/** Element type codes shared with the kernels; mirror of assembly/dtype.ts. */
export const DType = {
  uint8: 0,
  int8: 1,
  uint16: 2,
  int16: 3,
  uint32: 4,
  int32: 5,
  uint64: 6,
  int64: 7,
  float32: 8,
  float64: 9,
} as const

export type DTypeName = keyof typeof DType
export type DTypeCode = (typeof DType)[DTypeName]

export const DTYPE_SIZE: Readonly<Record<DTypeName, number>> = {
  uint8: 1,
  int8: 1,
  uint16: 2,
  int16: 2,
  uint32: 4,
  int32: 4,
  uint64: 8,
  int64: 8,
  float32: 4,
  float64: 8,
}

export function isDTypeName(name: string): name is DTypeName {
  return Object.hasOwn(DType, name)
}

/** How a column sum of this pixel type is accumulated: exact u64, exact i64, or f64. */
export type SumKind = 'uint64' | 'int64' | 'float64'

export function sumKind(dtype: DTypeName): SumKind {
  if (dtype === 'float32' || dtype === 'float64') return 'float64'
  return dtype.startsWith('u') ? 'uint64' : 'int64'
}
