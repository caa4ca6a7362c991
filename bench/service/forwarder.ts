/**
 * The floor of the service's shell with its image stream: a bare zeromq.js PULL that forwards
 * every message as received on a PUSH (what the service does with each frame before any
 * processing), with the service's young-generation collections (src/processing/scavenger.ts).
 * Its CPU per frame is receive + forward without kernels, headers or anything else.
 *
 * Usage (forked with an IPC channel): forwarder.ts IN_ENDPOINT OUT_PORT
 * @module
 */
import { Pull, Push, context } from 'zeromq'
import { messageBytes } from '../../src/bsread/receive-queue.js'
import { FrameScavenger, minorCollector } from '../../src/processing/scavenger.js'
import type { ConsumerEvent } from './common.js'

const [endpoint, port] = process.argv.slice(2)
if (!endpoint || !port || !process.send) {
  console.error('usage: forwarder.ts IN_ENDPOINT OUT_PORT (forked with IPC)')
  process.exit(2)
}
const send = (ev: ConsumerEvent) => process.send?.(ev)

context.blocky = false
const collect = minorCollector()
const scavenger = collect ? new FrameScavenger(collect) : undefined
// The service's image stream: PUSH, high-water mark 4.
const out = new Push({ linger: 0, sendHighWaterMark: 4 })
await out.bind(`tcp://127.0.0.1:${port}`)
const pull = new Pull({ linger: 0 })
pull.connect(endpoint)
send({ type: 'ready' })
process.on('disconnect', () => {
  pull.close()
  out.close()
})
try {
  for await (const parts of pull) {
    await out.send(parts)
    scavenger?.frameDone(messageBytes(parts))
  }
} catch {
  // closed
}
