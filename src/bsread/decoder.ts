/**
 * bsread message decoding: main header, data header (parsed once per hash), lazy values.
 *
 * Values stay as received (`RawValue.bytes`, still compressed) so the service can hand an image
 * straight to the kernel; `decodeValue` turns one into JS values when someone needs them.
 * Header parsing lives in headers.ts, value checks and decoding in values.ts.
 * @module
 */
import { createHash } from 'node:crypto'

import { BsreadError, brief } from './errors.js'
import { parseDataHeaderChannels, parseMainHeader } from './headers.js'
import type { BsreadCodec, ChannelInfo, Compression, Timestamp } from './types.js'
import {
  DEFAULT_MAX_VALUE_BYTES,
  checkFillable,
  checkValueSize,
  declaredSize,
  decompress,
  readTimestamp,
  type RawValue,
} from './values.js'

export {
  DEFAULT_MAX_VALUE_BYTES,
  checkValueSize,
  decodeValue,
  decompressValue,
  readTimestamp,
  type DecodedValue,
  type RawValue,
} from './values.js'

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

export interface DecoderOptions {
  /** Needed for compressed data headers and by `decodeValue` for compressed values. */
  codec?: BsreadCodec
  /** Largest accepted decompressed value (default 256 MiB). */
  maxValueBytes?: number
  /** Largest accepted (decompressed) data header (default 16 MiB). */
  maxHeaderBytes?: number
  /** Check the main header's hash against the MD5 of the data header when it changes. */
  verifyHash?: boolean
  /** Most parts a message may have (default 2050: 1,024 channels). */
  maxParts?: number
}

const DEFAULT_MAX_HEADER_BYTES = 16 * 1024 * 1024
/** 1,024 channels: far above any camera stream; 10,000 parts is an attack, not a camera. */
export const DEFAULT_MAX_PARTS = 2 + 2 * 1024

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
  readonly maxParts: number
  #header: ParsedHeader | undefined
  /** How many times a data header was parsed (for tests and stats). */
  headerParses = 0

  constructor(opts: DecoderOptions = {}) {
    this.codec = opts.codec
    this.maxValueBytes = opts.maxValueBytes ?? DEFAULT_MAX_VALUE_BYTES
    this.maxHeaderBytes = opts.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES
    this.verifyHash = opts.verifyHash ?? false
    this.maxParts = opts.maxParts ?? DEFAULT_MAX_PARTS
  }

  /** Forgets the cached data header (the next message parses its own). */
  reset(): void {
    this.#header = undefined
  }

  /**
   * Decodes one message; throws `BsreadError` on malformed input, and only that: whatever else
   * goes wrong while decoding (a RangeError, a bug) is a `decode_failed` BsreadError too, so
   * that no message can stop a receive loop.
   */
  decode(parts: readonly Buffer[]): BsreadMessage {
    try {
      return this.#decode(parts)
    } catch (err) {
      if (err instanceof BsreadError) throw err
      throw new BsreadError(
        'decode_failed',
        `cannot decode: ${brief(err instanceof Error ? err.message : err, 200)}`,
        { cause: err },
      )
    }
  }

  #decode(parts: readonly Buffer[]): BsreadMessage {
    if (!Array.isArray(parts) || parts.length < 2) {
      throw new BsreadError('not_multipart', `expected at least 2 parts, got ${parts?.length ?? 0}`)
    }
    if (parts.length > this.maxParts) {
      throw new BsreadError('part_count', `${parts.length} parts, at most ${this.maxParts}`)
    }
    const main = parseMainHeader(parts[0] as Buffer)
    let header = this.#header
    let changed = false
    if (
      header === undefined ||
      header.hash !== main.hash ||
      header.compression !== main.dhCompression
    ) {
      header = this.#parseDataHeader(parts[1] as Buffer, main.dhCompression, main.hash)
      this.#header = header
      this.headerParses++
      changed = true
    }
    const n = header.channels.length
    const want = 2 + 2 * n
    if (parts.length !== want && !(n > 0 && parts.length === want - 1)) {
      throw new BsreadError(
        'part_count',
        `data header lists ${n} channels: expected ${want} parts, got ${parts.length}`,
      )
    }
    for (let i = 0; i < n; i++) {
      const value = parts[2 + 2 * i] as Buffer
      if (value.length === 0) continue
      checkValueSize(header.channels[i] as ChannelInfo, value, this.maxValueBytes)
      const ts = parts[3 + 2 * i]
      if (ts !== undefined && ts.length !== 0 && ts.length !== 16) {
        throw new BsreadError(
          'bad_timestamp',
          `channel ${brief(header.channels[i]?.name)}: timestamp part has ${ts.length} bytes, ` +
            'not 16',
        )
      }
    }
    return new Message(
      main.pulseId,
      main.timestamp,
      main.hash,
      main.dhCompression,
      header,
      changed,
      parts,
    )
  }

  #parseDataHeader(part: Buffer, compression: Compression, hash: string): ParsedHeader {
    if (this.verifyHash && md5hex(part) !== hash) {
      throw new BsreadError('hash_mismatch', 'main header hash is not the MD5 of the data header')
    }
    let bytes: Uint8Array = part
    if (compression !== 'none') {
      const size = declaredSize(part, compression, 1)
      if (size > this.maxHeaderBytes) {
        throw new BsreadError(
          'decompressed_too_large',
          `data header declares ${size} bytes, limit ${this.maxHeaderBytes}`,
        )
      }
      checkFillable(part.length, size, 'data header')
      bytes = decompress(this.codec, part, compression, 1, size, 'data header')
    } else if (part.length > this.maxHeaderBytes) {
      throw new BsreadError('decompressed_too_large', `data header of ${part.length} bytes`)
    }
    const channels = parseDataHeaderChannels(bytes)
    const index = new Map<string, number>()
    channels.forEach((c, i) => {
      if (!index.has(c.name)) index.set(c.name, i)
    })
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
    const timestamp =
      ts !== undefined && ts.length === 16 ? readTimestamp(ts, info.encoding) : undefined
    return timestamp ? { info, bytes, timestamp } : { info, bytes }
  }
}

/** The MD5 of a part in hex (the main header's `hash` of the data header). */
export function md5hex(b: Uint8Array): string {
  return createHash('md5').update(b).digest('hex')
}
