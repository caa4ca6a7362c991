import { suite } from 'uvu'
import * as assert from 'uvu/assert'

import { BsreadDecoder, decodeValue, md5hex } from '../src/bsread/decoder.js'
import { BsreadError, brief } from '../src/bsread/errors.js'
import { compareExpected, loadCodec } from './helpers/bsread.js'
import { loadAllVectors, type VectorMessage } from './helpers/vectors.js'
import { mulberry32 as rng } from './helpers/random.js'

const codec = await loadCodec()
const MAX_VALUE = 16 * 1024 * 1024

const all = loadAllVectors()
const small = all.filter((v) => v.name !== 'camera_1024x1024_bitshuffle_lz4')
const samples: VectorMessage[] = small.flatMap((v) => v.messages)
const camera = all.find((v) => v.name === 'camera_1024x1024_bitshuffle_lz4')?.messages[0]

function replaceJson(part: Buffer, r: () => number, which: 'main' | 'data'): Buffer {
  let text = part.toString()
  const lies =
    which === 'main'
      ? ([
          [/"pulse_id": \d+/, '"pulse_id": 18446744073709551616'],
          [/"pulse_id": \d+/, '"pulse_id": -1.5'],
          [/"pulse_id": \d+/, '"pulse_id": "7"'],
          [/"pulse_id": \d+/, '"pulse_id": 1e400'],
          [/"hash": "\w+"/, '"hash": "0"'],
          [/"hash": "\w+"/, '"hash": 5'],
          [/"htype": "[^"]*"/, '"htype": "bsr_x"'],
          [/"sec": \d+/, '"sec": "now"'],
          [/"global_timestamp": \{[^}]*\}/, '"global_timestamp": null'],
          [/\}$/, ', "dh_compression": "zstd"}'],
          [/\}$/, ', "dh_compression": "lz4"}'],
        ] as const)
      : ([
          [/"shape": \[[^\]]*\]/, '"shape": [100000, 100000]'],
          [/"shape": \[[^\]]*\]/, '"shape": [4294967295, 4294967295, 4294967295]'],
          [/"shape": \[[^\]]*\]/, '"shape": [-1]'],
          [/"shape": \[[^\]]*\]/, '"shape": [1.5]'],
          [/"shape": \[[^\]]*\]/, '"shape": "big"'],
          [/"shape": \[[^\]]*\]/, '"shape": []'],
          [/"type": "\w+"/, '"type": "complex128"'],
          [/"type": "\w+"/, '"type": "string"'],
          [/"type": "\w+"/, '"type": "uint64"'],
          [/"type": "\w+"/, '"type": "bool"'],
          [/"encoding": "\w+"/, '"encoding": "middle"'],
          [/"encoding": "\w+"/, '"encoding": "big"'],
          [/"compression": "\w+"/, '"compression": "lz4"'],
          [/"compression": "\w+"/, '"compression": "none"'],
          [/"compression": "\w+"/, '"compression": "bitshuffle_lz4"'],
          [/"encoding": "little"/, '"encoding": "little", "compression": "bitshuffle_lz4"'],
          [/"channels": \[/, '"channels": [{"name": 1}, '],
          [/"channels": \[/, '"channels": {"a": ['],
        ] as const)
  const [re, by] = lies[Math.floor(r() * lies.length)] as readonly [RegExp, string]
  text = text.replace(re, by)
  return Buffer.from(text)
}

function mutate(src: readonly Buffer[], r: () => number): Buffer[] {
  const parts = src.map((p) => p)
  const pick = () => Math.floor(r() * parts.length)
  const kind = Math.floor(r() * 11)
  const i = pick()
  const p = parts[i] as Buffer
  switch (kind) {
    case 0: // truncate a part
      parts[i] = p.subarray(0, Math.floor(r() * p.length))
      break
    case 1: {
      // flip bits
      const q = Buffer.from(p)
      const flips = 1 + Math.floor(r() * 8)
      for (let k = 0; k < flips && q.length > 0; k++) {
        const at = Math.floor(r() * q.length)
        q[at] = (q[at] as number) ^ (1 << Math.floor(r() * 8))
      }
      parts[i] = q
      break
    }
    case 2: {
      // splice bytes from another message
      const other = samples[Math.floor(r() * samples.length)]!.parts
      const o = other[Math.floor(r() * other.length)] as Buffer
      const at = Math.floor(r() * (p.length + 1))
      const from = Math.floor(r() * (o.length + 1))
      const len = Math.floor(r() * (o.length - from + 1))
      parts[i] = Buffer.concat([
        p.subarray(0, at),
        o.subarray(from, from + len),
        p.subarray(at + Math.floor(r() * (p.length - at + 1))),
      ])
      break
    }
    case 3: // drop a part
      parts.splice(i, 1)
      break
    case 4: // duplicate a part
      parts.splice(i, 0, p)
      break
    case 5: // lie in the main header
      parts[0] = replaceJson(parts[0] as Buffer, r, 'main')
      break
    case 6: {
      // lie in the (uncompressed) data header, with its hash recomputed or not
      const mh = (parts[0] as Buffer).toString()
      if (mh.includes('dh_compression')) {
        parts[1] = Buffer.from(r() < 0.5 ? '{"htype": "bsr_d-1.1", "channels": []}' : 'zz')
      } else {
        parts[1] = replaceJson(parts[1] as Buffer, r, 'data')
      }
      parts[0] = Buffer.from(mh.replace(/"hash": "\w+"/, `"hash": "fuzz${Math.floor(r() * 1e9)}"`))
      break
    }
    case 7: {
      // huge declared sizes in compressed values
      if (parts.length < 3) break
      const j = 2 + 2 * Math.floor(r() * ((parts.length - 2) / 2))
      const q = Buffer.from(parts[j] as Buffer)
      if (q.length >= 12 && r() < 0.5) {
        q.writeBigUInt64BE(r() < 0.5 ? 2n ** 40n : BigInt(Math.floor(r() * 2 ** 32)), 0)
        if (r() < 0.3) q.writeUInt32BE(Math.floor(r() * 2 ** 32), 8)
      } else if (q.length >= 4) {
        q.writeUInt32LE(r() < 0.5 ? 0xffffffff : Math.floor(r() * 2 ** 32), 0)
      }
      parts[j] = q
      break
    }
    case 8: // garbage instead of a part
      parts[i] = Buffer.from(Array.from({ length: Math.floor(r() * 64) }, () => r() * 256))
      break
    case 9: {
      // swap two parts
      const j = pick()
      parts[i] = parts[j] as Buffer
      parts[j] = p
      break
    }
    default: // corrupt a compressed block body (the codec sees it)
      if (parts.length > 2) {
        const j = 2 + Math.floor(r() * (parts.length - 2))
        const q = Buffer.from(parts[j] as Buffer)
        for (let k = 12; k < q.length; k += 1 + Math.floor(r() * 97)) q[k] = Math.floor(r() * 256)
        parts[j] = q
      }
  }
  return parts
}

const fuzz = suite('bsread fuzz')

fuzz('10,000+ mutations of the golden vectors: only BsreadError, memory bounded', () => {
  const r = rng(0xb5ead)
  let decoder = new BsreadDecoder({ codec, maxValueBytes: MAX_VALUE })
  const reasons = new Map<string, number>()
  let ok = 0
  const total = 12000
  const batch = 500
  const rss0 = process.memoryUsage().rss
  const kernelBytes0 = codec.kernel.memoryBytes
  let rssMax = rss0
  for (let n = 0; n < total; n++) {
    const src = camera && n % 400 === 0 ? camera : samples[Math.floor(r() * samples.length)]!
    const parts = mutate(src.parts, r)
    if (r() < 0.5) decoder.reset()
    try {
      const m = decoder.decode(parts)
      for (let k = 0; k < m.channels.length; k++) {
        const raw = m.valueAt(k)
        if (raw) decodeValue(raw, codec, MAX_VALUE)
      }
      ok++
    } catch (err) {
      if (!(err instanceof BsreadError)) {
        throw new Error(`mutation ${n}: ${String(err)}`, { cause: err })
      }
      reasons.set(err.reason, (reasons.get(err.reason) ?? 0) + 1)
    }
    if ((n + 1) % batch === 0) {
      // The valid message right after a batch still decodes exactly.
      const good = samples[((n + 1) / batch) % samples.length]!
      decoder = new BsreadDecoder({ codec, maxValueBytes: MAX_VALUE })
      const m = decoder.decode(good.parts)
      for (const [name, exp] of Object.entries(good.expected.channels)) {
        const raw = m.value(name)
        const got = raw === undefined ? undefined : decodeValue(raw, codec, MAX_VALUE)
        assert.equal(compareExpected(name, got, exp), [], `after batch ${(n + 1) / batch}`)
      }
      rssMax = Math.max(rssMax, process.memoryUsage().rss)
    }
  }
  // Lying sizes are capped by maxValueBytes; memory must not grow with the mutation count.
  assert.ok(rssMax - rss0 < 512 * 1024 * 1024, `rss grew by ${(rssMax - rss0) >> 20} MiB`)
  // Kernel memory never grows for a lying header: at most the cap plus the compressed input.
  const wasm = codec.kernel.memoryBytes
  assert.ok(wasm <= kernelBytes0 + 4 * MAX_VALUE, `kernel memory ${wasm >> 20} MiB`)
  assert.ok(reasons.size >= 8, `reasons: ${[...reasons.keys()].join(', ')}`)
  assert.ok(ok > 0)
  if (process.env.BSREAD_FUZZ_VERBOSE) {
    console.log({ ok, reasons: Object.fromEntries(reasons), rssMax, rss0, kernelBytes0, wasm })
  }
})

fuzz('decoding valid vectors is unaffected by a decoder that saw garbage', () => {
  const decoder = new BsreadDecoder({ codec })
  for (const bad of [
    [],
    [Buffer.alloc(0)],
    [Buffer.from('{}'), Buffer.from('{}')],
    [Buffer.from('[1]'), Buffer.alloc(3)],
  ]) {
    assert.throws(
      () => decoder.decode(bad),
      (e: unknown) => e instanceof BsreadError,
    )
  }
  for (const m of samples) decoder.decode(m.parts)
})

/** JSON text of arrays (or objects) nested `depth` levels deep around `inner`. */
function nestedJson(depth: number, objects: boolean, inner = '1'): string {
  return objects
    ? '{"a": '.repeat(depth) + inner + '}'.repeat(depth)
    : '['.repeat(depth) + inner + ']'.repeat(depth)
}

const MAIN_FIELDS = ['pulse_id', 'htype', 'hash', 'global_timestamp', 'dh_compression'] as const
const CHANNEL_FIELDS = ['shape', 'type', 'encoding', 'compression', 'name', 'modulo'] as const

fuzz('nesting up to 200,000 deep in any header field: BsreadError, bounded text', () => {
  const r = rng(0x4e57)
  const decoder = new BsreadDecoder({ codec, verifyHash: true })
  const plain = samples.filter((m) => !m.parts[0]!.toString().includes('dh_compression'))
  const reasons = new Set<string>()
  for (let n = 0; n < 60; n++) {
    const src = plain[Math.floor(r() * plain.length)]!
    const depth = n % 4 === 0 ? 200_000 : 1 + Math.floor(r() * 20_000)
    const nested = nestedJson(depth, r() < 0.5)
    const main = JSON.parse(src.parts[0]!.toString()) as Record<string, unknown>
    const parts = src.parts.slice()
    let text: string
    if (n % 2 === 0) {
      const field = MAIN_FIELDS[Math.floor(r() * MAIN_FIELDS.length)]!
      text = JSON.stringify({ ...main, [field]: '@@' }).replace('"@@"', nested)
    } else {
      // One channel's field, with the hash recomputed so that the header is parsed.
      const dh = JSON.parse(src.parts[1]!.toString()) as { channels: Array<object> }
      const k = Math.floor(r() * dh.channels.length)
      const field = CHANNEL_FIELDS[Math.floor(r() * CHANNEL_FIELDS.length)]!
      dh.channels[k] = { ...dh.channels[k], [field]: '@@' }
      parts[1] = Buffer.from(JSON.stringify(dh).replace('"@@"', nested))
      text = JSON.stringify({ ...main, hash: md5hex(parts[1]) })
    }
    parts[0] = Buffer.from(text)
    decoder.reset()
    try {
      decoder.decode(parts)
      // A field the decoder ignores (modulo) may hold anything.
    } catch (err) {
      if (!(err instanceof BsreadError)) throw new Error(`case ${n}: ${String(err)}`)
      assert.ok(err.message.length <= 501, `case ${n}: message of ${err.message.length}`)
      reasons.add(err.reason)
    }
    // The next valid message decodes exactly.
    const m = decoder.decode(src.parts)
    assert.is(m.pulseId, BigInt(src.expected.pulse_id))
  }
  assert.ok(reasons.has('bad_pulse_id') && reasons.has('bad_shape'), [...reasons].join(', '))
})

fuzz('a message of 10,000 parts is malformed before anything is parsed', () => {
  const decoder = new BsreadDecoder({ codec })
  const src = samples[0]!.parts
  const parts = [...src, ...Array.from({ length: 10_000 - src.length }, () => Buffer.alloc(1))]
  assert.throws(
    () => decoder.decode(parts),
    (e: unknown) => e instanceof BsreadError && e.reason === 'part_count',
  )
  assert.is(decoder.headerParses, 0)
})

fuzz('brief: bounded text for any value', () => {
  const deep = JSON.parse(nestedJson(200_000, false)) as unknown
  const deepObject = JSON.parse(nestedJson(200_000, true)) as unknown
  const wide: Record<string, number> = {}
  for (let i = 0; i < 100_000; i++) wide[`k${i}`] = i
  const cases: unknown[] = [
    deep,
    deepObject,
    wide,
    'x'.repeat(1e6),
    ['y'.repeat(1e5)],
    new Array(1e6).fill(0),
    12n ** 40n,
    undefined,
    null,
    1.5,
    { a: [1, { b: 'c' }] },
  ]
  for (const v of cases) {
    const text = brief(v)
    assert.ok(text.length <= 81, `${text.length} characters`)
  }
  assert.is(brief({ a: [1, { b: 'c' }] }), '{"a": [1, {"b": "c"}]}')
  assert.is(brief('abc'), '"abc"')
  assert.is(brief(deep, 20), '[[[[[…]]]]]')
})

fuzz.run()
