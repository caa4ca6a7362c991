/**
 * How ParallelProfiler divides a frame's rows between its threads: shares of the needed rows in
 * order (the workers first, the main thread last), sized by a measured balance that moves rows
 * away from a thread that finished late on earlier frames.
 * @module
 */
import type { RowRange } from './codec.js'
import { clockDiffMs } from './parallel-protocol.js'
import type { RoiTuple } from './profiles.js'

/** Row sets whose balance is remembered (e.g. ROIs alone, ROIs plus the whole frame). */
const MAX_BALANCES = 16

/** When each worker started and finished its last job (clockUs readings). */
export interface WorkerTimes {
  startedUs(w: number): number
  finishedUs(w: number): number
}

/** Row fractions per thread (workers, then the main thread), per set of needed rows. */
export class ShareBalance {
  readonly #threads: number
  readonly #fractions = new Map<string, number[]>()

  constructor(threads: number) {
    this.#threads = threads
  }

  /** The fractions for a set of rows (`key`): the measured ones, or equal shares at first. */
  fractions(key: string): number[] {
    return this.#fractions.get(key) ?? this.#initialFractions()
  }

  /**
   * Moves rows between the threads so that they finish together: a worker that finished d ms
   * after the main thread's own share, having been busy b ms, gives up about d / 2b of its rows
   * (damped by half: the machine's noise moves single frames a lot).
   */
  rebalance(key: string, fractions: number[], mainDone: number, times: WorkerTimes): void {
    const workers = this.#threads - 1
    const next = [...fractions]
    for (let w = 0; w < workers; w++) {
      const started = times.startedUs(w)
      const finished = times.finishedUs(w)
      const busy = clockDiffMs(started, finished)
      const late = clockDiffMs(mainDone, finished)
      if (!(busy > 0.01)) continue
      const factor = Math.min(1.2, Math.max(0.8, 1 - (0.25 * late) / busy))
      next[w] = Math.min(0.9, Math.max(0.05, fractions[w]! * factor))
    }
    // Every worker's fraction counts, the ones left as they were too: the main thread keeps at
    // least 5 %. Summing only the adjusted ones once left it 0.8 % of 97 rows, an empty share
    // that splitRows refuses, and no split ever came again to move the balance back.
    let share = 0
    for (let w = 0; w < workers; w++) share += next[w]!
    if (share > 0.95) for (let w = 0; w < workers; w++) next[w]! *= 0.95 / share
    next[workers] = Math.max(0, 1 - next.slice(0, -1).reduce((a, b) => a + b, 0))
    if (this.#fractions.size >= MAX_BALANCES && !this.#fractions.has(key)) this.#fractions.clear()
    this.#fractions.set(key, next)
  }

  /** Equal shares of the rows for a new set of rows (the balance then adjusts them). */
  #initialFractions(): number[] {
    return Array.from({ length: this.#threads }, () => 1 / this.#threads)
  }
}

/**
 * Splits sorted disjoint row ranges into `parts` shares, in order, each a list of ranges with at
 * least one row: shares of equal cost, or of the given fractions of the cost (one per part);
 * `cost(y0, y1)` is the cost of rows [y0, y1) (default: their count). Undefined when there are
 * too few rows to split.
 */
export function splitRows(
  ranges: readonly RowRange[],
  parts: number,
  cost: (y0: number, y1: number) => number = (a, b) => b - a,
  fractions?: readonly number[],
): RowRange[][] | undefined {
  let rows = 0
  let total = 0
  for (const [a, b] of ranges) {
    rows += b - a
    total += cost(a, b)
  }
  const weights = fractions ?? Array.from({ length: parts }, () => 1)
  const sum = weights.reduce((a, b) => a + b, 0)
  if (parts < 2 || rows < parts * 8 || !(total > 0) || weights.length !== parts || !(sum > 0)) {
    return undefined
  }
  // Cut points: the row where the cumulative cost reaches the cumulative fraction (binary
  // search within a range; cost is monotonic in the end row).
  const cuts: Array<[number, number]> = [] // [range index, row]
  let r = 0
  let acc = 0
  let want = 0
  for (let p = 1; p < parts; p++) {
    want += (total * weights[p - 1]!) / sum
    while (r < ranges.length - 1 && acc + cost(ranges[r]![0], ranges[r]![1]) < want) {
      acc += cost(ranges[r]![0], ranges[r]![1])
      r++
    }
    const [a, b] = ranges[r]!
    let lo = a
    let hi = b
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (acc + cost(a, mid) < want) lo = mid + 1
      else hi = mid
    }
    cuts.push([r, lo])
  }
  const shares: RowRange[][] = []
  let from: [number, number] = [0, ranges[0]![0]]
  const last: [number, number] = [ranges.length - 1, ranges[ranges.length - 1]![1]]
  for (const to of [...cuts, last]) {
    const share: RowRange[] = []
    for (let k = from[0]; k <= to[0]; k++) {
      const a = k === from[0] ? from[1] : ranges[k]![0]
      const b = k === to[0] ? to[1] : ranges[k]![1]
      if (b > a) share.push([a, b])
    }
    if (share.length === 0) return undefined
    shares.push(share)
    from = to
  }
  return shares
}

/** The end row of a share (its ranges are in order). */
export function lastRow(share: readonly RowRange[]): number {
  return share[share.length - 1]![1]
}

/** The part of ROI [ox, sx, oy, sy] inside the row ranges (one contiguous part), or undefined. */
export function intersect(
  roi: RoiTuple,
  share: readonly RowRange[],
): [number, number, number, number] | undefined {
  // A share's ranges come from merged ROI rows, so a ROI meets them in one contiguous run.
  let y0 = Infinity
  let y1 = -Infinity
  for (const [a, b] of share) {
    const lo = Math.max(a, roi[2])
    const hi = Math.min(b, roi[2] + roi[3])
    if (hi > lo) {
      y0 = Math.min(y0, lo)
      y1 = Math.max(y1, hi)
    }
  }
  return y1 > y0 ? [roi[0], roi[1], y0, y1 - y0] : undefined
}
