/**
 * Malformed bsread input for the fault tests: every kind of broken message the issue lists,
 * built from real encoder output and then damaged, each with the counter it must land in
 * (a malformed-input reason of the receiver, or a per-frame error cause of the pipeline).
 */
import { createHash, randomBytes } from 'node:crypto'
import { BsreadEncoder, preEncoded } from '../../src/bsread/encoder.js'
import type { ChannelInfo } from '../../src/bsread/types.js'
import type { Codec } from '../../src/kernel/codec.js'
import { generateFrame } from '../../src/sim/frame.js'
import { xProfileRef } from '../reference/profile.js'

/** Where a bad message must be counted. */
export type Expect = { malformed: string } | { frameError: string }

export interface BadMessage {
  kind: string
  parts: Buffer[]
  expect: Expect
}

export type Roi4 = [number, number, number, number]

/** A valid camera frame: its encoded parts and the profiles the service must send for it. */
export interface ValidFrame {
  parts: Buffer[]
  pulseId: bigint
  signal: BigUint64Array
  background: BigUint64Array
}

const md5 = (b: Uint8Array): string => createHash('md5').update(b).digest('hex')

function mainHeader(pulseId: bigint, hash: string, extra = ''): Buffer {
  return Buffer.from(
    `{"htype": "bsr_m-1.1", ${extra}"hash": "${hash}", "pulse_id": ${pulseId}, ` +
      '"global_timestamp": {"sec": 1700000000, "ns": 5}}',
  )
}

function dataHeader(channels: object[]): Buffer {
  return Buffer.from(JSON.stringify({ htype: 'bsr_d-1.1', channels }))
}

/**
 * Builds valid frames and malformed messages around one camera channel `PREFIX:FPICTURE`
 * (uint16, bitshuffle_lz4, width x height, as the facility's cameras send).
 */
export class FaultFactory {
  readonly image: ChannelInfo
  readonly #enc: BsreadEncoder
  readonly #frames: Array<{ value: Buffer; pixels: Uint8Array }> = []
  readonly #bomb: Buffer
  readonly #bombShape: [number, number]

  constructor(
    codec: Codec,
    readonly prefix: string,
    readonly width: number,
    readonly height: number,
    variants = 8,
    opts: { bombBytes?: number } = {},
  ) {
    this.#enc = new BsreadEncoder({ codec })
    this.image = {
      name: `${prefix}:FPICTURE`,
      type: 'uint16',
      shape: [width, height],
      encoding: 'little',
      compression: 'bitshuffle_lz4',
    }
    const px = new Uint16Array(width * height)
    for (let i = 0; i < variants; i++) {
      const edge = i % 4 === 0 ? { edgeX: width / 3 } : {}
      generateFrame(px, { width, height, seed: i + 1, ...edge })
      const pixels = new Uint8Array(px.buffer.slice(0))
      const value = Buffer.from(codec.compress(pixels, 'bitshuffle_lz4', 2))
      this.#frames.push({ value, pixels })
    }
    // A real decompression bomb: zeros compress ~250x, so a few hundred KB on the wire claim
    // bombBytes (default 64 MiB) once decompressed.
    const bombBytes = opts.bombBytes ?? 64 * 1024 * 1024
    this.#bombShape = [8192, bombBytes / 2 / 8192]
    this.#bomb = Buffer.from(codec.compress(new Uint8Array(bombBytes), 'bitshuffle_lz4', 2))
  }

  /** Size of the bomb on the wire (bytes). */
  get bombWireBytes(): number {
    return this.#bomb.length
  }

  /** A valid frame with its expected signal and background profiles for the given ROIs. */
  valid(pulseId: bigint, signal: Roi4, background: Roi4): ValidFrame {
    const f = this.#frames[Number(pulseId % BigInt(this.#frames.length))]!
    const parts = this.#enc.encode({
      pulseId,
      globalTimestamp: { sec: 1700000000, ns: Number(pulseId % 1000n) },
      channels: [{ info: this.image, value: preEncoded(f.value) }],
    })
    return {
      parts,
      pulseId,
      signal: xProfileRef(f.pixels, this.width, 'uint16', false, signal) as BigUint64Array,
      background: xProfileRef(f.pixels, this.width, 'uint16', false, background) as BigUint64Array,
    }
  }

  /** The image channel's value part of a valid frame (already compressed). */
  #value(pulseId: bigint): Buffer {
    return this.#frames[Number(pulseId % BigInt(this.#frames.length))]!.value
  }

  #withHeader(pulseId: bigint, channels: object[], values: Buffer[], dhExtra = ''): Buffer[] {
    const dh = dataHeader(channels)
    const parts = [mainHeader(pulseId, md5(dh), dhExtra), dh]
    for (const v of values) parts.push(v, v.length === 0 ? Buffer.alloc(0) : tsPart())
    return parts
  }

  #imageJson(over: Record<string, unknown> = {}): object {
    return {
      name: this.image.name,
      type: 'uint16',
      shape: [this.width, this.height],
      encoding: 'little',
      compression: 'bitshuffle_lz4',
      ...over,
    }
  }

  /**
   * One of each kind of malformed message (`pulseId` for those that carry one). `big` adds a
   * 100 MB garbage part; keep it rare, it costs real memory on both sides.
   */
  bad(kind: BadKind, pulseId: bigint): BadMessage {
    const img = this.#value(pulseId)
    switch (kind) {
      case 'garbage_single_part':
        return {
          kind,
          parts: [randomBytes(1 + Number(pulseId % 300n))],
          expect: { malformed: 'not_multipart' },
        }
      case 'garbage_parts': {
        // Random binary parts; the first never starts like JSON.
        const n = 2 + Number(pulseId % 5n)
        const parts = Array.from({ length: n }, () =>
          randomBytes(1 + Math.floor(Math.random() * 2000)),
        )
        parts[0]![0] = 0xff
        return { kind, parts, expect: { malformed: 'bad_json' } }
      }
      case 'truncated': {
        // The camera message cut after the data header.
        const parts = this.valid(pulseId, [0, 1, 0, 1], [0, 1, 0, 1]).parts.slice(0, 2)
        return { kind, parts, expect: { malformed: 'part_count' } }
      }
      case 'truncated_main_header': {
        const m = mainHeader(pulseId, md5(dataHeader([this.#imageJson()])))
        const dh = dataHeader([this.#imageJson()])
        return {
          kind,
          parts: [m.subarray(0, m.length - 9), dh, img, tsPart()],
          expect: { malformed: 'bad_json' },
        }
      }
      case 'bad_json_main': {
        const main = Buffer.from('{"htype": "bsr_m-1.1", "pulse_id": 12,, }')
        return { kind, parts: [main, Buffer.from('{}')], expect: { malformed: 'bad_json' } }
      }
      case 'bad_json_data': {
        const dh = Buffer.from('{"htype": "bsr_d-1.1", "channels": [{"name": "X" "type": 1}]}')
        return {
          kind,
          parts: [mainHeader(pulseId, md5(dh)), dh, img, tsPart()],
          expect: { malformed: 'bad_json' },
        }
      }
      case 'wrong_hash': {
        // A new data header whose hash in the main header is not its MD5.
        const dh = dataHeader([this.#imageJson({ modulo: Number(pulseId % 7n) + 2 })])
        const wrong = md5(Buffer.from(`x${pulseId}`))
        return {
          kind,
          parts: [mainHeader(pulseId, wrong), dh, img, tsPart()],
          expect: { malformed: 'hash_mismatch' },
        }
      }
      case 'lying_size_bitshuffle': {
        // The bitshuffle header claims a different frame size than the shape.
        const v = Buffer.from(img)
        v.writeBigUInt64BE(BigInt(this.width * this.height * 2 + 2 * 64), 0)
        return {
          kind,
          parts: this.#withHeader(pulseId, [this.#imageJson()], [v]),
          expect: { malformed: 'value_size' },
        }
      }
      case 'lying_size_raw': {
        // compression none, shape says width x height, the part is 3 bytes short.
        const raw = Buffer.alloc(this.width * this.height * 2 - 3)
        const info = this.#imageJson({ compression: 'none' })
        return {
          kind,
          parts: this.#withHeader(pulseId, [info], [raw]),
          expect: { malformed: 'value_size' },
        }
      }
      case 'lying_size_tiny': {
        // A few bytes that claim to decompress to a whole frame (more than LZ4 can expand).
        const v = Buffer.alloc(16)
        v.writeBigUInt64BE(BigInt(this.width * this.height * 2), 0)
        v.writeUInt32BE(8192, 8)
        return {
          kind,
          parts: this.#withHeader(pulseId, [this.#imageJson()], [v]),
          expect: { malformed: 'value_size' },
        }
      }
      case 'corrupt_blocks': {
        // Header and sizes are right, the LZ4 blocks are garbage: only decoding can tell.
        const v = Buffer.from(img)
        randomBytes(v.length - 16).copy(v, 16)
        return {
          kind,
          parts: this.#withHeader(pulseId, [this.#imageJson()], [v]),
          expect: { frameError: 'decode_error' },
        }
      }
      case 'bomb_value': {
        // A genuinely compressed 64 MiB frame: above --max_frame_bytes, never decompressed.
        const shape = this.#bombShape
        return {
          kind,
          parts: this.#withHeader(pulseId, [this.#imageJson({ shape })], [this.#bomb]),
          expect: { malformed: 'decompressed_too_large' },
        }
      }
      case 'bomb_data_header': {
        // An lz4 data header that declares 2 GB.
        const dh = Buffer.alloc(64)
        dh.writeUInt32LE(2 ** 31 - 1, 0)
        return {
          kind,
          parts: [mainHeader(pulseId, md5(dh), '"dh_compression": "lz4", '), dh],
          expect: { malformed: 'decompressed_too_large' },
        }
      }
      case 'unknown_type': {
        const info = this.#imageJson({ type: 'complex128' })
        return {
          kind,
          parts: this.#withHeader(pulseId, [info], [img]),
          expect: { malformed: 'unknown_type' },
        }
      }
      case 'unknown_compression': {
        const info = this.#imageJson({ compression: 'zstd' })
        return {
          kind,
          parts: this.#withHeader(pulseId, [info], [img]),
          expect: { malformed: 'unknown_compression' },
        }
      }
      case 'extra_parts': {
        const parts = this.valid(pulseId, [0, 1, 0, 1], [0, 1, 0, 1]).parts
        return {
          kind,
          parts: [...parts, Buffer.from('a'), Buffer.from('b'), Buffer.alloc(0)],
          expect: { malformed: 'part_count' },
        }
      }
      case 'empty_parts':
        return {
          kind,
          parts: [Buffer.alloc(0), Buffer.alloc(0)],
          expect: { malformed: 'bad_json' },
        }
      case 'empty_image_value':
        // Legal bsread ("no value for this pulse"): a frame without an image.
        return {
          kind,
          parts: this.#withHeader(pulseId, [this.#imageJson()], [Buffer.alloc(0)]),
          expect: { frameError: 'missing_image' },
        }
      case 'part_100mb': {
        // 100 MB of noise where a small frame's value belongs.
        const v = Buffer.allocUnsafe(100 * 1024 * 1024)
        v.fill(7)
        const info = this.#imageJson({ compression: 'none' })
        return {
          kind,
          parts: this.#withHeader(pulseId, [info], [v]),
          expect: { malformed: 'value_size' },
        }
      }
      case 'main_header_100mb': {
        const v = Buffer.alloc(100 * 1024 * 1024, 0x20)
        return { kind, parts: [v, Buffer.from('{}')], expect: { malformed: 'bad_main_header' } }
      }
    }
  }
}

/** Every kind of bad message the fault test interleaves (the 100 MB ones are sent rarely). */
export const BAD_KINDS = [
  'garbage_single_part',
  'garbage_parts',
  'truncated',
  'truncated_main_header',
  'bad_json_main',
  'bad_json_data',
  'wrong_hash',
  'lying_size_bitshuffle',
  'lying_size_raw',
  'lying_size_tiny',
  'corrupt_blocks',
  'bomb_value',
  'bomb_data_header',
  'unknown_type',
  'unknown_compression',
  'extra_parts',
  'empty_parts',
  'empty_image_value',
  'part_100mb',
  'main_header_100mb',
] as const
export type BadKind = (typeof BAD_KINDS)[number]

function tsPart(): Buffer {
  const b = Buffer.alloc(16)
  b.writeBigInt64LE(1700000000n, 0)
  b.writeBigInt64LE(5n, 8)
  return b
}

async function procStatus(pid: number, field: string): Promise<number> {
  const { readFile } = await import('node:fs/promises')
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const m = new RegExp(`${field}:\\s+(\\d+)\\s+kB`).exec(status)
  return m ? Number(m[1]) * 1024 : NaN
}

/** Resident set size of a process in bytes (Linux /proc). */
export function rssBytes(pid: number): Promise<number> {
  return procStatus(pid, 'VmRSS')
}

/** Peak resident set size of a process so far, in bytes (Linux /proc). */
export function peakRss(pid: number): Promise<number> {
  return procStatus(pid, 'VmHWM')
}
