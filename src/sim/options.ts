/**
 * The simulated camera's options: what it can send (pixel types, compressions, the moving
 * edge), their defaults, and their checks (`resolveOptions`, SimulatorConfigError).
 * @module
 */
import type { Logger } from 'pino'
import type { Compression } from '../bsread/types.js'

/** Pixel types the simulator can send. */
export const SIM_DTYPES = [
  'uint8',
  'uint16',
  'int16',
  'uint32',
  'int32',
  'float32',
  'float64',
] as const
export type SimDtype = (typeof SIM_DTYPES)[number]

export const SIM_COMPRESSIONS: readonly Compression[] = ['none', 'lz4', 'bitshuffle_lz4']

/** How the edge moves: `center + amplitude * sin(2π t / period)` plus a linear drift. */
export interface EdgeMotion {
  /** Centre of the motion, pixels from the left (default: 45 % of the width). */
  center?: number
  /** Half the swing in pixels (default: 8 % of the width; 0 = a fixed edge). */
  amplitude?: number
  /** Seconds per oscillation (default 30). */
  period?: number
  /** Pixels per second added on top (default 0), wrapped into the frame. */
  drift?: number
  /** Relative drop of the spectrum at the edge (default 0.3). */
  depth?: number
  /** Distinct edge positions pre-generated across the swing (default 24, fewer for big frames). */
  positions?: number
}

export interface SimulatorOptions {
  /** Where the PUSH socket binds (default `tcp://127.0.0.1:*`, a free port). */
  bind?: string
  /** PUSH (default) or PUB. */
  mode?: 'push' | 'pub'
  /** Camera name: the image channel is PREFIX:FPICTURE (default SIMULATED-PSEN). */
  prefix?: string
  width?: number
  height?: number
  dtype?: SimDtype
  compression?: Compression
  /** Frames per second (default 100, the SwissFEL rate); 0 = as fast as the receiver takes them. */
  rate?: number
  /** Edge motion, or false for no edge at all (every shot looks like a reference shot). */
  edge?: EdgeMotion | false
  /** Pulse id of the first tick (default: derived from the clock, 100 Hz since the epoch). */
  startPulseId?: bigint
  /** Distinct reference frames in the ring (default 8, fewer for big frames). */
  referenceFrames?: number
  /** Messages queued for the receiver before frames are dropped (default 100). */
  sendHighWaterMark?: number
  /** Seed of the frame noise (default 1). */
  seed?: number
  logger?: Pick<Logger, 'info' | 'warn' | 'debug'>
}

/** Defaults of every option (the CLI's help shows them). */
export const SIMULATOR_DEFAULTS = {
  bind: 'tcp://127.0.0.1:*',
  prefix: 'SIMULATED-PSEN',
  width: 1024,
  height: 512,
  dtype: 'uint16' as SimDtype,
  compression: 'bitshuffle_lz4' as Compression,
  rate: 100,
  period: 30,
  depth: 0.3,
  positions: 24,
  referenceFrames: 8,
  /** Raw bytes of pre-generated frames the defaults stay within (big frames get fewer). */
  ringBytes: 128 * 1024 * 1024,
  sendHighWaterMark: 100,
}

/** A configuration the simulator cannot run; the message says why. */
export class SimulatorConfigError extends Error {
  override readonly name = 'SimulatorConfigError'
}

export interface Resolved {
  width: number
  height: number
  dtype: SimDtype
  compression: Compression
  rate: number
  edge: Required<EdgeMotion> | undefined
  referenceFrames: number
  seed: number
}

export const ELEM_SIZE: Record<SimDtype, number> = {
  uint8: 1,
  uint16: 2,
  int16: 2,
  uint32: 4,
  int32: 4,
  float32: 4,
  float64: 8,
}

export function resolveOptions(opts: SimulatorOptions): Resolved {
  const width = opts.width ?? SIMULATOR_DEFAULTS.width
  const height = opts.height ?? SIMULATOR_DEFAULTS.height
  const int = (name: string, v: number, min: number, max: number) => {
    if (!Number.isInteger(v) || v < min || v > max) {
      throw new SimulatorConfigError(`${name} must be an integer in [${min}, ${max}], got ${v}`)
    }
  }
  int('width', width, 8, 16384)
  int('height', height, 8, 16384)
  const dtype = opts.dtype ?? SIMULATOR_DEFAULTS.dtype
  if (!SIM_DTYPES.includes(dtype)) {
    throw new SimulatorConfigError(`dtype must be one of ${SIM_DTYPES.join(', ')}, got ${dtype}`)
  }
  const compression = opts.compression ?? SIMULATOR_DEFAULTS.compression
  if (!SIM_COMPRESSIONS.includes(compression)) {
    throw new SimulatorConfigError(
      `compression must be one of ${SIM_COMPRESSIONS.join(', ')}, got ${compression}`,
    )
  }
  const rate = opts.rate ?? SIMULATOR_DEFAULTS.rate
  if (!Number.isFinite(rate) || rate < 0 || rate > 10_000) {
    throw new SimulatorConfigError(`rate must be a number of Hz in [0, 10000], got ${rate}`)
  }
  // A 2560x2160 frame takes a few hundred ms to generate and compress: keep the default ring
  // (and the start-up time) bounded, 32 frames for small images, 12 at the facility's size.
  const frameBytes = width * height * ELEM_SIZE[dtype]
  const budget = Math.max(8, Math.min(32, Math.floor(SIMULATOR_DEFAULTS.ringBytes / frameBytes)))
  const scale = budget / 32
  const referenceFrames =
    opts.referenceFrames ?? Math.max(2, Math.round(SIMULATOR_DEFAULTS.referenceFrames * scale))
  int('referenceFrames', referenceFrames, 1, 256)
  let edge: Required<EdgeMotion> | undefined
  if (opts.edge !== false) {
    const e = opts.edge ?? {}
    edge = {
      center: e.center ?? width * 0.45,
      amplitude: e.amplitude ?? Math.round(width * 0.08),
      period: e.period ?? SIMULATOR_DEFAULTS.period,
      drift: e.drift ?? 0,
      depth: e.depth ?? SIMULATOR_DEFAULTS.depth,
      positions: e.positions ?? Math.max(6, Math.round(SIMULATOR_DEFAULTS.positions * scale)),
    }
    const num = (name: string, v: number, ok: boolean) => {
      if (!Number.isFinite(v) || !ok) throw new SimulatorConfigError(`edge ${name}: bad value ${v}`)
    }
    num('center', edge.center, edge.center >= 0 && edge.center < width)
    num('amplitude', edge.amplitude, edge.amplitude >= 0 && edge.amplitude <= width)
    num('period', edge.period, edge.period > 0)
    num('drift', edge.drift, true)
    num('depth', edge.depth, edge.depth > 0 && edge.depth <= 1)
    int('edge positions', edge.positions, 1, 1024)
    if (edge.amplitude === 0) edge.positions = 1
  }
  return { width, height, dtype, compression, rate, edge, referenceFrames, seed: opts.seed ?? 1 }
}
