/**
 * The block table of one bitshuffle_lz4 value, walked once per frame in JS (1,350 length
 * prefixes for a 2560x2160 uint16 frame) so that the single-thread ROI decode (Codec) copies
 * only the header and the spans of blocks its rows need, and a table that does not add up is
 * caught before anything is decoded. Reused across frames: its arrays grow only when a value
 * has more blocks.
 * @module
 */
import { BITSHUFFLE_HEADER_BYTES } from './bitshuffle-header.js'
import { BlockWalker } from './block-walker.js'

/** The bytes of a value that one element range needs (read by `bslz4_decompress_from`). */
export interface BlockSpan {
  /** Byte offset of the length prefix of the first block overlapping the range. */
  start: number
  /** First element of that block. */
  startElem: number
  /** End (exclusive) of the last block overlapping the range, or of the raw tail. */
  end: number
}

export class BlockIndex {
  /** Blocks in the last indexed value (the raw tail, if any, is one more entry). */
  count = 0
  #pos = new Int32Array(0)
  #elem = new Float64Array(0)
  readonly #walker = new BlockWalker()

  /**
   * Walks the block table of `src`; false when it does not add up (a length runs past the
   * value, a bad block size): such values are left to the checked single-thread path.
   */
  index(src: Uint8Array, outBytes: number, elemSize: number): boolean {
    this.count = 0
    const walker = this.#walker
    if (!walker.reset(src, outBytes, elemSize)) return false
    // The declared size may lie: every block takes a 4-byte prefix, so the received bytes bound
    // the entries, whatever the header claims.
    const fit = Math.max(0, Math.floor((src.length - BITSHUFFLE_HEADER_BYTES) / 4))
    this.#reserve(Math.min(walker.blocks, fit) + 2)
    let k = 0
    while (walker.next()) {
      this.#pos[k] = walker.pos
      this.#elem[k] = walker.elem
      k++
    }
    const tailEnd = walker.tailEnd
    if (walker.broken || tailEnd > src.length) return false
    // The raw tail is one more entry; the end position closes it.
    this.#pos[k] = walker.end
    this.#elem[k] = walker.elem + walker.count
    this.#pos[k + 1] = tailEnd
    this.#elem[k + 1] = outBytes / elemSize
    this.count = k
    return true
  }

  /** Entries the index has room for (grown only by values whose bytes can fill them). */
  get capacity(): number {
    return this.#pos.length
  }

  /** The span that holds every block overlapping elements [first, end); undefined if none. */
  span(first: number, end: number): BlockSpan | undefined {
    if (this.count === 0 || end <= first) return undefined
    const i = this.#entryOf(first)
    if (i >= this.count) return undefined // inside the raw tail only
    const j = this.#entryOf(end - 1)
    // j is a block, or the raw tail entry (index count): its end is the value's end either way.
    return { start: this.#pos[i]!, startElem: this.#elem[i]!, end: this.#pos[j + 1]! }
  }

  /** Entry (block, or count for the raw tail) that holds element e. */
  #entryOf(e: number): number {
    let lo = 0
    let hi = this.count // the tail entry
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1
      if (this.#elem[mid]! <= e) lo = mid
      else hi = mid - 1
    }
    return lo
  }

  #reserve(entries: number): void {
    if (this.#pos.length >= entries) return
    this.#pos = new Int32Array(entries)
    this.#elem = new Float64Array(entries)
  }
}
