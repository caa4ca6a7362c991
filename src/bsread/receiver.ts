/**
 * bsread input socket: PULL (default) or SUB, connecting to a stream, yielding decoded
 * messages. Malformed messages are counted and reported, never thrown out of the loop.
 * @module
 */
import * as zmq from 'zeromq'

import { BsreadDecoder, type BsreadMessage, type DecoderOptions } from './decoder.js'
import { BsreadError, brief, type BsreadErrorReason } from './errors.js'
import { ReceiveQueue, SOCKET_QUEUE } from './receive-queue.js'

/** How long zeromq has to reconnect by itself before the receiver connects again (ms). */
const RECONNECT_CHECK_MS = 1000

export interface ReceiverOptions extends DecoderOptions {
  /** `tcp://host:port` of the sender. */
  address: string
  /** PULL (point to point, default) or SUB (broadcast, subscribes to everything). */
  mode?: 'pull' | 'sub'
  /** Messages queued per connection before the sender has to wait or drop (default 100). */
  receiveHighWaterMark?: number
  /**
   * Bytes queued at most (default: no byte bound, libzmq's queue of `receiveHighWaterMark`
   * messages). With a bound, messages move from the socket into a ReceiveQueue as long as it
   * has room (see receive-queue.ts).
   */
  queueBytes?: number
  /** Milliseconds between reconnection attempts when the sender is gone (zeromq default 100). */
  reconnectIntervalMs?: number
  /** A shared decoder (otherwise one is made from the decoder options). */
  decoder?: BsreadDecoder
  /** Called for every malformed message, with the parts as received. */
  onError?: (err: BsreadError, parts: readonly Buffer[]) => void
  /**
   * Largest message part accepted, in bytes (default: no limit). zeromq disconnects a sender
   * that sends a bigger part before reading it into memory; the receiver then connects again
   * at once (libzmq itself would not reconnect after that).
   */
  maxPartBytes?: number
  /** Called when the connection to the sender is lost (sender gone, or a part too big). */
  onDisconnect?: () => void
}

export interface ReceiverStats {
  /** Multipart messages taken off the socket. */
  received: number
  /** Messages decoded and handed out. */
  decoded: number
  /** Malformed messages, total and by reason. */
  errors: number
  byReason: Partial<Record<BsreadErrorReason, number>>
  /** Lost connections to the sender (counted only with `maxPartBytes` or `onDisconnect`). */
  disconnects?: number
}

/**
 * Receives a bsread stream. zeromq reconnects by itself when the sender restarts; the loop
 * awaits the socket (no polling), and `close()` ends it at once.
 */
export class BsreadReceiver {
  readonly address: string
  readonly mode: 'pull' | 'sub'
  readonly decoder: BsreadDecoder
  readonly stats: ReceiverStats = { received: 0, decoded: 0, errors: 0, byReason: {} }
  /** Milliseconds the last `decode` took (header parsing and size checks; for metrics). */
  lastDecodeMs = 0
  #socket: zmq.Pull | zmq.Subscriber
  #onError: ReceiverOptions['onError']
  #onDisconnect: ReceiverOptions['onDisconnect']
  #closed = false
  #iterating = false
  readonly #queue: ReceiveQueue | undefined
  #pumping: Promise<void> | undefined
  /** Why the socket failed while the queue was being filled (thrown by the next receive). */
  #failure: unknown

  constructor(opts: ReceiverOptions) {
    this.address = opts.address
    this.mode = opts.mode ?? 'pull'
    this.decoder = opts.decoder ?? new BsreadDecoder(opts)
    this.#onError = opts.onError
    const hwm = opts.receiveHighWaterMark ?? 100
    this.#queue = opts.queueBytes === undefined ? undefined : new ReceiveQueue(hwm, opts.queueBytes)
    const common = {
      receiveHighWaterMark: this.#queue ? Math.min(hwm, SOCKET_QUEUE) : hwm,
      linger: 0,
      ...(opts.reconnectIntervalMs !== undefined
        ? { reconnectInterval: opts.reconnectIntervalMs }
        : {}),
      ...(opts.maxPartBytes !== undefined ? { maxMessageSize: opts.maxPartBytes } : {}),
    }
    if (this.mode === 'sub') {
      const sub = new zmq.Subscriber(common)
      sub.subscribe()
      this.#socket = sub
    } else {
      this.#socket = new zmq.Pull(common)
    }
    this.#socket.connect(this.address)
    if (opts.maxPartBytes !== undefined || opts.onDisconnect !== undefined) {
      this.#onDisconnect = opts.onDisconnect
      this.stats.disconnects = 0
      void this.#watch()
    }
  }

  /** Counts lost connections and connects again after zeromq dropped an oversized part. */
  async #watch(): Promise<void> {
    let again: NodeJS.Timeout | undefined
    try {
      for await (const event of this.#socket.events) {
        if (this.#closed) return
        if (event.type === 'connect') {
          // zeromq reconnected by itself (the peer had gone away): nothing to do.
          clearTimeout(again)
          again = undefined
          continue
        }
        if (event.type !== 'disconnect') continue
        this.stats.disconnects = (this.stats.disconnects ?? 0) + 1
        this.#onDisconnect?.()
        // A peer that went away is reconnected by zeromq anyway; one dropped for an oversized
        // part is not, so connect again when zeromq has not within a moment. Not at once:
        // zmq_disconnect ends the connection's pipe, and the messages the sender sent just
        // before it closed, still waiting there, would be lost (1 of 48 seen in a replay).
        clearTimeout(again)
        again = setTimeout(() => {
          again = undefined
          if (this.#closed) return
          try {
            this.#socket.disconnect(this.address)
            this.#socket.connect(this.address)
          } catch {
            // Closed meanwhile.
          }
        }, RECONNECT_CHECK_MS)
        again.unref()
      }
    } catch {
      // The socket (and its event observer) closed.
    } finally {
      clearTimeout(again)
    }
  }

  get closed(): boolean {
    return this.#closed
  }

  /** Messages and bytes in the receiver's own queue (with `queueBytes`; else zero). */
  get queued(): { messages: number; bytes: number } {
    return { messages: this.#queue?.length ?? 0, bytes: this.#queue?.bytes ?? 0 }
  }

  /**
   * The next multipart message as received, or undefined once the receiver is closed. Only
   * one receive may be pending at a time (zeromq rejects a second with EBUSY).
   */
  async receiveRaw(): Promise<Buffer[] | undefined> {
    if (this.#closed) return undefined
    if (this.#queue) return this.#fromQueue(this.#queue)
    try {
      const parts = await this.#socket.receive()
      this.stats.received++
      return parts
    } catch (err) {
      if (this.#closed || this.#socket.closed) return undefined
      throw err
    }
  }

  async #fromQueue(queue: ReceiveQueue): Promise<Buffer[] | undefined> {
    this.#pumping ??= this.#pump(queue)
    for (;;) {
      const parts = queue.shift()
      if (parts !== undefined) return parts
      if (this.#failure !== undefined) {
        const err = this.#failure
        this.#failure = undefined
        throw err
      }
      if (this.#closed || queue.ended) return undefined
      await queue.item()
    }
  }

  /** Moves messages from the socket into the queue while it has room, until closed. */
  async #pump(queue: ReceiveQueue): Promise<void> {
    try {
      while (!this.#closed) {
        if (!queue.hasRoom) {
          await queue.room()
          continue
        }
        const parts = await this.#socket.receive()
        this.stats.received++
        queue.push(parts)
      }
    } catch (err) {
      if (!this.#closed && !this.#socket.closed) this.#failure = err
    } finally {
      queue.end()
    }
  }

  /** Decodes parts, counting and reporting a malformed message (then returns undefined). */
  decode(parts: readonly Buffer[]): BsreadMessage | undefined {
    const t0 = performance.now()
    try {
      const m = this.decoder.decode(parts)
      this.stats.decoded++
      this.lastDecodeMs = performance.now() - t0
      return m
    } catch (thrown) {
      // The decoder throws only BsreadError; this holds even if a bug slipped through.
      const err =
        thrown instanceof BsreadError
          ? thrown
          : new BsreadError(
              'decode_failed',
              `cannot decode: ${brief(thrown instanceof Error ? thrown.message : thrown, 200)}`,
            )
      this.stats.errors++
      this.stats.byReason[err.reason] = (this.stats.byReason[err.reason] ?? 0) + 1
      this.#onError?.(err, parts)
      return undefined
    }
  }

  /** Decoded messages until `close()`; malformed ones are skipped (see `stats`, `onError`). */
  async *messages(): AsyncGenerator<BsreadMessage, void, undefined> {
    if (this.#iterating) throw new Error('BsreadReceiver: only one iteration at a time')
    this.#iterating = true
    try {
      for (;;) {
        const parts = await this.receiveRaw()
        if (parts === undefined) return
        const m = this.decode(parts)
        if (m !== undefined) yield m
      }
    } finally {
      this.#iterating = false
    }
  }

  [Symbol.asyncIterator](): AsyncGenerator<BsreadMessage, void, undefined> {
    return this.messages()
  }

  /** Closes the socket (linger 0); a pending iteration ends. Idempotent. */
  close(): void {
    if (this.#closed) return
    this.#closed = true
    this.#socket.close()
    this.#queue?.clear()
  }
}
