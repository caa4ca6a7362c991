/**
 * Rolling statistics of the edge for `/statistics`: median and standard deviation of the edge
 * position over the last N shots with a valid edge (status ok). Pushing is O(1) with no
 * allocation (a ring of f64); the median is computed only when asked (on an HTTP request).
 * @module
 */

export interface EdgeStatisticsSnapshot {
  /** Median edge position (px) over the window; NaN while empty. */
  edge_median: number
  /** Population standard deviation (numpy's default ddof=0) over the window; NaN while empty. */
  edge_std: number
  /** Mean edge position over the window; NaN while empty. */
  edge_mean: number
  /** Valid edges currently in the window. */
  edge_count: number
  /** Window length N. */
  edge_window: number
}

export class EdgeStatistics {
  #ring: Float64Array
  #next = 0
  #filled = 0

  constructor(window = 100) {
    this.#ring = new Float64Array(EdgeStatistics.#check(window))
  }

  static #check(window: number): number {
    if (!Number.isInteger(window) || window < 1) {
      throw new RangeError(`statistics window must be a positive integer, got ${window}`)
    }
    return window
  }

  get window(): number {
    return this.#ring.length
  }

  get count(): number {
    return this.#filled
  }

  /** Changes the window length, keeping the most recent edges that still fit. */
  resize(window: number): void {
    if (EdgeStatistics.#check(window) === this.#ring.length) return
    const keep = this.#values().slice(-window)
    this.#ring = new Float64Array(window)
    this.#ring.set(keep)
    this.#filled = keep.length
    this.#next = keep.length % window
  }

  /** Adds one edge position; non-finite values are ignored. */
  push(edge: number): void {
    if (!Number.isFinite(edge)) return
    this.#ring[this.#next] = edge
    this.#next = (this.#next + 1) % this.#ring.length
    if (this.#filled < this.#ring.length) this.#filled++
  }

  reset(): void {
    this.#next = 0
    this.#filled = 0
  }

  /** Values oldest first. */
  #values(): Float64Array {
    const n = this.#filled
    const out = new Float64Array(n)
    const start = n < this.#ring.length ? 0 : this.#next
    for (let i = 0; i < n; i++) out[i] = this.#ring[(start + i) % this.#ring.length]!
    return out
  }

  snapshot(): EdgeStatisticsSnapshot {
    const n = this.#filled
    if (n === 0) {
      return {
        edge_median: NaN,
        edge_std: NaN,
        edge_mean: NaN,
        edge_count: 0,
        edge_window: this.window,
      }
    }
    const v = this.#values().sort()
    const median = n % 2 === 1 ? v[(n - 1) / 2]! : (v[n / 2 - 1]! + v[n / 2]!) / 2
    let sum = 0
    for (const x of v) sum += x
    const mean = sum / n
    let ss = 0
    for (const x of v) ss += (x - mean) * (x - mean)
    return {
      edge_median: median,
      edge_std: Math.sqrt(ss / n),
      edge_mean: mean,
      edge_count: n,
      edge_window: this.window,
    }
  }
}
