/**
 * The files `analyze` writes, one row per pulse, channels named as on the data stream:
 * OUT.jsonl (every channel), OUT.h5 (one dataset per numeric channel, written with h5wasm, the
 * HDF5 C library compiled to WebAssembly, so no native build) and OUT.csv (numeric scalars).
 *
 * A pulse without a channel the file has gets the fill value there: NaN for floats, 0 for
 * integers in HDF5, an empty CSV cell, and no key in JSONL. NaN and infinities are `null` in
 * JSONL (JSON has no NaN).
 * @module
 */
import { closeSync, openSync, writeSync } from 'node:fs'
import { endianness } from 'node:os'

import { File as H5File, ready as h5ready, type Dataset } from 'h5wasm/node'

import type { DecodedValue } from '../bsread/decoder.js'
import {
  elementCount,
  type ChannelInfo,
  type ChannelType,
  type Timestamp,
} from '../bsread/types.js'

/** One pulse's results: the data message's channels, decoded. */
export interface PulseResult {
  pulseId: bigint
  timestamp: Timestamp
  channels: ReadonlyArray<{ info: ChannelInfo; value: DecodedValue }>
}

/** The typed arrays among decoded values (one HDF5 dataset type each). */
type NumericArray = Exclude<DecodedValue, number | bigint | boolean | string | boolean[]>

/** Rows kept per dataset before they are written to the HDF5 file. */
const H5_CHUNK_ROWS = 256
/** Bytes of text kept before a write. */
const TEXT_FLUSH_BYTES = 1 << 20

function arrayFor(type: ChannelType, n: number): NumericArray | undefined {
  switch (type) {
    case 'int8':
      return new Int8Array(n)
    case 'uint8':
    case 'bool':
      return new Uint8Array(n)
    case 'int16':
      return new Int16Array(n)
    case 'uint16':
      return new Uint16Array(n)
    case 'int32':
      return new Int32Array(n)
    case 'uint32':
      return new Uint32Array(n)
    case 'int64':
      return new BigInt64Array(n)
    case 'uint64':
      return new BigUint64Array(n)
    case 'float32':
      return new Float32Array(n).fill(NaN)
    case 'float64':
      return new Float64Array(n).fill(NaN)
    default:
      return undefined
  }
}

function isFloat(type: ChannelType): boolean {
  return type === 'float32' || type === 'float64'
}

/** A JSON number, or null for NaN and infinities. */
function jsonNumber(v: number | bigint | boolean): string {
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : 'null'
  if (typeof v === 'boolean') return v ? 'true' : 'false'
  return v.toString()
}

/** Bytes bigIntsJson writes into (grown when an array needs more). */
let jsonScratch = Buffer.allocUnsafe(64 * 1024)
/** Index of a 64-bit element's low 32-bit word among its two (the platform's byte order). */
const LOW_WORD = endianness() === 'LE' ? 0 : 1

/**
 * A 64-bit integer array (the ROI profiles) as JSON, its digits written as bytes: ~4x faster
 * than Array.prototype.join, which goes through BigInt's toString (the bulk of OUT.jsonl's cost
 * per pulse), and one flat string, where concatenating numbers makes ropes for the GC. An
 * element whose high word is 0 is read as its low 32-bit word (no BigInt at all); any other
 * (negative, or 2^32 and above) through BigInt's toString.
 */
function bigIntsJson(v: BigInt64Array | BigUint64Array): string {
  // A sign and 20 digits at most per element, its comma, the brackets.
  const need = v.length * 22 + 2
  if (jsonScratch.length < need) jsonScratch = Buffer.allocUnsafe(need)
  const b = jsonScratch
  const words = new Uint32Array(v.buffer, v.byteOffset, v.length * 2)
  let at = 0
  b[at++] = 0x5b
  for (let i = 0; i < v.length; i++) {
    if (i > 0) b[at++] = 0x2c
    if (words[2 * i + 1 - LOW_WORD] === 0) {
      // Unsigned 32-bit arithmetic: the digits from the last one back.
      let n = words[2 * i + LOW_WORD] as number
      let end = at + 1
      for (let t = n; t >= 10; t = (t / 10) >>> 0) end++
      let p = end
      do {
        const q = (n / 10) >>> 0
        b[--p] = 0x30 + n - q * 10
        n = q
      } while (n > 0)
      at = end
    } else {
      at += b.write((v[i] as bigint).toString(), at, 'latin1')
    }
  }
  b[at++] = 0x5d
  return b.toString('latin1', 0, at)
}

function jsonValue(v: DecodedValue): string {
  if (typeof v === 'string') return JSON.stringify(v)
  if (typeof v !== 'object') return jsonNumber(v)
  if (Array.isArray(v)) return `[${v.join(',')}]`
  if (v instanceof BigUint64Array || v instanceof BigInt64Array) return bigIntsJson(v)
  if (v instanceof Float64Array || v instanceof Float32Array) {
    let finite = true
    for (let i = 0; i < v.length; i++) if (!Number.isFinite(v[i])) finite = false
    if (!finite) return `[${Array.from(v, jsonNumber).join(',')}]`
  }
  // Typed arrays join their elements as decimal numbers (bigints without the `n`).
  return `[${Array.prototype.join.call(v, ',')}]`
}

function timestampText(t: Timestamp): string {
  return `${t.sec}.${String(t.ns).padStart(9, '0')}`
}

/** A text file written in large pieces. */
class TextFile {
  readonly #fd: number
  #pending: string[] = []
  #bytes = 0

  constructor(path: string) {
    this.#fd = openSync(path, 'w')
  }

  write(s: string): void {
    this.#pending.push(s)
    this.#bytes += s.length
    if (this.#bytes >= TEXT_FLUSH_BYTES) this.flush()
  }

  flush(): void {
    if (this.#pending.length === 0) return
    writeSync(this.#fd, this.#pending.join(''))
    this.#pending = []
    this.#bytes = 0
  }

  close(): void {
    this.flush()
    closeSync(this.#fd)
  }
}

/** One HDF5 dataset filled a chunk of rows at a time. */
interface Column {
  dataset: Dataset
  type: ChannelType
  /** Elements per row. */
  width: number
  rows: NumericArray
}

class H5Output {
  readonly #file: H5File
  readonly #columns = new Map<string, Column>()
  readonly #pulseIds = new BigUint64Array(H5_CHUNK_ROWS)
  readonly #sec = new BigInt64Array(H5_CHUNK_ROWS)
  readonly #ns = new BigInt64Array(H5_CHUNK_ROWS)
  readonly #ids: Dataset
  readonly #secs: Dataset
  readonly #nss: Dataset
  /** Rows written to the file. */
  #written = 0
  /** Rows held in the chunk buffers. */
  #held = 0
  /** Rows of a channel whose shape did not match its dataset (left at the fill value). */
  readonly mismatched = new Map<string, number>()

  constructor(path: string, attributes: Record<string, string>) {
    this.#file = new H5File(path, 'w')
    for (const [k, v] of Object.entries(attributes)) this.#file.create_attribute(k, v)
    this.#ids = this.#dataset('pulse_id', new BigUint64Array(0), 1)
    this.#secs = this.#dataset('global_timestamp_sec', new BigInt64Array(0), 1)
    this.#nss = this.#dataset('global_timestamp_ns', new BigInt64Array(0), 1)
  }

  #dataset(name: string, empty: NumericArray, width: number): Dataset {
    const shape = width === 1 ? [0] : [0, width]
    const ds = this.#file.create_dataset({
      name,
      data: empty,
      shape,
      maxshape: width === 1 ? [null] : [null, width],
      chunks: width === 1 ? [4096] : [Math.max(1, Math.floor((1 << 20) / 8 / width)), width],
    })
    if (!ds) throw new Error(`HDF5: cannot create dataset ${name}`)
    return ds as Dataset
  }

  add(r: PulseResult): void {
    const row = this.#held
    this.#pulseIds[row] = r.pulseId
    this.#sec[row] = BigInt(r.timestamp.sec)
    this.#ns[row] = BigInt(r.timestamp.ns)
    for (const { info, value } of r.channels) {
      if (info.type === 'string') continue
      let col = this.#columns.get(info.name)
      if (col === undefined) {
        col = this.#column(info)
        if (col === undefined) continue
      }
      const n = elementCount(info.shape)
      if (col.type !== info.type || col.width !== n) {
        this.mismatched.set(info.name, (this.mismatched.get(info.name) ?? 0) + 1)
        continue
      }
      if (typeof value === 'object') {
        if (Array.isArray(value)) {
          for (let i = 0; i < n; i++) (col.rows as Uint8Array)[row * n + i] = value[i] ? 1 : 0
        } else {
          ;(col.rows as Float64Array).set(value as Float64Array, row * n)
        }
      } else {
        const v = typeof value === 'boolean' ? Number(value) : value
        ;(col.rows as Float64Array)[row] = v as number
      }
    }
    this.#held++
    if (this.#held === H5_CHUNK_ROWS) this.flush()
  }

  /** A new channel's dataset; rows before its first appearance hold the fill value. */
  #column(info: ChannelInfo): Column | undefined {
    const width = elementCount(info.shape)
    const rows = arrayFor(info.type, H5_CHUNK_ROWS * width)
    if (rows === undefined) return undefined
    const dataset = this.#dataset(info.name.replaceAll('/', '_'), rows.subarray(0, 0), width)
    if (this.#written > 0) {
      dataset.resize(width === 1 ? [this.#written] : [this.#written, width])
      // Integer datasets grow zero-filled; floats must say NaN explicitly.
      if (isFloat(info.type)) {
        const fill = arrayFor(info.type, this.#written * width) as Float64Array
        dataset.write_slice(width === 1 ? [[0, this.#written]] : [[0, this.#written], []], fill)
      }
    }
    const col: Column = { dataset, type: info.type, width, rows }
    this.#columns.set(info.name, col)
    return col
  }

  /** Writes the held rows to the file. */
  flush(): void {
    const n = this.#held
    if (n === 0) return
    const start = this.#written
    const end = start + n
    const append = (ds: Dataset, data: NumericArray, width: number): void => {
      ds.resize(width === 1 ? [end] : [end, width])
      ds.write_slice(width === 1 ? [[start, end]] : [[start, end], []], data.subarray(0, n * width))
    }
    append(this.#ids, this.#pulseIds, 1)
    append(this.#secs, this.#sec, 1)
    append(this.#nss, this.#ns, 1)
    for (const col of this.#columns.values()) {
      append(col.dataset, col.rows, col.width)
      // Back to the fill value for the next chunk (a pulse may lack the channel).
      if (isFloat(col.type)) (col.rows as Float64Array).fill(NaN)
      else if (col.rows instanceof BigInt64Array || col.rows instanceof BigUint64Array) {
        col.rows.fill(0n)
      } else (col.rows as Uint8Array).fill(0)
    }
    this.#written = end
    this.#held = 0
  }

  close(): void {
    this.flush()
    this.#file.close()
  }
}

/** JSONL, HDF5 and CSV outputs of one analysis. */
export class ResultFiles {
  readonly paths: { jsonl: string; h5: string; csv: string }
  readonly #jsonl: TextFile
  readonly #csv: TextFile
  readonly #h5: H5Output
  /** CSV columns (numeric scalar channels), fixed by the first pulse. */
  #csvColumns: string[] | undefined
  /** Scalar channels that appeared after the CSV header was written (not in the CSV). */
  readonly lateScalars = new Set<string>()
  rows = 0

  private constructor(base: string, attributes: Record<string, string>) {
    this.paths = { jsonl: `${base}.jsonl`, h5: `${base}.h5`, csv: `${base}.csv` }
    this.#jsonl = new TextFile(this.paths.jsonl)
    this.#csv = new TextFile(this.paths.csv)
    this.#h5 = new H5Output(this.paths.h5, attributes)
  }

  /** Creates (overwrites) OUT.jsonl, OUT.h5 and OUT.csv; `attributes` go on the HDF5 root. */
  static async create(base: string, attributes: Record<string, string>): Promise<ResultFiles> {
    await h5ready
    return new ResultFiles(base, attributes)
  }

  /** Channels whose shape or type changed during the recording (HDF5 rows left at fill). */
  get mismatched(): ReadonlyMap<string, number> {
    return this.#h5.mismatched
  }

  add(r: PulseResult): void {
    let line =
      `{"pulse_id":${r.pulseId},"global_timestamp":` +
      `{"sec":${r.timestamp.sec},"ns":${r.timestamp.ns}}`
    for (const { info, value } of r.channels) {
      line += `,${JSON.stringify(info.name)}:${jsonValue(value)}`
    }
    this.#jsonl.write(line + '}\n')
    this.#csvRow(r)
    this.#h5.add(r)
    this.rows++
  }

  #csvRow(r: PulseResult): void {
    const scalar = (c: PulseResult['channels'][number]): boolean =>
      c.info.type !== 'string' && elementCount(c.info.shape) === 1
    if (this.#csvColumns === undefined) {
      this.#csvColumns = r.channels.filter(scalar).map((c) => c.info.name)
      this.#csv.write(
        ['pulse_id', 'global_timestamp', ...this.#csvColumns].map(csvField).join(',') + '\n',
      )
    }
    const cells = new Map<string, string>()
    for (const c of r.channels) {
      if (!scalar(c)) continue
      if (!this.#csvColumns.includes(c.info.name)) this.lateScalars.add(c.info.name)
      const v = c.value as number | bigint | boolean
      cells.set(
        c.info.name,
        typeof v === 'number' && !Number.isFinite(v) ? String(v) : jsonNumber(v),
      )
    }
    this.#csv.write(
      `${r.pulseId},${timestampText(r.timestamp)},` +
        this.#csvColumns.map((n) => cells.get(n) ?? '').join(',') +
        '\n',
    )
  }

  /** Writes everything held and closes the files (what was added is always kept). */
  close(): void {
    this.#jsonl.close()
    this.#csv.close()
    this.#h5.close()
  }
}

function csvField(s: string): string {
  return /[",\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s
}
