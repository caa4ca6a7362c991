/**
 * bsread message decoding: main header, data header (parsed once per hash), lazy values.
 *
 * Values stay as received (`RawValue.bytes`, still compressed) so the service can hand an image
 * straight to the kernel; `decodeValue` turns one into JS values when someone needs them.
 * @module
 */
import { createHash } from 'node:crypto'

import { BsreadError } from './errors.js'
import {
  ELEMENT_SIZE, elementCount, isChannelType,
  type BsreadCodec, type ChannelInfo, type Compression, type Encoding, type Timestamp,
} from './types.js'

/** One channel's value part as received, with its description and timestamp. */
export interface RawValue {
  info: ChannelInfo
  /** The value part exactly as received (still compressed); never empty. */
  bytes: Buffer
  timestamp?: Timestamp
}

/** A decoded bsread message; values are decoded lazily (`value()` + `decodeValue`). */
export interface BsreadMessage {
  pulseId: bigint
  globalTimestamp: Timestamp
  /** The main header's `hash` of the data header. */
  hash: string
  dhCompression: Compression
  channels: ReadonlyArray<ChannelInfo>
  /** True when this message's data header differed from the previous one (was parsed). */
  headerChanged: boolean
  /** Every ZeroMQ part of the message as received. */
  parts: readonly Buffer[]
  /** The channel's raw value, or undefined when absent or empty for this pulse. */
  value(name: string): RawValue | undefined
  valueAt(index: number): RawValue | undefined
  /** Index of a channel in `channels`, or -1. */
  indexOf(name: string): number
}

/** Result of `decodeValue`: scalars for one element, typed arrays otherwise. */
export type DecodedValue =
  | number | bigint | boolean | string
  | Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array
  | BigInt64Array | BigUint64Array | Float32Array | Float64Array
  | boolean[]

export interface DecoderOptions {
  /** Needed for compressed data headers and by `decodeValue` for compressed values. */
  codec?: BsreadCodec
  /** Largest accepted decompressed value (default 256 MiB). */
  maxValueBytes?: number
  /** Largest accepted (decompressed) data header (default 16 MiB). */
  maxHeaderBytes?: number
  /** Check the main header's hash against the MD5 of the data header when it changes. */
  verifyHash?: boolean
}

export const DEFAULT_MAX_VALUE_BYTES = 256 * 1024 * 1024
const DEFAULT_MAX_HEADER_BYTES = 16 * 1024 * 1024
const MAX_MAIN_HEADER_BYTES = 1024 * 1024
/** LZ4 cannot expand more than ~255×; a larger declared size is a lie. */
const MAX_LZ4_RATIO = 255
const INT64_MIN = -(2n ** 63n)
const UINT64_MAX = 2n ** 64n - 1n

interface ParsedHeader {
  hash: string
  compression: Compression
  channels: ChannelInfo[]
  index: Map<string, number>
}

/**
 * Decodes multipart bsread messages. Keeps the last parsed data header, keyed by the main
 * header's hash, so a steady stream parses JSON for the main header only.
 */
export class BsreadDecoder {
  readonly codec: BsreadCodec | undefined
  readonly maxValueBytes: number
  readonly maxHeaderBytes: number
  readonly verifyHash: boolean
  #header: ParsedHeader | undefined
  /** How many times a data header was parsed (for tests and stats). */
  headerParses = 0

  constructor(opts: DecoderOptions = {}) {
    this.codec = opts.codec
    this.maxValueBytes = opts.maxValueBytes ?? DEFAULT_MAX_VALUE_BYTES
    this.maxHeaderBytes = opts.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES
    this.verifyHash = opts.verifyHash ?? false
  }

  /** Forgets the cached data header (the next message parses its own). */
  reset(): void {
    this.#header = undefined
  }

  /** Decodes one message; throws `BsreadError` on malformed input. */
  decode(parts: readonly Buffer[]): BsreadMessage {
    if (!Array.isArray(parts) || parts.length < 2) {
      throw new BsreadError('not_multipart', `expected at least 2 parts, got ${parts?.length ?? 0}`)
    }
    const main = parseMainHeader(parts[0] as Buffer)
    let header = this.#header
    let changed = false
    if (header === undefined || header.hash !== main.hash ||
      header.compression !== main.dhCompression) {
      header = this.#parseDataHeader(parts[1] as Buffer, main.dhCompression, main.hash)
      this.#header = header
      this.headerParses++
      changed = true
    }
    const n = header.channels.length
    const want = 2 + 2 * n
    if (parts.length !== want && !(n > 0 && parts.length === want - 1)) {
      throw new BsreadError('part_count',
        `data header lists ${n} channels: expected ${want} parts, got ${parts.length}`)
    }
    for (let i = 0; i < n; i++) {
      const value = parts[2 + 2 * i] as Buffer
      if (value.length === 0) continue
      checkValueSize(header.channels[i] as ChannelInfo, value, this.maxValueBytes)
      const ts = parts[3 + 2 * i]
      if (ts !== undefined && ts.length !== 0 && ts.length !== 16) {
        throw new BsreadError('bad_timestamp',
          `channel ${header.channels[i]?.name}: timestamp part has ${ts.length} bytes, not 16`)
      }
    }
    return new Message(main.pulseId, main.timestamp, main.hash, main.dhCompression,
      header, changed, parts)
  }

  #parseDataHeader(part: Buffer, compression: Compression, hash: string): ParsedHeader {
    if (this.verifyHash && md5hex(part) !== hash) {
      throw new BsreadError('hash_mismatch', 'main header hash is not the MD5 of the data header')
    }
    let bytes: Uint8Array = part
    if (compression !== 'none') {
      const size = declaredSize(part, compression, 1)
      if (size > this.maxHeaderBytes) {
        throw new BsreadError('decompressed_too_large',
          `data header declares ${size} bytes, limit ${this.maxHeaderBytes}`)
      }
      bytes = decompress(this.codec, part, compression, 1, size, 'data header')
    } else if (part.length > this.maxHeaderBytes) {
      throw new BsreadError('decompressed_too_large', `data header of ${part.length} bytes`)
    }
    const json = parseJson(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), 'data')
    if (json.htype !== undefined && !(typeof json.htype === 'string' &&
      json.htype.startsWith('bsr_d-'))) {
      throw new BsreadError('bad_htype', `data header htype ${JSON.stringify(json.htype)}`)
    }
    if (!Array.isArray(json.channels)) {
      throw new BsreadError('bad_data_header', 'data header has no channel list')
    }
    const channels = json.channels.map((c: unknown, i: number) => parseChannel(c, i))
    const index = new Map<string, number>()
    channels.forEach((c, i) => { if (!index.has(c.name)) index.set(c.name, i) })
    return { hash, compression, channels, index }
  }
}

class Message implements BsreadMessage {
  constructor(
    readonly pulseId: bigint,
    readonly globalTimestamp: Timestamp,
    readonly hash: string,
    readonly dhCompression: Compression,
    readonly header: ParsedHeader,
    readonly headerChanged: boolean,
    readonly parts: readonly Buffer[],
  ) {}

  get channels(): ReadonlyArray<ChannelInfo> {
    return this.header.channels
  }

  indexOf(name: string): number {
    return this.header.index.get(name) ?? -1
  }

  value(name: string): RawValue | undefined {
    const i = this.header.index.get(name)
    return i === undefined ? undefined : this.valueAt(i)
  }

  valueAt(index: number): RawValue | undefined {
    const info = this.header.channels[index]
    const bytes = this.parts[2 + 2 * index]
    if (info === undefined || bytes === undefined || bytes.length === 0) return undefined
    const ts = this.parts[3 + 2 * index]
    const timestamp = ts !== undefined && ts.length === 16
      ? readTimestamp(ts, info.encoding) : undefined
    return timestamp ? { info, bytes, timestamp } : { info, bytes }
  }
}

interface MainHeader {
  pulseId: bigint
  timestamp: Timestamp
  hash: string
  dhCompression: Compression
}

function parseMainHeader(part: Buffer): MainHeader {
  if (part.length > MAX_MAIN_HEADER_BYTES) {
    throw new BsreadError('bad_main_header', `main header of ${part.length} bytes`)
  }
  const text = part.toString('utf8')
  const json = parseJson(text, 'main')
  if (typeof json.htype !== 'string' || !json.htype.startsWith('bsr_m-')) {
    throw new BsreadError('bad_htype', `main header htype ${JSON.stringify(json.htype)}`)
  }
  if (typeof json.hash !== 'string') {
    throw new BsreadError('bad_main_header', 'main header has no hash')
  }
  return {
    pulseId: exactPulseId(json.pulse_id, text),
    timestamp: parseGlobalTimestamp(json.global_timestamp),
    hash: json.hash,
    dhCompression: parseCompression(json.dh_compression, 'dh_compression'),
  }
}

/** The pulse id as an exact bigint, read from the JSON text when it exceeds 2^53. */
function exactPulseId(parsed: unknown, text: string): bigint {
  if (typeof parsed !== 'number' || !Number.isInteger(parsed)) {
    throw new BsreadError('bad_pulse_id', `pulse_id ${JSON.stringify(parsed)} is not an integer`)
  }
  let id: bigint | undefined
  if (Number.isSafeInteger(parsed)) {
    id = BigInt(parsed)
  } else {
    // JSON.parse rounded it: take the digits of the (last, as JSON.parse does) matching key.
    for (const m of text.matchAll(/"pulse_id"\s*:\s*(-?\d+)(?![\d.eE])/g)) {
      const digits = BigInt(m[1] as string)
      if (Number(digits) === parsed) id = digits
    }
    if (id === undefined) throw new BsreadError('bad_pulse_id', 'pulse_id is not a plain integer')
  }
  if (id < INT64_MIN || id > UINT64_MAX) {
    throw new BsreadError('bad_pulse_id', `pulse_id ${id} outside 64 bits`)
  }
  return id
}

function parseGlobalTimestamp(v: unknown): Timestamp {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new BsreadError('bad_timestamp', 'main header has no global_timestamp object')
  }
  const o = v as Record<string, unknown>
  const sec = o.sec ?? o.epoch
  const ns = o.ns ?? 0
  if (typeof sec !== 'number' || !Number.isFinite(sec) || typeof ns !== 'number' ||
    !Number.isFinite(ns)) {
    throw new BsreadError('bad_timestamp', `global_timestamp ${JSON.stringify(v)}`)
  }
  return { sec, ns }
}

function parseJson(text: string | Buffer, which: 'main' | 'data'): Record<string, unknown> {
  let v: unknown
  try {
    v = JSON.parse(typeof text === 'string' ? text : text.toString('utf8'))
  } catch (err) {
    throw new BsreadError('bad_json', `${which} header is not JSON: ${(err as Error).message}`)
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new BsreadError(which === 'main' ? 'bad_main_header' : 'bad_data_header',
      `${which} header is not a JSON object`)
  }
  return v as Record<string, unknown>
}

function parseCompression(v: unknown, what: string): Compression {
  if (v === undefined || v === null || v === 'none') return 'none'
  if (v === 'lz4' || v === 'bitshuffle_lz4') return v
  throw new BsreadError('unknown_compression', `${what} ${JSON.stringify(v)}`)
}

function parseEncoding(v: unknown, name: string): Encoding {
  if (v === undefined || v === null || v === 'little' || v === '<') return 'little'
  if (v === 'big' || v === '>') return 'big'
  throw new BsreadError('unknown_encoding', `channel ${name}: encoding ${JSON.stringify(v)}`)
}

function parseChannel(c: unknown, i: number): ChannelInfo {
  if (typeof c !== 'object' || c === null || Array.isArray(c)) {
    throw new BsreadError('bad_data_header', `channel ${i} is not an object`)
  }
  const o = c as Record<string, unknown>
  if (typeof o.name !== 'string') {
    throw new BsreadError('bad_data_header', `channel ${i} has no name`)
  }
  const name = o.name
  const type = o.type ?? 'float64'
  if (!isChannelType(type)) {
    throw new BsreadError('unknown_type', `channel ${name}: type ${JSON.stringify(o.type)}`)
  }
  let shape: number[] = [1]
  if (o.shape !== undefined && o.shape !== null) {
    if (!Array.isArray(o.shape) || o.shape.length > 32) {
      throw new BsreadError('bad_shape', `channel ${name}: shape ${JSON.stringify(o.shape)}`)
    }
    shape = o.shape as number[]
    let n = 1
    for (const d of shape) {
      if (typeof d !== 'number' || !Number.isInteger(d) || d < 0 || d > 0xffffffff) {
        throw new BsreadError('bad_shape', `channel ${name}: shape ${JSON.stringify(o.shape)}`)
      }
      n *= d
    }
    if (n > Number.MAX_SAFE_INTEGER) {
      throw new BsreadError('bad_shape', `channel ${name}: shape ${JSON.stringify(o.shape)}`)
    }
    shape = shape.slice()
  }
  const info: ChannelInfo = {
    name,
    type,
    shape,
    encoding: parseEncoding(o.encoding, name),
    compression: parseCompression(o.compression, `channel ${name}: compression`),
  }
  if (typeof o.modulo === 'number') info.modulo = o.modulo
  if (typeof o.offset === 'number') info.offset = o.offset
  return info
}

/** 16 bytes: int64 seconds + int64 nanoseconds in the channel's byte order. */
export function readTimestamp(b: Uint8Array, encoding: Encoding): Timestamp {
  const dv = new DataView(b.buffer, b.byteOffset, 16)
  const le = encoding === 'little'
  return { sec: Number(dv.getBigInt64(0, le)), ns: Number(dv.getBigInt64(8, le)) }
}

/** Size in bytes a framed compressed value declares in its own header. */
function declaredSize(
  b: Uint8Array, compression: 'lz4' | 'bitshuffle_lz4', elemSize: number,
): number {
  if (compression === 'lz4') {
    if (b.length < 4) throw new BsreadError('value_size', `lz4 value of ${b.length} bytes`)
    return new DataView(b.buffer, b.byteOffset, 4).getUint32(0, true)
  }
  if (b.length < 12) {
    throw new BsreadError('value_size', `bitshuffle_lz4 value of ${b.length} bytes`)
  }
  const dv = new DataView(b.buffer, b.byteOffset, 12)
  const size = dv.getUint32(0) * 2 ** 32 + dv.getUint32(4)
  const block = dv.getUint32(8)
  if (block === 0 || block % elemSize !== 0) {
    throw new BsreadError('value_size', `bitshuffle_lz4 block size ${block}`)
  }
  return size
}

/**
 * Checks a value part against its channel's shape and type without decompressing and returns
 * the decompressed size in bytes. Throws `BsreadError` for sizes that don't match or exceed
 * `maxBytes`.
 */
export function checkValueSize(info: ChannelInfo, bytes: Uint8Array, maxBytes: number): number {
  const es = ELEMENT_SIZE[info.type]
  const isString = info.type === 'string'
  const expected = elementCount(info.shape) * es
  if (info.compression === 'none') {
    if (!isString && bytes.length !== expected) {
      throw new BsreadError('value_size', `channel ${info.name}: ${bytes.length} bytes for ` +
        `shape [${info.shape.join(', ')}] × ${es} bytes = ${expected}`)
    }
    return bytes.length
  }
  const declared = declaredSize(bytes, info.compression, es)
  let size: number
  if (info.compression === 'lz4') {
    // The reference sender writes the count little-endian, its receiver reads it in the
    // channel's byte order: trust shape × element size when they disagree.
    size = isString ? declared : expected
  } else {
    if (!isString && declared !== expected) {
      throw new BsreadError('value_size', `channel ${info.name}: bitshuffle_lz4 declares ` +
        `${declared} bytes, shape × element size is ${expected}`)
    }
    size = declared
  }
  if (size > maxBytes) {
    throw new BsreadError('decompressed_too_large',
      `channel ${info.name}: ${size} bytes decompressed, limit ${maxBytes}`)
  }
  if (size > bytes.length * MAX_LZ4_RATIO + 64) {
    throw new BsreadError('value_size',
      `channel ${info.name}: ${bytes.length} compressed bytes cannot hold ${size} bytes`)
  }
  return size
}

function decompress(
  codec: BsreadCodec | undefined, src: Uint8Array, compression: 'lz4' | 'bitshuffle_lz4',
  elemSize: number, size: number, what: string,
): Uint8Array {
  if (codec === undefined) {
    throw new BsreadError('decompression_failed', `${what}: ${compression} needs a codec`)
  }
  let out: Uint8Array
  try {
    out = codec.decompress(src, compression, elemSize, size)
  } catch (err) {
    throw new BsreadError('decompression_failed',
      `${what}: ${compression}: ${(err as Error)?.message ?? String(err)}`, { cause: err })
  }
  if (out.length !== size) {
    throw new BsreadError('decompression_failed',
      `${what}: ${compression} gave ${out.length} bytes, expected ${size}`)
  }
  return out
}

/**
 * The value's element bytes, decompressed, in the channel's byte order (a fresh copy, never
 * a view of the received message).
 */
export function decompressValue(
  raw: RawValue, codec: BsreadCodec | undefined, maxBytes = DEFAULT_MAX_VALUE_BYTES,
): Uint8Array {
  const size = checkValueSize(raw.info, raw.bytes, maxBytes)
  if (raw.info.compression === 'none') return Uint8Array.prototype.slice.call(raw.bytes)
  return decompress(codec, raw.bytes, raw.info.compression, ELEMENT_SIZE[raw.info.type], size,
    `channel ${raw.info.name}`)
}

/**
 * Decodes a value: strings as strings, one element (shape `[1]` or none) as a scalar (bigint
 * for 64-bit integers), otherwise a typed array in native (little-endian) order.
 */
export function decodeValue(
  raw: RawValue, codec?: BsreadCodec, maxBytes = DEFAULT_MAX_VALUE_BYTES,
): DecodedValue {
  const info = raw.info
  let bytes = decompressValue(raw, codec, maxBytes)
  if (bytes.byteOffset % 8 !== 0) bytes = bytes.slice()
  if (info.type === 'string') {
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('utf8')
  }
  const n = elementCount(info.shape)
  if (info.type === 'bool') return n === 1 ? bytes[0] !== 0 : Array.from(bytes, (b) => b !== 0)
  if (info.encoding === 'big') swapInPlace(bytes, ELEMENT_SIZE[info.type])
  const arr = typedView(info.type, bytes.buffer as ArrayBuffer, bytes.byteOffset, n)
  return n === 1 ? (arr[0] as number | bigint) : arr
}

function typedView(type: ChannelInfo['type'], buf: ArrayBuffer, off: number, n: number) {
  switch (type) {
    case 'int8': return new Int8Array(buf, off, n)
    case 'uint8': return new Uint8Array(buf, off, n)
    case 'int16': return new Int16Array(buf, off, n)
    case 'uint16': return new Uint16Array(buf, off, n)
    case 'int32': return new Int32Array(buf, off, n)
    case 'uint32': return new Uint32Array(buf, off, n)
    case 'int64': return new BigInt64Array(buf, off, n)
    case 'uint64': return new BigUint64Array(buf, off, n)
    case 'float32': return new Float32Array(buf, off, n)
    default: return new Float64Array(buf, off, n)
  }
}

/** Reverses the byte order of every element (in place). */
export function swapInPlace(bytes: Uint8Array, elemSize: number): void {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (elemSize === 2) b.swap16()
  else if (elemSize === 4) b.swap32()
  else if (elemSize === 8) b.swap64()
}

export function md5hex(b: Uint8Array): string {
  return createHash('md5').update(b).digest('hex')
}
