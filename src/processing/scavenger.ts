/**
 * Keeps received frames out of the full garbage collector (issue 18, docs/performance.md).
 *
 * zeromq.js reports every part it receives to V8 as external memory. V8 counts external memory
 * allocated since the last mark-compact against the old generation's allocation limit, and
 * starts a mark-compact after every 64 MB of it in any case; at 5.5 MB a frame that was a full
 * mark-compact of the ingest thread's heap every 2-3 frames. Yet the parts die young: a
 * young-generation collection (a scavenge, ~0.1-0.4 ms here) frees them and takes their bytes
 * off the count. So the ingest thread runs one after every `SCAVENGE_BYTES` received, and the
 * old generation gets a floor (`OLD_SPACE_FLOOR_MB`) high enough that the frames between two
 * scavenges never reach its limit. A frame still queued on the image stream survives one
 * scavenge; only one queued longer than two intervals is promoted and left to a mark-compact.
 * @module
 */
import v8 from 'node:v8'
import vm from 'node:vm'

/**
 * Bytes received between two scavenges: every third 5.5 MB frame. Measured at 100 Hz
 * (docs/performance.md): 6-16 MB cost the same; from ~23 MB on, mark-compacts return.
 */
export const SCAVENGE_BYTES = 12 * 2 ** 20

/**
 * The old generation's allocation limit never goes below this (V8's `--initial-old-space-size`
 * also sets that floor): above the external bytes of the frames between two scavenges plus the
 * images on the way out, so that they start no mark-compact. Costs address space only until the
 * heap really grows that far.
 */
export const OLD_SPACE_FLOOR_MB = 128

/** Young-generation collection, as `gc({ type: 'minor' })` offers it. */
export type MinorCollect = () => void

/**
 * Sets the old-generation floor for isolates created from now on (a worker thread started
 * afterwards; V8 reads it when it sets up an isolate's heap, so the running one is unaffected).
 */
export function raiseOldSpaceFloor(): void {
  v8.setFlagsFromString(`--initial-old-space-size=${OLD_SPACE_FLOOR_MB}`)
}

/**
 * V8's `gc` function without `--expose-gc` on the command line: the flag is on only while one
 * new context is made, which then has `gc` as a global. Undefined if this V8 does not offer it.
 */
export function minorCollector(): MinorCollect | undefined {
  v8.setFlagsFromString('--expose-gc')
  let gc: unknown
  try {
    gc = vm.runInNewContext('typeof gc === "function" ? gc : undefined')
  } finally {
    v8.setFlagsFromString('--no-expose-gc')
  }
  if (typeof gc !== 'function') return undefined
  const collect = gc as (options: { type: 'minor' }) => void
  return () => collect({ type: 'minor' })
}

/** Counts received bytes and runs a scavenge after every `everyBytes`. */
export class FrameScavenger {
  #pending = 0
  /** Scavenges run so far. */
  count = 0

  constructor(
    private readonly collect: MinorCollect,
    private readonly everyBytes = SCAVENGE_BYTES,
  ) {}

  /** After a frame is handled, with the bytes of its message as received. */
  frameDone(bytes: number): void {
    this.#pending += bytes
    if (this.#pending < this.everyBytes) return
    this.#pending = 0
    this.count++
    this.collect()
  }
}
