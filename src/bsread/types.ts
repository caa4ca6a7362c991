/**
 * Shared bsread types: channel descriptions, timestamps and the codec the decoder and encoder
 * need for compressed values.
 * @module
 */

export type ChannelType =
  | 'int8'
  | 'uint8'
  | 'int16'
  | 'uint16'
  | 'int32'
  | 'uint32'
  | 'int64'
  | 'uint64'
  | 'float32'
  | 'float64'
  | 'string'
  | 'bool'

export type Compression = 'none' | 'lz4' | 'bitshuffle_lz4'
export type Encoding = 'little' | 'big'

/** One channel of the data header, normalised (defaults filled in). */
export interface ChannelInfo {
  name: string
  type: ChannelType
  /** Fastest-changing dimension first: an image of width W and height H is `[W, H]`. */
  shape: number[]
  encoding: Encoding
  compression: Compression
  modulo?: number
  offset?: number
}

export interface Timestamp {
  sec: number
  ns: number
}

/**
 * What the decoder and encoder need from the kernel module's codec (src/kernel/codec.ts
 * `Codec` satisfies it). Both work on whole bsread-framed values.
 */
export interface BsreadCodec {
  /** Decompresses a framed value into a fresh array of exactly `expectedBytes` bytes. */
  decompress(
    src: Uint8Array,
    compression: 'lz4' | 'bitshuffle_lz4',
    elemSize: number,
    expectedBytes: number,
  ): Uint8Array
  /** Compresses raw element bytes into a framed value (lz4: 4-byte LE size + block). */
  compress(src: Uint8Array, compression: 'lz4' | 'bitshuffle_lz4', elemSize: number): Uint8Array
}

export const CHANNEL_TYPES: readonly ChannelType[] = [
  'int8',
  'uint8',
  'int16',
  'uint16',
  'int32',
  'uint32',
  'int64',
  'uint64',
  'float32',
  'float64',
  'string',
  'bool',
]

/** Bytes per element; strings count UTF-8 bytes, bools one byte each. */
export const ELEMENT_SIZE: Readonly<Record<ChannelType, number>> = {
  int8: 1,
  uint8: 1,
  int16: 2,
  uint16: 2,
  int32: 4,
  uint32: 4,
  int64: 8,
  uint64: 8,
  float32: 4,
  float64: 8,
  string: 1,
  bool: 1,
}

export function isChannelType(v: unknown): v is ChannelType {
  return typeof v === 'string' && Object.hasOwn(ELEMENT_SIZE, v)
}

/** Number of elements a shape describes (1 for a scalar: no shape or `[]`). */
export function elementCount(shape: readonly number[]): number {
  let n = 1
  for (const d of shape) n *= d
  return n
}
