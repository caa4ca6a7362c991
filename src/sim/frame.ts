/**
 * Deterministic synthetic PSEN (photon spectral encoder) frames: a dark offset with read noise
 * everywhere, and a horizontal band carrying a smooth spectrum whose right part drops by a step
 * (the X-ray-induced edge) on X-ray shots. Shot noise is Poisson-like (Gaussian with variance =
 * counts, from a table of normal samples). Used by the kernel benchmark and the built-in camera
 * simulator.
 * @module
 */

export interface FrameOptions {
  width: number
  height: number
  /** Sub-pixel x of the falling edge; undefined = a reference (no X-ray) shot. */
  edgeX?: number
  /** First row of the spectrum band (default: the facility's 1150 scaled to the height). */
  bandY0?: number
  /** End row (exclusive) of the band (default: 1550 scaled to the height). */
  bandY1?: number
  /** Relative drop of the spectrum behind the edge (default 0.3). */
  edgeDepth?: number
  /** Edge smoothing width in pixels (default 3). */
  edgeWidth?: number
  /** Peak spectrum counts above dark (default 3000). */
  amplitude?: number
  /** Dark offset in counts (default 100). */
  dark?: number
  /** Read-noise sigma in counts (default 15: about 2x bitshuffle-LZ4 compression at 2560x2160). */
  noise?: number
  /** PRNG seed: the same seed and options give the same frame. */
  seed?: number
}

/** Facility frame: 2560 x 2160, spectrum rows 1150..1550. */
export const FACILITY_HEIGHT = 2160
export const FACILITY_BAND: readonly [number, number] = [1150, 1550]

// Column envelope cache: recomputed only when the geometry or the edge changes, so generating
// frames in a loop allocates nothing.
let envelope = new Float64Array(0)
let envelopeKey = ''

function columnEnvelope(
  width: number,
  amplitude: number,
  edgeX: number | undefined,
  depth: number,
  edgeWidth: number,
): Float64Array {
  const key = `${width}/${amplitude}/${edgeX}/${depth}/${edgeWidth}`
  if (key === envelopeKey) return envelope
  if (envelope.length !== width) envelope = new Float64Array(width)
  const centre = width / 2
  const sigma = width / 4
  for (let x = 0; x < width; x++) {
    const d = (x - centre) / sigma
    let v = amplitude * Math.exp(-0.5 * d * d)
    if (edgeX !== undefined) {
      // Falling edge: a logistic step from 1 to 1 - depth around edgeX.
      v *= 1 - depth / (1 + Math.exp(-(x - edgeX) / (edgeWidth / 4)))
    }
    envelope[x] = v
  }
  envelopeKey = key
  return envelope
}

// Standard-normal samples, drawn once (Box-Muller on a fixed seed): per pixel the generator
// then needs only 16 random bits and a table load, which makes a 2560 x 2160 frame cheap
// enough for a simulated camera running at the facility's rates.
const NORMAL_BITS = 16
let normals: Float32Array | undefined

function normalTable(): Float32Array {
  if (normals) return normals
  const table = new Float32Array(1 << NORMAL_BITS)
  let s = 0x2545f491
  const uniform = (): number => {
    s ^= s << 13
    s ^= s >>> 17
    s ^= s << 5
    return ((s >>> 0) + 0.5) / 4294967296
  }
  for (let i = 0; i < table.length; i += 2) {
    const r = Math.sqrt(-2 * Math.log(uniform()))
    const a = 2 * Math.PI * uniform()
    table[i] = r * Math.cos(a)
    table[i + 1] = r * Math.sin(a)
  }
  normals = table
  return table
}

/** The band's relative brightness in row y: flat-topped, fading out over its outer fifth. */
function bandRow(y: number, y0: number, y1: number): number {
  if (y < y0 || y >= y1) return 0
  const t = Math.abs(y - (y0 + y1 - 1) / 2) / Math.max(1, (y1 - y0) / 2)
  return t < 0.8 ? 1 : Math.max(0, (1 - t) * 5)
}

function bandRows(opts: FrameOptions): [number, number] {
  const scale = opts.height / FACILITY_HEIGHT
  return [
    Math.max(0, Math.round(opts.bandY0 ?? FACILITY_BAND[0] * scale)),
    Math.min(opts.height, Math.round(opts.bandY1 ?? FACILITY_BAND[1] * scale)),
  ]
}

/**
 * The noise-free expectation of the x-profile over rows [row0, row1): per column the sum of
 * dark + signal, minus 0.5 per pixel (noisy pixels are truncated to integers).
 * The science benchmark's ground truth for the matched-filter limit.
 */
export function expectedProfile(
  opts: FrameOptions,
  row0: number,
  row1: number,
  out: Float64Array,
): Float64Array {
  const [y0, y1] = bandRows(opts)
  const env = columnEnvelope(
    opts.width,
    opts.amplitude ?? 3000,
    opts.edgeX,
    opts.edgeDepth ?? 0.3,
    opts.edgeWidth ?? 3,
  )
  let vert = 0
  for (let y = row0; y < row1; y++) vert += bandRow(y, y0, y1)
  const rows = row1 - row0
  const base = rows * ((opts.dark ?? 100) - 0.5)
  for (let x = 0; x < opts.width; x++) out[x] = base + vert * env[x]!
  return out
}

// Per-row scratch (signal and its noise sigma), reused across frames.
let rowSignal = new Float32Array(0)
let rowSigma = new Float32Array(0)

/** Writes one frame (row-major, width = fastest axis) into `out`; returns `out`. */
export function generateFrame(out: Uint16Array, opts: FrameOptions): Uint16Array {
  const { width, height } = opts
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new RangeError(`bad frame size ${width}x${height}`)
  }
  if (out.length < width * height) throw new RangeError('output array too small')
  const [y0, y1] = bandRows(opts)
  const dark = opts.dark ?? 100
  const noise = opts.noise ?? 15
  const env = columnEnvelope(
    width,
    opts.amplitude ?? 3000,
    opts.edgeX,
    opts.edgeDepth ?? 0.3,
    opts.edgeWidth ?? 3,
  )
  const table = normalTable()
  if (rowSignal.length !== width) {
    rowSignal = new Float32Array(width)
    rowSigma = new Float32Array(width)
  }
  // xorshift32; each output gives two 16-bit table indices.
  let state = ((opts.seed ?? 1) * 2654435761) >>> 0 || 0x9e3779b9
  let rowVert = -1
  for (let y = 0; y < height; y++) {
    const row = y * width
    const vert = bandRow(y, y0, y1)
    if (vert !== rowVert) {
      for (let x = 0; x < width; x++) {
        const signal = vert * env[x]!
        rowSignal[x] = dark + signal
        // Shot noise (variance = counts) on top of read noise.
        rowSigma[x] = Math.sqrt(noise * noise + signal)
      }
      rowVert = vert
    }
    for (let x = 0; x < width; x += 2) {
      state ^= state << 13
      state ^= state >>> 17
      state ^= state << 5
      const r = state >>> 0
      const v0 = rowSignal[x]! + rowSigma[x]! * table[r >>> 16]!
      out[row + x] = v0 <= 0 ? 0 : v0 >= 65535 ? 65535 : v0
      if (x + 1 < width) {
        const v1 = rowSignal[x + 1]! + rowSigma[x + 1]! * table[r & 0xffff]!
        out[row + x + 1] = v1 <= 0 ? 0 : v1 >= 65535 ? 65535 : v1
      }
    }
  }
  return out
}
