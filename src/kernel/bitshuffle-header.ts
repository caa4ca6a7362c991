/**
 * The framing of a bitshuffle_lz4 value as bsread sends it: a 12-byte header (the decoded size
 * as a big-endian u64, then the block size in bytes as a big-endian u32), then each LZ4 block
 * behind its 4-byte big-endian length, then the raw tail. The one TypeScript reader of it (bsread's
 * decoder, Codec, BlockWalker, the parallel profiler); the kernel reads the same header in
 * assembly/bitshuffle.ts (`readHeader`), because the wasm cannot call into JS per frame.
 * @module
 */

/** Bytes of the header; the first block's length prefix follows it. */
export const BITSHUFFLE_HEADER_BYTES = 12

/** The decoded size the header declares (exact: a u64). `src` must hold the whole header. */
export function bitshuffleTotalBytes(src: Uint8Array): bigint {
  return new DataView(src.buffer, src.byteOffset, BITSHUFFLE_HEADER_BYTES).getBigUint64(0)
}

/** The block size in bytes the header declares. `src` must hold the whole header. */
export function bitshuffleBlockBytes(src: Uint8Array): number {
  return readBE32(src, 8)
}

/** The compressed length of the block whose 4-byte prefix is at `pos`. */
export function bitshuffleBlockLength(src: Uint8Array, pos: number): number {
  return readBE32(src, pos)
}

function readBE32(src: Uint8Array, at: number): number {
  return ((src[at]! << 24) | (src[at + 1]! << 16) | (src[at + 2]! << 8) | src[at + 3]!) >>> 0
}
