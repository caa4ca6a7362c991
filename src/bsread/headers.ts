/**
 * Parsing and validation of bsread's JSON headers: the main header of every message and the
 * channel list of a data header. Each failure is a BsreadError naming what was wrong.
 * @module
 */
import { BsreadError, brief } from './errors.js'
import {
  isChannelType,
  type ChannelInfo,
  type Compression,
  type Encoding,
  type Timestamp,
} from './types.js'

const MAX_MAIN_HEADER_BYTES = 1024 * 1024
const INT64_MIN = -(2n ** 63n)
const UINT64_MAX = 2n ** 64n - 1n

/** What the decoder needs from a main header. */
export interface MainHeader {
  pulseId: bigint
  timestamp: Timestamp
  hash: string
  dhCompression: Compression
}

/** Parses and checks a main header part (htype, hash, pulse_id, timestamp, dh_compression). */
export function parseMainHeader(part: Buffer): MainHeader {
  if (part.length > MAX_MAIN_HEADER_BYTES) {
    throw new BsreadError('bad_main_header', `main header of ${part.length} bytes`)
  }
  const text = part.toString('utf8')
  const json = parseJson(text, 'main')
  if (typeof json.htype !== 'string' || !json.htype.startsWith('bsr_m-')) {
    throw new BsreadError('bad_htype', `main header htype ${brief(json.htype)}`)
  }
  if (typeof json.hash !== 'string') {
    throw new BsreadError('bad_main_header', 'main header has no hash')
  }
  return {
    pulseId: exactPulseId(json.pulse_id, text),
    timestamp: parseGlobalTimestamp(json.global_timestamp),
    hash: json.hash,
    dhCompression: parseCompression(json.dh_compression),
  }
}

/** The channels of a (decompressed) data header; checks its htype and every channel. */
export function parseDataHeaderChannels(bytes: Uint8Array): ChannelInfo[] {
  const json = parseJson(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), 'data')
  if (
    json.htype !== undefined &&
    !(typeof json.htype === 'string' && json.htype.startsWith('bsr_d-'))
  ) {
    throw new BsreadError('bad_htype', `data header htype ${brief(json.htype)}`)
  }
  if (!Array.isArray(json.channels)) {
    throw new BsreadError('bad_data_header', 'data header has no channel list')
  }
  return json.channels.map((c: unknown, i: number) => parseChannel(c, i))
}

/** The pulse id as an exact bigint, read from the JSON text when it exceeds 2^53. */
function exactPulseId(parsed: unknown, text: string): bigint {
  if (typeof parsed !== 'number' || !Number.isInteger(parsed)) {
    throw new BsreadError('bad_pulse_id', `pulse_id ${brief(parsed)} is not an integer`)
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
  if (
    typeof sec !== 'number' ||
    !Number.isFinite(sec) ||
    typeof ns !== 'number' ||
    !Number.isFinite(ns)
  ) {
    throw new BsreadError('bad_timestamp', `global_timestamp ${brief(v)}`)
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
    throw new BsreadError(
      which === 'main' ? 'bad_main_header' : 'bad_data_header',
      `${which} header is not a JSON object`,
    )
  }
  return v as Record<string, unknown>
}

/** `channel`: the channel's name, undefined for the main header's dh_compression. */
function parseCompression(v: unknown, channel?: string): Compression {
  if (v === undefined || v === null || v === 'none') return 'none'
  if (v === 'lz4' || v === 'bitshuffle_lz4') return v
  const what = channel === undefined ? 'dh_compression' : `channel ${brief(channel)}: compression`
  throw new BsreadError('unknown_compression', `${what} ${brief(v)}`)
}

function parseEncoding(v: unknown, name: string): Encoding {
  if (v === undefined || v === null || v === 'little' || v === '<') return 'little'
  if (v === 'big' || v === '>') return 'big'
  throw new BsreadError('unknown_encoding', `channel ${brief(name)}: encoding ${brief(v)}`)
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
    throw new BsreadError('unknown_type', `channel ${brief(name)}: type ${brief(o.type)}`)
  }
  let shape: number[] = [1]
  if (o.shape !== undefined && o.shape !== null) {
    if (!Array.isArray(o.shape) || o.shape.length > 32) {
      throw new BsreadError('bad_shape', `channel ${brief(name)}: shape ${brief(o.shape)}`)
    }
    shape = o.shape as number[]
    let n = 1
    for (const d of shape) {
      if (typeof d !== 'number' || !Number.isInteger(d) || d < 0 || d > 0xffffffff) {
        throw new BsreadError('bad_shape', `channel ${brief(name)}: shape ${brief(o.shape)}`)
      }
      n *= d
    }
    if (n > Number.MAX_SAFE_INTEGER) {
      throw new BsreadError('bad_shape', `channel ${brief(name)}: shape ${brief(o.shape)}`)
    }
    shape = shape.slice()
  }
  const info: ChannelInfo = {
    name,
    type,
    shape,
    encoding: parseEncoding(o.encoding, name),
    compression: parseCompression(o.compression, name),
  }
  if (typeof o.modulo === 'number') info.modulo = o.modulo
  if (typeof o.offset === 'number') info.offset = o.offset
  return info
}
