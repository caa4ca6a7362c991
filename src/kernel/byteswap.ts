/**
 * Byte order reversal of the elements of a JS array: bsread's big-endian channels (decoded
 * values, encoded output) and Codec.byteswap. Kernel memory has its own, in the kernel:
 * Codec.byteswapAt runs byteswap_inplace where a frame already lies.
 * @module
 */
import { KernelError } from './errors.js'

/** Reverses the byte order of every elemSize-byte element of `bytes`, in place; returns it. */
export function byteswap(bytes: Uint8Array, elemSize: number): Uint8Array {
  if (elemSize <= 1) return bytes
  if (bytes.length % elemSize !== 0) {
    throw new KernelError('BAD_ARGUMENT', 'length is not a multiple of elemSize')
  }
  // Node's Buffer swaps 2, 4 and 8 bytes natively; elsewhere (Codec is bundled for the browser
  // preview) and for other sizes a loop does it.
  if (typeof Buffer !== 'undefined' && (elemSize === 2 || elemSize === 4 || elemSize === 8)) {
    const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    if (elemSize === 2) b.swap16()
    else if (elemSize === 4) b.swap32()
    else b.swap64()
    return bytes
  }
  for (let i = 0; i < bytes.length; i += elemSize) {
    for (let a = i, b = i + elemSize - 1; a < b; a++, b--) {
      const t = bytes[a]!
      bytes[a] = bytes[b]!
      bytes[b] = t
    }
  }
  return bytes
}
