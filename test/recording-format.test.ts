import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'

import {
  FILE_HEADER_BYTES,
  RECORD_HEADER_BYTES,
  RecordingError,
  type RecordingInfo,
} from '../src/recording/format.js'
import { describeDamage, RecordingReader } from '../src/recording/reader.js'
import { RecordingWriter } from '../src/recording/writer.js'

const test = suite('recording format')
const dir = mkdtempSync(join(tmpdir(), 'psen-recording-'))
const INFO: RecordingInfo = {
  recorder: 'test',
  version: '0',
  input: 'tcp://127.0.0.1:1',
  mode: 'pull',
  started: '2026-12-07T00:00:00.000Z',
}

/** n messages of 1-4 random parts (one sometimes empty), as a receiver would hand them out. */
function messages(n: number, seed = 1): Buffer[][] {
  const out: Buffer[][] = []
  for (let i = 0; i < n; i++) {
    const parts: Buffer[] = []
    for (let k = 0; k < 1 + ((i + seed) % 4); k++) {
      parts.push(k === 2 ? Buffer.alloc(0) : randomBytes(1 + ((i * 97 + k * 31) % 3000)))
    }
    out.push(parts)
  }
  return out
}

async function write(path: string, msgs: Buffer[][]): Promise<number[]> {
  const w = await RecordingWriter.create(path, INFO)
  const times = msgs.map((_, i) => 1.8e12 + i * 10.25)
  msgs.forEach((m, i) => {
    assert.ok(w.append(m, times[i] as number))
  })
  await w.close()
  assert.is(w.stats.written, msgs.length)
  assert.is(w.stats.dropped, 0)
  return times
}

function readAll(path: string, opts = {}): { reader: RecordingReader; got: Buffer[][] } {
  const reader = RecordingReader.open(path, opts)
  const got: Buffer[][] = []
  for (let m = reader.next(); m; m = reader.next()) got.push(m.parts.map((p) => Buffer.from(p)))
  reader.close()
  return { reader, got }
}

test('messages come back byte for byte, with their receive times and the info record', async () => {
  const path = join(dir, 'round.rec')
  const msgs = messages(50)
  const times = await write(path, msgs)
  const reader = RecordingReader.open(path)
  assert.equal(reader.info, INFO)
  for (let i = 0; i < msgs.length; i++) {
    const m = reader.next()
    assert.ok(m, `message ${i}`)
    assert.is(m.receivedAt, times[i])
    assert.is(m.parts.length, (msgs[i] as Buffer[]).length)
    m.parts.forEach((p, k) => {
      assert.ok(p.equals((msgs[i] as Buffer[])[k] as Buffer))
    })
  }
  assert.is(reader.next(), undefined)
  assert.is(reader.damage, undefined)
  assert.is(reader.count, 50)
  reader.rewind()
  assert.ok(reader.next()?.parts[0]?.equals(msgs[0]?.[0] as Buffer))
  reader.close()
  // The reused-buffer mode reads the same bytes.
  assert.equal(readAll(path, { reuseBuffer: true }).got.length, 50)
})

test('a file cut anywhere keeps every complete message and reports the torn tail', async () => {
  const path = join(dir, 'torn-src.rec')
  const msgs = messages(6, 3)
  await write(path, msgs)
  const whole = readFileSync(path)
  // Offsets where each record ends, from the records as read.
  const reader = RecordingReader.open(path)
  const starts: number[] = []
  for (let m = reader.next(); m; m = reader.next()) starts.push(m.offset)
  const end = reader.position
  reader.close()
  const cut = join(dir, 'torn.rec')
  for (let size = starts[0] as number; size < end; size += 7) {
    writeFileSync(cut, whole.subarray(0, size))
    const { reader: r, got } = readAll(cut)
    const complete = starts.filter((_s, i) => (starts[i + 1] ?? end) <= size).length
    assert.is(got.length, complete, `cut at ${size}`)
    got.forEach((parts, i) => {
      parts.forEach((p, k) => {
        assert.ok(p.equals(msgs[i]?.[k] as Buffer))
      })
    })
    const atBoundary = size === starts[complete]
    if (atBoundary) assert.is(r.damage, undefined, `cut at ${size}`)
    else {
      assert.ok(r.damage, `cut at ${size}`)
      assert.is(r.damage.offset, starts[complete])
      assert.match(r.damage.reason, /incomplete record/)
      assert.match(describeDamage(r), /unreadable from byte \d+ of \d+: incomplete record/)
    }
  }
})

test('a damaged byte stops reading at its record: checksum mismatch', async () => {
  const path = join(dir, 'flip.rec')
  const msgs = messages(5)
  await write(path, msgs)
  const reader = RecordingReader.open(path)
  const offsets: number[] = []
  for (let m = reader.next(); m; m = reader.next()) offsets.push(m.offset)
  reader.close()
  const bytes = readFileSync(path)
  const at = (offsets[3] as number) + RECORD_HEADER_BYTES + 30
  bytes[at] = (bytes[at] as number) ^ 0x40
  writeFileSync(path, bytes)
  const { reader: r, got } = readAll(path)
  assert.is(got.length, 3)
  assert.equal(r.damage, {
    offset: offsets[3],
    reason: 'checksum mismatch (the record is damaged)',
  })
  // Without the check, the framing still holds and all five come back.
  assert.is(readAll(path, { verify: false }).got.length, 5)
})

test('zeros where records should be (a crash after the file grew) are damage', async () => {
  const path = join(dir, 'zeros.rec')
  await write(path, messages(2))
  const size = readFileSync(path).length
  truncateSync(path, size + 4096)
  const { reader, got } = readAll(path)
  assert.is(got.length, 2)
  assert.is(reader.damage?.offset, size)
  assert.match(reader.damage?.reason ?? '', /empty record/)
})

test('files that are not recordings are refused with the reason', () => {
  const cases: Array<[string, Buffer, RegExp]> = [
    ['empty', Buffer.alloc(0), /is not a psen-processing recording \(too short\)/],
    [
      'json',
      Buffer.from('{"pulse_id": 1, "values": [1, 2, 3, 4, 5]}'),
      /is not a psen-processing recording \(no recording magic at its start\)/,
    ],
    ['random', randomBytes(5000), /no recording magic/],
    [
      'version',
      Buffer.concat([Buffer.from('\x89PSENREC', 'latin1'), Buffer.from([9, 0, 0, 0, 0, 0, 0, 0])]),
      /format version 9; this psen-processing reads version 1/,
    ],
  ]
  for (const [name, bytes, message] of cases) {
    const path = join(dir, `${name}.bin`)
    writeFileSync(path, bytes)
    try {
      RecordingReader.open(path)
      assert.unreachable(name)
    } catch (err) {
      assert.instance(err, RecordingError, name)
      assert.match((err as Error).message, message, name)
    }
  }
  // A header alone is an empty recording, not an error.
  const path = join(dir, 'header-only.rec')
  writeFileSync(path, readFileSync(join(dir, 'round.rec')).subarray(0, FILE_HEADER_BYTES))
  const { reader, got } = readAll(path)
  assert.is(got.length, 0)
  assert.is(reader.damage, undefined)
})

test('the writer never overwrites a file', async () => {
  const path = join(dir, 'exists.rec')
  writeFileSync(path, 'precious')
  try {
    await RecordingWriter.create(path, INFO)
    assert.unreachable('overwrote')
  } catch (err) {
    assert.is((err as NodeJS.ErrnoException).code, 'EEXIST')
  }
  assert.is(readFileSync(path, 'utf8'), 'precious')
})

test('a full write queue drops and counts; what it accepted is all in the file', async () => {
  const path = join(dir, 'bounded.rec')
  // 64 KiB of queue, 16 KiB messages appended faster than any disk: most must drop.
  const w = await RecordingWriter.create(path, INFO, { maxQueueBytes: 64 * 1024 })
  const part = Buffer.alloc(16 * 1024, 7)
  let maxQueued = 0
  for (let i = 0; i < 200; i++) {
    w.append([part, Buffer.from([i])], i)
    maxQueued = Math.max(maxQueued, w.queuedBytes)
  }
  assert.ok(maxQueued <= 64 * 1024, `queued ${maxQueued} bytes`)
  assert.ok(w.stats.dropped > 0, 'some dropped')
  assert.is(w.stats.accepted + w.stats.dropped, 200)
  await w.close()
  assert.is(w.stats.written, w.stats.accepted)
  const { got, reader } = readAll(path)
  assert.is(got.length, w.stats.accepted)
  assert.is(reader.damage, undefined)
  // Order kept: the tags of the accepted messages increase.
  const tags = got.map((p) => p[1]?.[0] as number)
  assert.ok(tags.every((t, i) => i === 0 || t > (tags[i - 1] as number)))
})

test.after(() => rmSync(dir, { recursive: true, force: true }))

test.run()
