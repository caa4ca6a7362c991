// Raw memory for the host: the TypeScript side owns its regions (frame arena, decode buffer,
// profile buffers) and reuses them across frames, so kernels never allocate on the hot path.

/** Allocates `size` bytes, 16-byte aligned (v128 loads and typed views stay aligned). */
export function alloc(size: usize): usize {
  return heap.alloc(size)
}

/** Releases a block from `alloc`. */
export function free(ptr: usize): void {
  heap.free(ptr)
}
