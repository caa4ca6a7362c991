/**
 * A forward walk over the block table of one bitshuffle_lz4 value: the 4-byte big-endian length
 * prefix of each LZ4 block after the 12-byte header, then the raw tail. BlockIndex records a whole
 * walk; ParallelProfiler walks a worker's share while it copies it (the prefix it reads next was
 * just copied, so it is in cache; a cold walk of a 5.5 MB value costs one cache miss per 8 KiB
 * block, ~0.2 ms here). Reused across frames.
 * @module
 */
import {
  BITSHUFFLE_HEADER_BYTES,
  bitshuffleBlockBytes,
  bitshuffleBlockLength,
} from './bitshuffle-header.js'

export class BlockWalker {
  /** The current block: position of its length prefix, first element, elements, byte end. */
  pos = 0
  elem = 0
  count = 0
  end = 0
  /** A length ran past the value: the table does not add up. */
  broken = false
  #src: Uint8Array = new Uint8Array(0)
  #n = 0
  #blockElems = 0
  #elemSize = 1
  #again = false

  /** Starts before the first block; false for a block size that cannot be right. */
  reset(src: Uint8Array, outBytes: number, elemSize: number): boolean {
    this.#src = src
    this.broken = false
    this.#again = false
    this.pos = BITSHUFFLE_HEADER_BYTES
    this.elem = 0
    this.count = 0
    this.end = BITSHUFFLE_HEADER_BYTES
    if (src.length < BITSHUFFLE_HEADER_BYTES) return false
    const blockBytes = bitshuffleBlockBytes(src)
    if (blockBytes === 0 || blockBytes % (8 * elemSize) !== 0) return false
    this.#blockElems = blockBytes / elemSize
    this.#elemSize = elemSize
    this.#n = outBytes / elemSize
    return true
  }

  /** At most this many blocks (for sizing a table of them). */
  get blocks(): number {
    return Math.ceil(this.#n / this.#blockElems)
  }

  /**
   * After the last block: where the raw tail (the n mod 8 elements stored as they are) ends,
   * which a whole value must reach.
   */
  get tailEnd(): number {
    return this.end + (this.#n - this.elem - this.count) * this.#elemSize
  }

  /** Where the next block's prefix is (the current block's end). */
  get nextPos(): number {
    return this.#again ? this.pos : this.end
  }

  /** Whether elements [a, b) and the current block overlap. */
  overlaps(a: number, b: number): boolean {
    return a < this.elem + this.count && b > this.elem
  }

  /**
   * Moves to the next block; false after the last one (the raw tail, fewer than 8 elements,
   * follows it) or when its length runs past the value (then `broken`).
   */
  next(): boolean {
    if (this.#again) {
      this.#again = false
      return true
    }
    const elem = this.elem + this.count
    const left = (this.#n - elem) & ~7
    if (left <= 0 || this.broken) return false
    const pos = this.end
    const src = this.#src
    if (pos + 4 > src.length) return this.#break()
    const end = pos + 4 + bitshuffleBlockLength(src, pos)
    if (end > src.length) return this.#break()
    this.pos = pos
    this.elem = elem
    this.count = Math.min(this.#blockElems, left)
    this.end = end
    return true
  }

  /**
   * Walks the rest of the table: true when every block and then the raw tail fit in the value
   * (what a whole-value decode would check), false when the table does not add up.
   */
  finish(): boolean {
    this.#again = false
    while (this.next()) {
      // Only the lengths are read.
    }
    return !this.broken && this.tailEnd <= this.#src.length
  }

  /** Makes the next `next()` return the current block again. */
  again(): void {
    if (this.count > 0) this.#again = true
  }

  #break(): false {
    this.broken = true
    return false
  }
}
