import { suite } from 'uvu'
import * as assert from 'uvu/assert'

import { BsreadDecoder, checkValueSize, decodeValue, type RawValue } from '../src/bsread/decoder.js'
import { BsreadEncoder, encodeValue } from '../src/bsread/encoder.js'
import { BsreadError, type BsreadErrorReason } from '../src/bsread/errors.js'
import type { ChannelInfo } from '../src/bsread/types.js'
import { loadCodec } from './helpers/bsread.js'
import { loadVector } from './helpers/vectors.js'

const codec = await loadCodec()
const errors = suite('bsread errors')

function reason(fn: () => unknown): BsreadErrorReason | 'none' {
  try {
    fn()
    return 'none'
  } catch (err) {
    if (err instanceof BsreadError) return err.reason
    throw err
  }
}

const u16: ChannelInfo = {
  name: 'IMG',
  type: 'uint16',
  shape: [4, 2],
  encoding: 'little',
  compression: 'none',
}
const enc = new BsreadEncoder({ codec })
const good = () =>
  enc.encode({
    pulseId: 5n,
    globalTimestamp: { sec: 1, ns: 2 },
    channels: [{ info: u16, value: [1, 2, 3, 4, 5, 6, 7, 8] }],
  })
const withMain = (main: string, parts = good()) => [Buffer.from(main), ...parts.slice(1)]

errors('headers: each malformation has its reason', () => {
  const d = () => new BsreadDecoder({ codec })
  const parts = good()
  const hash = enc.hash
  assert.is(
    reason(() => d().decode([])),
    'not_multipart',
  )
  assert.is(
    reason(() => d().decode([Buffer.from('{}')])),
    'not_multipart',
  )
  assert.is(
    reason(() => d().decode(withMain('{"htype": "bsr_m-1.1", '))),
    'bad_json',
  )
  assert.is(
    reason(() => d().decode(withMain('[1, 2]'))),
    'bad_main_header',
  )
  assert.is(
    reason(() =>
      d().decode(
        withMain(
          '{"htype": "x", "hash": "a", "pulse_id": 1, ' +
            '"global_timestamp": {"sec": 1, "ns": 0}}',
        ),
      ),
    ),
    'bad_htype',
  )
  const main = (extra: string) => `{"htype": "bsr_m-1.1", "hash": "${hash}", ${extra}}`
  assert.is(
    reason(() =>
      d().decode(withMain(main('"pulse_id": 1.5, ' + '"global_timestamp": {"sec": 1, "ns": 0}'))),
    ),
    'bad_pulse_id',
  )
  assert.is(
    reason(() =>
      d().decode(
        withMain(
          main('"pulse_id": 36893488147419103232, ' + '"global_timestamp": {"sec": 1, "ns": 0}'),
        ),
      ),
    ),
    'bad_pulse_id',
  )
  assert.is(
    reason(() => d().decode(withMain(main('"pulse_id": 1')))),
    'bad_timestamp',
  )
  assert.is(
    reason(() =>
      d().decode(
        withMain(
          main(
            '"pulse_id": 1, ' + '"global_timestamp": {"sec": 1, "ns": 0}, "dh_compression": "zstd"',
          ),
        ),
      ),
    ),
    'unknown_compression',
  )
  assert.is(
    reason(() => d().decode(parts.slice(0, 2))),
    'part_count',
  )
  assert.is(
    reason(() => d().decode([...parts, Buffer.alloc(0)])),
    'part_count',
  )
  assert.is(
    reason(() => d().decode([parts[0]!, parts[1]!, parts[2]!, Buffer.alloc(3)])),
    'bad_timestamp',
  )
  assert.is(
    reason(() => d().decode([parts[0]!, parts[1]!, parts[2]!.subarray(1), parts[3]!])),
    'value_size',
  )
  const dh = (json: string) => [parts[0]!, Buffer.from(json), ...parts.slice(2)]
  assert.is(
    reason(() => d().decode(dh('nope'))),
    'bad_json',
  )
  assert.is(
    reason(() => d().decode(dh('{"htype": "bsr_d-1.1"}'))),
    'bad_data_header',
  )
  assert.is(
    reason(() => d().decode(dh('{"htype": "zzz", "channels": []}'))),
    'bad_htype',
  )
  const ch = (c: string) => dh(`{"htype": "bsr_d-1.1", "channels": [${c}]}`)
  assert.is(
    reason(() => d().decode(ch('{"type": "uint16"}'))),
    'bad_data_header',
  )
  assert.is(
    reason(() => d().decode(ch('{"name": "IMG", "type": "u2"}'))),
    'unknown_type',
  )
  assert.is(
    reason(() => d().decode(ch('{"name": "IMG", "shape": [-4]}'))),
    'bad_shape',
  )
  assert.is(
    reason(() => d().decode(ch('{"name": "IMG", "encoding": "pdp"}'))),
    'unknown_encoding',
  )
  assert.is(
    reason(() => d().decode(ch('{"name": "IMG", "compression": "gzip"}'))),
    'unknown_compression',
  )
  // Defaults: float64, shape [1]: 16 bytes of uint16 are not one float64.
  assert.is(
    reason(() => d().decode(ch('{"name": "IMG"}'))),
    'value_size',
  )
  assert.is(
    reason(() =>
      new BsreadDecoder({ verifyHash: true }).decode(
        dh(
          '{"htype": "bsr_d-1.1", "channels": [{"name": "IMG", "type": "uint16", ' +
            '"shape": [4, 2]}]}',
        ),
      ),
    ),
    'hash_mismatch',
  )
  assert.is(
    reason(() => d().decode(parts)),
    'none',
  )
})

errors('lz4: big-endian or lying size prefix is overridden by shape × element size', () => {
  const info: ChannelInfo = { ...u16, encoding: 'big', compression: 'lz4' }
  const value = Uint16Array.from([1, 2, 3, 4, 5, 6, 7, 0xfffe])
  const bytes = encodeValue(info, value, codec)
  assert.is(bytes.readUInt32LE(0), 16)
  for (const prefix of [16, 0x10000000, 0, 0xffffffff]) {
    const b = Buffer.from(bytes)
    b.writeUInt32BE(prefix, 0)
    const got = decodeValue({ info, bytes: b }, codec)
    assert.equal(Array.from(got as Uint16Array), Array.from(value))
  }
})

errors('declared sizes above the limit are rejected before anything is allocated', () => {
  const info: ChannelInfo = { ...u16, shape: [100000, 100000], compression: 'bitshuffle_lz4' }
  const b = Buffer.alloc(64)
  b.writeBigUInt64BE(BigInt(100000 * 100000 * 2), 0)
  b.writeUInt32BE(8192, 8)
  assert.is(
    reason(() => checkValueSize(info, b, 256 << 20)),
    'decompressed_too_large',
  )
  const raw: RawValue = { info, bytes: b }
  assert.is(
    reason(() => decodeValue(raw, codec, 256 << 20)),
    'decompressed_too_large',
  )
  // Within the limit but impossible for LZ4 (ratio > 255): rejected too.
  const small: ChannelInfo = { ...u16, shape: [4096, 4096], compression: 'bitshuffle_lz4' }
  b.writeBigUInt64BE(BigInt(4096 * 4096 * 2), 0)
  assert.is(
    reason(() => checkValueSize(small, b, 256 << 20)),
    'value_size',
  )
  const str: ChannelInfo = {
    name: 'S',
    type: 'string',
    shape: [1],
    encoding: 'little',
    compression: 'lz4',
  }
  const s = Buffer.alloc(8)
  s.writeUInt32LE(0xffffffff, 0)
  assert.is(
    reason(() => checkValueSize(str, s, 256 << 20)),
    'decompressed_too_large',
  )
})

errors('corrupt compressed data is a decompression_failed BsreadError', () => {
  const v = loadVector('image_u16_64x48_bitshuffle_lz4')
  const m = new BsreadDecoder({ codec }).decode(v.messages[0]!.parts)
  const raw = m.valueAt(0)!
  const bad = Buffer.from(raw.bytes)
  bad.fill(0xff, 16)
  assert.is(
    reason(() => decodeValue({ ...raw, bytes: bad }, codec)),
    'decompression_failed',
  )
  assert.is(
    reason(() => decodeValue(raw)),
    'decompression_failed',
  )
})

errors('encoder rejects values that do not fit the channel', () => {
  assert.is(
    reason(() => encodeValue(u16, [1, 2, 3])),
    'bad_value',
  )
  assert.is(
    reason(() => encodeValue({ ...u16, type: 'string' }, 5)),
    'bad_value',
  )
  assert.is(
    reason(() => encodeValue({ ...u16, type: 'int64', shape: [1] }, [1.5])),
    'bad_value',
  )
  assert.is(
    reason(() => encodeValue({ ...u16, compression: 'lz4' }, new Uint16Array(8))),
    'bad_value',
  )
  assert.is(
    reason(() =>
      new BsreadEncoder().encode({
        pulseId: 2 ** 60,
        globalTimestamp: { sec: 1, ns: 0 },
        channels: [],
      }),
    ),
    'bad_pulse_id',
  )
})

errors.run()
