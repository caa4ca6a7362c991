/**
 * Streaming a worker's share of a bitshuffle_lz4 value into its memory: the main thread copies
 * the header and the share's blocks in batches, walking the block table as it goes (each length
 * prefix is read just after its batch was copied, so the walk reads warm bytes), and publishes
 * the share piece by piece (Slot.READY): the worker decodes a piece as soon as it is there.
 * Also finds the span of blocks that holds the main thread's own (last) share.
 * @module
 */
import { BITSHUFFLE_HEADER_BYTES } from './bitshuffle-header.js'
import type { BlockSpan } from './block-index.js'
import type { BlockWalker } from './block-walker.js'
import type { RowRange } from './codec.js'
import { CTRL_INTS, MAX_PIECES, PIECE_INTS, Piece, READY_FINAL, Slot } from './parallel-protocol.js'
import { lastRow } from './share-plan.js'

/** Bytes a worker's share is copied in: the walk reads each prefix right after its batch. */
const COPY_BYTES = 64 * 1024

/** Copies shares into the workers' input regions and publishes them piece by piece. */
export class ShareStreamer {
  readonly #ctrl: Int32Array
  readonly #pieceBytes: number
  readonly #copyBytes: number

  /** `pieceBytes`: bytes of a share per published piece after the first. */
  constructor(ctrl: Int32Array, pieceBytes: number) {
    this.#ctrl = ctrl
    this.#pieceBytes = pieceBytes
    this.#copyBytes = Math.min(COPY_BYTES, pieceBytes)
  }

  /**
   * Copies the header and worker w's share of `src` into its memory (at `input`) and publishes
   * it piece by piece (READY), walking the block table as it goes: each prefix is read just
   * after the copy brought it into the cache. Blocks between the share's row ranges are walked,
   * not copied. The walker goes on from where the previous share ended.
   */
  stream(
    w: number,
    memory: Buffer,
    input: number,
    walker: BlockWalker,
    src: Uint8Array,
    share: readonly RowRange[],
    width: number,
  ): void {
    const ready = w * CTRL_INTS + Slot.READY
    const endElem = lastRow(share) * width
    let pieces = 0
    // The open piece: blocks from (startPos, startElem) up to element pieceEnd, all copied.
    let startPos = 0
    let startElem = 0
    let pieceEnd = 0
    let copied = 0 // the open run's bytes are copied up to here
    const publish = (): void => {
      if (pieceEnd > startElem) {
        const at = w * CTRL_INTS + Slot.PIECES + pieces * PIECE_INTS
        this.#ctrl[at + Piece.START_POS] = startPos
        this.#ctrl[at + Piece.START_ELEM] = startElem
        this.#ctrl[at + Piece.END_ELEM] = pieceEnd
        Atomics.store(this.#ctrl, ready, ++pieces)
        Atomics.notify(this.#ctrl, ready)
      }
      startElem = pieceEnd
    }
    copyInto(memory, input, src, 0, BITSHUFFLE_HEADER_BYTES)
    let open = false
    for (;;) {
      // Copy ahead of the walk, so that the next prefix it reads is already in cache.
      if (open && walker.nextPos + 4 > copied) copied = this.#copyBatch(memory, input, src, copied)
      if (!walker.next()) break
      if (walker.elem >= endElem) {
        walker.again() // the next share's first block (after a gap)
        break
      }
      // Blocks between the share's row ranges end the open piece and are not copied, except
      // once the last piece slot is in use: that piece then takes them too (decoded for nothing).
      if (!shareOverlaps(share, walker, width) && !(open && pieces === MAX_PIECES - 1)) {
        if (open) publish()
        open = false
        continue
      }
      if (!open) {
        open = true
        startPos = walker.pos
        startElem = walker.elem
        copied = startPos
      }
      while (copied < walker.end) copied = this.#copyBatch(memory, input, src, copied)
      pieceEnd = walker.elem + walker.count
      // The first piece is small, so the worker starts at once; the last slot takes the rest.
      const size = pieces === 0 ? this.#copyBytes : this.#pieceBytes
      if (walker.end - startPos >= size && pieces < MAX_PIECES - 1) {
        publish()
        startPos = walker.end
      }
      if (pieceEnd >= endElem) {
        // A block that runs past the share's end holds the next share's first rows too.
        if (pieceEnd > endElem) walker.again()
        break
      }
    }
    if (open) publish()
    // Only the main thread's share (the last) can reach the raw tail. A broken table ends the
    // share here: the worker decodes what it has, the single-thread path reports the error.
    Atomics.store(this.#ctrl, ready, pieces | READY_FINAL)
    Atomics.notify(this.#ctrl, ready)
  }

  /** Copies the next batch of src into a worker's input region; returns where it stopped. */
  #copyBatch(memory: Buffer, at: number, src: Uint8Array, from: number): number {
    const to = Math.min(src.length, from + this.#copyBytes)
    copyInto(memory, at, src, from, to)
    return to
  }
}

/**
 * Copies src[start, end) to memory[at + start, ...). Buffer.fill with a buffer of the same length
 * is one native memcpy; TypedArray.set and Buffer.copy into shared memory take V8's relaxed-atomic
 * copy, 2.3x slower for a 2.75 MB share in cache.
 */
function copyInto(memory: Buffer, at: number, src: Uint8Array, start: number, end: number): void {
  if (end <= start) return
  memory.subarray(at + start, at + end).fill(src.subarray(start, end))
}

/** Whether the walker's current block holds elements of the share's rows. */
function shareOverlaps(share: readonly RowRange[], walker: BlockWalker, width: number): boolean {
  for (const [y0, y1] of share) if (walker.overlaps(y0 * width, y1 * width)) return true
  return false
}

/**
 * The span of blocks that holds the main thread's (last) share, walked on from where the
 * workers' shares ended; undefined when its rows start in the raw tail or the table breaks.
 */
export function spanOf(
  walker: BlockWalker,
  share: readonly RowRange[],
  width: number,
  height: number,
  srcLength: number,
): BlockSpan | undefined {
  const first = share[0]![0] * width
  const end = lastRow(share) * width
  while (walker.elem + walker.count <= first) if (!walker.next()) return undefined
  const span = { start: walker.pos, startElem: walker.elem, end: srcLength }
  // A share that reaches the last row needs the raw tail too: the value's end.
  if (lastRow(share) < height) {
    while (walker.elem + walker.count < end) {
      // Out of blocks: the rows reach into the raw tail after all (end stays the value's end).
      if (!walker.next()) return walker.broken ? undefined : span
    }
    span.end = walker.end
  }
  return span
}
