/**
 * Reads a recording on a second thread: the read-ahead thread (read-ahead-worker.ts) reads the
 * next records and checks their CRC-32 while this thread analyses the one before, so a frame
 * costs the longer of the two instead of their sum (docs/recording.md, "Speed"); this thread
 * sums the end of each CRC when it would otherwise wait (#balance). Messages come out in file
 * order, each a view into a buffer of the ring (read-ahead-ring.ts), valid until the next call
 * to `next`. A damaged or torn record ends the messages exactly as RecordingReader does: every
 * message before it, then `damage`; a read error is thrown from `next`.
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
  SHARE_ONE,
  stop,
  type ReadAheadInit,
  type ToProducer,
} from './read-ahead-ring.js'
import {
  CHECKSUM_MISMATCH,
  crcHolds,
  type MessageSource,
  type RecordingDamage,
  type RecordingReader,
} from './reader.js'

/** One buffer being analysed, two read ahead: evens out records that take longer than others. */
const DEFAULT_BUFFERS = 3
/** The CRC-32 share's steps (in 1/SHARE_ONE of a payload) and bound (see #balance). */
const SHARE_UP = 8
const SHARE_DOWN = 2
const SHARE_MAX = SHARE_ONE / 2

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
  readonly #verify: boolean

  private constructor(file: RecordingReader, worker: Worker, port: MessagePort, ints: Int32Array) {
    this.path = file.path
    this.size = file.size
    this.#position = file.position
    this.#file = file
    this.#worker = worker
    this.#port = port
    this.#ints = ints
    this.#verify = file.verify
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
    opts: {
      buffers?: number
      /** The share of the CRC-32 this thread sums at first (0 to 0.5; then the balance's). */
      crcShare?: number
    } = {},
  ): Promise<ReadAheadReader> {
    const shared = counters()
    const share = Math.round(Math.min(0.5, Math.max(0, opts.crcShare ?? 0)) * SHARE_ONE)
    Atomics.store(new Int32Array(shared), Counter.SHARE, share)
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

  /** The share of each record's CRC-32 this thread sums now (0 to 0.5; see #balance). */
  get crcShare(): number {
    return Atomics.load(this.#ints, Counter.SHARE) / SHARE_ONE
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
    if (this.#verify) this.#balance(m === undefined)
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
    const payload = Buffer.from(m.buffer, 0, m.length)
    if (m.unchecked && !crcHolds(payload, m.unchecked)) {
      this.#ended = true
      this.damage = { offset: m.offset, reason: CHECKSUM_MISMATCH }
      return undefined
    }
    const p = parseMessagePayload(payload)
    if (typeof p === 'string') {
      this.#ended = true
      this.damage = { offset: m.offset, reason: p }
      return undefined
    }
    this.count++
    this.#position = m.next
    return { receivedAt: p.receivedAt, parts: p.parts, offset: m.offset }
  }

  /**
   * Moves the share of the CRC-32 this thread sums (Counter.SHARE): up when it had to wait for
   * a record (it has time to spare), down a little when one was ready (the read-ahead thread
   * keeps up). So the two threads even out their work, whichever is the slower one.
   */
  #balance(waited: boolean): void {
    const share = Atomics.load(this.#ints, Counter.SHARE)
    const next = waited ? Math.min(SHARE_MAX, share + SHARE_UP) : Math.max(0, share - SHARE_DOWN)
    if (next !== share) Atomics.store(this.#ints, Counter.SHARE, next)
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
