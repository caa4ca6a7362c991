/**
 * What the service tells a newcomer, end to end with the real command (bin/psen-processing.js):
 * - the demo (no arguments) says once that nobody reads its data stream, not every few seconds,
 *   and again only when a consumer connects or leaves; GET /status shows the consumers;
 * - /start resets statistics.edge like the other counters;
 * - --output_mode pub hands every message to every consumer;
 * - an input where nothing arrives is warned about after 10 s, naming the address, and
 *   GET /status says so; when messages come, it says so too.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as zmq from 'zeromq'
import { BsreadDecoder } from '../src/bsread/decoder.js'
import { startSimulator, type Simulator } from '../src/sim/simulator.js'
import { freePorts } from './helpers/ports.js'
import {
  api,
  runDemo,
  startCli,
  StreamReader,
  waitFor,
  type CliProcess,
} from './helpers/service.js'

const test = suite('service-notices')

/** Log lines (pino JSON) of a process whose message matches `pattern`. */
function logLines(output: string, pattern: RegExp): Array<Record<string, unknown>> {
  return output
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => {
      try {
        return JSON.parse(l) as Record<string, unknown>
      } catch {
        return {}
      }
    })
    .filter((r) => typeof r.msg === 'string' && pattern.test(r.msg))
}

async function status(base: string): Promise<Record<string, unknown>> {
  return (await api(base, 'GET', '/status')).body
}

async function statistics(base: string): Promise<Record<string, unknown>> {
  return (await api(base, 'GET', '/statistics')).body.statistics as Record<string, unknown>
}

function dataStream(s: Record<string, unknown>): { port: number; mode: string; consumers: number } {
  return (s.outputs as Record<string, { port: number; mode: string; consumers: number }>).data!
}

test('the demo: no consumer is said once, then each connect and leave', async () => {
  const { demo, base, data } = await runDemo()
  let reader: StreamReader | undefined
  try {
    await waitFor('the demo banner', () => /psen-processing demo/.test(demo.output()), 30_000)
    assert.match(demo.output(), /Nobody reads the streams yet/)
    const noConsumer = new RegExp(
      `^no consumer on the data port ${data}; messages are ` + 'dropped until one connects',
    )
    // At 100 frames/s the queue (100) is full after 1 s; 600 drops take 6 s more, longer than
    // the 5 s after which a rate-limited warning would repeat.
    await waitFor(
      '600 dropped data messages',
      async () => Number((await statistics(base)).n_dropped_data) >= 600,
      60_000,
    )
    const out = demo.output()
    assert.is(logLines(out, noConsumer).length, 1, out.slice(-3000))
    assert.equal(logLines(out, noConsumer)[0]!.level, 40)
    assert.is(logLines(out, /data message dropped/).length, 0)
    const s = await status(base)
    assert.equal(dataStream(s), { port: data, mode: 'push', consumers: 0 })
    assert.is(s.state, 'ok')
    assert.is(s.status, 'processing')

    reader = new StreamReader(`tcp://127.0.0.1:${data}`)
    await waitFor(
      'the consumer is seen',
      async () => dataStream(await status(base)).consumers === 1,
    )
    await waitFor(
      'its log line',
      () =>
        logLines(demo.output(), new RegExp(`^a consumer connected to the data port ${data}`))
          .length === 1,
    )
    await reader.take(5)
    await reader.close()
    reader = undefined
    await waitFor(
      'the consumer is gone',
      async () => dataStream(await status(base)).consumers === 0,
    )
    await waitFor(
      'its log line',
      () =>
        logLines(
          demo.output(),
          new RegExp(
            `^the last consumer left the data port ${data}; ` +
              'messages are dropped until one connects',
          ),
        ).length === 1,
    )
    assert.is(logLines(demo.output(), noConsumer).length, 1)

    // /start resets the edge statistics (right after a restart it once showed 79 edges for
    // 30 frames): every 4th pulse is an X-ray shot, so a run has at most n/4 + 1 edges.
    await waitFor(
      'edges in the statistics',
      async () =>
        Number(((await statistics(base)).edge as Record<string, number>).edge_count) >= 20,
      30_000,
    )
    assert.is((await api(base, 'POST', '/stop')).body.state, 'ok')
    assert.is((await api(base, 'POST', '/start')).body.state, 'ok')
    const after = await statistics(base)
    const edges = (after.edge as Record<string, number>).edge_count!
    const frames = Number(after.n_processed_images)
    assert.ok(edges <= frames / 4 + 1, `${edges} edges for ${frames} frames after /start`)
  } finally {
    await reader?.close()
    demo.child.kill('SIGTERM')
    await demo.exited
  }
})

/** A SUB reader of a bsread stream that keeps the pulse ids it received. */
class PulseSubscriber {
  readonly pulses: bigint[] = []
  readonly #socket = new zmq.Subscriber({ linger: 0 })
  readonly #loop: Promise<void>

  constructor(address: string) {
    this.#socket.connect(address)
    this.#socket.subscribe()
    const decoder = new BsreadDecoder()
    this.#loop = (async () => {
      try {
        for await (const parts of this.#socket) this.pulses.push(decoder.decode(parts).pulseId)
      } catch {
        // closed
      }
    })()
  }

  async close(): Promise<void> {
    this.#socket.close()
    await this.#loop
  }
}

test('--output_mode pub: every consumer gets every message', async () => {
  let sim: Simulator | undefined
  let cli: CliProcess | undefined
  const readers: PulseSubscriber[] = []
  try {
    sim = await startSimulator({ rate: 50, width: 64, height: 32 })
    cli = await startCli(sim.address, sim.prefix, ['--output_mode', 'pub', '--auto_start'])
    const base = cli.base
    const s = await status(base)
    assert.is(dataStream(s).mode, 'pub')
    assert.is((s.outputs as Record<string, { mode: string }>).image!.mode, 'pub')
    readers.push(
      new PulseSubscriber(`tcp://127.0.0.1:${cli.dataPort}`),
      new PulseSubscriber(`tcp://127.0.0.1:${cli.dataPort}`),
    )
    await waitFor('two subscribers', async () => dataStream(await status(base)).consumers === 2)
    await waitFor('40 messages each', () => readers.every((r) => r.pulses.length >= 40))
    // From the first pulse both have to the last both have, they saw the same messages.
    const [a, b] = readers.map((r) => r.pulses) as [bigint[], bigint[]]
    const from = a[0]! > b[0]! ? a[0]! : b[0]!
    const to = a.at(-1)! < b.at(-1)! ? a.at(-1)! : b.at(-1)!
    const window = (p: bigint[]) => p.filter((x) => x >= from && x <= to).join()
    assert.ok(to - from >= 20n, `overlap ${from}..${to}`)
    assert.is(window(a), window(b))
  } finally {
    for (const r of readers) await r.close()
    await cli?.stop()
    await sim?.close()
  }
})

test('an input where nothing arrives is warned about, by address; /status says so', async () => {
  const [port] = (await freePorts(1)) as [number]
  const address = `tcp://127.0.0.1:${port}`
  let sim: Simulator | undefined
  let cli: CliProcess | undefined
  try {
    cli = await startCli(address, 'SIMULATED-PSEN', ['--auto_start', '--log_level', 'INFO'])
    const base = cli.base
    const silent = await waitFor(
      'the silence warning',
      () => logLines(cli!.output(), new RegExp(`^no message yet from ${address} for 1\\d s`))[0],
      30_000,
    )
    assert.is(silent.level, 40)
    assert.is(silent.input, address)
    const s = await status(base)
    assert.is(s.state, 'ok')
    const input = s.input as Record<string, unknown>
    assert.is(input.address, address)
    assert.is(input.silent, true)
    assert.is(input.last_message_age_s, null)
    assert.match(String(input.warning), address)

    // The camera comes: the service says so, and /status no longer warns.
    sim = await startSimulator({ bind: address, rate: 20, width: 64, height: 32 })
    await waitFor(
      'the input is back',
      () => logLines(cli!.output(), new RegExp(`^input ${address} sends again`)).length === 1,
      15_000,
    )
    const back = (await status(base)).input as Record<string, unknown>
    assert.is(back.silent, false)
    assert.is(back.warning, null)
    assert.type(back.last_message_age_s, 'number')
  } finally {
    await cli?.stop()
    await sim?.close()
  }
})

test.run()
