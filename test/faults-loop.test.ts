// The processing loop is supervised: an unexpected exception (injected through the documented
// test-only PSEN_FAULT_INJECTION hook) inside a frame or in the receive loop itself is logged,
// counted, shown by /status and /statistics, and processing goes on; HTTP stays up.
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { BsreadEncoder } from '../src/bsread/encoder.js'
import { BsreadSender } from '../src/bsread/sender.js'
import type { ChannelInfo } from '../src/bsread/types.js'
import { PsenProcessingClient } from '../src/client/client.js'
import { FaultInjection } from '../src/processing/faults.js'
import { metricValue, scrape } from './helpers/metrics.js'
import { StreamReader, api, startCli, waitFor } from './helpers/service.js'

const test = suite('faults-loop')

const IMAGE: ChannelInfo = {
  name: 'LOOP:FPICTURE',
  type: 'uint8',
  shape: [8, 4],
  encoding: 'little',
  compression: 'none',
}

test('the hook parses its variable and rejects typos', () => {
  assert.is(FaultInjection.parse(undefined), undefined)
  assert.is(FaultInjection.parse(''), undefined)
  const f = FaultInjection.parse('frame:5, loop:7')!
  f.frame(4n)
  assert.throws(() => f.frame(5n), /pulse 5/)
  f.loop(5n)
  assert.throws(() => f.loop(7n), /receive loop/)
  assert.throws(() => FaultInjection.parse('frame=5'), /PSEN_FAULT_INJECTION/)
})

test('exceptions in a frame and in the receive loop: logged, counted, shown', async () => {
  const sender = await BsreadSender.bind({ address: 'tcp://127.0.0.1:*', sendTimeoutMs: 10_000 })
  const cli = await startCli(sender.endpoint, 'LOOP', ['--auto_start'], {
    PSEN_FAULT_INJECTION: 'frame:5,loop:12',
  })
  const data = new StreamReader(`tcp://127.0.0.1:${cli.dataPort}`)
  const enc = new BsreadEncoder()
  const client = new PsenProcessingClient(cli.base)
  const put = async (pulseId: bigint): Promise<void> => {
    assert.ok(
      await sender.send(
        enc.encode({
          pulseId,
          globalTimestamp: { sec: 1, ns: 0 },
          channels: [{ info: IMAGE, value: new Uint8Array(32).fill(Number(pulseId)) }],
        }),
      ),
    )
  }
  try {
    await client.set_roi_signal([0, 8, 0, 4])
    for (let p = 1n; p <= 10n; p++) await put(p)
    // Frame 5 failed unexpectedly: it is lost (counted), the next frames go on as usual.
    const first = await data.take(9)
    assert.equal(
      first.map((m) => m.pulseId),
      [1n, 2n, 3n, 4n, 6n, 7n, 8n, 9n, 10n],
    )
    for (const m of first) assert.ok(m.value('LOOP:FPICTURE.roi_signal_x_profile'))
    let s = await client.get_statistics()
    assert.is((s.n_frame_errors as Record<string, number>).exception, 1)
    let status = await api(cli.base, 'GET', '/status')
    const le = status.body.last_error as { message: string; time: string; cause: string }
    assert.is(le.cause, 'exception')
    assert.match(le.message, /injected fault while processing pulse 5/)
    assert.match(le.time, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d/)

    // Pulse 12 breaks the receive loop: the supervisor restarts it (a fresh connection).
    await put(11n)
    await put(12n)
    await data.take(1)
    await waitFor(
      'the loop restart',
      async () => (await client.get_statistics()).loop_restarts === 1,
    )
    status = await api(cli.base, 'GET', '/status')
    assert.is(status.body.state, 'ok', 'HTTP stays up')
    assert.is(status.body.status, 'processing', 'still processing')
    const le2 = status.body.last_error as { message: string; cause: string }
    assert.is(le2.cause, 'loop')
    assert.match(
      le2.message,
      /processing loop failed.*injected fault in the receive loop at pulse 12/,
    )
    s = await client.get_statistics()
    assert.is((s.last_error as { cause: string }).cause, 'loop', '/statistics shows it too')
    const m = await scrape(cli.base)
    assert.is(metricValue(m, 'psen_loop_restarts_total'), 1)
    assert.is(metricValue(m, 'psen_frame_errors_total', { cause: 'exception' }), 1)

    // Frames flow again after the restart, without any REST call.
    let next = 100n
    await waitFor(
      'frames after the restart',
      async () => {
        await put(next++)
        return data.messages.length > 0
      },
      15_000,
      50,
    )
    const after = await data.take(1)
    assert.ok(after[0]!.pulseId >= 100n)
    assert.ok(after[0]!.value('LOOP:FPICTURE.roi_signal_x_profile'))
    // Logged as errors, with the stack in the log (not in HTTP answers).
    const log = cli.output()
    assert.match(log, /injected fault while processing pulse 5/)
    assert.match(log, /processing loop failed/)
    assert.match(log, /test-only fault injection is on/)
    assert.not.match(JSON.stringify(status.body), /at .*\.(ts|js):\d+/)
  } finally {
    await data.close()
    assert.is(await cli.stop(), 0)
    sender.close()
  }
})

test.run()
