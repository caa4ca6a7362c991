import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as zmq from 'zeromq'

import { decodeValue, type BsreadMessage } from '../src/bsread/decoder.js'
import { BsreadEncoder, type EncodeChannel } from '../src/bsread/encoder.js'
import { BsreadReceiver } from '../src/bsread/receiver.js'
import { BsreadSender } from '../src/bsread/sender.js'
import {
  CHANNEL_TYPES,
  type BsreadCodec,
  type ChannelInfo,
  type ChannelType,
  type Compression,
} from '../src/bsread/types.js'
import { loadCodec } from './helpers/bsread.js'
import { freePort } from './helpers/ports.js'
import { sleep, waitFor } from './helpers/wait.js'

zmq.context.blocky = false
const codec: BsreadCodec = await loadCodec()
const compressions: Compression[] = ['none', 'lz4', 'bitshuffle_lz4']

/** Sends until the receiver yields one message (PUSH drops while no peer is connected). */
async function sendUntilReceived(
  sender: BsreadSender,
  it: AsyncIterator<BsreadMessage>,
  parts: () => Buffer[],
): Promise<BsreadMessage> {
  const next = it.next()
  let got: IteratorResult<BsreadMessage> | undefined
  void next.then((r) => {
    got = r
  })
  await waitFor(
    'a message through',
    async () => {
      await sender.send(parts())
      return got !== undefined
    },
    10_000,
    5,
  )
  const r = await next
  if (r.done) throw new Error('receiver ended')
  return r.value
}

function sampleValue(type: ChannelType, n: number, seed: number): EncodeChannel['value'] {
  if (type === 'string') return `value ${seed} µ`
  if (type === 'bool') {
    return n === 1 ? seed % 2 === 0 : Array.from({ length: n }, (_, i) => i % 3 === 0)
  }
  const bias = type[0] === 'u' ? 0 : 60
  const vals = Array.from({ length: n }, (_, i) => ((i * 37 + seed) % 120) - bias)
  if (type === 'int64' || type === 'uint64') {
    const big = vals.map((v) => BigInt(v) + (type === 'uint64' ? 2n ** 63n : -(2n ** 62n)))
    return n === 1 ? big[0] : big
  }
  if (type.startsWith('float')) return n === 1 ? vals[0]! + 0.5 : vals.map((v) => v + 0.25)
  return n === 1 ? vals[0] : vals
}

function normalise(v: unknown): unknown {
  if (ArrayBuffer.isView(v)) return Array.from(v as unknown as ArrayLike<unknown>)
  return v
}

/** One bsread message of a 64 KiB uint8 channel filled with `fill`: fills queues fast. */
function bigMessage(fill: number): Buffer[] {
  const big = Buffer.alloc(64 * 1024, fill)
  const info: ChannelInfo = {
    name: 'B',
    type: 'uint8',
    shape: [big.length],
    encoding: 'little',
    compression: 'none',
  }
  return new BsreadEncoder().encode({
    pulseId: 1n,
    globalTimestamp: { sec: 1, ns: 1 },
    channels: [{ info, value: big }],
  })
}

/**
 * Closes a peer that stopped reading, and then its sender, without tearing down a multipart
 * message the peer's session holds half-delivered: libzmq 4.3.5 aborts the process when a
 * connection ends then (session_base.cpp, zeromq/libzmq#3442; it hit this file about one run in
 * five, after every test had passed). Reading what the peer holds first lets the session finish
 * the message.
 */
async function closeAfterDrain(peer: zmq.Pull | zmq.Subscriber, sender: BsreadSender) {
  peer.receiveTimeout = 200
  try {
    for (;;) await peer.receive()
  } catch {
    // EAGAIN: nothing more within the timeout
  }
  peer.close()
  sender.close()
}

const sockets = suite('bsread sockets')

sockets('round trip over PUSH/PULL for every type, compression and byte order', async () => {
  const sender = await BsreadSender.bind({ address: 'tcp://127.0.0.1:*', sendTimeoutMs: 100 })
  const receiver = new BsreadReceiver({ address: sender.endpoint, codec })
  const it = receiver.messages()
  try {
    const channels: EncodeChannel[] = []
    for (const compression of compressions) {
      for (const type of CHANNEL_TYPES) {
        for (const encoding of ['little', 'big'] as const) {
          for (const shape of type === 'string' ? [[1]] : [[1], [37], [16, 9]]) {
            const info: ChannelInfo = {
              name: `T:${type}:${compression}:${encoding}:${shape.join('x')}`,
              type,
              shape,
              encoding,
              compression,
            }
            const n = shape.reduce((a, b) => a * b, 1)
            channels.push({ info, value: sampleValue(type, n, channels.length) })
          }
        }
      }
    }
    channels.push({
      info: { name: 'EMPTY', type: 'float64', shape: [1], encoding: 'little', compression: 'none' },
      value: null,
    })
    const enc = new BsreadEncoder({ codec })
    const m = await sendUntilReceived(sender, it, () =>
      enc.encode({
        pulseId: 2n ** 60n + 7n,
        globalTimestamp: { sec: 1700000001, ns: 42 },
        channels,
      }),
    )
    assert.is(m.pulseId, 2n ** 60n + 7n)
    assert.equal(m.globalTimestamp, { sec: 1700000001, ns: 42 })
    assert.is(m.channels.length, channels.length)
    for (const c of channels) {
      const raw = m.value(c.info.name)
      if (c.value === null) {
        assert.is(raw, undefined)
        continue
      }
      assert.ok(raw, c.info.name)
      assert.equal(raw.info, c.info)
      assert.equal(raw.timestamp, { sec: 1700000001, ns: 42 })
      const got = normalise(decodeValue(raw, codec))
      let want = normalise(c.value)
      if (c.info.type === 'float32' && Array.isArray(want)) {
        want = Array.from(new Float32Array(want as number[]))
      }
      assert.equal(got, want, c.info.name)
    }
  } finally {
    receiver.close()
    sender.close()
  }
  assert.ok((await it.next()).done)
})

sockets('SUB receiver gets a PUB stream', async () => {
  const sender = await BsreadSender.bind({ address: 'tcp://127.0.0.1:*', mode: 'pub' })
  const receiver = new BsreadReceiver({ address: sender.endpoint, mode: 'sub' })
  const it = receiver.messages()
  const enc = new BsreadEncoder()
  const info: ChannelInfo = {
    name: 'X',
    type: 'int32',
    shape: [3],
    encoding: 'little',
    compression: 'none',
  }
  let pulse = 0n
  try {
    const m = await sendUntilReceived(sender, it, () =>
      enc.encode({
        pulseId: ++pulse,
        globalTimestamp: { sec: 5, ns: 6 },
        channels: [{ info, value: [1, -2, 3] }],
      }),
    )
    assert.ok(m.pulseId >= 1n)
    assert.equal(Array.from(decodeValue(m.value('X')!) as Int32Array), [1, -2, 3])
  } finally {
    receiver.close()
    sender.close()
  }
})

sockets('receiver reconnects when the sender is closed and re-bound on the same port', async () => {
  const port = await freePort()
  const address = `tcp://127.0.0.1:${port}`
  const enc = new BsreadEncoder()
  const info: ChannelInfo = {
    name: 'N',
    type: 'uint64',
    shape: [1],
    encoding: 'little',
    compression: 'none',
  }
  let pulse = 100n
  const make = () =>
    enc.encode({
      pulseId: ++pulse,
      globalTimestamp: { sec: 1, ns: 1 },
      channels: [{ info, value: pulse }],
    })
  const receiver = new BsreadReceiver({ address, reconnectIntervalMs: 20 })
  const it = receiver.messages()
  try {
    let sender = await BsreadSender.bind({ address, sendTimeoutMs: 20 })
    const first = await sendUntilReceived(sender, it, make)
    sender.close()
    // zeromq frees the port in its I/O thread, shortly after close.
    sender = await waitFor(
      'the port to be free again',
      () => BsreadSender.bind({ address, sendTimeoutMs: 20 }),
      2000,
      20,
    )
    const second = await sendUntilReceived(sender, it, make)
    assert.ok(second.pulseId > first.pulseId)
    assert.is(decodeValue(second.value('N')!), second.pulseId)
    sender.close()
  } finally {
    receiver.close()
  }
})

sockets('malformed messages are counted and reported; the stream goes on', async () => {
  const push = new zmq.Push({ linger: 0 })
  await push.bind('tcp://127.0.0.1:*')
  const errors: string[] = []
  const receiver = new BsreadReceiver({
    address: push.lastEndpoint!,
    onError: (e) => errors.push(e.reason),
  })
  const it = receiver.messages()
  const good = new BsreadEncoder().encode({
    pulseId: 9n,
    globalTimestamp: { sec: 1, ns: 2 },
    channels: [],
  })
  try {
    await push.send([Buffer.from('garbage')])
    await push.send([Buffer.from('{"htype": "bsr_m-1.1"'), Buffer.from('{}')])
    await push.send(good)
    const r = await it.next()
    assert.is(r.done, false)
    assert.is((r.value as BsreadMessage).pulseId, 9n)
    assert.equal(errors, ['not_multipart', 'bad_json'])
    assert.is(receiver.stats.errors, 2)
    assert.is(receiver.stats.byReason.bad_json, 1)
    assert.is(receiver.stats.decoded, 1)
  } finally {
    receiver.close()
    push.close()
  }
})

sockets('close() ends a waiting iteration', async () => {
  const port = await freePort()
  const receiver = new BsreadReceiver({ address: `tcp://127.0.0.1:${port}` })
  const it = receiver.messages()
  const pending = it.next()
  await sleep(20) // no event says "the receive is pending": give it the time to get there
  receiver.close()
  assert.ok((await pending).done)
})

sockets('sender drops and counts with no peer (bounded wait and non-blocking)', async () => {
  const parts = new BsreadEncoder().encode({
    pulseId: 1n,
    globalTimestamp: { sec: 1, ns: 1 },
    channels: [],
  })
  for (const nonBlocking of [false, true]) {
    const sender = await BsreadSender.bind({
      address: 'tcp://127.0.0.1:*',
      nonBlocking,
      sendTimeoutMs: 2,
    })
    try {
      const results = await Promise.all(Array.from({ length: 10 }, () => sender.send(parts)))
      assert.equal(results, new Array(10).fill(false))
      assert.is(sender.dropped, 10)
      assert.is(sender.sent, 0)
    } finally {
      sender.close()
    }
  }
})

sockets('sender drops and counts when the peer does not read', async () => {
  const parts = bigMessage(7)
  for (const nonBlocking of [true, false]) {
    const sender = await BsreadSender.bind({
      address: 'tcp://127.0.0.1:*',
      nonBlocking,
      sendHighWaterMark: 2,
      sendTimeoutMs: 1,
    })
    const peer = new zmq.Pull({ receiveHighWaterMark: 2, linger: 0 })
    peer.connect(sender.endpoint)
    try {
      // Wait for the connection: the first message must get through.
      await waitFor(
        'the first message through',
        async () => {
          await sender.send(parts)
          return sender.sent > 0
        },
        5000,
        2,
      )
      const before = sender.sent + sender.dropped
      const total = 1000
      // Concurrent sends too: they must be serialised or dropped, never EBUSY.
      const results = await Promise.all(Array.from({ length: total }, () => sender.send(parts)))
      assert.is(sender.sent + sender.dropped - before, total)
      assert.ok(results.filter((r) => !r).length > 0, 'some dropped')
      assert.ok(sender.dropped > 0)
    } finally {
      await closeAfterDrain(peer, sender)
    }
  }
})

sockets('PUB with pubNoDrop counts drops for a subscriber that does not read', async () => {
  const parts = bigMessage(3)
  const sender = await BsreadSender.bind({
    address: 'tcp://127.0.0.1:*',
    mode: 'pub',
    pubNoDrop: true,
    nonBlocking: true,
    sendHighWaterMark: 2,
  })
  const peer = new zmq.Subscriber({ receiveHighWaterMark: 2, linger: 0 })
  peer.subscribe()
  peer.connect(sender.endpoint)
  try {
    // Send in bursts of 10 until the queue is full and a message is dropped.
    await waitFor(
      'the first drop',
      async () => {
        for (let i = 0; i < 10; i++) await sender.send(parts)
        return sender.dropped > 0
      },
      10_000,
      1,
    )
    assert.ok(sender.sent > 0)
    assert.ok(sender.dropped > 0)
  } finally {
    await closeAfterDrain(peer, sender)
  }
})

sockets.run()
