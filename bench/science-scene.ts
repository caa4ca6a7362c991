/**
 * The science benchmark's scene: the simulator's spectrometer frame (src/sim/frame.ts: a band
 * carrying a Gaussian spectrum, a logistic falling edge of 3 px on X-ray shots) at 1024 x 94
 * pixels with the band filling the height, the signal ROI its middle 84 rows, the scene
 * model's shot noise plus Gaussian pixel noise of sigma counts. Every 4th pulse is an X-ray
 * shot with the edge at a random sub-pixel position in EDGE_RANGE.
 *
 * Ground truth: frame.ts samples pixel x at coordinate x, while the finder's positions count
 * pixel x as [x, x + 1), so the true edge is edgeX + 0.5.
 *
 * The matched-filter limit: the maximum-likelihood fit of the scene's own noise-free step
 * (known shape, depth and reference) to each X-ray shot, and the Cramér-Rao bound of that
 * fit. No estimator that learns the step from the data does better.
 * @module
 */
import { expectedProfile, generateFrame, type FrameOptions } from '../src/sim/frame.js'

export const SCENE = { width: 1024, height: 94, row0: 5, rows: 84, period: 4 } as const
/** Edges fall uniformly in this range of the ROI (the spectrum's bright middle). */
export const EDGE_RANGE: readonly [number, number] = [256, 768]

export interface Cell {
  depth: number
  sigma: number
}

/** One shot of a cell: its profile (reused array) and, for an X-ray shot, the true edge. */
export interface Shot {
  pulseId: bigint
  xray: boolean
  profile: Float64Array
  /** True edge position (px within the ROI); NaN for reference shots. */
  truth: number
  /** The matched-filter limit's estimate on this shot (X-ray shots with an edge). */
  limit: number
}

function frameOptions(cell: Cell, edgeX: number | undefined, seed: number): FrameOptions {
  return {
    width: SCENE.width,
    height: SCENE.height,
    bandY0: 0,
    bandY1: SCENE.height,
    edgeX,
    edgeDepth: cell.depth,
    noise: cell.sigma,
    seed,
  }
}

/** Generates the shots of one cell in pulse order; `xrayShots` X-ray shots in all. */
export function* shots(cell: Cell, xrayShots: number, seed: number): Generator<Shot> {
  const { width, height, row0, rows, period } = SCENE
  const px = new Uint16Array(width * height)
  const profile = new Float64Array(width)
  const reference = expectedProfile(
    frameOptions(cell, undefined, 0),
    row0,
    row0 + rows,
    new Float64Array(width),
  )
  const drops = stepDrops(cell)
  let rnd = (seed * 2654435761) >>> 0 || 1
  const uniform = (): number => {
    rnd ^= rnd << 13
    rnd ^= rnd >>> 17
    rnd ^= rnd << 5
    return (rnd >>> 0) / 4294967296
  }
  const total = xrayShots * period
  for (let i = 0; i < total; i++) {
    const pulseId = BigInt(i)
    const xray = i % period === 0
    const edgeX =
      xray && cell.depth > 0
        ? EDGE_RANGE[0] + (EDGE_RANGE[1] - EDGE_RANGE[0]) * uniform()
        : undefined
    const opts = frameOptions(cell, edgeX, seed * 100_003 + i)
    generateFrame(px, opts)
    for (let x = 0; x < width; x++) profile[x] = 0
    for (let y = row0; y < row0 + rows; y++) {
      const row = y * width
      for (let x = 0; x < width; x++) profile[x]! += px[row + x]!
    }
    const limit = edgeX === undefined ? NaN : matchedFilterLimit(profile, reference, drops) + 0.5
    yield { pulseId, xray, profile, truth: edgeX === undefined ? NaN : edgeX + 0.5, limit }
  }
}

/** The full drop of each column at the cell's depth: depth times the signal above dark. */
function stepDrops(cell: Cell): Float64Array {
  const { width, row0, rows } = SCENE
  const withBand = expectedProfile(
    frameOptions(cell, undefined, 0),
    row0,
    row0 + rows,
    new Float64Array(width),
  )
  const dark = expectedProfile(
    { ...frameOptions(cell, undefined, 0), amplitude: 0 },
    row0,
    row0 + rows,
    new Float64Array(width),
  )
  for (let x = 0; x < width; x++) withBand[x] = cell.depth * (withBand[x]! - dark[x]!)
  return withBand
}

/** Logistic step of frame.ts (width 3 px): 0 before the edge, 1 after. */
function after(x: number, edge: number): number {
  return 1 / (1 + Math.exp(-(x - edge) / 0.75))
}

/**
 * ML position (frame.ts coordinates) of the scene's step in `profile - reference` (reference
 * noise-free), for white noise: the least-squares fit of -drops(x) * after(x - e) over e.
 * Coarse on integers with a hard step (a running tail sum), then 0.01 px steps around the
 * best with the true shape.
 */
export function matchedFilterLimit(
  profile: Float64Array,
  reference: Float64Array,
  drops: Float64Array,
): number {
  const n = profile.length
  let best = 0
  let bestCost = Infinity
  let tail = 0
  // cost(e) - const = sum over i >= e of (2 d_i a_i + a_i^2), d = profile - reference.
  for (let e = n - 1; e >= 0; e--) {
    const a = drops[e]!
    tail += 2 * (profile[e]! - reference[e]!) * a + a * a
    if (tail < bestCost) {
      bestCost = tail
      best = e
    }
  }
  let bestE = best
  bestCost = Infinity
  // Columns outside [lo, hi) are fully before or after every candidate: the same for all.
  const lo = Math.max(0, best - 20)
  const hi = Math.min(n, best + 20)
  for (let k = -200; k <= 200; k++) {
    const e = best + k * 0.01
    let c = 0
    for (let i = lo; i < hi; i++) {
      const r = profile[i]! - reference[i]! + drops[i]! * after(i, e)
      c += r * r
    }
    if (c < bestCost) {
      bestCost = c
      bestE = e
    }
  }
  return bestE
}

/**
 * Cramér-Rao bound (px, 1 sigma) of the edge position for the scene's step at `edge`, the
 * reference known. Column noise: sigma^2 + 1/12 (integer truncation) per pixel, plus the
 * shot noise (variance = the column's signal counts).
 */
export function cramerRao(cell: Cell, edge: number): number {
  if (cell.depth === 0) return 0
  const drops = stepDrops(cell)
  let info = 0
  for (let i = 0; i < SCENE.width; i++) {
    const s = after(i, edge)
    const slope = (drops[i]! * s * (1 - s)) / 0.75
    const variance = (cell.sigma * cell.sigma + 1 / 12) * SCENE.rows + drops[i]! / cell.depth
    info += (slope * slope) / variance
  }
  return 1 / Math.sqrt(info)
}
