/**
 * Appends messages to a new recording (src/recording/format.ts) without ever blocking the
 * receiver: `append` queues, one write at a time drains the queue, and a full queue (the disk
 * slower than the stream) drops the message and counts it. Memory stays below the queue limit
 * at any input rate.
 * @module
 */
import { open, type FileHandle } from 'node:fs/promises'

import { fileHeader, infoRecord, messageRecordHead, type RecordingInfo } from './format.js'

export interface WriterOptions {
  /** Largest queue in bytes before messages are dropped (default 256 MiB). */
  maxQueueBytes?: number
  /** Largest queue in messages before messages are dropped (default 1000). */
  maxQueueMessages?: number
}

export interface WriterStats {
  /** Messages queued (accepted). */
  accepted: number
  /** Messages written to the file. */
  written: number
  /** Messages dropped because the queue was full. */
  dropped: number
  /** Bytes in the file. */
  bytes: number
}

/** Records (buffers) a single writev takes at most: well below IOV_MAX (1024). */
const BATCH_BUFFERS = 512

export class RecordingWriter {
  readonly path: string
  readonly stats: WriterStats = { accepted: 0, written: 0, dropped: 0, bytes: 0 }
  readonly #file: FileHandle
  readonly #maxBytes: number
  readonly #maxMessages: number
  #queue: Uint8Array[][] = []
  #queuedBytes = 0
  #draining: Promise<void> | undefined
  #error: Error | undefined
  #closed = false

  private constructor(path: string, file: FileHandle, opts: WriterOptions) {
    this.path = path
    this.#file = file
    this.#maxBytes = opts.maxQueueBytes ?? 256 * 1024 * 1024
    this.#maxMessages = opts.maxQueueMessages ?? 1000
  }

  /**
   * Creates the file (never overwrites one: 'ax', appends only) and writes its header and info
   * record.
   */
  static async create(
    path: string,
    info: RecordingInfo,
    opts: WriterOptions = {},
  ): Promise<RecordingWriter> {
    const file = await open(path, 'ax')
    const w = new RecordingWriter(path, file, opts)
    try {
      await w.#writeAll([fileHeader(), infoRecord(info)])
    } catch (err) {
      await file.close()
      throw err
    }
    return w
  }

  /** The first write error (the writer stops writing then; `close` throws it). */
  get error(): Error | undefined {
    return this.#error
  }

  /** Bytes waiting to be written. */
  get queuedBytes(): number {
    return this.#queuedBytes
  }

  /**
   * Queues one message (its parts are kept, not copied: do not change them). False when it was
   * dropped: queue full, writer failed or closed.
   */
  append(parts: readonly Uint8Array[], receivedAt: number): boolean {
    if (this.#closed || this.#error !== undefined) {
      this.stats.dropped++
      return false
    }
    const head = messageRecordHead(parts, receivedAt)
    let bytes = head.length
    for (const p of parts) bytes += p.length
    if (
      this.#queue.length >= this.#maxMessages ||
      (this.#queue.length > 0 && this.#queuedBytes + bytes > this.#maxBytes)
    ) {
      this.stats.dropped++
      return false
    }
    this.#queue.push([head, ...parts])
    this.#queuedBytes += bytes
    this.stats.accepted++
    this.#draining ??= this.#drain()
    return true
  }

  /** Resolves when everything queued so far is in the file. */
  async flush(): Promise<void> {
    while (this.#draining) await this.#draining
    if (this.#error) throw this.#error
  }

  /** Writes what is queued, syncs and closes the file. Throws the first write error. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    try {
      while (this.#draining) await this.#draining
      if (this.#error === undefined) await this.#file.sync()
    } finally {
      await this.#file.close()
    }
    if (this.#error) throw this.#error
  }

  async #drain(): Promise<void> {
    try {
      while (this.#queue.length > 0 && this.#error === undefined) {
        const batch: Uint8Array[] = []
        let records = 0
        let bytes = 0
        while (this.#queue.length > 0) {
          const rec = this.#queue[0] as Uint8Array[]
          if (batch.length > 0 && batch.length + rec.length > BATCH_BUFFERS) break
          this.#queue.shift()
          batch.push(...rec)
          for (const b of rec) bytes += b.length
          records++
        }
        try {
          await this.#writeAll(batch)
        } catch (err) {
          this.#error = err as Error
          this.stats.dropped += records + this.#queue.length
          this.#queue = []
          this.#queuedBytes = 0
          return
        }
        this.#queuedBytes -= bytes
        this.stats.written += records
      }
    } finally {
      this.#draining = undefined
    }
  }

  /** Writes every buffer in order at the end of the file (a short write is continued). */
  async #writeAll(buffers: Uint8Array[]): Promise<void> {
    let rest = buffers
    while (rest.length > 0) {
      const { bytesWritten } = await this.#file.writev(rest)
      this.stats.bytes += bytesWritten
      let skip = bytesWritten
      let i = 0
      while (i < rest.length && skip >= (rest[i] as Uint8Array).length) {
        skip -= (rest[i] as Uint8Array).length
        i++
      }
      rest = rest.slice(i)
      if (skip > 0 && rest.length > 0) rest[0] = (rest[0] as Uint8Array).subarray(skip)
      if (bytesWritten === 0 && rest.length > 0) {
        throw new Error(`${this.path}: the write made no progress`)
      }
    }
  }
}
