// Observability of the real CLI: GET /metrics in Prometheus text format with every series the
// operators need (frames received/processed, drops by cause, per-stage latency histograms,
// pulse-id gaps, input lag, ROI sizes), GET /health and GET /ready, and the last error with its
// time in /status and /statistics.
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { BsreadEncoder } from '../src/bsread/encoder.js'
import { BsreadSender } from '../src/bsread/sender.js'
import type { ChannelInfo } from '../src/bsread/types.js'
import { PsenProcessingClient } from '../src/client/client.js'
import { metricValue, scrape } from './helpers/metrics.js'
import { StreamReader, api, startCli, waitFor } from './helpers/service.js'

const test = suite('observability-metrics')

const image = (w: number, h: number): ChannelInfo => ({
  name: 'OBS:FPICTURE',
  type: 'uint16',
  shape: [w, h],
  encoding: 'little',
  compression: 'none',
})

test('GET /metrics: counters, drops by cause, stage histograms, gaps, lag, ROI sizes', async () => {
  const sender = await BsreadSender.bind({ address: 'tcp://127.0.0.1:*', sendTimeoutMs: 10_000 })
  const cli = await startCli(sender.endpoint, 'OBS', ['--auto_start'])
  const data = new StreamReader(`tcp://127.0.0.1:${cli.dataPort}`)
  const enc = new BsreadEncoder()
  const client = new PsenProcessingClient(cli.base)
  try {
    await client.set_roi_signal([2, 60, 4, 20])
    await client.set_roi_background([0, 64, 30, 2])
    // Frames stamped 3 s in the past: the input lag must show it.
    const lagged = { sec: Math.floor(Date.now() / 1000) - 3, ns: 0 }
    const put = (pulseId: bigint, w = 64, h = 32): Promise<boolean> =>
      sender.send(
        enc.encode({
          pulseId,
          globalTimestamp: lagged,
          channels: [{ info: image(w, h), value: new Uint16Array(w * h).fill(Number(pulseId)) }],
        }),
      )
    for (let p = 1n; p <= 10n; p++) assert.ok(await put(p))
    for (let p = 20n; p <= 29n; p++) assert.ok(await put(p)) // one gap (10 -> 20)
    assert.ok(await put(30n, 16, 8)) // both ROIs outside this small frame
    assert.ok(await put(31n, 16, 8))
    assert.ok(await sender.send([Buffer.from('garbage')]))
    const badJson = Buffer.from('{"htype": "bsr_m-1.1", "hash": "x",')
    assert.ok(await sender.send([badJson, Buffer.from('{}')]))
    assert.ok(await sender.send([Buffer.from('{"no": "htype"}'), Buffer.from('{}')]))
    await data.take(22)

    const r = await fetch(`${cli.base}/metrics`)
    assert.is(r.status, 200)
    assert.match(r.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/)
    const m = await scrape(cli.base)
    const v = (name: string, labels: Record<string, string> = {}): number =>
      metricValue(m, name, labels)
    assert.is(v('psen_frames_received_total'), 22)
    assert.is(v('psen_frames_processed_total'), 22)
    assert.is(v('psen_frames_dropped_total', { reason: 'malformed' }), 3)
    assert.is(v('psen_frames_dropped_total', { reason: 'roi_outside_frame' }), 2)
    assert.is(v('psen_input_malformed_total', { reason: 'not_multipart' }), 1)
    assert.is(v('psen_input_malformed_total', { reason: 'bad_json' }), 1)
    assert.is(v('psen_input_malformed_total', { reason: 'bad_htype' }), 1)
    assert.is(v('psen_frame_errors_total', { cause: 'roi_signal_outside_frame' }), 2)
    assert.is(v('psen_frame_errors_total', { cause: 'roi_background_outside_frame' }), 2)
    assert.is(v('psen_input_pulse_id_gaps_total'), 1)
    assert.is(v('psen_last_pulse_id'), 31)
    const lag = v('psen_input_lag_seconds')
    assert.ok(lag > 2 && lag < 120, `input lag ${lag} s`)
    assert.is(v('psen_roi_size_pixels', { roi: 'signal', dim: 'x' }), 60)
    assert.is(v('psen_roi_size_pixels', { roi: 'signal', dim: 'y' }), 20)
    assert.is(v('psen_roi_size_pixels', { roi: 'background', dim: 'x' }), 64)
    assert.is(v('psen_roi_size_pixels', { roi: 'background', dim: 'y' }), 2)
    assert.is(v('psen_processing'), 1)
    assert.is(m.types.get('psen_stage_seconds'), 'histogram')
    // Every stage timed: receive (bsread decode), decode (image), kernels, send, total.
    for (const stage of ['receive', 'forward', 'decode', 'profile', 'edge', 'send', 'total']) {
      const n = v('psen_stage_seconds_count', { stage })
      assert.ok(n >= 20, `stage ${stage}: ${n} observations`)
      assert.is(v('psen_stage_seconds_bucket', { stage, le: '+Inf' }), n)
    }
    assert.is(v('psen_stage_seconds_count', { stage: 'total' }), 22)
    // Process health from prom-client's default metrics.
    assert.ok(v('process_resident_memory_bytes') > 0)
    assert.ok(m.types.has('nodejs_eventloop_lag_seconds'))
    assert.ok(v('psen_wasm_memory_bytes') > 0)
    for (const [name, help] of m.help) assert.ok(help.length > 0, `${name} has a help text`)

    // Stopping shows in the gauge; ROI changes show at once.
    await client.set_roi_signal(null)
    await client.stop()
    const m2 = await scrape(cli.base)
    assert.is(metricValue(m2, 'psen_processing'), 0)
    assert.is(metricValue(m2, 'psen_roi_size_pixels', { roi: 'signal', dim: 'x' }), 0)
  } finally {
    await data.close()
    assert.is(await cli.stop(), 0)
    sender.close()
  }
})

test('/health, /ready (processing, input in the last N s), last error with its time', async () => {
  const sender = await BsreadSender.bind({ address: 'tcp://127.0.0.1:*', sendTimeoutMs: 10_000 })
  const cli = await startCli(sender.endpoint, 'OBS', ['--ready_timeout_s', '1'])
  const enc = new BsreadEncoder()
  const client = new PsenProcessingClient(cli.base)
  try {
    const health = await api(cli.base, 'GET', '/health')
    assert.is(health.status, 200)
    assert.is(health.body.state, 'ok')
    let ready = await api(cli.base, 'GET', '/ready')
    assert.is(ready.status, 503)
    assert.is(ready.body.state, 'error')
    assert.match(ready.body.status as string, /not ready: processing is stopped/)
    await client.start()
    ready = await api(cli.base, 'GET', '/ready')
    assert.is(ready.status, 503)
    assert.match(ready.body.status as string, /no input received yet/)
    assert.is((await api(cli.base, 'GET', '/status')).body.last_error, null)

    // Input flows (a frame without the image channel: an error to report, input all the same).
    const put = (pulseId: bigint): Promise<boolean> =>
      sender.send(
        enc.encode({
          pulseId,
          globalTimestamp: { sec: 1, ns: 0 },
          channels: [{ info: { ...image(1, 1), name: 'OTHER:X', type: 'float64' }, value: 1.5 }],
        }),
      )
    const before = new Date()
    assert.ok(await put(1n))
    ready = await waitFor('ready', async () => {
      const a = await api(cli.base, 'GET', '/ready')
      return a.status === 200 ? a : undefined
    })
    assert.is(ready.body.state, 'ok')
    assert.is(ready.body.ready, true)
    const status = await api(cli.base, 'GET', '/status')
    const le = status.body.last_error as { message: string; time: string; cause: string }
    assert.is(le.cause, 'missing_image')
    assert.match(le.message, /no channel OBS:FPICTURE/)
    // Local time, written like the old service's timestamps, at or after the frame was sent.
    const t = new Date(le.time.replace(' ', 'T'))
    assert.ok(
      t.getTime() >= before.getTime() - 1000 && t.getTime() <= Date.now() + 1000,
      `last error time ${le.time}`,
    )
    const stats = await client.get_statistics()
    assert.equal(stats.last_error, le)

    // No input for longer than --ready_timeout_s: not ready, with the reason.
    ready = await waitFor('not ready', async () => {
      const r = await api(cli.base, 'GET', '/ready')
      return r.status === 503 && r
    })
    assert.is(ready.status, 503)
    assert.match(ready.body.status as string, /not ready: no input for \d+ s/)
    assert.ok(await put(2n))
    await waitFor('ready again', async () => (await api(cli.base, 'GET', '/ready')).status === 200)
    await client.stop()
    assert.is((await api(cli.base, 'GET', '/ready')).status, 503)
    assert.is((await api(cli.base, 'GET', '/health')).status, 200, 'up while stopped')
  } finally {
    assert.is(await cli.stop(), 0)
    sender.close()
  }
})

test.run()
