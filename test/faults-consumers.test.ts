// Consumers that are absent or slow never slow processing down: with no data consumer, a slow
// data consumer, or no image consumer, every frame the camera sends is received and processed,
// and what cannot be delivered is dropped and counted (/statistics and /metrics).
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as zmq from 'zeromq'
import { PsenProcessingClient } from '../src/client/client.js'
import { startSimulator, type Simulator } from '../src/sim/simulator.js'
import { metricValue, scrape } from './helpers/metrics.js'
import { StreamReader, sleep, startCli, waitFor, type CliProcess } from './helpers/service.js'

const test = suite('faults-consumers')

const RATE = 200
const STREAM_MS = 3000

interface Run {
  sim: Simulator
  cli: CliProcess
  client: PsenProcessingClient
}

async function setup(): Promise<Run> {
  const sim = await startSimulator({ rate: RATE, width: 512, height: 256 })
  const cli = await startCli(sim.address, sim.prefix)
  const client = new PsenProcessingClient(cli.base)
  await client.set_roi_signal([0, 512, 100, 60])
  await client.set_roi_background([0, 512, 0, 30])
  return { sim, cli, client }
}

/** Streams for STREAM_MS with processing on, then checks that nothing was lost on input. */
async function stream(r: Run): Promise<Record<string, unknown>> {
  await r.client.start()
  // The camera drops while nobody is connected; count from the first frame received on.
  await waitFor(
    'the first frames',
    async () => ((await r.client.get_statistics()).n_received_images as number) > 0,
  )
  const s0 = await r.client.get_statistics()
  const sent0 = r.sim.stats.sent
  const dropped0 = r.sim.stats.dropped
  await sleep(STREAM_MS) // the scenario: stream for a fixed time
  const s = await r.client.get_statistics()
  const sent = r.sim.stats.sent - sent0
  // Every frame the camera handed to zeromq reaches the service and is processed: the input
  // never backs up, whatever the outputs do.
  await waitFor('the service to catch up with the camera', async () => {
    const now = await r.client.get_statistics()
    return (now.n_processed_images as number) - (s0.n_processed_images as number) >= sent
  })
  assert.is(r.sim.stats.dropped - dropped0, 0, 'the camera never had to drop a frame')
  assert.ok(sent >= (RATE * STREAM_MS) / 1000 / 2, `camera sent ${sent} frames`)
  return { ...s, camera_sent: sent }
}

async function teardown(r: Run): Promise<void> {
  assert.is(await r.cli.stop(), 0)
  await r.sim.close()
}

test('no data consumer and no image consumer: processing at full rate, drops counted', async () => {
  const r = await setup()
  try {
    const s = await stream(r)
    await r.client.stop()
    const after = await r.client.get_statistics()
    const processed = after.n_processed_images as number
    // The first 100 of each stream wait in their queue (for a consumer that connects late).
    assert.is(after.n_dropped_data, processed - 100, 'data drops counted')
    assert.is(after.n_dropped_images, processed - 100, 'image drops counted')
    const m = await scrape(r.cli.base)
    const dropped = (reason: string): number =>
      metricValue(m, 'psen_frames_dropped_total', { reason })
    assert.is(dropped('data_queue'), processed - 100)
    assert.is(dropped('image_queue'), processed - 100)
    console.log(
      `  faults-consumers (none): camera ${s.camera_sent} frames, processed ` +
        `${processed}, input ${s.input_rate_hz} Hz, dropped data ${after.n_dropped_data} / ` +
        `images ${after.n_dropped_images}`,
    )
  } finally {
    await teardown(r)
  }
})

test('a slow data consumer (10 messages/s): full rate, the rest dropped', async () => {
  const r = await setup()
  const slow = new zmq.Pull({ linger: 0, receiveHighWaterMark: 1 })
  slow.connect(`tcp://127.0.0.1:${r.cli.dataPort}`)
  const image = new StreamReader(`tcp://127.0.0.1:${r.cli.imagePort}`)
  let taken = 0
  let reading = true
  const reader = (async () => {
    while (reading) {
      try {
        await slow.receive()
        taken++
      } catch {
        return
      }
      await sleep(100) // pacing: this consumer reads 10 messages a second, on purpose
    }
  })()
  try {
    const s = await stream(r)
    reading = false
    slow.close()
    await reader
    const processed = s.n_processed_images as number
    assert.ok((s.n_dropped_data as number) > 0, 'data drops counted')
    assert.ok(taken > 0 && taken < processed / 4, `the slow consumer took ${taken}`)
    assert.is(s.n_dropped_images, 0, 'the image consumer kept up and lost nothing')
    await waitFor('every image', () => image.messages.length >= processed)
    console.log(
      `  faults-consumers (slow data): camera ${s.camera_sent}, processed ` +
        `${processed}, ` +
        `slow consumer took ${taken}, dropped data ${s.n_dropped_data}, images delivered ` +
        `${image.messages.length}`,
    )
  } finally {
    reading = false
    slow.close()
    await image.close()
    await teardown(r)
  }
})

test('no image consumer, a data consumer: every data message, image drops counted', async () => {
  const r = await setup()
  const data = new StreamReader(`tcp://127.0.0.1:${r.cli.dataPort}`)
  try {
    const s = await stream(r)
    await r.client.stop()
    const after = await r.client.get_statistics()
    const processed = after.n_processed_images as number
    await waitFor('every data message', () => data.messages.length >= processed)
    assert.is(after.n_dropped_data, 0)
    assert.is(after.n_dropped_images, processed - 100)
    const ids = data.messages.map((m) => m.pulseId)
    for (let i = 1; i < ids.length; i++) assert.ok(ids[i]! > ids[i - 1]!, 'in order, no duplicates')
    console.log(
      `  faults-consumers (no image): camera ${s.camera_sent}, processed ${processed}, ` +
        `data delivered ${data.messages.length}, images dropped ${after.n_dropped_images}`,
    )
  } finally {
    await data.close()
    await teardown(r)
  }
})

test.run()
