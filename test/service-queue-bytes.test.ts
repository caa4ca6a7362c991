// Output queues bounded in bytes as well as in messages: the image stream without a consumer
// holds at most --image_queue_mb, whatever the message count bound says.
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as zmq from 'zeromq'
import { PsenProcessingClient } from '../src/client/client.js'
import { OutputQueue } from '../src/processing/output-queue.js'
import { startSimulator } from '../src/sim/simulator.js'
import { StreamReader, sleep, startCli, waitFor } from './helpers/service.js'

const test = suite('service-queue-bytes')
const MiB = 1024 * 1024

test('OutputQueue: bytes bound what it holds; one message always fits', async () => {
  const q = await OutputQueue.bind('tcp://127.0.0.1:*', {
    capacity: 100,
    maxBytes: 5 * MiB,
    waitMs: 0,
  })
  const pull = new zmq.Pull({ linger: 0 })
  try {
    let queued = 0
    for (let i = 0; i < 20; i++) {
      if (q.offer([Buffer.from([i]), Buffer.alloc(MiB - 1)]) === true) queued++
    }
    assert.is(queued, 5)
    assert.is(q.dropped, 15)
    assert.is(q.bytes, 5 * MiB)
    const big = await OutputQueue.bind('tcp://127.0.0.1:*', {
      capacity: 10,
      maxBytes: MiB,
      waitMs: 0,
    })
    assert.is(big.offer([Buffer.alloc(3 * MiB)]), true, 'a message above the budget, alone')
    assert.is(big.offer([Buffer.alloc(1)]), false)
    big.close()
    // A consumer gets exactly what was held, in order; then the queue is empty.
    pull.connect(q.endpoint)
    for (let i = 0; i < 5; i++) assert.is((await pull.receive())[0]![0], i)
    await waitFor('the queue to drain', () => q.bytes === 0 && q.length === 0)
  } finally {
    pull.close()
    q.close()
  }
})

test('OutputQueue with a wait: a big message waits until enough bytes left', async () => {
  const q = await OutputQueue.bind('tcp://127.0.0.1:*', {
    capacity: 100,
    maxBytes: 3 * MiB,
    waitMs: 10_000,
  })
  const pull = new zmq.Pull({ linger: 0, receiveHighWaterMark: 1 })
  try {
    for (let i = 0; i < 3; i++) assert.is(q.offer([Buffer.alloc(MiB, i)]), true)
    const waiting = q.offer([Buffer.alloc(2 * MiB, 9)])
    assert.instance(waiting, Promise)
    pull.connect(q.endpoint)
    assert.is(await waiting, true)
    const got: number[] = []
    while (got.length < 4) got.push((await pull.receive())[0]![0]!)
    assert.equal(got, [0, 1, 2, 9])
  } finally {
    pull.close()
    q.close()
  }
})

test('--image_queue_mb: no image consumer holds at most that many MiB of images', async () => {
  const sim = await startSimulator({ rate: 200, width: 512, height: 256 })
  const cli = await startCli(sim.address, sim.prefix, ['--auto_start', '--image_queue_mb', '1'])
  try {
    const client = new PsenProcessingClient(cli.base)
    await waitFor(
      'images dropped for the byte bound',
      async () => ((await client.get_statistics()).n_dropped_images as number) > 0,
    )
    await client.stop()
    const image = new StreamReader(`tcp://127.0.0.1:${cli.imagePort}`)
    await waitFor('the queued images', () => image.messages.length > 0)
    await sleep(500) // a quiet period: the rest of the queue arrives, and nothing after it
    let bytes = 0
    for (const m of image.messages) for (const p of m.parts) bytes += p.length
    const n = image.messages.length
    assert.ok(n < 100, `${n} images: the byte bound, not the count bound (100)`)
    // The socket itself takes up to 4 messages beyond the queue (its own high-water mark).
    const each = bytes / n
    assert.ok(bytes <= MiB + 5 * each, `${n} images of ${each.toFixed(0)} bytes: ${bytes} bytes`)
    await image.close()
  } finally {
    assert.is(await cli.stop(), 0)
    await sim.close()
  }
})

test.run()
