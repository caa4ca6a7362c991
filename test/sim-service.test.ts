/**
 * End to end: the simulated camera (PUB) feeds the service started from its command line
 * (bin/psen-processing.js, so after `npm run build`); the edge positions on the service's data
 * stream match the simulator's ground truth (PREFIX:SIM_EDGE_POSITION, read by a second
 * subscriber) pulse by pulse.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as zmq from 'zeromq'
import { BsreadDecoder, decodeValue, type RawValue } from '../src/bsread/decoder.js'
import { Codec } from '../src/kernel/codec.js'
import { Kernel } from '../src/kernel/kernel.js'
import { startSimulator, type Simulator } from '../src/sim/simulator.js'
import { freePorts } from './helpers/ports.js'
import { waitFor } from './helpers/wait.js'

const test = suite('simulator → service')
const bin = fileURLToPath(new URL('../bin/psen-processing.js', import.meta.url))
const codec = new Codec(await Kernel.load())

test('the service finds the simulated edge where the simulator put it', async () => {
  let sim: Simulator | undefined
  let svc: ChildProcess | undefined
  const sockets: Array<{ close(): void }> = []
  let out = ''
  try {
    sim = await startSimulator({
      mode: 'pub',
      rate: 100,
      width: 1024,
      height: 512,
      edge: { center: 500, amplitude: 60, period: 3 },
    })
    const [o, i, r] = await freePorts(3)
    svc = spawn(
      process.execPath,
      [
        bin,
        sim.address,
        'SIMULATED-PSEN',
        '-o',
        String(o),
        '-i',
        String(i),
        '-r',
        String(r),
        '--rest_api_interface',
        '127.0.0.1',
        '--auto_start',
        '--input_mode',
        'sub',
        '--state_file',
        '',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    )
    svc.stdout?.on('data', (d: Buffer) => {
      out = (out + d.toString()).slice(-20_000)
    })
    svc.stderr?.on('data', (d: Buffer) => {
      out = (out + d.toString()).slice(-20_000)
    })
    const base = `http://127.0.0.1:${r}`
    const proc = svc
    const state = await waitFor(
      'the service to come up',
      async () => {
        if (proc.exitCode !== null) return 'exited'
        return (await fetch(`${base}/health`)).ok && 'up'
      },
      60_000,
      100,
    ).catch(() => 'not up in time')
    assert.is(state, 'up', `service did not come up\n${out}`)
    const post = async (path: string, body: unknown) => {
      const res = await fetch(base + path, {
        method: 'POST',
        body: JSON.stringify(body),
        headers: { 'content-type': 'application/json' },
      })
      return (await res.json()) as { state: string }
    }
    // The band is rows 273..367 of 512; the background well away from it.
    assert.is((await post('/roi_signal', [0, 1024, 280, 80])).state, 'ok')
    assert.is((await post('/roi_background', [0, 1024, 0, 32])).state, 'ok')

    const truth = new Map<bigint, number>()
    const tap = new zmq.Subscriber({ linger: 0 })
    sockets.push(tap)
    tap.connect(sim.address)
    tap.subscribe()
    const tapDecoder = new BsreadDecoder({ codec })
    void (async () => {
      for await (const parts of tap) {
        const m = tapDecoder.decode(parts)
        const v = m.value('SIMULATED-PSEN:SIM_EDGE_POSITION')
        if (v) truth.set(m.pulseId, decodeValue(v) as number)
      }
    })().catch(() => undefined)

    const data = new zmq.Pull({ linger: 0, receiveTimeout: 10_000 })
    sockets.push(data)
    data.connect(`tcp://127.0.0.1:${o}`)
    const decoder = new BsreadDecoder({ codec })
    const num = (v: RawValue | undefined) => (v ? (decodeValue(v) as number) : NaN)
    const diffs: number[] = []
    let references = 0
    for (let n = 0; n < 400 && diffs.length < 25; n++) {
      const m = decoder.decode(await data.receive())
      const edge = num(m.value('SIMULATED-PSEN:FPICTURE.edge_position'))
      if (m.pulseId % 4n !== 0n) {
        assert.ok(Number.isNaN(edge), 'no edge on reference shots')
        references++
        continue
      }
      const t = truth.get(m.pulseId)
      if (t === undefined || Number.isNaN(edge)) continue
      diffs.push(edge - t)
    }
    assert.ok(diffs.length >= 25, `compared ${diffs.length} X-ray shots\n${out}`)
    assert.ok(references > 0)
    // Refinement step 1: the edge comes out on whole pixels, within about a pixel of the truth.
    for (const d of diffs) assert.ok(Math.abs(d) <= 2, `edge off by ${d.toFixed(2)} px`)

    const stats = (await (await fetch(`${base}/statistics`)).json()) as {
      statistics: { n_processed_images?: number }
    }
    assert.ok((stats.statistics.n_processed_images ?? 0) > 0)
  } finally {
    for (const s of sockets) s.close()
    if (svc && svc.exitCode === null) {
      const exited = new Promise((res) => svc?.once('exit', res))
      svc.kill('SIGTERM')
      await exited
    }
    await sim?.close()
  }
})

test.run()
