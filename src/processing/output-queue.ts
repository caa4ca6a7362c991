/**
 * A bounded queue in front of an output socket. ZeroMQ keeps nothing for a PUSH socket without a
 * peer, but the contract's streams queue up to N messages whether or not a consumer is
 * connected yet (the old service waited for its first consumer; a consumer that connects a
 * moment after a start must still get those frames). Messages wait here and are handed to the
 * socket as soon as it can take them; a full queue drops (image stream) or makes the caller
 * wait a bounded time and then drops (data stream). Nothing ever blocks the receive loop for
 * longer than that wait.
 * @module
 */
import { messageBytes } from '../bsread/receive-queue.js'
import { BsreadSender } from '../bsread/sender.js'

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
}

/** How long one socket send may wait before it is retried (no CPU spent meanwhile). */
const RETRY_MS = 250

export class OutputQueue {
  readonly capacity: number
  readonly maxBytes: number
  readonly waitMs: number
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

  private constructor(sender: BsreadSender, opts: OutputQueueOptions) {
    this.#sender = sender
    this.capacity = Math.max(1, opts.capacity)
    this.maxBytes = opts.maxBytes ?? Infinity
    this.waitMs = Math.max(0, opts.waitMs)
  }

  /** Binds a PUSH socket at `address` behind a queue. */
  static async bind(address: string, opts: OutputQueueOptions): Promise<OutputQueue> {
    // The socket's own queue stays small: this queue is the one that bounds memory and counts.
    const sender = await BsreadSender.bind({
      address, mode: 'push', sendHighWaterMark: 4, sendTimeoutMs: RETRY_MS,
    })
    return new OutputQueue(sender, opts)
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
