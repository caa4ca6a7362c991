import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { crc32 } from 'node:zlib'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'

import {
  KIND_MESSAGE,
  MESSAGE_FIXED_BYTES,
  RECORD_HEADER_BYTES,
  RecordingError,
} from '../src/recording/format.js'
import { ReadAheadReader } from '../src/recording/read-ahead.js'
import { RecordingReader, type RecordingDamage } from '../src/recording/reader.js'
import { RecordingWriter } from '../src/recording/writer.js'

const test = suite('recording read-ahead thread')
const dir = mkdtempSync(join(tmpdir(), 'psen-read-ahead-'))
const SRC = join(dir, 'src.rec')
const N = 40

/** What a reader handed out, copied (a message is valid only until the next call). */
interface Read {
  messages: Array<{ parts: Buffer[]; receivedAt: number; offset: number; position: number }>
  damage: RecordingDamage | undefined
  count: number
}

async function readAhead(
  path: string,
  opts: { verify?: boolean; crcShare?: number } = {},
): Promise<Read> {
  const r = await ReadAheadReader.start(RecordingReader.open(path, opts), {
    buffers: 2,
    crcShare: opts.crcShare,
  })
  const messages: Read['messages'] = []
  try {
    for (let m = await r.next(); m; m = await r.next()) {
      const parts = m.parts.map((p) => Buffer.from(p))
      messages.push({ parts, receivedAt: m.receivedAt, offset: m.offset, position: r.position })
    }
    // Stays at the end.
    assert.is(await r.next(), undefined)
    return { messages, damage: r.damage, count: r.count }
  } finally {
    await r.close()
  }
}

function readInline(path: string, opts: { verify?: boolean } = {}): Read {
  const r = RecordingReader.open(path, opts)
  const messages: Read['messages'] = []
  for (let m = r.next(); m; m = r.next()) {
    const parts = m.parts.map((p) => Buffer.from(p))
    messages.push({ parts, receivedAt: m.receivedAt, offset: m.offset, position: r.position })
  }
  r.close()
  return { messages, damage: r.damage, count: r.count }
}

test.before(async () => {
  // Sizes that rise and fall (1 KiB .. ~600 KiB): the ring's buffers must grow on the way.
  const w = await RecordingWriter.create(SRC, {
    recorder: 'test',
    version: '0',
    input: 'tcp://127.0.0.1:1',
    mode: 'pull',
    started: '2026-12-07T00:00:00.000Z',
  })
  for (let i = 0; i < N; i++) {
    const big = 1024 * (1 + ((i * 37) % 600))
    assert.ok(w.append([randomBytes(64), randomBytes(big), Buffer.alloc(0)], 1.8e12 + i))
    await w.flush()
  }
  await w.close()
})

test('messages come out in order, byte for byte, as the one-thread reader gives them', async () => {
  const inline = readInline(SRC)
  assert.is(inline.messages.length, N)
  const ahead = await readAhead(SRC)
  assert.equal(ahead, inline)
  const r = await ReadAheadReader.start(RecordingReader.open(SRC))
  assert.is(r.info?.recorder, 'test')
  await r.close()
})

test('a torn tail: every complete message, then the same damage as without the thread', async () => {
  const whole = readFileSync(SRC)
  const offsets = readInline(SRC).messages.map((m) => m.offset)
  const cut = join(dir, 'cut.rec')
  const k = 25
  const at = offsets[k] as number
  // Inside a record header, inside a payload, exactly at a record boundary.
  for (const size of [at + 3, at + RECORD_HEADER_BYTES + 1000, at]) {
    writeFileSync(cut, whole.subarray(0, size))
    const ahead = await readAhead(cut)
    assert.equal(ahead, readInline(cut), `cut at ${size}`)
    assert.is(ahead.count, k, `cut at ${size}`)
    if (size === at) assert.is(ahead.damage, undefined)
    else assert.match(ahead.damage?.reason ?? '', /incomplete record/)
  }
})

test('a checksum failure mid-file ends the messages at its record', async () => {
  const bytes = readFileSync(SRC)
  const offsets = readInline(SRC).messages.map((m) => m.offset)
  const at = (offsets[17] as number) + RECORD_HEADER_BYTES + 500
  bytes[at] = (bytes[at] as number) ^ 1
  const flipped = join(dir, 'flipped.rec')
  writeFileSync(flipped, bytes)
  const ahead = await readAhead(flipped)
  assert.is(ahead.count, 17)
  assert.equal(ahead.damage, {
    offset: offsets[17],
    reason: 'checksum mismatch (the record is damaged)',
  })
  assert.equal(ahead, readInline(flipped))
  // --no_verify reads on: the framing holds.
  assert.is((await readAhead(flipped, { verify: false })).count, N)
})

test('a checksum failure in the part of the CRC left to this thread is found as well', async () => {
  const bytes = readFileSync(SRC)
  const inline = readInline(SRC).messages
  // The last byte of message 17: in the share this thread sums (half of each payload at first,
  // shrinking by 2/1024 at most per record).
  const at = (inline[17]?.position as number) - 1
  bytes[at] = (bytes[at] as number) ^ 0x80
  const flipped = join(dir, 'flipped-tail.rec')
  writeFileSync(flipped, bytes)
  for (const crcShare of [0.5, 0]) {
    const ahead = await readAhead(flipped, { crcShare })
    assert.is(ahead.count, 17)
    assert.equal(ahead.damage, {
      offset: inline[17]?.offset,
      reason: 'checksum mismatch (the record is damaged)',
    })
    assert.equal(ahead, readInline(flipped))
  }
  // And a whole file with half of every CRC summed here reads as without.
  assert.equal(await readAhead(SRC, { crcShare: 0.5 }), readInline(SRC))
})

test('a message record whose parts do not add up is damage, found on this side', async () => {
  // A record with a good checksum that lists a 100-byte part and holds 10 bytes.
  const payload = Buffer.alloc(MESSAGE_FIXED_BYTES + 4 + 10)
  payload.writeUInt8(KIND_MESSAGE, 0)
  payload.writeUInt32LE(1, 16)
  payload.writeUInt32LE(100, MESSAGE_FIXED_BYTES)
  const head = Buffer.alloc(RECORD_HEADER_BYTES)
  head.writeUInt32LE(payload.length, 0)
  head.writeUInt32LE(crc32(payload), 4)
  const bad = join(dir, 'bad-parts.rec')
  const whole = readFileSync(SRC)
  writeFileSync(bad, Buffer.concat([whole, head, payload]))
  const ahead = await readAhead(bad)
  assert.is(ahead.count, N)
  assert.equal(ahead.damage, {
    offset: whole.length,
    reason: 'part 0 runs past the end of its record',
  })
  assert.equal(ahead, readInline(bad))
})

test('a read error is thrown from next(); close() stops the thread at any point', async () => {
  const copy = join(dir, 'shrinks.rec')
  writeFileSync(copy, readFileSync(SRC))
  const r = await ReadAheadReader.start(RecordingReader.open(copy))
  // The size was taken at open: reading past the new end is an error, not a torn tail.
  truncateSync(copy, Math.floor(r.size / 2))
  let got = 0
  try {
    for (let m = await r.next(); m; m = await r.next()) got++
    assert.unreachable('no error')
  } catch (err) {
    assert.instance(err, RecordingError)
    assert.match((err as Error).message, /shrank while being read/)
  }
  assert.ok(got < N, `${got} messages`)
  await r.close()
  await r.close()

  // Closed after two messages, with the thread waiting for a buffer back.
  const early = await ReadAheadReader.start(RecordingReader.open(SRC), { buffers: 2 })
  assert.ok(await early.next())
  assert.ok(await early.next())
  await early.close()
  assert.is(await early.next(), undefined)
  assert.is(early.count, 2)
})

test.after(() => rmSync(dir, { recursive: true, force: true }))

test.run()
