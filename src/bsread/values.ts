/**
 * bsread values: a channel's value part checked against its shape without decompressing,
 * decompressed through the codec, and decoded into JS values; and the per-channel timestamps.
 * @module
 */
import {
  BITSHUFFLE_HEADER_BYTES,
  bitshuffleBlockBytes,
  bitshuffleTotalBytes,
} from '../kernel/bitshuffle-header.js'
import { byteswap } from '../kernel/byteswap.js'
import { maxDecodedBytes } from '../kernel/codec.js'
import { BsreadError, brief } from './errors.js'
import {
  ELEMENT_SIZE,
  elementCount,
  type BsreadCodec,
  type ChannelInfo,
  type Encoding,
  type Timestamp,
} from './types.js'

/** One channel's value part as received, with its description and timestamp. */
export interface RawValue {
  info: ChannelInfo
  /** The value part exactly as received (still compressed); never empty. */
  bytes: Buffer
  timestamp?: Timestamp
}

/** Result of `decodeValue`: scalars for one element, typed arrays otherwise. */
export type DecodedValue =
  | number
  | bigint
  | boolean
  | string
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array
  | Float32Array
  | Float64Array
  | boolean[]

export const DEFAULT_MAX_VALUE_BYTES = 256 * 1024 * 1024

/** 16 bytes: int64 seconds + int64 nanoseconds in the channel's byte order. */
export function readTimestamp(b: Uint8Array, encoding: Encoding): Timestamp {
  const dv = new DataView(b.buffer, b.byteOffset, 16)
  const le = encoding === 'little'
  return { sec: Number(dv.getBigInt64(0, le)), ns: Number(dv.getBigInt64(8, le)) }
}

/** Size in bytes a framed compressed value declares in its own header. */
export function declaredSize(
  b: Uint8Array,
  compression: 'lz4' | 'bitshuffle_lz4',
  elemSize: number,
): number {
  if (compression === 'lz4') {
    if (b.length < 4) throw new BsreadError('value_size', `lz4 value of ${b.length} bytes`)
    return new DataView(b.buffer, b.byteOffset, 4).getUint32(0, true)
  }
  if (b.length < BITSHUFFLE_HEADER_BYTES) {
    throw new BsreadError('value_size', `bitshuffle_lz4 value of ${b.length} bytes`)
  }
  // A u64 above 2^53 rounds to the nearest double (hi * 2^32 + lo did the same).
  const size = Number(bitshuffleTotalBytes(b))
  const block = bitshuffleBlockBytes(b)
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
      throw new BsreadError(
        'value_size',
        `channel ${brief(info.name)}: ${bytes.length} bytes ` +
          `for shape [${info.shape.join(', ')}] × ${es} bytes = ${expected}`,
      )
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
      throw new BsreadError(
        'value_size',
        `channel ${brief(info.name)}: bitshuffle_lz4 ` +
          `declares ${declared} bytes, shape × element size is ${expected}`,
      )
    }
    size = declared
  }
  if (size > maxBytes) {
    throw new BsreadError(
      'decompressed_too_large',
      `channel ${brief(info.name)}: ${size} bytes decompressed, limit ${maxBytes}`,
    )
  }
  checkFillable(bytes.length, size, `channel ${brief(info.name)}`)
  return size
}

/**
 * Throws unless `compressed` bytes can decompress to `size` bytes: a declared size never sizes
 * an allocation beyond what the received bytes can fill.
 */
export function checkFillable(compressed: number, size: number, what: string): void {
  if (size > maxDecodedBytes(compressed)) {
    throw new BsreadError(
      'value_size',
      `${what}: ${compressed} compressed bytes cannot hold ${size} bytes`,
    )
  }
}

/** Decompresses a framed value of `size` bytes; `what` names it in errors. */
export function decompress(
  codec: BsreadCodec | undefined,
  src: Uint8Array,
  compression: 'lz4' | 'bitshuffle_lz4',
  elemSize: number,
  size: number,
  what: string,
): Uint8Array {
  if (codec === undefined) {
    throw new BsreadError('decompression_failed', `${what}: ${compression} needs a codec`)
  }
  let out: Uint8Array
  try {
    out = codec.decompress(src, compression, elemSize, size)
  } catch (err) {
    throw new BsreadError(
      'decompression_failed',
      `${what}: ${compression}: ${(err as Error)?.message ?? String(err)}`,
      { cause: err },
    )
  }
  if (out.length !== size) {
    throw new BsreadError(
      'decompression_failed',
      `${what}: ${compression} gave ${out.length} bytes, expected ${size}`,
    )
  }
  return out
}

/**
 * The value's element bytes, decompressed, in the channel's byte order (a fresh copy, never
 * a view of the received message).
 */
export function decompressValue(
  raw: RawValue,
  codec: BsreadCodec | undefined,
  maxBytes = DEFAULT_MAX_VALUE_BYTES,
): Uint8Array {
  const size = checkValueSize(raw.info, raw.bytes, maxBytes)
  if (raw.info.compression === 'none') {
    // checkValueSize leaves raw values to the part size limit; a copy respects maxBytes too.
    if (size > maxBytes) {
      throw new BsreadError(
        'decompressed_too_large',
        `channel ${brief(raw.info.name)}: ${size} bytes, limit ${maxBytes}`,
      )
    }
    return Uint8Array.prototype.slice.call(raw.bytes)
  }
  return decompress(
    codec,
    raw.bytes,
    raw.info.compression,
    ELEMENT_SIZE[raw.info.type],
    size,
    `channel ${brief(raw.info.name)}`,
  )
}

/**
 * Decodes a value: strings as strings, one element (shape `[1]` or none) as a scalar (bigint
 * for 64-bit integers), otherwise a typed array in native (little-endian) order.
 */
export function decodeValue(
  raw: RawValue,
  codec?: BsreadCodec,
  maxBytes = DEFAULT_MAX_VALUE_BYTES,
): DecodedValue {
  const info = raw.info
  let bytes = decompressValue(raw, codec, maxBytes)
  if (bytes.byteOffset % 8 !== 0) bytes = bytes.slice()
  if (info.type === 'string') {
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('utf8')
  }
  const n = elementCount(info.shape)
  if (info.type === 'bool') return n === 1 ? bytes[0] !== 0 : Array.from(bytes, (b) => b !== 0)
  if (info.encoding === 'big') byteswap(bytes, ELEMENT_SIZE[info.type])
  const arr = typedView(info.type, bytes.buffer as ArrayBuffer, bytes.byteOffset, n)
  return n === 1 ? (arr[0] as number | bigint) : arr
}

function typedView(type: ChannelInfo['type'], buf: ArrayBuffer, off: number, n: number) {
  switch (type) {
    case 'int8':
      return new Int8Array(buf, off, n)
    case 'uint8':
      return new Uint8Array(buf, off, n)
    case 'int16':
      return new Int16Array(buf, off, n)
    case 'uint16':
      return new Uint16Array(buf, off, n)
    case 'int32':
      return new Int32Array(buf, off, n)
    case 'uint32':
      return new Uint32Array(buf, off, n)
    case 'int64':
      return new BigInt64Array(buf, off, n)
    case 'uint64':
      return new BigUint64Array(buf, off, n)
    case 'float32':
      return new Float32Array(buf, off, n)
    default:
      return new Float64Array(buf, off, n)
  }
}
