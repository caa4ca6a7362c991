import { suite } from 'uvu'
import * as assert from 'uvu/assert'

import { BsreadDecoder, decodeValue, md5hex, type BsreadMessage } from '../src/bsread/decoder.js'
import { BsreadEncoder, preEncoded, type EncodeChannel } from '../src/bsread/encoder.js'
import type { BsreadCodec, Compression } from '../src/bsread/types.js'
import { compareExpected, loadCodec } from './helpers/bsread.js'
import { loadAllVectors, type Vector } from './helpers/vectors.js'

const codec: BsreadCodec = await loadCodec()
const vectors = loadAllVectors()

function checkMessage(m: BsreadMessage, exp: Vector['messages'][number]['expected']): string[] {
  const errs: string[] = []
  if (m.pulseId.toString() !== exp.pulse_id) errs.push(`pulse id ${m.pulseId}`)
  if (
    m.globalTimestamp.sec !== exp.global_timestamp.sec ||
    m.globalTimestamp.ns !== exp.global_timestamp.ns
  )
    errs.push('global timestamp')
  const names = Object.keys(exp.channels)
  if (m.channels.map((c) => c.name).join() !== names.join()) errs.push('channel names')
  for (const name of names) {
    const raw = m.value(name)
    const got = raw === undefined ? undefined : decodeValue(raw, codec)
    errs.push(...compareExpected(name, got, exp.channels[name] ?? null))
  }
  return errs
}

const golden = suite('bsread golden vectors')

for (const v of vectors) {
  golden(`${v.name} decodes to expected`, () => {
    const dec = new BsreadDecoder({ codec })
    for (const [i, msg] of v.messages.entries()) {
      const m = dec.decode(msg.parts)
      assert.equal(checkMessage(m, msg.expected), [], `message ${i}`)
      for (const [k, c] of m.channels.entries()) {
        const raw = m.valueAt(k)
        if (raw) assert.equal(raw.timestamp, msg.expected.global_timestamp, c.name)
      }
    }
  })

  golden(`${v.name} re-encodes to the same values and header bytes`, () => {
    const dec = new BsreadDecoder({ codec })
    const dhc = (v.dh_compression ?? 'none') as Compression
    const enc = new BsreadEncoder({ codec, dataHeaderCompression: dhc })
    for (const [i, msg] of v.messages.entries()) {
      const m = dec.decode(msg.parts)
      const channels: EncodeChannel[] = m.channels.map((info, k) => {
        const raw = m.valueAt(k)
        return { info, value: raw ? decodeValue(raw, codec) : null, timestamp: raw?.timestamp }
      })
      const parts = enc.encode({ pulseId: m.pulseId, globalTimestamp: m.globalTimestamp, channels })
      assert.is(parts.length, msg.parts.length, `message ${i} part count`)
      assert.is(enc.hash, md5hex(parts[1] as Buffer))
      if (dhc === 'none') {
        assert.is(parts[0]?.toString(), msg.parts[0]?.toString(), `message ${i} main header`)
        assert.is(parts[1]?.toString(), msg.parts[1]?.toString(), `message ${i} data header`)
      } else {
        // Compressed bytes (and so the hash) depend on the compressor; the JSON must not.
        const noHash = (b: Buffer | undefined) => b?.toString().replace(/"hash": "\w+"/, '')
        assert.is(noHash(parts[0]), noHash(msg.parts[0]), `message ${i} main header`)
        const size = (b: Buffer) =>
          dhc === 'lz4' ? b.readUInt32LE(0) : Number(b.readBigUInt64BE(0))
        const text = (b: Buffer) => Buffer.from(codec.decompress(b, dhc, 1, size(b))).toString()
        assert.is(
          text(parts[1] as Buffer),
          text(msg.parts[1] as Buffer),
          `message ${i} data header`,
        )
      }
      // Uncompressed values and all timestamps are deterministic: byte-equal to the reference.
      for (let p = 2; p < parts.length; p++) {
        const info = m.channels[(p - 2) >> 1]
        if (p % 2 === 1 || info?.compression === 'none') {
          assert.ok(parts[p]?.equals(msg.parts[p] as Buffer), `message ${i} part ${p}`)
        }
      }
      const back = new BsreadDecoder({ codec }).decode(parts)
      assert.equal(checkMessage(back, msg.expected), [], `message ${i} after re-encoding`)
    }
  })
}

golden('data header parsed once per hash (stream_shape_change)', () => {
  const v = vectors.find((x) => x.name === 'stream_shape_change') as Vector
  const dec = new BsreadDecoder({ codec })
  const changed = v.messages.map((m) => dec.decode(m.parts).headerChanged)
  assert.equal(changed, [true, false, true, false])
  assert.is(dec.headerParses, 2)
})

golden('verifyHash accepts every golden data header', () => {
  for (const v of vectors) {
    const dec = new BsreadDecoder({ codec, verifyHash: true })
    for (const m of v.messages) dec.decode(m.parts)
  }
})

golden('pre-encoded values pass through unchanged', () => {
  const v = vectors.find((x) => x.name === 'image_u16_64x48_none') as Vector
  const msg = v.messages[0] as Vector['messages'][number]
  const m = new BsreadDecoder().decode(msg.parts)
  const raw = m.valueAt(0)
  assert.ok(raw)
  const enc = new BsreadEncoder()
  const parts = enc.encode({
    pulseId: m.pulseId,
    globalTimestamp: m.globalTimestamp,
    channels: [{ info: raw.info, value: preEncoded(raw.bytes) }],
  })
  assert.ok(parts[2] === raw.bytes || parts[2]?.equals(raw.bytes))
  assert.equal(
    parts.map((p) => p.toString('base64')),
    msg.parts.map((p) => p.toString('base64')),
  )
})

golden('encoder caches the data header while channels repeat', () => {
  const enc = new BsreadEncoder()
  const info = {
    name: 'X',
    type: 'float64',
    shape: [1],
    encoding: 'little',
    compression: 'none',
  } as const
  const a = enc.encode({
    pulseId: 1n,
    globalTimestamp: { sec: 1, ns: 2 },
    channels: [{ info: { ...info, shape: [1] }, value: 1.5 }],
  })
  const b = enc.encode({
    pulseId: 2n,
    globalTimestamp: { sec: 1, ns: 3 },
    channels: [{ info: { ...info, shape: [1] }, value: 2.5 }],
  })
  assert.is(enc.headerBuilds, 1)
  assert.ok(a[1] === b[1])
  enc.encode({
    pulseId: 3n,
    globalTimestamp: { sec: 1, ns: 3 },
    channels: [{ info: { ...info, shape: [1], type: 'float32' }, value: 2.5 }],
  })
  assert.is(enc.headerBuilds, 2)
})

golden('pulse ids above 2^53 stay exact', () => {
  const enc = new BsreadEncoder()
  const dec = new BsreadDecoder()
  for (const id of [2n ** 53n + 1n, 2n ** 63n - 1n, 2n ** 64n - 1n, 9007199254740993n]) {
    const parts = enc.encode({ pulseId: id, globalTimestamp: { sec: 1, ns: 0 }, channels: [] })
    assert.is(parts.length, 2)
    assert.is(dec.decode(parts).pulseId, id)
  }
})

golden('older main headers with epoch and a missing last timestamp part decode', () => {
  const v = vectors.find((x) => x.name === 'scalars_none') as Vector
  const parts = (v.messages[0] as Vector['messages'][number]).parts.slice(0, -1)
  const mh = JSON.parse(parts[0]?.toString() ?? '') as Record<string, unknown>
  mh.global_timestamp = { epoch: 1700000000, ns: 5 }
  parts[0] = Buffer.from(JSON.stringify(mh))
  const m = new BsreadDecoder().decode(parts)
  assert.equal(m.globalTimestamp, { sec: 1700000000, ns: 5 })
  const last = m.valueAt(m.channels.length - 1)
  assert.ok(last)
  assert.is(last.timestamp, undefined)
  assert.is(decodeValue(last), 0.1)
})

golden.run()
