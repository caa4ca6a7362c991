// Pixel / element type codes shared by every kernel. Mirrored in src/kernel/dtype.ts
// (test/kernel-layout.test.ts checks that both agree).
export const DT_UINT8: i32 = 0
export const DT_INT8: i32 = 1
export const DT_UINT16: i32 = 2
export const DT_INT16: i32 = 3
export const DT_UINT32: i32 = 4
export const DT_INT32: i32 = 5
export const DT_UINT64: i32 = 6
export const DT_INT64: i32 = 7
export const DT_FLOAT32: i32 = 8
export const DT_FLOAT64: i32 = 9

/** Bytes per element of a type code, 0 for an unknown code. */
export function dtype_size(dtype: i32): i32 {
  switch (dtype) {
    case DT_UINT8: case DT_INT8: return 1
    case DT_UINT16: case DT_INT16: return 2
    case DT_UINT32: case DT_INT32: case DT_FLOAT32: return 4
    case DT_UINT64: case DT_INT64: case DT_FLOAT64: return 8
    default: return 0
  }
}
