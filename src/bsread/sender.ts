/**
 * bsread output socket: PUSH (default) or PUB, bound to an address. Sends wait a bounded time,
 * then drop and count; nothing ever queues without limit.
 * @module
 */
import * as zmq from 'zeromq'

export interface SenderOptions {
  /** Where to bind, e.g. `tcp://*:9999` or `tcp://127.0.0.1:*`. */
  address: string
  /** PUSH (point to point, default) or PUB (broadcast; slow subscribers lose messages). */
  mode?: 'push' | 'pub'
  /** Messages queued per peer (default 100). */
  sendHighWaterMark?: number
  /** Longest wait in ms for room in the queue before a message is dropped (default 1). */
  sendTimeoutMs?: number
  /** Never wait: drop and count as soon as the queue is full. */
  nonBlocking?: boolean
  /**
   * PUB only: treat a full subscriber queue like a full PUSH queue (wait, then drop and count
   * for everyone) instead of zeromq's default of dropping silently for that subscriber.
   */
  pubNoDrop?: boolean
  /**
   * How long `close` lets zeromq go on delivering queued messages, in ms (default 0: they are
   * discarded). A sender that must not lose its last messages (replay) sets it.
   */
  lingerMs?: number
}

/**
 * Sends multipart messages. Sends are serialised (zeromq allows one blocking send at a time):
 * while one is waiting, at most `sendHighWaterMark` more wait behind it, further ones drop.
 */
export class BsreadSender {
  readonly mode: 'push' | 'pub'
  readonly nonBlocking: boolean
  readonly sendHighWaterMark: number
  /** Messages handed to zeromq. */
  sent = 0
  /** Messages dropped (queue full, timeout, no peer, closed). */
  dropped = 0
  #socket: zmq.Push | zmq.Publisher
  #address: string
  #tail: Promise<unknown> = Promise.resolve()
  #waiting = 0
  #busy = false
  #closed = false

  private constructor(opts: SenderOptions) {
    this.mode = opts.mode ?? 'push'
    this.nonBlocking = opts.nonBlocking ?? false
    this.sendHighWaterMark = opts.sendHighWaterMark ?? 100
    this.#address = opts.address
    const common = {
      sendHighWaterMark: this.sendHighWaterMark,
      sendTimeout: this.nonBlocking ? 0 : Math.max(0, opts.sendTimeoutMs ?? 1),
      linger: Math.max(0, opts.lingerMs ?? 0),
    }
    this.#socket =
      this.mode === 'pub'
        ? new zmq.Publisher({ ...common, noDrop: opts.pubNoDrop ?? false })
        : new zmq.Push(common)
  }

  /** Creates the socket and binds it. */
  static async bind(opts: SenderOptions): Promise<BsreadSender> {
    const s = new BsreadSender(opts)
    try {
      await s.#socket.bind(opts.address)
    } catch (err) {
      s.close()
      throw err
    }
    return s
  }

  /** The bound endpoint with the actual port (useful after binding to port `*`). */
  get endpoint(): string {
    return this.#socket.lastEndpoint ?? this.#address
  }

  /** zeromq's socket events (accept/disconnect of peers), for knowing who is connected. */
  get events(): zmq.Observer {
    return this.#socket.events
  }

  get closed(): boolean {
    return this.#closed
  }

  /**
   * Sends one message; resolves true when zeromq took it, false when it was dropped. The parts
   * must not be changed afterwards (zeromq sends larger buffers without copying).
   */
  send(parts: ReadonlyArray<Uint8Array>): Promise<boolean> {
    if (this.#closed) return this.#drop()
    if (this.nonBlocking) {
      // Timeout 0: every send settles at once, so none overlap; skip the promise when full.
      if (this.#busy || !this.#socket.writable) return this.#drop()
      return this.#attempt(parts)
    }
    let p: Promise<boolean>
    if (!this.#busy && this.#waiting === 0) {
      p = this.#attempt(parts)
    } else {
      if (this.#waiting >= this.sendHighWaterMark) return this.#drop()
      this.#waiting++
      p = this.#tail.then(() => {
        this.#waiting--
        return this.#closed ? this.#drop() : this.#attempt(parts)
      })
    }
    this.#tail = p.catch(() => undefined)
    return p
  }

  async #attempt(parts: ReadonlyArray<Uint8Array>): Promise<boolean> {
    this.#busy = true
    try {
      await this.#socket.send(parts as Uint8Array[])
      this.sent++
      return true
    } catch (err) {
      const code = (err as { code?: string }).code
      if (code === 'EAGAIN' || this.#closed) {
        this.dropped++
        return false
      }
      throw err
    } finally {
      this.#busy = false
    }
  }

  #drop(): Promise<boolean> {
    this.dropped++
    return Promise.resolve(false)
  }

  /** Closes the socket (queued messages are discarded after `lingerMs`). Idempotent. */
  close(): void {
    if (this.#closed) return
    this.#closed = true
    this.#socket.close()
  }
}
