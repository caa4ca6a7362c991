/**
 * Reads a recording (src/recording/format.ts) message by message. Reading stops at the first
 * record that is incomplete or fails its checksum; `damage` then says where and why, and every
 * message before it has been handed out. Synchronous on purpose: `analyze` is a tight loop over
 * a file, and each read is one `pread` into a buffer that can be reused.
 * @module
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs'
import { crc32 } from 'node:zlib'

import {
  checkFileHeader,
  FILE_HEADER_BYTES,
  KIND_INFO,
  KIND_MESSAGE,
  parseMessagePayload,
  RECORD_HEADER_BYTES,
  RecordingError,
  type RecordedMessage,
  type RecordingInfo,
} from './format.js'

export interface ReaderOptions {
  /** Check every record's CRC-32 (default true; ~1 ms per 5 MB record on this machine). */
  verify?: boolean
  /**
   * Read every record into one buffer that the next read overwrites (default false). For
   * callers that are done with a message before asking for the next one.
   */
  reuseBuffer?: boolean
}

/** Where a recording stops being readable. */
export interface RecordingDamage {
  /** Byte offset of the first unreadable record. */
  offset: number
  reason: string
}

export class RecordingReader {
  readonly path: string
  /** File size when opened (bytes). */
  readonly size: number
  /** The info record, when the file has one. */
  info: RecordingInfo | undefined
  /** Set when reading stopped at a damaged or incomplete record. */
  damage: RecordingDamage | undefined
  /** Messages handed out since open or the last rewind. */
  count = 0
  readonly #fd: number
  readonly #verify: boolean
  readonly #reuse: boolean
  readonly #head = Buffer.alloc(RECORD_HEADER_BYTES)
  #buffer = Buffer.alloc(0)
  #position = FILE_HEADER_BYTES
  #closed = false

  private constructor(path: string, fd: number, size: number, opts: ReaderOptions) {
    this.path = path
    this.#fd = fd
    this.size = size
    this.#verify = opts.verify ?? true
    this.#reuse = opts.reuseBuffer ?? false
  }

  /** Opens a recording; throws a RecordingError when the file is not one. */
  static open(path: string, opts: ReaderOptions = {}): RecordingReader {
    const fd = openSync(path, 'r')
    try {
      const size = fstatSync(fd).size
      const header = Buffer.alloc(FILE_HEADER_BYTES)
      const got = readSync(fd, header, 0, FILE_HEADER_BYTES, 0)
      checkFileHeader(header.subarray(0, got), path)
      const reader = new RecordingReader(path, fd, size, opts)
      reader.#readInfo()
      return reader
    } catch (err) {
      closeSync(fd)
      throw err
    }
  }

  /** Byte offset of the next record. */
  get position(): number {
    return this.#position
  }

  /** The next message, or undefined at the end of the file or at damage (see `damage`). */
  next(): RecordedMessage | undefined {
    for (;;) {
      const offset = this.#position
      const payload = this.#record()
      if (payload === undefined) return undefined
      const kind = payload[0]
      if (kind !== KIND_MESSAGE) continue
      const m = parseMessagePayload(payload)
      if (typeof m === 'string') {
        this.#damaged(offset, m)
        return undefined
      }
      this.count++
      return { receivedAt: m.receivedAt, parts: m.parts, offset }
    }
  }

  /** Starts again at the first record (for `replay --loop`). */
  rewind(): void {
    this.#position = FILE_HEADER_BYTES
    this.damage = undefined
    this.count = 0
  }

  close(): void {
    if (this.#closed) return
    this.#closed = true
    closeSync(this.#fd)
  }

  #readInfo(): void {
    const payload = this.#record()
    // Empty, or damaged at once (then `damage` says so).
    if (payload === undefined) return
    if (payload[0] !== KIND_INFO) {
      // No info record first (a writer of another kind): messages start at the first record.
      this.#position = FILE_HEADER_BYTES
      return
    }
    try {
      this.info = JSON.parse(payload.subarray(1).toString('utf8')) as RecordingInfo
    } catch {
      // Its checksum held, so the writer wrote it so: the messages are still good.
    }
  }

  /** The next record's payload (checked), advancing; undefined at the end or at damage. */
  #record(): Buffer | undefined {
    if (this.damage !== undefined) return undefined
    const offset = this.#position
    const left = this.size - offset
    if (left <= 0) return undefined
    if (left < RECORD_HEADER_BYTES) {
      this.#damaged(offset, `incomplete record header (${left} bytes at the end of the file)`)
      return undefined
    }
    this.#readFully(this.#head, RECORD_HEADER_BYTES, offset)
    const length = this.#head.readUInt32LE(0)
    const crc = this.#head.readUInt32LE(4)
    if (length === 0) {
      this.#damaged(offset, 'empty record (zeros where a record should be)')
      return undefined
    }
    if (length > left - RECORD_HEADER_BYTES) {
      this.#damaged(
        offset,
        `incomplete record: ${length} bytes announced, ` +
          `${left - RECORD_HEADER_BYTES} left in the file`,
      )
      return undefined
    }
    let payload: Buffer
    if (this.#reuse) {
      if (this.#buffer.length < length) this.#buffer = Buffer.allocUnsafe(Math.ceil(length * 1.25))
      payload = this.#buffer.subarray(0, length)
    } else {
      payload = Buffer.allocUnsafe(length)
    }
    this.#readFully(payload, length, offset + RECORD_HEADER_BYTES)
    if (this.#verify && crc32(payload) !== crc) {
      this.#damaged(offset, 'checksum mismatch (the record is damaged)')
      return undefined
    }
    this.#position = offset + RECORD_HEADER_BYTES + length
    return payload
  }

  #readFully(buf: Buffer, length: number, position: number): void {
    let done = 0
    while (done < length) {
      const n = readSync(this.#fd, buf, done, length - done, position + done)
      if (n === 0) throw new RecordingError(`${this.path} shrank while being read`)
      done += n
    }
  }

  #damaged(offset: number, reason: string): void {
    this.damage = { offset, reason }
  }
}

/** One line for a user about damage found while reading. */
export function describeDamage(reader: RecordingReader): string {
  const d = reader.damage
  if (!d) return ''
  return (
    `${reader.path}: unreadable from byte ${d.offset} of ${reader.size}: ${d.reason}; ` +
    `the ${reader.count} message(s) before it were read`
  )
}
