/**
 * Reads a recording on a second thread: the read-ahead thread (read-ahead-worker.ts) reads the
 * next records and checks their CRC-32 while this thread analyses the one before, so a frame
 * costs the longer of the two instead of their sum (docs/recording.md, "Speed"). Messages come
 * out in file order, each a view into a buffer of the ring (read-ahead-ring.ts), valid until
 * the next call to `next`. A damaged or torn record ends the messages exactly as RecordingReader does:
 * every message before it, then `damage`; a read error is thrown from `next`.
 * @module
 */
import { MessageChannel, type MessagePort, type Worker } from 'node:worker_threads'

import { startWorker } from '../kernel/start-worker.js'
import {
  parseMessagePayload,
  RecordingError,
  type RecordedMessage,
  type RecordingInfo,
} from './format.js'
import {
  bump,
  Counter,
  counters,
  receiveAsync,
  receiveNow,
  stop,
  type ReadAheadInit,
  type ToProducer,
} from './read-ahead-ring.js'
import type { MessageSource, RecordingDamage, RecordingReader } from './reader.js'

/** One buffer being analysed, two read ahead: evens out records that take longer than others. */
const DEFAULT_BUFFERS = 3

export class ReadAheadReader implements MessageSource {
  readonly path: string
  readonly size: number
  damage: RecordingDamage | undefined
  count = 0
  /**
   * Time `next` waited for the read-ahead thread (ms): near 0 when analysing is the slower
   * side, most of the run when reading and checking are.
   */
  waitedMs = 0
  readonly #file: RecordingReader
  readonly #worker: Worker
  readonly #port: MessagePort
  readonly #ints: Int32Array
  /** Rejects when the thread fails or exits before `close`. */
  readonly #failed: Promise<never>
  #position: number
  /** The buffer of the message handed out last (given back on the next call). */
  #held: ArrayBuffer | undefined
  #ended = false
  #closed = false

  private constructor(file: RecordingReader, worker: Worker, port: MessagePort, ints: Int32Array) {
    this.path = file.path
    this.size = file.size
    this.#position = file.position
    this.#file = file
    this.#worker = worker
    this.#port = port
    this.#ints = ints
    this.#failed = new Promise<never>((_resolve, reject) => {
      worker.once('error', (err) => reject(new Error(`read-ahead thread failed: ${err.message}`)))
      worker.once('exit', (code) => {
        if (!this.#closed) reject(new Error(`read-ahead thread exited (code ${code})`))
      })
    })
    // Seen by `next` when it waits; not an unhandled rejection when nobody waits any more.
    this.#failed.catch(() => undefined)
  }

  /**
   * Reads `file` (opened, its header and info record read) from its position on, in a new
   * thread; resolves once that thread runs. Takes `file` over: `close` closes it.
   */
  static async start(
    file: RecordingReader,
    opts: { buffers?: number } = {},
  ): Promise<ReadAheadReader> {
    const shared = counters()
    const { port1, port2 } = new MessageChannel()
    const init: ReadAheadInit = {
      path: file.path,
      fd: file.fd,
      size: file.size,
      position: file.position,
      verify: file.verify,
      buffers: Math.max(2, opts.buffers ?? DEFAULT_BUFFERS),
      counters: shared,
      port: port2,
    }
    const worker = startWorker(import.meta.url, 'read-ahead-worker', {
      workerData: init,
      transferList: [port2],
    })
    try {
      await new Promise<void>((resolve, reject) => {
        worker.once('message', () => resolve())
        worker.once('error', reject)
        worker.once('exit', (code) => reject(new Error(`read-ahead thread exited (code ${code})`)))
      })
    } catch (err) {
      port1.close()
      await worker.terminate()
      file.close()
      throw err
    }
    worker.removeAllListeners()
    return new ReadAheadReader(file, worker, port1, new Int32Array(shared))
  }

  get info(): RecordingInfo | undefined {
    return this.#file.info
  }

  /** Byte offset after the last message handed out. */
  get position(): number {
    return this.#position
  }

  /** The next message, or undefined at the end of the file or at damage (see `damage`). */
  async next(): Promise<RecordedMessage | undefined> {
    if (this.#closed) return undefined
    if (this.#held !== undefined) {
      const back: ToProducer = { buffer: this.#held }
      this.#port.postMessage(back, [this.#held])
      bump(this.#ints, Counter.RETURNED)
      this.#held = undefined
    }
    if (this.#ended) return undefined
    let m = receiveNow(this.#port)
    if (m === undefined) {
      const t0 = performance.now()
      m = await receiveAsync(this.#port, this.#ints, this.#failed)
      this.waitedMs += performance.now() - t0
    }
    if (m.type === 'error') {
      this.#ended = true
      throw m.name === 'RecordingError' ? new RecordingError(m.message) : new Error(m.message)
    }
    if (m.type === 'end') {
      this.#ended = true
      this.damage = m.damage
      return undefined
    }
    this.#held = m.buffer
    const p = parseMessagePayload(Buffer.from(m.buffer, 0, m.length))
    if (typeof p === 'string') {
      this.#ended = true
      this.damage = { offset: m.offset, reason: p }
      return undefined
    }
    this.count++
    this.#position = m.next
    return { receivedAt: p.receivedAt, parts: p.parts, offset: m.offset }
  }

  /** Stops the thread, waits until it is gone, closes the file (idempotent). */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    stop(this.#ints)
    // Returns once the thread has exited: no read of the file is in flight after it.
    await this.#worker.terminate()
    this.#port.close()
    this.#file.close()
  }
}
