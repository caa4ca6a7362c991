/**
 * The receiver's own queue, bounded in bytes as well as in messages. libzmq bounds its receive
 * queue in messages only, and a high-water mark changed on a live connection can stall it (a
 * raised mark leaves the sender paused until the reader crosses the new low-water mark, which a
 * short queue never does). So the receiver keeps libzmq's queue at a couple of messages and
 * moves them into this one while it has room; when it is full, libzmq's queue fills and the
 * sender is held back (PULL) or its messages dropped (SUB), as with a full libzmq queue.
 * @module
 */

/** Messages libzmq itself holds in front of this queue. */
export const SOCKET_QUEUE = 2

/** Bytes of a multipart message. */
export function messageBytes(parts: readonly Uint8Array[]): number {
  let n = 0
  for (const p of parts) n += p.length
  return n
}

export class ReceiveQueue {
  readonly #items: Buffer[][] = []
  #bytes = 0
  #ended = false
  #onRoom: (() => void) | undefined
  #onItem: (() => void) | undefined

  /** Holds at most `maxMessages`, and `maxBytes` plus the one message that crossed it. */
  constructor(
    readonly maxMessages: number,
    readonly maxBytes: number,
  ) {}

  get length(): number {
    return this.#items.length
  }

  get bytes(): number {
    return this.#bytes
  }

  get ended(): boolean {
    return this.#ended
  }

  /** Whether one more message may be taken off the socket now. */
  get hasRoom(): boolean {
    return this.#items.length < this.maxMessages && this.#bytes < this.maxBytes
  }

  push(parts: Buffer[]): void {
    this.#items.push(parts)
    this.#bytes += messageBytes(parts)
    this.#wake('item')
  }

  shift(): Buffer[] | undefined {
    const parts = this.#items.shift()
    if (parts !== undefined) {
      this.#bytes -= messageBytes(parts)
      this.#wake('room')
    }
    return parts
  }

  /** Resolves when there may be room (or the queue ended). */
  room(): Promise<void> {
    return new Promise((resolve) => {
      this.#onRoom = resolve
    })
  }

  /** Resolves when there may be a message (or the queue ended). */
  item(): Promise<void> {
    return new Promise((resolve) => {
      this.#onItem = resolve
    })
  }

  /** No more messages will come (what is held can still be taken); wakes both sides. */
  end(): void {
    this.#ended = true
    this.#wake('room')
    this.#wake('item')
  }

  /** Drops what is held (the socket was closed). */
  clear(): void {
    this.#items.length = 0
    this.#bytes = 0
    this.end()
  }

  #wake(which: 'room' | 'item'): void {
    const f = which === 'room' ? this.#onRoom : this.#onItem
    if (which === 'room') this.#onRoom = undefined
    else this.#onItem = undefined
    f?.()
  }
}
