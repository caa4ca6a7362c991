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
import { BsreadEncoder, preEncoded, type EncodeChannel } from '../bsread/encoder.js'
import { BsreadSender } from '../bsread/sender.js'
import type { ChannelInfo, Compression, Timestamp } from '../bsread/types.js'
import { Codec } from '../kernel/codec.js'
import { Kernel } from '../kernel/kernel.js'
import { generateFrame } from './frame.js'
import {
  ELEM_SIZE,
  resolveOptions,
  SIMULATOR_DEFAULTS,
  SimulatorConfigError,
  type EdgeMotion,
  type Resolved,
  type SimDtype,
  type SimulatorOptions,
} from './options.js'

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
  const r = resolveOptions(opts)
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
