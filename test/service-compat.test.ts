// The old service's own client tests, replayed against the real CLI: frames sent before the
// start, a consumer that connects only after it, pulse ids from 0, ROI changes while running
// with the sender restarted on the same port, and no ROI at all.
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { decodeValue } from '../src/bsread/decoder.js'
import { BsreadEncoder } from '../src/bsread/encoder.js'
import { BsreadSender } from '../src/bsread/sender.js'
import type { ChannelInfo } from '../src/bsread/types.js'
import { PsenProcessingClient } from '../src/client/client.js'
import { freePort } from './helpers/ports.js'
import { StreamReader, startCli, waitFor, type CliProcess } from './helpers/service.js'

const PREFIX = 'JUST_TESTING'
const N_IMAGES = 5
const IMAGE: ChannelInfo = {
  name: `${PREFIX}:FPICTURE`,
  type: 'uint16',
  shape: [1024, 1024],
  encoding: 'little',
  compression: 'none',
}
const ONES = new Uint16Array(1024 * 1024).fill(1)

interface Ctx {
  port: number
  cli: CliProcess
  client: PsenProcessingClient
}
const test = suite<Ctx>('service-compat')

/**
 * Like the old test's sender process: binds, sends n frames with pulse ids from 0, closes
 * once the service has received them all (the socket's linger is 0: queued frames would go).
 */
async function sendImages(port: number, client: PsenProcessingClient, n = N_IMAGES): Promise<void> {
  const received = async (): Promise<number> =>
    ((await client.get_statistics()).n_received_images as number | undefined) ?? 0
  const before = await received()
  const sender = await BsreadSender.bind({
    address: `tcp://127.0.0.1:${port}`,
    sendTimeoutMs: 20_000,
  })
  const enc = new BsreadEncoder()
  try {
    for (let i = 0; i < n; i++) {
      const ok = await sender.send(
        enc.encode({
          pulseId: BigInt(i),
          globalTimestamp: { sec: 1_700_000_000, ns: i },
          channels: [{ info: IMAGE, value: ONES }],
        }),
      )
      assert.ok(ok, 'frame taken')
    }
    await waitFor(
      `the service to receive ${n} frames`,
      async () => (await received()) >= before + n,
    )
  } finally {
    sender.close()
  }
}

test.before.each(async (ctx) => {
  ctx.port = await freePort()
  ctx.cli = await startCli(`tcp://localhost:${ctx.port}`, PREFIX)
  ctx.client = new PsenProcessingClient(`${ctx.cli.base}/`)
})

test.after.each(async (ctx) => {
  assert.is(await ctx.cli.stop(), 0)
})

test('classic interaction', async ({ cli, client, port }) => {
  const sending = sendImages(port, client) // waits for the service to connect, as the old sender did
  assert.is(await client.get_status(), 'stopped')
  assert.equal(await client.get_roi_signal(), [])
  assert.equal(await client.get_roi_background(), [])
  await client.set_roi_signal(null)
  assert.equal(await client.get_roi_signal(), [])
  await client.set_roi_signal([0, 1024, 0, 1024])
  await client.set_roi_background([0, 100, 0, 100])
  assert.equal(await client.get_statistics(), {})
  await client.start()
  assert.is(await client.get_status(), 'processing')
  assert.ok('processing_start_time' in (await client.get_statistics()))
  await sending
  // The consumer connects only now: the frames processed meanwhile waited in the data queue.
  const data = new StreamReader(`tcp://localhost:${cli.dataPort}`)
  const got = await data.take(N_IMAGES)
  await data.close()
  assert.equal(
    got.map((m) => m.pulseId),
    [0n, 1n, 2n, 3n, 4n],
  )
  const s = await client.get_statistics()
  assert.is(s.n_processed_images, N_IMAGES)
  assert.is(s.last_sent_pulse_id, N_IMAGES - 1)
  assert.ok('last_sent_time' in s)
  const profile = decodeValue(
    got[0]!.value(`${PREFIX}:FPICTURE.roi_signal_x_profile`)!,
  ) as BigUint64Array
  assert.is(profile.length, 1024)
  assert.ok(profile.every((v) => v === 1024n))
  assert.is(await client.get_status(), 'processing')
  await client.stop()
  assert.is(await client.get_status(), 'stopped')
  await client.start()
  assert.is(await client.get_status(), 'processing')
  await client.stop()
  assert.is(await client.get_status(), 'stopped')
})

test('change the ROI while running; the sender restarts on the same port', async (ctx) => {
  const { cli, client, port } = ctx
  await client.set_roi_signal([0, 1024, 0, 1024])
  await client.set_roi_background([0, 100, 0, 100])
  await client.start()
  await sendImages(port, client)
  const data = new StreamReader(`tcp://localhost:${cli.dataPort}`)
  const first = await data.take(N_IMAGES)
  await client.set_roi_signal([100, 200, 100, 200])
  await sendImages(port, client)
  const second = await data.take(N_IMAGES)
  await data.close()
  await client.stop()
  const params = (m: (typeof first)[number]) =>
    JSON.parse(decodeValue(m.value(`${PREFIX}:FPICTURE.processing_parameters`)!) as string) as {
      roi_signal: number[]
    }
  assert.equal(params(first[0]!).roi_signal, [0, 1024, 0, 1024])
  assert.equal(params(second[N_IMAGES - 1]!).roi_signal, [100, 200, 100, 200])
  const p = decodeValue(
    second[0]!.value(`${PREFIX}:FPICTURE.roi_signal_x_profile`)!,
  ) as BigUint64Array
  assert.is(p.length, 200)
  assert.ok(p.every((v) => v === 200n))
})

test('no ROI: no profile channels', async ({ cli, client, port }) => {
  await client.set_roi_signal([])
  await client.set_roi_background(null)
  await client.start()
  const data = new StreamReader(`tcp://localhost:${cli.dataPort}`)
  await sendImages(port, client)
  const got = await data.take(N_IMAGES)
  await data.close()
  await client.stop()
  for (const m of got) {
    assert.is(m.value(`${PREFIX}:FPICTURE.roi_signal_x_profile`), undefined)
    assert.is(m.value(`${PREFIX}:FPICTURE.roi_background_x_profile`), undefined)
    assert.is(m.value(`${PREFIX}:FPICTURE.edge_position`), undefined)
    assert.ok(m.value(`${PREFIX}:FPICTURE.processing_parameters`))
  }
  await waitFor(
    'statistics',
    async () => (await client.get_statistics()).n_processed_images === N_IMAGES,
  )
})

test.run()
