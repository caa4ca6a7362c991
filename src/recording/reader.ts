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

/** Bytes read, then summed, at a time when the CRC is checked (well inside a core's cache). */
const CRC_PIECE_BYTES = 256 * 1024

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

/** A message record as read, before its parts are split (`parseMessagePayload`). */
export interface MessageRecord {
  /** Byte offset of the record in the file. */
  offset: number
  payload: Buffer
  /**
   * Set when the reader summed only the payload's first `checked` bytes (`nextRecord`'s
   * `leave`): the caller finishes the check (`crcHolds`) before it uses the message.
   */
  unchecked?: UncheckedTail
}

/** The CRC-32 of a payload's first `checked` bytes, and what the whole should give. */
export interface UncheckedTail {
  checked: number
  partial: number
  expected: number
}

/** Why reading stops at a record whose CRC-32 does not match. */
export const CHECKSUM_MISMATCH = 'checksum mismatch (the record is damaged)'

/** Whether a payload's CRC-32 holds, summing on from what the reader summed. */
export function crcHolds(payload: Uint8Array, u: UncheckedTail): boolean {
  return crc32(payload.subarray(u.checked), u.partial) === u.expected
}

/**
 * What `analyze` reads messages from: this reader, or the read-ahead thread's
 * (src/recording/read-ahead.ts). A message stays valid until the next call to `next`.
 */
export interface MessageSource {
  readonly path: string
  /** File size when opened (bytes). */
  readonly size: number
  /** Byte offset after the last message handed out. */
  readonly position: number
  /** Messages handed out. */
  readonly count: number
  /** Set when reading stopped at a damaged or incomplete record. */
  readonly damage: RecordingDamage | undefined
  next(): RecordedMessage | undefined | Promise<RecordedMessage | undefined>
}

export class RecordingReader implements MessageSource {
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
  /** False for a reader over another reader's file descriptor (`attach`). */
  readonly #ownsFd: boolean
  /** Whether records' CRC-32 are checked. */
  readonly verify: boolean
  readonly #reuse: boolean
  readonly #head = Buffer.alloc(RECORD_HEADER_BYTES)
  #buffer = Buffer.alloc(0)
  #position = FILE_HEADER_BYTES
  #closed = false
  /** The part of the last record's CRC left to the caller (nextRecord's `leave`). */
  #unchecked: UncheckedTail | undefined

  private constructor(path: string, fd: number, size: number, opts: ReaderOptions, ownsFd = true) {
    this.path = path
    this.#fd = fd
    this.#ownsFd = ownsFd
    this.size = size
    this.verify = opts.verify ?? true
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

  /**
   * A reader of the same file from `position` on, over this reader's file descriptor (a
   * process-wide number, so another thread may use it: every read is positional). The fd stays
   * this reader's: close the attached reader first, then this one.
   */
  static attach(
    path: string,
    fd: number,
    size: number,
    position: number,
    opts: ReaderOptions = {},
  ): RecordingReader {
    const reader = new RecordingReader(path, fd, size, opts, false)
    reader.#position = position
    return reader
  }

  /** The file descriptor, for `attach` in another thread. */
  get fd(): number {
    return this.#fd
  }

  /** Byte offset of the next record. */
  get position(): number {
    return this.#position
  }

  /** The next message, or undefined at the end of the file or at damage (see `damage`). */
  next(): RecordedMessage | undefined {
    const r = this.nextRecord()
    if (r === undefined) return undefined
    const m = parseMessagePayload(r.payload)
    if (typeof m === 'string') {
      this.#damaged(r.offset, m)
      return undefined
    }
    this.count++
    return { receivedAt: m.receivedAt, parts: m.parts, offset: r.offset }
  }

  /**
   * The next message record, checked, its parts not yet split; undefined at the end of the
   * file or at damage. `into(length)` gives the buffer to read the payload into (its first
   * `length` bytes are used); by default the reader's own (see `reuseBuffer`). With the CRC
   * checked, `leave(length)` bytes at the payload's end are left for the caller to sum (see
   * MessageRecord.unchecked): the read-ahead thread hands some of the sum to a thread that
   * would otherwise wait for it.
   */
  nextRecord(
    into?: (length: number) => Buffer,
    leave?: (length: number) => number,
  ): MessageRecord | undefined {
    for (;;) {
      const offset = this.#position
      const payload = this.#record(into, leave)
      if (payload === undefined) return undefined
      const unchecked = this.#unchecked
      if (payload[0] === KIND_MESSAGE) {
        return unchecked ? { offset, payload, unchecked } : { offset, payload }
      }
      // A kind this reader skips is checked all the same: damage is damage.
      if (unchecked && !crcHolds(payload, unchecked)) {
        this.#damaged(offset, CHECKSUM_MISMATCH)
        return undefined
      }
    }
  }

  /** Reading stops here, for this reason. */
  #damaged(offset: number, reason: string): void {
    this.damage = { offset, reason }
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
    if (this.#ownsFd) closeSync(this.#fd)
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
  #record(
    into?: (length: number) => Buffer,
    leave?: (length: number) => number,
  ): Buffer | undefined {
    this.#unchecked = undefined
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
    if (into) {
      payload = into(length).subarray(0, length)
    } else if (this.#reuse) {
      if (this.#buffer.length < length) this.#buffer = Buffer.allocUnsafe(Math.ceil(length * 1.25))
      payload = this.#buffer.subarray(0, length)
    } else {
      payload = Buffer.allocUnsafe(length)
    }
    const start = offset + RECORD_HEADER_BYTES
    if (!this.verify) this.#readFully(payload, length, start)
    else {
      const tail = Math.min(length - 1, Math.max(0, Math.floor(leave?.(length) ?? 0)))
      const checked = length - tail
      const partial = this.#readChecked(payload, checked, start)
      if (tail > 0) {
        this.#readFully(payload, tail, start + checked, checked)
        this.#unchecked = { checked, partial, expected: crc }
      } else if (partial !== crc) {
        this.#damaged(offset, CHECKSUM_MISMATCH)
        return undefined
      }
    }
    this.#position = offset + RECORD_HEADER_BYTES + length
    return payload
  }

  /** Reads `length` bytes into `buf` from `at` on (`position` in the file). */
  #readFully(buf: Buffer, length: number, position: number, at = 0): void {
    let done = 0
    while (done < length) {
      const n = readSync(this.#fd, buf, at + done, length - done, position + done)
      if (n === 0) throw new RecordingError(`${this.path} shrank while being read`)
      done += n
    }
  }

  /**
   * Reads like #readFully and returns the CRC-32 of what it read: piece by piece, each summed
   * while it is still in the core's cache (~10 % faster than a read, then a sum, of 5 MB).
   */
  #readChecked(buf: Buffer, length: number, position: number): number {
    let crc = 0
    for (let at = 0; at < length; at += CRC_PIECE_BYTES) {
      const n = Math.min(CRC_PIECE_BYTES, length - at)
      this.#readFully(buf, n, position + at, at)
      crc = crc32(buf.subarray(at, at + n), crc)
    }
    return crc
  }
}

/** One line for a user about damage found while reading. */
export function describeDamage(reader: Omit<MessageSource, 'next' | 'position'>): string {
  const d = reader.damage
  if (!d) return ''
  return (
    `${reader.path}: unreadable from byte ${d.offset} of ${reader.size}: ${d.reason}; ` +
    `the ${reader.count} message(s) before it were read`
  )
}
