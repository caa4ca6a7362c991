/**
 * bsread message encoding, byte for byte like the reference Python sender: Python
 * `json.dumps` spacing and key order, MD5 hash of the data header as sent, timestamps in the
 * channel's byte order, empty parts for missing values.
 * @module
 */
import { createHash } from 'node:crypto'

import { byteswap } from '../kernel/byteswap.js'
import { BsreadError } from './errors.js'
import type { DecodedValue } from './values.js'
import {
  ELEMENT_SIZE,
  elementCount,
  type BsreadCodec,
  type ChannelInfo,
  type Compression,
  type Timestamp,
} from './types.js'

/**
 * Value bytes that are already encoded for the channel (byte order and compression applied),
 * e.g. an image forwarded as received. Sent unchanged.
 */
export class PreEncoded {
  constructor(readonly bytes: Uint8Array) {}
}

/** Marks bytes as already encoded for their channel. */
export function preEncoded(bytes: Uint8Array): PreEncoded {
  return new PreEncoded(bytes)
}

export type EncodableValue =
  | DecodedValue
  | ArrayLike<number>
  | ArrayLike<bigint>
  | PreEncoded
  | null
  | undefined

export interface EncodeChannel {
  info: ChannelInfo
  value: EncodableValue
  /** Defaults to the message's global timestamp. */
  timestamp?: Timestamp
}

export interface EncodeMessage {
  pulseId: bigint | number
  globalTimestamp: Timestamp
  channels: ReadonlyArray<EncodeChannel>
}

export interface EncoderOptions {
  /** Needed when a channel or the data header is compressed. */
  codec?: BsreadCodec
  dataHeaderCompression?: Compression
}

const EMPTY = Buffer.alloc(0)

/**
 * Builds multipart bsread messages. The data header bytes and hash are cached while the channel
 * list stays the same, so a steady stream costs one small main-header string per message.
 */
export class BsreadEncoder {
  readonly codec: BsreadCodec | undefined
  readonly dataHeaderCompression: Compression
  #channels: ChannelInfo[] = []
  #dataHeader: Buffer = EMPTY
  #hash = ''
  #mainPrefix = ''
  #valid = false
  /** How many times the data header was (re)built. */
  headerBuilds = 0

  constructor(opts: EncoderOptions = {}) {
    this.codec = opts.codec
    this.dataHeaderCompression = opts.dataHeaderCompression ?? 'none'
  }

  /** MD5 hex of the current data header (after the first `encode`). */
  get hash(): string {
    return this.#hash
  }

  /** Encodes one message into its ZeroMQ parts. */
  encode(msg: EncodeMessage): Buffer[] {
    const chans = msg.channels
    if (!this.#valid || !sameChannels(this.#channels, chans)) this.#buildHeader(chans)
    const ts = msg.globalTimestamp
    checkTimestamp(ts)
    const main =
      `${this.#mainPrefix}"pulse_id": ${pulseIdText(msg.pulseId)}, ` +
      `"global_timestamp": {"sec": ${ts.sec}, "ns": ${ts.ns}}}`
    const parts: Buffer[] = new Array(2 + 2 * chans.length)
    parts[0] = Buffer.from(main, 'utf8')
    parts[1] = this.#dataHeader
    for (let i = 0; i < chans.length; i++) {
      const c = chans[i] as EncodeChannel
      const value = encodeValue(c.info, c.value, this.codec)
      parts[2 + 2 * i] = value
      parts[3 + 2 * i] = value.length === 0 ? EMPTY : timestampBytes(c.timestamp ?? ts, c.info)
    }
    return parts
  }

  #buildHeader(chans: ReadonlyArray<EncodeChannel>): void {
    this.#channels = chans.map((c) => ({ ...c.info, shape: c.info.shape.slice() }))
    const list = this.#channels.map(channelJson).join(', ')
    const json = `{"htype": "bsr_d-1.1", "channels": [${list}]}`
    let bytes: Buffer = Buffer.from(json, 'utf8')
    const dhc = this.dataHeaderCompression
    if (dhc !== 'none') bytes = toBuffer(compress(this.codec, bytes, dhc, 1, 'data header'))
    this.#dataHeader = bytes
    this.#hash = createHash('md5').update(bytes).digest('hex')
    this.#mainPrefix =
      '{"htype": "bsr_m-1.1", ' +
      (dhc !== 'none' ? `"dh_compression": "${dhc}", ` : '') +
      `"hash": "${this.#hash}", `
    this.#valid = true
    this.headerBuilds++
  }
}

function sameChannels(a: readonly ChannelInfo[], b: ReadonlyArray<EncodeChannel>): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as ChannelInfo
    const y = (b[i] as EncodeChannel).info
    if (
      x.name !== y.name ||
      x.type !== y.type ||
      x.encoding !== y.encoding ||
      x.compression !== y.compression ||
      x.modulo !== y.modulo ||
      x.offset !== y.offset ||
      x.shape.length !== y.shape.length
    )
      return false
    for (let d = 0; d < x.shape.length; d++) if (x.shape[d] !== y.shape[d]) return false
  }
  return true
}

/** A string as Python's `json.dumps` writes it (ASCII only, `\uXXXX` escapes). */
export function pyJsonString(s: string): string {
  return JSON.stringify(s).replace(
    /[\u007f-\uffff]/g,
    (ch) => '\\u' + ch.charCodeAt(0).toString(16).padStart(4, '0'),
  )
}

function pyNumber(n: number): string {
  if (!Number.isFinite(n)) throw new BsreadError('bad_value', `not a finite number: ${n}`)
  return String(n)
}

function channelJson(c: ChannelInfo): string {
  let s =
    `{"name": ${pyJsonString(c.name)}, "type": "${c.type}", ` +
    `"shape": [${c.shape.map(pyNumber).join(', ')}], "encoding": "${c.encoding}"`
  if (c.compression !== 'none') s += `, "compression": "${c.compression}"`
  if (c.modulo !== undefined) s += `, "modulo": ${pyNumber(c.modulo)}`
  if (c.offset !== undefined) s += `, "offset": ${pyNumber(c.offset)}`
  return s + '}'
}

function pulseIdText(id: bigint | number): string {
  if (typeof id === 'number' && !Number.isSafeInteger(id)) {
    throw new BsreadError('bad_pulse_id', `pulse id ${id} is not an exact integer`)
  }
  return typeof id === 'bigint' ? id.toString() : String(id)
}

function checkTimestamp(ts: Timestamp): void {
  if (!Number.isInteger(ts.sec) || !Number.isInteger(ts.ns)) {
    throw new BsreadError('bad_timestamp', `timestamp ${JSON.stringify(ts)} is not integral`)
  }
}

// The last timestamp's bytes per byte order: every channel of a message usually carries the
// global timestamp, so one 16-byte buffer serves them all (zeromq copies parts this small).
const tsCache = {
  little: { sec: NaN, ns: NaN, bytes: EMPTY },
  big: { sec: NaN, ns: NaN, bytes: EMPTY },
}

function timestampBytes(ts: Timestamp, info: ChannelInfo): Buffer {
  const c = tsCache[info.encoding]
  if (c.sec === ts.sec && c.ns === ts.ns) return c.bytes
  checkTimestamp(ts)
  const b = Buffer.allocUnsafe(16)
  if (info.encoding === 'big') {
    b.writeBigInt64BE(BigInt(ts.sec), 0)
    b.writeBigInt64BE(BigInt(ts.ns), 8)
  } else {
    b.writeBigInt64LE(BigInt(ts.sec), 0)
    b.writeBigInt64LE(BigInt(ts.ns), 8)
  }
  c.sec = ts.sec
  c.ns = ts.ns
  c.bytes = b
  return b
}

function toBuffer(u: Uint8Array): Buffer {
  return Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength)
}

function compress(
  codec: BsreadCodec | undefined,
  raw: Uint8Array,
  compression: 'lz4' | 'bitshuffle_lz4',
  elemSize: number,
  what: string,
): Uint8Array {
  if (codec === undefined) {
    throw new BsreadError('bad_value', `${what}: ${compression} needs a codec`)
  }
  return codec.compress(raw, compression, elemSize)
}

/**
 * Encodes one channel value into its value part: element bytes in the channel's byte order,
 * compressed as the channel says. `null`/`undefined` give an empty part (no value).
 */
export function encodeValue(info: ChannelInfo, value: EncodableValue, codec?: BsreadCodec): Buffer {
  if (value === null || value === undefined) return EMPTY
  if (value instanceof PreEncoded) return toBuffer(value.bytes)
  const raw = rawBytes(info, value)
  if (info.compression === 'none') return raw
  return toBuffer(
    compress(codec, raw, info.compression, ELEMENT_SIZE[info.type], `channel ${info.name}`),
  )
}

type TypedArrayCtor =
  | Int8ArrayConstructor
  | Uint8ArrayConstructor
  | Int16ArrayConstructor
  | Uint16ArrayConstructor
  | Int32ArrayConstructor
  | Uint32ArrayConstructor
  | Float32ArrayConstructor
  | Float64ArrayConstructor

const NUMBER_CTORS: Partial<Record<ChannelInfo['type'], TypedArrayCtor>> = {
  int8: Int8Array,
  uint8: Uint8Array,
  int16: Int16Array,
  uint16: Uint16Array,
  int32: Int32Array,
  uint32: Uint32Array,
  float32: Float32Array,
  float64: Float64Array,
}

/** Raw element bytes (a fresh buffer, never the caller's memory) in the channel's order. */
function rawBytes(
  info: ChannelInfo,
  value: Exclude<EncodableValue, null | undefined | PreEncoded>,
): Buffer {
  const name = info.name
  if (info.type === 'string') {
    if (typeof value !== 'string') {
      throw new BsreadError('bad_value', `channel ${name}: not a string`)
    }
    return Buffer.from(value, 'utf8')
  }
  const n = elementCount(info.shape)
  const es = ELEMENT_SIZE[info.type]
  if (n === 1 && (typeof value === 'number' || typeof value === 'bigint')) {
    return scalarBytes(info, value)
  }
  let out: Buffer
  if (ArrayBuffer.isView(value) && bytesPerElement(value) === es) {
    if (value.byteLength !== n * es) {
      throw new BsreadError(
        'bad_value',
        `channel ${name}: ${value.byteLength} bytes for ` + `${n} elements of ${es} bytes`,
      )
    }
    out = Buffer.allocUnsafe(n * es)
    out.set(new Uint8Array(value.buffer, value.byteOffset, value.byteLength))
  } else {
    const list = (typeof value === 'object' ? value : [value]) as ArrayLike<unknown>
    if (list.length !== n) {
      throw new BsreadError(
        'bad_value',
        `channel ${name}: ${list.length} values for shape ` + `[${info.shape.join(', ')}]`,
      )
    }
    out = Buffer.allocUnsafe(n * es)
    const ab = out.buffer
    const off = out.byteOffset
    if (info.type === 'bool') {
      for (let i = 0; i < n; i++) out[i] = list[i] ? 1 : 0
    } else if (info.type === 'int64' || info.type === 'uint64') {
      const dv = new DataView(ab, off, n * 8)
      for (let i = 0; i < n; i++) {
        const v = list[i]
        const big = typeof v === 'bigint' ? v : toBigInt(v, name)
        if (info.type === 'int64') dv.setBigInt64(i * 8, big, true)
        else dv.setBigUint64(i * 8, big, true)
      }
    } else {
      const Ctor = NUMBER_CTORS[info.type] as TypedArrayCtor
      const tmp = new Ctor(n)
      for (let i = 0; i < n; i++) tmp[i] = toNumber(list[i], name)
      out.set(new Uint8Array(tmp.buffer))
    }
  }
  if (info.encoding === 'big') byteswap(out, es)
  return out
}

/** One number written straight in the channel's byte order (wrapping like typed arrays). */
function scalarBytes(info: ChannelInfo, value: number | bigint): Buffer {
  const es = ELEMENT_SIZE[info.type]
  const out = Buffer.allocUnsafe(es)
  const dv = new DataView(out.buffer, out.byteOffset, es)
  const le = info.encoding === 'little'
  const name = info.name
  switch (info.type) {
    case 'int8':
      dv.setInt8(0, toNumber(value, name))
      break
    case 'uint8':
      dv.setUint8(0, toNumber(value, name))
      break
    case 'bool':
      dv.setUint8(0, value ? 1 : 0)
      break
    case 'int16':
      dv.setInt16(0, toNumber(value, name), le)
      break
    case 'uint16':
      dv.setUint16(0, toNumber(value, name), le)
      break
    case 'int32':
      dv.setInt32(0, toNumber(value, name), le)
      break
    case 'uint32':
      dv.setUint32(0, toNumber(value, name), le)
      break
    case 'float32':
      dv.setFloat32(0, toNumber(value, name), le)
      break
    case 'float64':
      dv.setFloat64(0, toNumber(value, name), le)
      break
    case 'int64':
      dv.setBigInt64(0, typeof value === 'bigint' ? value : toBigInt(value, name), le)
      break
    default:
      dv.setBigUint64(0, typeof value === 'bigint' ? value : toBigInt(value, name), le)
  }
  return out
}

function bytesPerElement(v: ArrayBufferView): number {
  const bpe = (v as { BYTES_PER_ELEMENT?: number }).BYTES_PER_ELEMENT
  return bpe ?? 1
}

function toBigInt(v: unknown, name: string): bigint {
  const n = toNumber(v, name)
  if (!Number.isInteger(n)) {
    throw new BsreadError('bad_value', `channel ${name}: ${n} is not an integer`)
  }
  return BigInt(n)
}

function toNumber(v: unknown, name: string): number {
  if (typeof v === 'number') return v
  if (typeof v === 'bigint') return Number(v)
  if (typeof v === 'boolean') return v ? 1 : 0
  throw new BsreadError('bad_value', `channel ${name}: ${typeof v} is not a number`)
}
