/**
 * The read-ahead thread of src/recording/read-ahead.ts: reads the recording's message records
 * in order into the ring's buffers (src/recording/read-ahead-ring.ts) and checks their CRC-32,
 * while the analysing thread works on the records before. It stops at the end of the file, at
 * the first damaged record (the consumer gets the reason), on an error (likewise) or when the
 * consumer asks it to; it exits when the consumer closes.
 * @module
 */
import { parentPort, workerData } from 'node:worker_threads'

import {
  bump,
  Counter,
  receiveBlocking,
  SHARE_ONE,
  waitStopped,
  type ReadAheadInit,
  type ToConsumer,
} from './read-ahead-ring.js'
import { RecordingReader } from './reader.js'

/** Room over a record's size when a buffer grows: records of one stream differ a little. */
const GROWTH = 1.25

const init = workerData as ReadAheadInit
const ints = new Int32Array(init.counters)
const port = init.port

function post(m: ToConsumer, transfer: ArrayBuffer[] = []): void {
  port.postMessage(m, transfer)
  bump(ints, Counter.POSTED)
}

function run(): void {
  const reader = RecordingReader.attach(init.path, init.fd, init.size, init.position, {
    verify: init.verify,
  })
  let made = 0
  try {
    for (;;) {
      // A new buffer until the ring has its number, then the ones the consumer gives back.
      let buffer: ArrayBuffer
      if (made < init.buffers) {
        made++
        buffer = new ArrayBuffer(0)
      } else {
        const back = receiveBlocking(port, ints)
        if (back === undefined) return
        buffer = back.buffer
      }
      const r = reader.nextRecord(
        (length) => {
          if (buffer.byteLength < length) buffer = new ArrayBuffer(Math.ceil(length * GROWTH))
          return Buffer.from(buffer, 0, length)
        },
        (length) => (length * Atomics.load(ints, Counter.SHARE)) / SHARE_ONE,
      )
      if (r === undefined) {
        post({ type: 'end', damage: reader.damage })
        return
      }
      const { offset, payload, unchecked } = r
      const next = reader.position
      post({ type: 'record', offset, next, buffer, length: payload.length, unchecked }, [buffer])
    }
  } catch (err) {
    const e = err instanceof Error ? err : new Error(String(err))
    post({ type: 'error', name: e.name, message: e.message })
  } finally {
    reader.close()
  }
}

// The consumer waits for this before it counts time: loading the modules is start-up.
parentPort?.postMessage('ready')
run()
// Alive until the consumer is done: it may still take the messages sent last, and an exit
// before its stop is a failure it reports.
waitStopped(ints)
