// Combining partial column sums: when threads each sum a slice of a ROI's rows, their 8-byte
// partial profiles are added here. Integer lanes wrap like the single-pass u64/i64 sums, so the
// combined profile is bit-identical to one pass over all rows.

/** dst[i] += src[i] for n 64-bit integer lanes (u64 or i64: the same wrapping add). */
export function profile_add_i64(dst: usize, src: usize, n: i32): void {
  let i = 0
  for (; i + 2 <= n; i += 2) {
    const o = <usize>i << 3
    v128.store(dst + o, i64x2.add(v128.load(dst + o), v128.load(src + o)))
  }
  if (i < n) {
    const o = <usize>i << 3
    store<i64>(dst + o, load<i64>(dst + o) + load<i64>(src + o))
  }
}
