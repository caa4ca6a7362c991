/**
 * The built-in simulated PSEN camera: a real bsread sender (PUSH, bound) streaming synthetic
 * spectrometer frames at a steady rate, with X-ray shots (pulse_id % 4 == 0, the spectrum has an
 * edge that moves slowly) and reference shots (no edge), like the facility's camera stream.
 *
 * Frames are generated and compressed once, into a small ring, so streaming costs little CPU:
 * per message only the main header and a few scalars are encoded; the image bytes are sent as
 * they are (the same immutable buffers every time, never a view of WASM memory).
 * @module
 */
import type { Logger } from 'pino'
import { BsreadEncoder, preEncoded, type EncodeChannel } from '../bsread/encoder.js'
import { BsreadSender } from '../bsread/sender.js'
import type { ChannelInfo, Compression, Timestamp } from '../bsread/types.js'
import { Codec } from '../kernel/codec.js'
import { Kernel } from '../kernel/kernel.js'
import { generateFrame } from './frame.js'

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

export interface SimulatorStats {
  /** Messages handed to zeromq. */
  sent: number
  /** Messages dropped because the receiver's queue was full (or nobody connected). */
  dropped: number
  /** Ticks skipped because the process was late (the schedule never bursts to catch up). */
  skipped: number
  lastPulseId: bigint | undefined
  /** Average compressed image size in bytes and the compression ratio of the ring. */
  imageBytes: number
  compressionRatio: number
}

export interface Simulator {
  /** The bound endpoint, e.g. `tcp://127.0.0.1:40123`: connect a PULL socket here. */
  readonly address: string
  readonly prefix: string
  readonly width: number
  readonly height: number
  readonly stats: SimulatorStats
  /** Channel names the stream carries. */
  readonly channels: { image: string; xray: string; edge: string; width: string; height: string }
  /** Stops the schedule and closes the socket (queued messages are discarded). Idempotent. */
  close(): Promise<void>
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

interface Resolved {
  width: number
  height: number
  dtype: SimDtype
  compression: Compression
  rate: number
  edge: Required<EdgeMotion> | undefined
  referenceFrames: number
  seed: number
}

const ELEM_SIZE: Record<SimDtype, number> = {
  uint8: 1,
  uint16: 2,
  int16: 2,
  uint32: 4,
  int32: 4,
  float32: 4,
  float64: 8,
}

function resolve(opts: SimulatorOptions): Resolved {
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

/** The generator's uint16 pixels as `dtype`, as little-endian bytes. */
function convert(px: Uint16Array, dtype: SimDtype, uint8Scale: number): Uint8Array {
  const n = px.length
  let out:
    | Uint8Array
    | Uint16Array
    | Int16Array
    | Uint32Array
    | Int32Array
    | Float32Array
    | Float64Array
  switch (dtype) {
    case 'uint16':
      return new Uint8Array(px.buffer, px.byteOffset, px.byteLength).slice()
    case 'uint8': {
      const o = new Uint8Array(n)
      for (let i = 0; i < n; i++) o[i] = Math.min(255, Math.round((px[i] as number) * uint8Scale))
      return o
    }
    case 'int16':
      out = new Int16Array(n)
      break
    case 'uint32':
      out = new Uint32Array(n)
      break
    case 'int32':
      out = new Int32Array(n)
      break
    case 'float32':
      out = new Float32Array(n)
      break
    case 'float64':
      out = new Float64Array(n)
      break
  }
  // int16 keeps values up to 32767: a 12/16-bit camera's counts, clamped.
  if (dtype === 'int16') for (let i = 0; i < n; i++) out[i] = Math.min(32767, px[i] as number)
  else out.set(px)
  return new Uint8Array(out.buffer)
}

interface RingFrame {
  bytes: Uint8Array
  edgeX: number
}

const yieldToLoop = () => new Promise<void>((res) => setImmediate(res))

async function buildRing(r: Resolved, log: SimulatorOptions['logger']) {
  const codec = r.compression === 'none' ? undefined : new Codec(await Kernel.load())
  const px = new Uint16Array(r.width * r.height)
  const es = ELEM_SIZE[r.dtype]
  let uint8Scale = 1
  let raw = 0
  let packed = 0
  let seed = r.seed
  const make = (edgeX: number | undefined): RingFrame => {
    generateFrame(px, {
      width: r.width,
      height: r.height,
      edgeX,
      edgeDepth: r.edge?.depth,
      seed: seed++,
    })
    if (r.dtype === 'uint8' && uint8Scale === 1) {
      let max = 0
      for (let i = 0; i < px.length; i++) if ((px[i] as number) > max) max = px[i] as number
      uint8Scale = max > 250 ? 250 / max : 1
    }
    const bytes = convert(px, r.dtype, uint8Scale)
    const out = codec ? codec.compress(bytes, r.compression as 'lz4' | 'bitshuffle_lz4', es) : bytes
    raw += bytes.length
    packed += out.length
    return { bytes: out, edgeX: edgeX ?? NaN }
  }
  log?.info(
    { frames: r.referenceFrames + (r.edge?.positions ?? 0), width: r.width, height: r.height },
    'simulator: generating frames',
  )
  const references: RingFrame[] = []
  for (let i = 0; i < r.referenceFrames; i++) {
    references.push(make(undefined))
    await yieldToLoop()
  }
  const xray: RingFrame[] = []
  if (r.edge) {
    const { center, amplitude, positions } = r.edge
    for (let i = 0; i < positions; i++) {
      // Evenly across the swing, ends included; sub-pixel positions on purpose.
      const x =
        positions === 1 ? center : center - amplitude + (2 * amplitude * i) / (positions - 1)
      xray.push(make(Math.min(r.width - 1, Math.max(0, x))))
      await yieldToLoop()
    }
  }
  const frames = references.length + xray.length
  log?.debug({ frames, raw, packed }, 'simulator frame ring ready')
  return { references, xray, imageBytes: packed / frames, ratio: raw / packed }
}

function wallClock(): Timestamp {
  // performance.timeOrigin + now(): sub-millisecond and monotonic within the process.
  const ms = performance.timeOrigin + performance.now()
  const sec = Math.floor(ms / 1000)
  const ns = Math.min(999_999_999, Math.round((ms - sec * 1000) * 1e6))
  return { sec, ns }
}

/**
 * Starts a simulated camera and resolves once its socket is bound and frames are ready.
 *
 * @example
 * const sim = await startSimulator({ rate: 100 })
 * // connect a PULL socket (or the service) to sim.address
 * await sim.close()
 */
export async function startSimulator(opts: SimulatorOptions = {}): Promise<Simulator> {
  const r = resolve(opts)
  const prefix = opts.prefix ?? SIMULATOR_DEFAULTS.prefix
  if (prefix.trim() === '' || /\s/.test(prefix)) {
    throw new SimulatorConfigError(`prefix must be a name without spaces, got '${prefix}'`)
  }
  const log = opts.logger
  const ring = await buildRing(r, log)
  const names = {
    image: `${prefix}:FPICTURE`,
    xray: `${prefix}:XRAY`,
    edge: `${prefix}:SIM_EDGE_POSITION`,
    width: `${prefix}:WIDTH`,
    height: `${prefix}:HEIGHT`,
  }
  const info = (
    name: string,
    type: ChannelInfo['type'],
    shape: number[],
    compression: Compression = 'none',
  ): ChannelInfo => ({ name, type, shape, encoding: 'little', compression })
  const channels: EncodeChannel[] = [
    { info: info(names.image, r.dtype, [r.width, r.height], r.compression), value: null },
    { info: info(names.xray, 'uint8', [1]), value: 0 },
    { info: info(names.edge, 'float64', [1]), value: NaN },
    { info: info(names.width, 'int32', [1]), value: r.width },
    { info: info(names.height, 'int32', [1]), value: r.height },
  ]
  const image = channels[0] as EncodeChannel
  const xrayChannel = channels[1] as EncodeChannel
  const edgeChannel = channels[2] as EncodeChannel
  // Pre-encoded wrappers made once: no per-message allocation for the image.
  const refValues = ring.references.map((f) => preEncoded(f.bytes))
  const xrayValues = ring.xray.map((f) => preEncoded(f.bytes))

  const sender = await BsreadSender.bind({
    address: opts.bind ?? SIMULATOR_DEFAULTS.bind,
    mode: opts.mode ?? 'push',
    sendHighWaterMark: opts.sendHighWaterMark ?? SIMULATOR_DEFAULTS.sendHighWaterMark,
    // A camera never waits for its readers; at full speed the receiver sets the pace.
    nonBlocking: r.rate > 0,
    sendTimeoutMs: 200,
  })
  const encoder = new BsreadEncoder({})
  const startPulseId = opts.startPulseId ?? BigInt(Math.floor(Date.now() / 10))
  let skipped = 0
  let lastPulseId: bigint | undefined
  let closed = false
  let timer: NodeJS.Timeout | undefined

  /** Edge position (pixels) at `t` seconds, quantised to the nearest pre-generated frame. */
  const xrayFrame = (t: number): number => {
    const e = r.edge as Required<EdgeMotion>
    if (xrayValues.length === 1) return 0
    let x = e.amplitude * Math.sin((2 * Math.PI * t) / e.period)
    if (e.drift !== 0) {
      // The drift moves the whole swing; wrap so the edge stays within the pre-generated span.
      const span = 2 * e.amplitude || 1
      x = ((((x + e.amplitude + e.drift * t) % span) + span) % span) - e.amplitude
    }
    const i = Math.round(((x + e.amplitude) / (2 * e.amplitude)) * (xrayValues.length - 1))
    return Math.min(xrayValues.length - 1, Math.max(0, i))
  }

  const message = (tick: number): Buffer[] => {
    const pulseId = startPulseId + BigInt(tick)
    const t = tick / (r.rate > 0 ? r.rate : 100)
    const isXray = r.edge !== undefined && pulseId % 4n === 0n
    if (isXray) {
      const i = xrayFrame(t)
      image.value = xrayValues[i]
      edgeChannel.value = (ring.xray[i] as RingFrame).edgeX
    } else {
      image.value = refValues[tick % refValues.length]
      edgeChannel.value = NaN
    }
    xrayChannel.value = isXray ? 1 : 0
    lastPulseId = pulseId
    return encoder.encode({ pulseId, globalTimestamp: wallClock(), channels })
  }

  let tick = 0
  let loop: Promise<void> = Promise.resolve()
  if (r.rate > 0) {
    const periodMs = 1000 / r.rate
    const t0 = performance.now()
    const step = (): void => {
      if (closed) return
      // Scheduled against the monotonic clock: no drift; when late by a whole period or more,
      // the missed ticks are skipped (their pulse ids never appear), never sent in a burst.
      const due = Math.floor((performance.now() - t0) / periodMs)
      if (due > tick) {
        skipped += due - tick
        tick = due
      }
      sender.send(message(tick)).catch((err: unknown) => {
        log?.warn({ err }, 'simulator send failed')
      })
      tick++
      timer = setTimeout(step, Math.max(0, t0 + tick * periodMs - performance.now()))
    }
    step()
  } else {
    loop = (async () => {
      while (!closed) {
        // Backpressure: the next message waits until zeromq took this one (or gave up).
        const ok = await sender.send(message(tick))
        tick++
        if (!ok && !closed) await new Promise((res) => setTimeout(res, 10))
      }
    })()
  }

  const address = sender.endpoint
  log?.info(
    {
      address,
      prefix,
      width: r.width,
      height: r.height,
      dtype: r.dtype,
      compression: r.compression,
      rate: r.rate,
      imageBytes: Math.round(ring.imageBytes),
      ratio: Number(ring.ratio.toFixed(2)),
    },
    'simulated camera streaming',
  )

  return {
    address,
    prefix,
    width: r.width,
    height: r.height,
    channels: names,
    get stats(): SimulatorStats {
      return {
        sent: sender.sent,
        dropped: sender.dropped,
        skipped,
        lastPulseId,
        imageBytes: ring.imageBytes,
        compressionRatio: ring.ratio,
      }
    },
    async close(): Promise<void> {
      if (closed) return
      closed = true
      if (timer) clearTimeout(timer)
      sender.close()
      await loop.catch(() => undefined)
    },
  }
}
