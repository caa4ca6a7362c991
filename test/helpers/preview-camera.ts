/**
 * A real bsread camera for the preview tests: PUSH socket bound on 127.0.0.1, realistic PSEN
 * frames (src/sim/frame.ts: dark + noise + spectrum band, a falling edge on every 4th pulse),
 * compressed with the kernel's bitshuffle_lz4 like a real camera. A few frames are prepared once
 * and cycled with increasing pulse ids, so sending costs almost nothing.
 * @module
 */
import { BsreadEncoder, preEncoded } from '../../src/bsread/encoder.js'
import { BsreadSender } from '../../src/bsread/sender.js'
import type { ChannelInfo, Compression } from '../../src/bsread/types.js'
import { Codec } from '../../src/kernel/codec.js'
import { Kernel } from '../../src/kernel/kernel.js'
import { generateFrame } from '../../src/sim/frame.js'
import { sleep } from './wait.js'

export interface CameraOptions {
  prefix: string
  width: number
  height: number
  rateHz?: number
  compression?: Compression | 'none'
  firstPulseId?: bigint
}

export interface Camera {
  endpoint: string
  channel: ChannelInfo
  /** The next pulse id to be sent. */
  readonly nextPulseId: bigint
  readonly sent: number
  stop(): Promise<void>
}

export async function startCamera(opts: CameraOptions): Promise<Camera> {
  const { width, height } = opts
  const compression = opts.compression ?? 'bitshuffle_lz4'
  const kernel = await Kernel.load()
  const codec = new Codec(kernel)
  const channel: ChannelInfo = {
    name: `${opts.prefix}:FPICTURE`,
    type: 'uint16',
    shape: [width, height],
    encoding: 'little',
    compression,
  }
  // 4 reference shots and 4 X-ray shots with the edge at different places.
  const frames: Uint8Array[] = []
  const pixels = new Uint16Array(width * height)
  for (let i = 0; i < 8; i++) {
    const xray = i >= 4
    generateFrame(pixels, {
      width,
      height,
      seed: 1000 + i,
      ...(xray ? { edgeX: width * (0.4 + 0.05 * (i - 4)) } : {}),
    })
    const raw = new Uint8Array(pixels.buffer.slice(0))
    frames.push(compression === 'none' ? raw : codec.compress(raw, compression, 2))
  }
  const encoder = new BsreadEncoder({ codec })
  const sender = await BsreadSender.bind({ address: 'tcp://127.0.0.1:*', sendTimeoutMs: 50 })
  let pulse = opts.firstPulseId ?? 10_000n
  let sent = 0
  let stopped = false
  const period = 1000 / (opts.rateHz ?? 20)
  const loop = (async () => {
    while (!stopped) {
      const t0 = performance.now()
      const xray = pulse % 4n === 0n
      const frame = frames[(xray ? 4 : 0) + Number(pulse % 3n)]!
      const now = Date.now()
      const parts = encoder.encode({
        pulseId: pulse,
        globalTimestamp: { sec: Math.floor(now / 1000), ns: (now % 1000) * 1_000_000 },
        channels: [{ info: channel, value: preEncoded(frame) }],
      })
      if (await sender.send(parts)) sent++
      pulse++
      const wait = period - (performance.now() - t0)
      if (wait > 0) await sleep(wait) // pacing: the frame rate
    }
  })()
  return {
    endpoint: sender.endpoint,
    channel,
    get nextPulseId() {
      return pulse
    },
    get sent() {
      return sent
    },
    async stop() {
      stopped = true
      await loop
      sender.close()
    },
  }
}
