// Malformed input interleaved with valid frames at full speed into the real CLI: every valid
// frame is processed bit-exact, every bad one is counted by reason (/statistics and /metrics),
// memory stays bounded over repeated rounds, and HTTP answers all the while.
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { decodeValue, type BsreadMessage } from '../src/bsread/decoder.js'
import { BsreadSender } from '../src/bsread/sender.js'
import { PsenProcessingClient } from '../src/client/client.js'
import { loadCodec } from './helpers/bsread.js'
import {
  BAD_KINDS,
  FaultFactory,
  peakRss,
  rssBytes,
  type BadKind,
  type Roi4,
} from './helpers/faults.js'
import { metricValue, parseMetrics, scrape } from './helpers/metrics.js'
import { StreamReader, sleep, startCli, waitFor } from './helpers/service.js'

const test = suite('faults-input')

const PREFIX = 'FZ'
const SIGNAL: Roi4 = [10, 200, 40, 50]
const BACKGROUND: Roi4 = [0, 256, 0, 20]
const ROUNDS = 3
const VALID_PER_ROUND = 400
const HUGE: ReadonlySet<BadKind> = new Set(['part_100mb', 'main_header_100mb'])
const MiB = 1024 * 1024

interface Poller {
  ok: number
  failures: string[]
  slowestMs: number
  stop(): Promise<void>
}

/** GET /status in a loop until stopped; every answer must be a 200 with state ok. */
function pollHttp(base: string): Poller {
  let running = true
  const p: Poller = {
    ok: 0,
    failures: [],
    slowestMs: 0,
    stop: async () => {
      running = false
      await loop
    },
  }
  const loop = (async () => {
    while (running) {
      const t0 = performance.now()
      try {
        const r = await fetch(`${base}/status`, { signal: AbortSignal.timeout(10_000) })
        const body = (await r.json()) as { state?: string }
        if (r.status === 200 && body.state === 'ok') p.ok++
        else p.failures.push(`${r.status} ${JSON.stringify(body)}`)
      } catch (err) {
        p.failures.push((err as Error).message)
      }
      p.slowestMs = Math.max(p.slowestMs, performance.now() - t0)
      await sleep(20) // pacing: the poller asks every ~20 ms, it waits for nothing
    }
  })()
  return p
}

test('malformed input among valid frames: all valid processed, all bad counted', async () => {
  const codec = await loadCodec()
  const f = new FaultFactory(codec, PREFIX, 256, 128)
  const sender = await BsreadSender.bind({
    address: 'tcp://127.0.0.1:*',
    sendTimeoutMs: 60_000,
    sendHighWaterMark: 100,
  })
  // A data queue big enough and a long send timeout: this test is about input faults, so no
  // valid frame may be lost to output back-pressure.
  const cli = await startCli(sender.endpoint, PREFIX, [
    '--auto_start',
    '--data_send_timeout_ms',
    '60000',
    '--data_queue',
    '5000',
    '--max_frame_bytes',
    String(16 * MiB),
  ])
  const data = new StreamReader(`tcp://127.0.0.1:${cli.dataPort}`)
  const poller = pollHttp(cli.base)
  const pid = cli.child.pid!
  try {
    const client = new PsenProcessingClient(cli.base)
    await client.set_roi_signal(SIGNAL)
    await client.set_roi_background(BACKGROUND)
    type Expected = { valid: boolean; signal?: BigUint64Array; background?: BigUint64Array }
    const expected = new Map<bigint, Expected>()
    const malformed: Record<string, number> = {}
    const frameErrors: Record<string, number> = {}
    let pulse = 1000n
    let nValid = 0
    let nBad = 0
    let sentBytes = 0
    const rss: number[] = [await rssBytes(pid)]
    const wasm: number[] = []
    const t0 = performance.now()
    for (let round = 0; round < ROUNDS; round++) {
      let k = 0
      const kinds = BAD_KINDS.filter((x) => !HUGE.has(x))
      for (let i = 0; i < VALID_PER_ROUND; i++) {
        const v = f.valid(pulse++, SIGNAL, BACKGROUND)
        expected.set(v.pulseId, { valid: true, signal: v.signal, background: v.background })
        assert.ok(await sender.send(v.parts), 'valid frame handed to zeromq')
        nValid++
        // One or two bad messages after every valid frame; the 100 MB ones twice per round.
        const bads: BadKind[] = [kinds[k++ % kinds.length]!]
        if (i % 3 === 0) bads.push(kinds[k++ % kinds.length]!)
        if (i === 100) bads.push('part_100mb')
        if (i === 300) bads.push('main_header_100mb')
        for (const kind of bads) {
          const b = f.bad(kind, pulse++)
          if ('malformed' in b.expect) {
            malformed[b.expect.malformed] = (malformed[b.expect.malformed] ?? 0) + 1
          } else {
            frameErrors[b.expect.frameError] = (frameErrors[b.expect.frameError] ?? 0) + 1
            expected.set(pulse - 1n, { valid: false })
          }
          for (const p of b.parts) sentBytes += p.length
          assert.ok(await sender.send(b.parts), `${kind} handed to zeromq`)
          nBad++
        }
      }
      const outputs = [...expected.values()].length
      await waitFor(
        `round ${round}: ${outputs} data messages (have ${data.messages.length})`,
        () => data.messages.length >= outputs,
        60_000,
      )
      // Sample memory once the service has also counted every malformed message of the round.
      const malformedSoFar = Object.values(malformed).reduce((a, b) => a + b, 0)
      await waitFor(
        `round ${round}: ${malformedSoFar} malformed messages counted`,
        async () => (await client.get_statistics()).n_malformed === malformedSoFar,
        60_000,
      )
      rss.push(await rssBytes(pid))
      wasm.push(metricValue(await scrape(cli.base), 'psen_wasm_memory_bytes'))
    }
    const seconds = (performance.now() - t0) / 1000
    assert.is(sender.dropped, 0, 'the sender never dropped')

    // Every data message belongs to a valid frame (bit-exact profiles) or a counted frame error.
    const byPulse = new Map<bigint, BsreadMessage>()
    for (const m of data.messages) {
      assert.not.ok(byPulse.has(m.pulseId), `pulse ${m.pulseId} sent twice`)
      byPulse.set(m.pulseId, m)
    }
    assert.is(byPulse.size, expected.size, 'one data message per valid or frame-error message')
    const name = (q: string): string => `${PREFIX}:FPICTURE.${q}`
    for (const [id, e] of expected) {
      const m = byPulse.get(id)
      assert.ok(m, `data message for pulse ${id}`)
      const params = JSON.parse(
        decodeValue(m!.value(name('processing_parameters'))!) as string,
      ) as { roi_signal: number[] }
      assert.equal(params.roi_signal, SIGNAL)
      const sig = m!.value(name('roi_signal_x_profile'))
      if (e.valid) {
        assert.equal(decodeValue(sig!), e.signal, `signal profile of pulse ${id}`)
        assert.equal(decodeValue(m!.value(name('roi_background_x_profile'))!), e.background)
      } else {
        assert.is(sig, undefined, `no profile for the bad frame ${id}`)
      }
    }

    const s = await client.get_statistics()
    assert.equal(s.malformed_by_reason, malformed, 'malformed messages by reason')
    assert.is(s.n_malformed, nBad - Object.values(frameErrors).reduce((a, b) => a + b, 0))
    const errs = s.n_frame_errors as Record<string, number>
    for (const [cause, n] of Object.entries(frameErrors)) assert.is(errs[cause], n, cause)
    assert.is(s.n_processed_images, expected.size)
    assert.is(s.n_dropped_data, 0)

    const metrics = parseMetrics(await (await fetch(`${cli.base}/metrics`)).text())
    for (const [reason, n] of Object.entries(malformed)) {
      assert.is(metricValue(metrics, 'psen_input_malformed_total', { reason }), n, reason)
    }
    assert.is(metricValue(metrics, 'psen_frames_processed_total'), expected.size)
    assert.is(
      metricValue(metrics, 'psen_frame_errors_total', { cause: 'decode_error' }),
      frameErrors.decode_error,
    )

    // Memory: the later rounds (same load) must not grow on the first one's level. RSS moves by
    // up to one or two of the 100 MB parts depending on when V8 collects the last round's
    // external buffers, so the margin is two such parts (each round sends ~660 MiB).
    const [base, first, ...later] = rss as [number, number, ...number[]]
    const growth = Math.max(...later) - first
    assert.ok(
      growth < 256 * MiB,
      `RSS grew by ${(growth / MiB).toFixed(0)} MiB after round 1 ` +
        `(${rss.map((r) => (r / MiB).toFixed(0)).join(', ')} MiB)`,
    )
    assert.ok(Math.max(...later) < base + 512 * MiB, 'RSS stays within 512 MiB of idle')
    // The kernels' memory is sized by the first round and never grows again (no bomb expanded).
    assert.ok(
      wasm.every((w) => w === wasm[0]),
      `WebAssembly memory ${wasm.join(', ')}`,
    )

    await poller.stop()
    assert.equal(poller.failures, [], 'HTTP answered every request')
    assert.ok(poller.ok > 0)
    console.log(
      `  faults-input: ${nValid} valid + ${nBad} bad messages ` +
        `(${(sentBytes / MiB).toFixed(0)}` +
        ` MiB) in ${seconds.toFixed(1)} s = ${((nValid + nBad) / seconds).toFixed(0)} msg/s; ` +
        `RSS ${rss.map((r) => (r / MiB).toFixed(0)).join(' → ')} MiB, WebAssembly ` +
        `${(wasm[0]! / MiB).toFixed(0)} MiB; ${poller.ok} HTTP polls, ` +
        `slowest ${poller.slowestMs.toFixed(0)} ms`,
    )
  } finally {
    await poller.stop()
    await data.close()
    assert.is(await cli.stop(), 0)
    sender.close()
  }
})

test('a part above the input limit is never read into memory; the input reconnects', async () => {
  const codec = await loadCodec()
  const f = new FaultFactory(codec, PREFIX, 256, 128, 2, { bombBytes: 1024 * 1024 })
  const sender = await BsreadSender.bind({ address: 'tcp://127.0.0.1:*', sendTimeoutMs: 10_000 })
  // 16 MiB frames: the part limit is its floor, 256 MiB.
  const cli = await startCli(sender.endpoint, PREFIX, [
    '--auto_start',
    '--max_frame_bytes',
    String(16 * MiB),
  ])
  const data = new StreamReader(`tcp://127.0.0.1:${cli.dataPort}`)
  const pid = cli.child.pid!
  try {
    const client = new PsenProcessingClient(cli.base)
    await client.set_roi_signal(SIGNAL)
    assert.ok(await sender.send(f.valid(1n, SIGNAL, BACKGROUND).parts))
    await data.take(1)
    const peak0 = await peakRss(pid)
    const giant = Buffer.alloc(300 * MiB, 1)
    const t0 = performance.now()
    assert.ok(
      await sender.send([
        ...f.valid(2n, SIGNAL, BACKGROUND).parts.slice(0, 2),
        giant,
        Buffer.alloc(16),
      ]),
    )
    // Frames sent right after it may sit in the dropped connection; keep sending until the
    // reconnected input delivers.
    let pulse = 100n
    await waitFor(
      'frames after the reconnect',
      async () => {
        assert.ok(await sender.send(f.valid(pulse++, SIGNAL, BACKGROUND).parts))
        return data.messages.some((m) => m.pulseId >= 100n)
      },
      20_000,
      50,
    )
    const ms = performance.now() - t0
    const peak = await peakRss(pid)
    assert.ok(peak - peak0 < 128 * MiB, `peak RSS grew by ${((peak - peak0) / MiB).toFixed(0)} MiB`)
    const m = await scrape(cli.base)
    assert.ok(metricValue(m, 'psen_input_disconnects_total') >= 1, 'the lost connection counted')
    assert.is(await client.get_status(), 'processing')
    assert.match(cli.output(), /input connection lost/)
    console.log(
      `  faults-input: a 300 MB part -> disconnected unread, processing again after ` +
        `${ms.toFixed(0)} ms; peak RSS grew ${((peak - peak0) / MiB).toFixed(0)} MiB`,
    )
  } finally {
    await data.close()
    assert.is(await cli.stop(), 0)
    sender.close()
  }
})

test.run()
