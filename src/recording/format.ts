/**
 * The recording file format (`psen-processing record`): every bsread message as received, parts
 * untouched, with its receive time. Append-only, so a recorder killed at any moment leaves every
 * complete record readable, and a torn or damaged tail is found by length and checksum.
 *
 * All integers little-endian:
 *
 *     file    = file header, record*
 *     file header (16 bytes)
 *       0  8   magic 89 50 53 45 4E 52 45 43  ("\x89PSENREC": the high byte catches 7-bit copies)
 *       8  u32 format version (1)
 *      12  u32 reserved (0)
 *     record  = u32 payload length L, u32 CRC-32 (IEEE, as zlib) of the payload, payload (L bytes)
 *     payload = u8 kind, then by kind:
 *       1 info:    UTF-8 JSON object (who recorded what, when: RecordingInfo); the first record
 *       2 message: 7 zero bytes, f64 receive time (ms since the Unix epoch), u32 part count n,
 *                  u32 × n part lengths, the n parts back to back (bytes as received)
 *
 * Readers skip kinds they do not know (later versions may add some).
 * @module
 */
import { crc32 } from 'node:zlib'

export const MAGIC = Buffer.from([0x89, 0x50, 0x53, 0x45, 0x4e, 0x52, 0x45, 0x43])
export const FORMAT_VERSION = 1
export const FILE_HEADER_BYTES = 16
export const RECORD_HEADER_BYTES = 8
/** Bytes of a message payload before its part lengths: kind, padding, time, part count. */
export const MESSAGE_FIXED_BYTES = 20
export const KIND_INFO = 1
export const KIND_MESSAGE = 2
/** Largest payload the u32 length can describe. */
export const MAX_PAYLOAD_BYTES = 0xffff_ffff

/** What the info record says (free-form beyond these fields). */
export interface RecordingInfo {
  /** `psen-processing record`. */
  recorder: string
  /** The recorder's version. */
  version: string
  /** The stream recorded and how (PULL or SUB). */
  input: string
  mode: 'pull' | 'sub'
  /** ISO 8601 time the recording started. */
  started: string
  [key: string]: unknown
}

/** A recorded message: the parts as received and when (ms since the Unix epoch). */
export interface RecordedMessage {
  receivedAt: number
  parts: Buffer[]
  /** Byte offset of its record in the file. */
  offset: number
}

/** A file that is not a recording, or an unsupported version of one. */
export class RecordingError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'RecordingError'
  }
}

export function fileHeader(): Buffer {
  const b = Buffer.alloc(FILE_HEADER_BYTES)
  MAGIC.copy(b, 0)
  b.writeUInt32LE(FORMAT_VERSION, 8)
  return b
}

/** Checks a file header; throws a RecordingError that says what is wrong. */
export function checkFileHeader(b: Buffer, what: string): void {
  if (b.length < FILE_HEADER_BYTES || !b.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw new RecordingError(
      `${what} is not a psen-processing recording ` +
        `(${b.length < FILE_HEADER_BYTES ? 'too short' : 'no recording magic at its start'})`,
    )
  }
  const version = b.readUInt32LE(8)
  if (version !== FORMAT_VERSION) {
    throw new RecordingError(
      `${what} is a recording of format version ${version}; ` +
        `this psen-processing reads version ${FORMAT_VERSION}`,
    )
  }
}

/** The record header and fixed payload fields of a message; its parts follow unchanged. */
export function messageRecordHead(parts: readonly Uint8Array[], receivedAt: number): Buffer {
  const n = parts.length
  const headBytes = MESSAGE_FIXED_BYTES + 4 * n
  let length = headBytes
  for (const p of parts) length += p.length
  if (length > MAX_PAYLOAD_BYTES) {
    throw new RangeError(`message of ${length} bytes is above the format's ${MAX_PAYLOAD_BYTES}`)
  }
  const b = Buffer.alloc(RECORD_HEADER_BYTES + headBytes)
  b.writeUInt32LE(length, 0)
  b.writeUInt8(KIND_MESSAGE, 8)
  b.writeDoubleLE(receivedAt, 16)
  b.writeUInt32LE(n, 24)
  for (let i = 0; i < n; i++) b.writeUInt32LE((parts[i] as Uint8Array).length, 28 + 4 * i)
  // The CRC runs over the payload in pieces, as it will lie in the file.
  let crc = crc32(b.subarray(RECORD_HEADER_BYTES))
  for (const p of parts) crc = crc32(p, crc)
  b.writeUInt32LE(crc, 4)
  return b
}

/** A whole info record. */
export function infoRecord(info: RecordingInfo): Buffer {
  const json = Buffer.from(JSON.stringify(info), 'utf8')
  const b = Buffer.alloc(RECORD_HEADER_BYTES + 1 + json.length)
  b.writeUInt32LE(1 + json.length, 0)
  b.writeUInt8(KIND_INFO, 8)
  json.copy(b, 9)
  b.writeUInt32LE(crc32(b.subarray(RECORD_HEADER_BYTES)), 4)
  return b
}

/**
 * The parts of a message payload (views into `payload`, no copy); a string saying what is
 * wrong when the payload does not add up.
 */
export function parseMessagePayload(
  payload: Buffer,
): { receivedAt: number; parts: Buffer[] } | string {
  if (payload.length < MESSAGE_FIXED_BYTES) return 'message record too short'
  const receivedAt = payload.readDoubleLE(8)
  const n = payload.readUInt32LE(16)
  let at = MESSAGE_FIXED_BYTES + 4 * n
  if (at > payload.length) return `message record lists ${n} parts, more than it holds`
  const parts: Buffer[] = new Array<Buffer>(n)
  for (let i = 0; i < n; i++) {
    const len = payload.readUInt32LE(MESSAGE_FIXED_BYTES + 4 * i)
    if (at + len > payload.length) return `part ${i} runs past the end of its record`
    parts[i] = payload.subarray(at, at + len)
    at += len
  }
  if (at !== payload.length) return 'message record has bytes after its last part'
  return { receivedAt, parts }
}
