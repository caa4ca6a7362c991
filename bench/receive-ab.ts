/**
 * Side-by-side throughput of BsreadReceiver.receiveRaw with libzmq's receive queue alone (A:
 * 100 messages) and with the receiver's own byte-bounded queue in front of a 2-message libzmq
 * queue (B: --input_queue_mb), interleaved run by run so that a busy neighbour slows both
 * alike; wall-clock messages/s, median of 5 runs per message size.
 *
 *   node --import tsx bench/receive-ab.ts
 * @module
 */
import * as zmq from 'zeromq'
import { BsreadReceiver } from '../src/bsread/receiver.js'

async function run(queued: boolean, n: number, size: number): Promise<number> {
  const push = new zmq.Push({ sendHighWaterMark: 1000, linger: 0 })
  await push.bind('tcp://127.0.0.1:*')
  const rx = new BsreadReceiver({
    address: push.lastEndpoint!,
    receiveHighWaterMark: 100,
    ...(queued ? { queueBytes: 512 * 1024 * 1024 } : {}),
  })
  const msg = [Buffer.alloc(200, 1), Buffer.alloc(size, 2)]
  const sending = (async () => {
    for (let i = 0; i < n; i++) await push.send(msg)
  })()
  await rx.receiveRaw()
  const t0 = performance.now()
  for (let i = 1; i < n; i++) await rx.receiveRaw()
  const seconds = (performance.now() - t0) / 1000
  await sending
  rx.close()
  push.close()
  return (n - 1) / seconds
}

const median = (x: number[]): number => x.sort((p, q) => p - q)[Math.floor(x.length / 2)]!

for (const [size, n] of [
  [1000, 20_000],
  [1 << 20, 2000],
  [5_500_000, 600],
] as const) {
  const a: number[] = []
  const b: number[] = []
  for (let r = 0; r < 5; r++) {
    a.push(await run(false, n, size))
    b.push(await run(true, n, size))
  }
  console.log(
    `${size} B messages: A (libzmq queue) ${median(a).toFixed(0)} msg/s, ` +
      `B (own queue) ${median(b).toFixed(0)} msg/s`,
  )
}
