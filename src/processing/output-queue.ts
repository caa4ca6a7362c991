/**
 * A bounded queue in front of an output socket. ZeroMQ keeps nothing for a PUSH socket without a
 * peer, but the contract's streams queue up to N messages whether or not a consumer is
 * connected yet (the old service waited for its first consumer; a consumer that connects a
 * moment after a start must still get those frames). Messages wait here and are handed to the
 * socket as soon as it can take them; a full queue drops (image stream) or makes the caller
 * wait a bounded time and then drops (data stream). Nothing ever blocks the receive loop for
 * longer than that wait.
 *
 * It also knows whether a consumer is connected (zeromq's accept/disconnect events) and says so
 * in the log once per change, instead of a drop warning every few seconds while nobody listens.
 * @module
 */
import { messageBytes } from '../bsread/receive-queue.js'
import { BsreadSender } from '../bsread/sender.js'
import type { OutputMode } from '../config.js'
import type { Logger } from '../log.js'

interface Item {
  parts: Buffer[]
  bytes: number
  onSent: ((sent: true) => void) | undefined
}

export interface OutputQueueOptions {
  /** Messages held while the socket cannot take them. */
  capacity: number
  /** Bytes held at most (default: no byte bound); one message is always let in. */
  maxBytes?: number
  /** Longest wait in ms for room when full (0: drop at once). */
  waitMs: number
  /** PUSH (default: each message to one consumer) or PUB (every consumer gets every one). */
  mode?: OutputMode
  /** Where consumers connecting and leaving are reported, and the stream's name for it. */
  log?: Logger
  name?: string
}

/** How long one socket send may wait before it is retried (no CPU spent meanwhile). */
const RETRY_MS = 250

export class OutputQueue {
  readonly capacity: number
  readonly maxBytes: number
  readonly waitMs: number
  readonly mode: OutputMode
  /** Messages handed to the socket. */
  sent = 0
  /** Messages dropped because the queue stayed full. */
  dropped = 0
  readonly #sender: BsreadSender
  readonly #items: Item[] = []
  #bytes = 0
  readonly #waiters: Array<() => void> = []
  #draining = false
  #closed = false
  readonly #log: Logger | undefined
  readonly #name: string
  #consumers = 0
  /** Whether "no consumer" was said since the last change (said once per change). */
  #toldNoConsumer = false

  private constructor(sender: BsreadSender, opts: OutputQueueOptions) {
    this.#sender = sender
    this.capacity = Math.max(1, opts.capacity)
    this.maxBytes = opts.maxBytes ?? Infinity
    this.waitMs = Math.max(0, opts.waitMs)
    this.mode = opts.mode ?? 'push'
    this.#log = opts.log
    this.#name = opts.name ?? 'output'
    // A bound socket sees each consumer's connection accepted and, when it goes, disconnected.
    sender.events.on('accept', () => this.#consumersChanged(+1))
    sender.events.on('disconnect', () => this.#consumersChanged(-1))
  }

  /** Binds a PUSH (or PUB) socket at `address` behind a queue. */
  static async bind(address: string, opts: OutputQueueOptions): Promise<OutputQueue> {
    // The socket's own queue stays small: this queue is the one that bounds memory and counts.
    // PUB keeps zeromq's default: a slow subscriber loses its own messages, nobody else waits.
    const sender = await BsreadSender.bind({
      address,
      mode: opts.mode ?? 'push',
      sendHighWaterMark: 4,
      sendTimeoutMs: RETRY_MS,
    })
    return new OutputQueue(sender, opts)
  }

  /** Consumers connected now. */
  get consumers(): number {
    return this.#consumers
  }

  /** The bound port (from the endpoint). */
  get port(): number {
    return Number(/:(\d+)$/.exec(this.endpoint)?.[1] ?? NaN)
  }

  /** The bound endpoint with its actual port. */
  get endpoint(): string {
    return this.#sender.endpoint
  }

  /** Messages waiting. */
  get length(): number {
    return this.#items.length
  }

  /** Bytes waiting. */
  get bytes(): number {
    return this.#bytes
  }

  /**
   * Queues a message. Returns true when it was queued (at once or after waiting for room),
   * false when it was dropped. `onSent` runs when the socket took it.
   */
  offer(parts: Buffer[], onSent?: (sent: true) => void): boolean | Promise<boolean> {
    if (this.#closed) {
      this.dropped++
      return false
    }
    if (this.#consumers === 0 && !this.#toldNoConsumer) this.#tellNoConsumer('no consumer on')
    const bytes = messageBytes(parts)
    if (this.#hasRoom(bytes)) {
      this.#push(parts, bytes, onSent)
      return true
    }
    if (this.waitMs === 0) {
      this.dropped++
      return false
    }
    return new Promise<boolean>((resolve) => {
      const wake = (): void => {
        if (!this.#closed && !this.#hasRoom(bytes)) {
          // One message out may not make room for a bigger one: wait on (until the timer).
          this.#waiters.unshift(wake)
          return
        }
        clearTimeout(timer)
        if (this.#closed) {
          this.dropped++
          resolve(false)
          return
        }
        this.#push(parts, bytes, onSent)
        resolve(true)
      }
      const timer = setTimeout(() => {
        const i = this.#waiters.indexOf(wake)
        if (i >= 0) this.#waiters.splice(i, 1)
        this.dropped++
        resolve(false)
      }, this.waitMs)
      this.#waiters.push(wake)
    })
  }

  /** Discards what is queued and closes the socket (linger 0). Idempotent. */
  close(): void {
    if (this.#closed) return
    this.#closed = true
    this.#items.length = 0
    this.#bytes = 0
    for (const w of this.#waiters.splice(0)) w()
    this.#sender.close()
  }

  #consumersChanged(delta: number): void {
    if (this.#closed) return
    const before = this.#consumers
    this.#consumers = Math.max(0, before + delta)
    if (before === 0 && this.#consumers > 0) {
      this.#toldNoConsumer = false
      this.#log?.info(
        { stream: this.#name, port: this.port, consumers: this.#consumers },
        `a consumer connected to the ${this.#name} port ${this.port}; messages flow`,
      )
    } else if (before > 0 && this.#consumers === 0) {
      this.#tellNoConsumer('the last consumer left')
    }
  }

  /** `what`: 'no consumer on' or 'the last consumer left'. */
  #tellNoConsumer(what: string): void {
    this.#toldNoConsumer = true
    // The image stream is often read by nobody: that is normal, not worth a warning.
    const level = this.#name === 'data' ? 'warn' : 'info'
    // PUSH keeps the first messages (up to its bounds) for the first consumer; PUB keeps none.
    const kept = this.mode === 'push' ? ` (up to ${this.capacity} wait for it)` : ''
    this.#log?.[level](
      { stream: this.#name, port: this.port, mode: this.mode },
      `${what} the ${this.#name} port ${this.port}; messages are dropped until one ` +
        `connects${kept}`,
    )
  }

  /** Room for a message of `bytes`: below both bounds, or an empty queue (one always fits). */
  #hasRoom(bytes: number): boolean {
    const n = this.#items.length
    return n === 0 || (n < this.capacity && this.#bytes + bytes <= this.maxBytes)
  }

  #push(parts: Buffer[], bytes: number, onSent: Item['onSent']): void {
    this.#items.push({ parts, bytes, onSent })
    this.#bytes += bytes
    if (!this.#draining) void this.#drain()
  }

  async #drain(): Promise<void> {
    this.#draining = true
    try {
      while (this.#items.length > 0 && !this.#closed) {
        const item = this.#items[0] as Item
        let sent: boolean
        try {
          sent = await this.#sender.send(item.parts)
        } catch {
          // A socket error on this message (not a full queue): drop it rather than retry for ever.
          this.#items.shift()
          this.#bytes -= item.bytes
          this.dropped++
          this.#waiters.shift()?.()
          continue
        }
        // False: the socket had no room (or no peer) for RETRY_MS; keep the message and retry.
        if (!sent) continue
        this.#items.shift()
        this.#bytes -= item.bytes
        this.sent++
        item.onSent?.(true)
        this.#waiters.shift()?.()
      }
    } finally {
      this.#draining = false
    }
  }
}
