import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as zmq from 'zeromq'
import { BsreadDecoder, decodeValue, type BsreadMessage } from '../src/bsread/decoder.js'
import type { Compression } from '../src/bsread/types.js'
import { Codec } from '../src/kernel/codec.js'
import { Kernel } from '../src/kernel/kernel.js'
import { SIM_DTYPES, SimulatorConfigError, type SimulatorOptions } from '../src/sim/options.js'
import { startSimulator, type Simulator } from '../src/sim/simulator.js'
import { sleep } from './helpers/wait.js'

const test = suite('simulator')
const codec = new Codec(await Kernel.load())

/** Connects a real PULL socket to the simulator and decodes `n` messages. */
async function receive(sim: Simulator, n: number): Promise<{ msgs: BsreadMessage[]; ms: number }> {
  const pull = new zmq.Pull({ linger: 0, receiveTimeout: 5000 })
  pull.connect(sim.address)
  const decoder = new BsreadDecoder({ codec, verifyHash: true })
  const msgs: BsreadMessage[] = []
  const t0 = performance.now()
  try {
    while (msgs.length < n) msgs.push(decoder.decode(await pull.receive()))
  } finally {
    pull.close()
  }
  return { msgs, ms: performance.now() - t0 }
}

async function withSim<T>(opts: SimulatorOptions, fn: (s: Simulator) => Promise<T>): Promise<T> {
  const sim = await startSimulator(opts)
  try {
    return await fn(sim)
  } finally {
    await sim.close()
  }
}

test('bsread frames: shape, type, increasing pulse ids, X-ray flag by pulse id', async () => {
  await withSim({ width: 200, height: 120, rate: 200, prefix: 'SIM-T1' }, async (sim) => {
    assert.match(sim.address, /^tcp:\/\/127\.0\.0\.1:\d+$/)
    const { msgs } = await receive(sim, 24)
    let prev = -1n
    for (const m of msgs) {
      assert.ok(m.pulseId > prev, 'pulse ids increase')
      prev = m.pulseId
      const img = m.value('SIM-T1:FPICTURE')
      assert.ok(img)
      assert.is(img.info.type, 'uint16')
      assert.equal(img.info.shape, [200, 120])
      assert.is(img.info.compression, 'bitshuffle_lz4')
      const px = decodeValue(img, codec) as Uint16Array
      assert.is(px.length, 200 * 120)
      const xray = decodeValue(m.value('SIM-T1:XRAY') as never) as number
      assert.is(xray, m.pulseId % 4n === 0n ? 1 : 0)
      const edge = decodeValue(m.value('SIM-T1:SIM_EDGE_POSITION') as never) as number
      assert.is(Number.isNaN(edge), xray === 0)
      assert.is(decodeValue(m.value('SIM-T1:WIDTH') as never), 200)
      assert.is(decodeValue(m.value('SIM-T1:HEIGHT') as never), 120)
      // Real global timestamps: close to now.
      const ms = m.globalTimestamp.sec * 1000 + m.globalTimestamp.ns / 1e6
      assert.ok(Math.abs(ms - Date.now()) < 60_000)
      assert.equal(img.timestamp, m.globalTimestamp)
    }
    assert.ok(msgs.some((m) => m.pulseId % 4n === 0n) && msgs.some((m) => m.pulseId % 4n !== 0n))
    assert.is(sim.stats.sent >= 24, true)
  })
})

/** Column sums over the band rows. */
function columnSums(px: ArrayLike<number>, width: number, y0: number, y1: number): Float64Array {
  const s = new Float64Array(width)
  for (let y = y0; y < y1; y++) {
    for (let x = 0; x < width; x++) s[x] = (s[x] as number) + (px[y * width + x] as number)
  }
  return s
}

test('the edge is on X-ray shots only, where the simulator says, and it moves', async () => {
  const width = 400
  const height = 216
  // Band rows 1150..1550 of 2160, scaled: 115..155.
  const opts = {
    width,
    height,
    rate: 400,
    prefix: 'SIM-T2',
    edge: { center: 200, amplitude: 60, period: 0.5, positions: 13 },
  }
  await withSim(opts, async (sim) => {
    const { msgs } = await receive(sim, 160)
    const edges = new Set<number>()
    let xrays = 0
    for (const m of msgs) {
      const px = decodeValue(m.value('SIM-T2:FPICTURE') as never, codec) as Uint16Array
      const sums = columnSums(px, width, 118, 152)
      const edge = decodeValue(m.value('SIM-T2:SIM_EDGE_POSITION') as never) as number
      // Ratio of the spectrum just right of the position to just left of it (mirrored around
      // the spectrum centre, so the Gaussian envelope cancels): ~0.7 across an edge, ~1 without.
      const probe = Number.isNaN(edge) ? 200 : edge
      const mean = (a: number, b: number) => {
        let t = 0
        for (let x = Math.max(0, a); x < Math.min(width, b); x++) t += sums[x] as number
        return t / (Math.min(width, b) - Math.max(0, a))
      }
      const left = mean(probe - 14, probe - 4)
      const right = mean(probe + 4, probe + 14)
      const ratio = right / left
      if (m.pulseId % 4n === 0n) {
        xrays++
        assert.ok(edge >= 140 && edge <= 260, `edge ${edge} within the swing`)
        assert.ok(ratio < 0.85, `X-ray shot ${m.pulseId}: ratio ${ratio.toFixed(3)} at ${edge}`)
        edges.add(edge)
      } else {
        assert.ok(Number.isNaN(edge))
        assert.ok(ratio > 0.9, `reference shot ${m.pulseId}: ratio ${ratio.toFixed(3)}`)
      }
    }
    assert.ok(xrays >= 30)
    assert.ok(edges.size >= 3, `the edge moves (${edges.size} positions seen)`)
  })
})

test('every dtype and compression decodes to the declared type and size', async () => {
  const arrays: Record<string, new (n: number) => ArrayLike<number>> = {
    uint8: Uint8Array,
    uint16: Uint16Array,
    int16: Int16Array,
    uint32: Uint32Array,
    int32: Int32Array,
    float32: Float32Array,
    float64: Float64Array,
  }
  for (const dtype of SIM_DTYPES) {
    for (const compression of ['none', 'lz4', 'bitshuffle_lz4'] as Compression[]) {
      await withSim(
        {
          width: 37,
          height: 29,
          dtype,
          compression,
          rate: 500,
          referenceFrames: 2,
          edge: { positions: 2 },
        },
        async (sim) => {
          const { msgs } = await receive(sim, 4)
          for (const m of msgs) {
            const raw = m.value(sim.channels.image)
            assert.ok(raw)
            assert.is(raw.info.type, dtype)
            assert.is(raw.info.compression, compression)
            const v = decodeValue(raw, codec) as ArrayLike<number>
            assert.instance(v, arrays[dtype] as never)
            assert.is(v.length, 37 * 29)
            let max = 0
            for (let i = 0; i < v.length; i++) max = Math.max(max, v[i] as number)
            assert.ok(max > 50, `${dtype}/${compression}: a real picture (max ${max})`)
          }
        },
      )
    }
  }
})

test('the rate is roughly right and pulse ids follow the clock', async () => {
  await withSim({ width: 64, height: 48, rate: 100 }, async (sim) => {
    const { msgs, ms } = await receive(sim, 60)
    const first = msgs[0] as BsreadMessage
    const last = msgs[msgs.length - 1] as BsreadMessage
    const pulses = Number(last.pulseId - first.pulseId)
    // Loose on purpose (shared 2-core machine): within a factor of two of 100 Hz.
    const hz = (msgs.length - 1) / (ms / 1000)
    assert.ok(hz > 50 && hz < 200, `received at ${hz.toFixed(1)} Hz`)
    // Skipped ticks skip their pulse ids, so ids advance with time, never faster than the rate.
    assert.ok(pulses >= msgs.length - 1)
    const t = (m: BsreadMessage) => m.globalTimestamp.sec + m.globalTimestamp.ns / 1e9
    const span = t(last) - t(first)
    assert.ok(pulses / span > 50 && pulses / span < 200, `${(pulses / span).toFixed(1)} ids/s`)
    const s = sim.stats
    assert.is(typeof s.compressionRatio, 'number')
    assert.ok(s.compressionRatio > 1)
  })
})

test('when the process is late, missed ticks are skipped (ids jump), never sent in a burst', async () => {
  await withSim({ width: 32, height: 16, rate: 100 }, async (sim) => {
    const pull = new zmq.Pull({ linger: 0, receiveTimeout: 5000 })
    pull.connect(sim.address)
    const decoder = new BsreadDecoder({ codec })
    try {
      const ids: bigint[] = []
      for (let i = 0; i < 5; i++) ids.push(decoder.decode(await pull.receive()).pulseId)
      const before = sim.stats
      // Block this process (and the simulator's schedule in it) for 30 periods.
      const until = performance.now() + 300
      while (performance.now() < until) {
        /* busy */
      }
      for (let i = 0; i < 10; i++) ids.push(decoder.decode(await pull.receive()).pulseId)
      const after = sim.stats
      assert.ok(after.skipped - before.skipped >= 20, `skipped ${after.skipped - before.skipped}`)
      // A burst would have sent the missed ids; skipping leaves a gap in them instead.
      let gap = 0n
      for (let i = 1; i < ids.length; i++) {
        const d = (ids[i] as bigint) - (ids[i - 1] as bigint)
        if (d > gap) gap = d
      }
      assert.ok(gap >= 20n, `largest pulse-id gap ${gap}`)
    } finally {
      pull.close()
    }
  })
})

test('rate 0 sends as fast as the receiver takes them, without losing any', async () => {
  await withSim({ width: 64, height: 48, rate: 0, startPulseId: 1000n }, async (sim) => {
    const { msgs } = await receive(sim, 300)
    // The first messages may have been tried before the PULL connected (dropped, counted); after
    // that the ids are consecutive.
    const ids = msgs.map((m) => m.pulseId)
    for (let i = 1; i < ids.length; i++) assert.is(ids[i], (ids[i - 1] as bigint) + 1n)
    assert.ok((ids[0] as bigint) >= 1000n)
  })
})

test('a given start pulse id and a PUB socket work; close is idempotent', async () => {
  const sim = await startSimulator({
    width: 32,
    height: 16,
    rate: 200,
    mode: 'pub',
    startPulseId: 2n ** 60n,
  })
  const sub = new zmq.Subscriber({ linger: 0, receiveTimeout: 5000 })
  sub.connect(sim.address)
  sub.subscribe()
  try {
    const m = new BsreadDecoder({ codec }).decode(await sub.receive())
    assert.ok(m.pulseId > 2n ** 60n)
  } finally {
    sub.close()
    await sim.close()
    await sim.close()
  }
  const after = sim.stats.sent
  await sleep(50) // a quiet period: nothing may be sent in it
  assert.is(sim.stats.sent, after, 'nothing sent after close')
})

test('bad options are rejected with a typed error', async () => {
  const bad: SimulatorOptions[] = [
    { width: 0 },
    { height: 1.5 },
    { dtype: 'int64' as never },
    { compression: 'zip' as never },
    { rate: -1 },
    { rate: Number.NaN },
    { prefix: 'has space' },
    { edge: { center: 1e6 } },
    { edge: { depth: 0 } },
    { edge: { period: 0 } },
  ]
  for (const opts of bad) {
    try {
      await startSimulator({ width: 32, height: 16, ...opts })
      assert.unreachable(`accepted ${JSON.stringify(opts)}`)
    } catch (err) {
      assert.instance(err, SimulatorConfigError, JSON.stringify(opts))
    }
  }
})

test.run()
