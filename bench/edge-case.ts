/**
 * The edge_2560 case shared by bench/kernel.ts and bench/edge-ab.ts: a ring of reference
 * profiles (the x-profile of a shot without an edge, REFERENCES times) followed by the signal
 * profile, and the buffers the sequence profiles_mean -> profile_subtract -> profile_refine
 * (step 1) -> edge_find needs in a kernel instance.
 * @module
 */
import { generateFrame } from '../src/sim/frame.js'

export const TAPS = 50
export const REFERENCES = 4

/**
 * REFERENCES profiles of rows [row0, row0 + rows) of a shot without an edge, then the same rows
 * of `signal` (width x height uint16). Profile k gets + k, so that no two are equal.
 */
export function edgeRing(
  signal: Uint16Array,
  width: number,
  height: number,
  row0: number,
  rows: number,
): Float64Array {
  const reference = new Uint16Array(width * height)
  generateFrame(reference, { width, height, seed: 2 })
  const ring = new Float64Array((REFERENCES + 1) * width)
  for (let k = 0; k <= REFERENCES; k++) {
    const src = k === REFERENCES ? signal : reference
    for (let x = 0; x < width; x++) {
      let sum = 0
      for (let y = row0; y < row0 + rows; y++) sum += src[y * width + x]!
      ring[k * width + x] = sum + k
    }
  }
  return ring
}

/** Addresses of the edge sequence's buffers for n-sample profiles. */
export interface EdgeBuffers {
  ring: number
  mean: number
  sub: number
  refined: number
  scratch: number
  out: number
}

/** Allocates them with `alloc` (bytes -> address): refine writes n + 2, edge_find n + 3 and 5. */
export function edgeBuffers(alloc: (bytes: number) => number, n: number): EdgeBuffers {
  return {
    ring: alloc((REFERENCES + 1) * n * 8),
    mean: alloc(n * 8),
    sub: alloc(n * 8),
    refined: alloc((n + 2) * 8),
    scratch: alloc((n + 3) * 8),
    out: alloc(5 * 8),
  }
}
