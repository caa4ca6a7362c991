/**
 * The camera of the service benchmark, run as its own process: a bsread PUSH sender (bind) of
 * realistic pre-encoded 2560×2160 uint16 bitshuffle-LZ4 frames, paced on the monotonic clock.
 *
 * A ring of distinct frames is generated (src/sim/frame.ts) and compressed (the kernel's codec)
 * once at start-up, so sending costs only the headers. Frame k of the ring goes out for pulse
 * ids ≡ k (mod ring size); the ring size is a multiple of 4 so that the X-ray shots
 * (pulse_id mod 4 == 0) always carry an edge. Every send is stamped on the machine-wide
 * monotonic clock and the (pulse id, time) pairs go to the orchestrator over IPC; the consumer
 * stamps the receipt, and the orchestrator joins both by pulse id to get the latency.
 *
 * A real camera does not wait for its consumer: a send that cannot be queued within
 * `--send-timeout` ms is dropped and counted as failed (a lost frame).
 *
 * Usage (forked with IPC): sender.ts [--port P] [--ring 8] [--send-timeout 20] [--hwm 10]
 * @module
 */
import { Push, context } from 'zeromq'

import { BsreadEncoder, preEncoded, type PreEncoded } from '../../src/bsread/encoder.js'
import type { ChannelInfo, Timestamp } from '../../src/bsread/types.js'
import { Codec } from '../../src/kernel/codec.js'
import { Kernel } from '../../src/kernel/kernel.js'
import { generateFrame } from '../../src/sim/frame.js'
import {
  FRAME_HEIGHT,
  FRAME_WIDTH,
  IMAGE_CHANNEL,
  nowMs,
  parseOptions,
  sleep,
  type SenderCommand,
  type SenderEvent,
} from './common.js'

const opts = parseOptions(process.argv.slice(2))
const port = Number(opts.get('port') ?? 0)
const ringSize = Math.max(4, Math.ceil(Number(opts.get('ring') ?? 8) / 4) * 4)
const sendTimeout = Number(opts.get('send-timeout') ?? 20)
const hwm = Number(opts.get('hwm') ?? 10)

const send = (ev: SenderEvent) => process.send?.(ev)
if (!process.send) {
  console.error('sender.ts must be forked with an IPC channel')
  process.exit(2)
}

context.blocky = false
const push = new Push({ linger: 0, sendHighWaterMark: hwm, sendTimeout })

const info: ChannelInfo = {
  name: IMAGE_CHANNEL,
  type: 'uint16',
  shape: [FRAME_WIDTH, FRAME_HEIGHT],
  encoding: 'little',
  compression: 'bitshuffle_lz4',
}
let encoder: BsreadEncoder
let ring: PreEncoded[] = []

/** Generates and compresses the ring of distinct frames (X-ray shots at k ≡ 0 mod 4). */
async function prepare(): Promise<number> {
  const t0 = nowMs()
  const codec = new Codec(await Kernel.load())
  encoder = new BsreadEncoder({ codec })
  const pixels = new Uint16Array(FRAME_WIDTH * FRAME_HEIGHT)
  const bytes = new Uint8Array(pixels.buffer)
  ring = []
  for (let k = 0; k < ringSize; k++) {
    // Edges at different sub-pixel positions so the edge finder has something to find.
    const edgeX = k % 4 === 0 ? 1000 + 97.3 * (k / 4) : undefined
    generateFrame(pixels, { width: FRAME_WIDTH, height: FRAME_HEIGHT, edgeX, seed: 1 + k })
    ring.push(preEncoded(codec.compress(bytes, 'bitshuffle_lz4', 2)))
  }
  return nowMs() - t0
}

function wallTimestamp(): Timestamp {
  const ms = Date.now()
  return { sec: Math.floor(ms / 1000), ns: (ms % 1000) * 1e6 }
}

function frameParts(pulseId: number): Buffer[] {
  const ts = wallTimestamp()
  const value = ring[pulseId % ringSize] as PreEncoded
  return encoder.encode({
    pulseId: BigInt(pulseId),
    globalTimestamp: ts,
    channels: [{ info, value, timestamp: ts }],
  })
}

/**
 * Malformed messages of the kinds issue 10 lists, rotating. They carry pulse ids far above the
 * bench's range so that a data message the service may still emit for one is told apart.
 */
let garbageSeq = 0
function garbageParts(): Buffer[] {
  const kind = garbageSeq++ % 8
  const pulse = 9e15 + garbageSeq
  const good = frameParts(0)
  const main = (extra: Record<string, unknown>) =>
    Buffer.from(
      JSON.stringify({
        htype: 'bsr_m-1.1',
        pulse_id: pulse,
        global_timestamp: { sec: 1, ns: 0 },
        hash: 'ffffffffffffffffffffffffffffffff',
        dh_compression: 'none',
        ...extra,
      }),
    )
  switch (kind) {
    case 0:
      return [Buffer.from(randomBytes(64 + (garbageSeq % 500)))]
    case 1:
      return [main({}), Buffer.from('{"htype": "bsr_d-1.1", "channels": [')]
    case 2:
      return [Buffer.from('{"htype": "bsr_m-1.1", "pulse_id": 12'), good[1] as Buffer]
    case 3: {
      // Valid headers, the image part cut short: its size lies about the shape.
      const cut = good.slice()
      cut[0] = rewritePulse(good[0] as Buffer, pulse)
      cut[2] = (good[2] as Buffer).subarray(0, 1000)
      return cut
    }
    case 4: {
      // A bitshuffle header declaring 64 GiB: a decompression bomb.
      const bomb = Buffer.from((good[2] as Buffer).subarray(0, 4096))
      bomb.writeBigUInt64BE(64n << 30n, 0)
      const parts = good.slice()
      parts[0] = rewritePulse(good[0] as Buffer, pulse)
      parts[2] = bomb
      return parts
    }
    case 5: {
      const dh = Buffer.from(
        JSON.stringify({
          htype: 'bsr_d-1.1',
          channels: [{ name: IMAGE_CHANNEL, type: 'complex128', shape: [4] }],
        }),
      )
      return [main({}), dh, Buffer.alloc(64), Buffer.alloc(16)]
    }
    case 6: {
      // Wrong part count: the data header lists one channel, five parts follow.
      const parts = good.slice()
      parts[0] = rewritePulse(good[0] as Buffer, pulse)
      return [...parts, Buffer.alloc(8), Buffer.alloc(8), Buffer.alloc(8)]
    }
    default:
      return [Buffer.alloc(0), Buffer.alloc(0)]
  }
}

function rewritePulse(mainHeader: Buffer, pulse: number): Buffer {
  return Buffer.from(mainHeader.toString().replace(/"pulse_id": *\d+/, `"pulse_id": ${pulse}`))
}

let seed = 12345
function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n)
  for (let i = 0; i < n; i++) {
    seed = (seed * 1103515245 + 12345) >>> 0
    out[i] = seed >>> 24
  }
  return out
}

let halted = false
let pendingGarbage = 0
let running = false

/**
 * Sends frames at `hz` from `firstPulse` until `seconds` have passed (Infinity: until halted).
 * Pacing is by absolute deadlines on the monotonic clock: a late wake-up sends what is due at
 * once, so the mean rate is exact and timer jitter (≤ ~1 ms) does not accumulate.
 */
async function run(hz: number, seconds: number, firstPulse: number): Promise<void> {
  running = true
  halted = false
  const period = 1000 / hz
  const t0 = nowMs()
  const end = t0 + seconds * 1000
  let pulses: number[] = []
  let times: number[] = []
  let lastFlush = t0
  let sent = 0
  let failed = 0
  let garbage = 0
  let garbageReported = 0
  let maxLate = 0
  let i = 0
  for (; ; i++) {
    const due = t0 + i * period
    if (due >= end || halted) break
    let now = nowMs()
    if (due > now) {
      await sleep(Math.max(1, Math.floor(due - now)))
      now = nowMs()
      if (due > now) {
        i--
        continue
      }
    }
    maxLate = Math.max(maxLate, now - due)
    const pulse = firstPulse + i
    const parts = frameParts(pulse)
    const t = nowMs()
    try {
      await push.send(parts)
      sent++
      pulses.push(pulse)
      times.push(t)
    } catch (err) {
      if ((err as { code?: string }).code !== 'EAGAIN') throw err
      failed++
    }
    if (pendingGarbage > 0) {
      pendingGarbage--
      try {
        await push.send(garbageParts())
        garbage++
      } catch (err) {
        if ((err as { code?: string }).code !== 'EAGAIN') throw err
      }
    }
    if (t - lastFlush >= 200) {
      send({ type: 'sent', pulses, times, garbage: garbage - garbageReported })
      garbageReported = garbage
      pulses = []
      times = []
      lastFlush = t
    }
  }
  send({ type: 'sent', pulses, times, garbage: garbage - garbageReported })
  send({
    type: 'done',
    firstPulse,
    lastPulse: firstPulse + i - 1,
    sent,
    failed,
    garbage,
    elapsedMs: nowMs() - t0,
    maxLateMs: maxLate,
  })
  running = false
}

process.on('message', (msg: SenderCommand) => {
  const fail = (err: unknown) => {
    send({
      type: 'error',
      message: err instanceof Error ? (err.stack ?? err.message) : String(err),
    })
  }
  switch (msg.cmd) {
    case 'run':
      if (!running) run(msg.hz, msg.seconds, msg.firstPulse).catch(fail)
      break
    case 'stream':
      if (!running) run(msg.hz, Infinity, msg.firstPulse).catch(fail)
      break
    case 'halt':
      halted = true
      break
    case 'garbage':
      pendingGarbage += msg.count
      break
    case 'exit':
      halted = true
      push.close()
      setTimeout(() => process.exit(0), 50)
      break
  }
})
process.on('disconnect', () => {
  push.close()
  process.exit(0)
})

prepare()
  .then(async (encodeMs) => {
    await push.bind(`tcp://127.0.0.1:${port > 0 ? port : '*'}`)
    const bound = Number(/:(\d+)$/.exec(push.lastEndpoint ?? '')?.[1] ?? port)
    send({ type: 'ready', port: bound, frameBytes: ring.map((r) => r.bytes.length), encodeMs })
  })
  .catch((err: unknown) => {
    send({
      type: 'error',
      message: err instanceof Error ? (err.stack ?? err.message) : String(err),
    })
    process.exit(1)
  })
