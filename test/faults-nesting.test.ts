// Deeply nested JSON (valid, JSON.parse accepts it) in the headers of messages between valid
// frames, at full speed into the real CLI: the receive loop never restarts, every valid frame
// is processed and every hostile message is counted as malformed by reason.
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { md5hex } from '../src/bsread/decoder.js'
import { BsreadSender } from '../src/bsread/sender.js'
import { PsenProcessingClient } from '../src/client/client.js'
import { loadCodec } from './helpers/bsread.js'
import { FaultFactory, type Roi4 } from './helpers/faults.js'
import { metricValue, scrape } from './helpers/metrics.js'
import { StreamReader, startCli, waitFor } from './helpers/service.js'

const test = suite('faults-nesting')

const PREFIX = 'NEST'
const SIGNAL: Roi4 = [10, 100, 20, 30]
const DEPTH = 200_000
const VALID = 90

/** A message whose main or data header nests DEPTH levels deep, and the reason it counts as. */
function hostile(f: FaultFactory, i: number, pulse: bigint): { parts: Buffer[]; reason: string } {
  const arrays = '['.repeat(DEPTH) + ']'.repeat(DEPTH)
  // Objects take 7 bytes a level: 100,000 levels keep the header below its 1 MiB limit.
  const objects = '{"a": '.repeat(DEPTH / 2) + '1' + '}'.repeat(DEPTH / 2)
  const valid = f.valid(pulse, SIGNAL, SIGNAL).parts
  const main = JSON.parse(valid[0]!.toString()) as Record<string, unknown>
  const withField = (o: object, field: string, nested: string): Buffer =>
    Buffer.from(JSON.stringify({ ...o, [field]: '@@' }).replace('"@@"', nested))
  switch (i % 4) {
    case 0:
      return {
        parts: [withField(main, 'pulse_id', arrays), ...valid.slice(1)],
        reason: 'bad_pulse_id',
      }
    case 1:
      return { parts: [withField(main, 'htype', arrays), ...valid.slice(1)], reason: 'bad_htype' }
    case 2:
      return {
        parts: [withField(main, 'global_timestamp', objects), ...valid.slice(1)],
        reason: 'bad_timestamp',
      }
    default: {
      const dh = JSON.parse(valid[1]!.toString()) as { channels: object[] }
      const header = Buffer.from(
        JSON.stringify({ ...dh, channels: [{ ...dh.channels[0], shape: '@@' }] }).replace(
          '"@@"',
          arrays,
        ),
      )
      return {
        parts: [
          Buffer.from(JSON.stringify({ ...main, hash: md5hex(header) })),
          header,
          ...valid.slice(2),
        ],
        reason: 'bad_shape',
      }
    }
  }
}

test('nested headers between valid frames: no frame lost, no loop restart', async () => {
  const codec = await loadCodec()
  const f = new FaultFactory(codec, PREFIX, 256, 64, 4)
  const sender = await BsreadSender.bind({
    address: 'tcp://127.0.0.1:*',
    sendTimeoutMs: 60_000,
    sendHighWaterMark: 1000,
  })
  const cli = await startCli(sender.endpoint, PREFIX, [
    '--auto_start',
    '--data_queue',
    '1000',
    '--data_send_timeout_ms',
    '60000',
  ])
  const data = new StreamReader(`tcp://127.0.0.1:${cli.dataPort}`)
  try {
    const client = new PsenProcessingClient(cli.base)
    await client.set_roi_signal(SIGNAL)
    const malformed: Record<string, number> = {}
    const bad = Array.from({ length: VALID }, (_, i) => hostile(f, i, BigInt(5000 + i)))
    for (let i = 0; i < VALID; i++) {
      assert.ok(await sender.send(f.valid(BigInt(1000 + i), SIGNAL, SIGNAL).parts))
      const b = bad[i]!
      assert.ok(await sender.send(b.parts))
      malformed[b.reason] = (malformed[b.reason] ?? 0) + 1
    }
    await waitFor(
      `${VALID} data messages (have ${data.messages.length})`,
      () => data.messages.length >= VALID,
      30_000,
    )
    const ids = data.messages.map((m) => Number(m.pulseId))
    assert.equal(
      ids,
      Array.from({ length: VALID }, (_, i) => 1000 + i),
      'every valid frame',
    )
    const s = await waitFor('all hostile messages counted', async () => {
      const st = await client.get_statistics()
      return st.n_malformed === VALID ? st : undefined
    })
    assert.equal(s.malformed_by_reason, malformed)
    assert.is(s.loop_restarts, 0, 'the receive loop never restarted')
    assert.is(metricValue(await scrape(cli.base), 'psen_loop_restarts_total'), 0)
  } finally {
    await data.close()
    assert.is(await cli.stop(), 0)
    sender.close()
  }
})

test.run()
