import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { Codec, mergeRows, type Compression } from '../src/kernel/codec.js'
import { KernelError } from '../src/kernel/errors.js'
import { Kernel } from '../src/kernel/kernel.js'
import { DEBUG_KERNEL_URL } from '../src/kernel/loader.js'
import { generateFrame } from '../src/sim/frame.js'
import { bslz4DecodeRef, bslz4EncodeRef, shuffleRef, unshuffleRef } from './reference/bitshuffle.js'
import { lz4DecodeRef, lz4EncodeRef } from './reference/lz4.js'
import { loadAllVectors, type ExpectedArray } from './helpers/vectors.js'
import { mulberry32 as rng } from './helpers/random.js'

const kernel = await Kernel.load(DEBUG_KERNEL_URL)
const codec = new Codec(kernel)
const SIZES = [1, 2, 4, 8]
const COUNTS = [0, 1, 7, 8, 9, 127, 128, 129, 1073, 5000, 70_001]

type Pattern = 'random' | 'smooth' | 'zeros'
function data(bytes: number, pattern: Pattern, seed: number): Uint8Array {
  const r = rng(seed)
  const out = new Uint8Array(bytes)
  for (let i = 0; i < bytes; i++) {
    if (pattern === 'random') out[i] = (r() * 256) | 0
    else if (pattern === 'smooth') {
      out[i] = i % 2 === 0 ? (100 + ((r() * 6) | 0)) & 255 : (i >> 11) & 3
    } else out[i] = 0
  }
  return out
}

function equalBytes(a: Uint8Array, b: Uint8Array, msg: string): void {
  assert.is(a.length, b.length, `${msg}: length`)
  const i = a.findIndex((v, k) => v !== b[k])
  assert.is(i, -1, `${msg}: first difference at byte ${i}`)
}

function inKernel(bytes: Uint8Array): number {
  const ptr = kernel.exports.alloc(Math.max(bytes.length, 16))
  kernel.bytes(ptr, bytes.length).set(bytes)
  return ptr
}

test('bit transpose equals the reference for every element size and count', () => {
  for (const s of SIZES) {
    for (const n of [0, 8, 16, 120, 128, 136, 1024, 1072, 4096]) {
      const x = data(n * s, 'random', n * 31 + s)
      const inp = inKernel(x)
      const out = kernel.exports.alloc(Math.max(x.length, 16))
      const k = kernel.exports as unknown as {
        bitshuffle_block(i: number, o: number, n: number, s: number, f: number): number
      }
      assert.is(k.bitshuffle_block(inp, out, n, s, 1), n)
      const shuffled = kernel.bytes(out, x.length).slice()
      equalBytes(shuffled, shuffleRef(x, s), `shuffle s=${s} n=${n}`)
      assert.is(k.bitshuffle_block(out, inp, n, s, 0), n)
      equalBytes(
        kernel.bytes(inp, x.length).slice(),
        unshuffleRef(shuffled, s),
        `unshuffle s=${s} n=${n}`,
      )
      kernel.exports.free(inp)
      kernel.exports.free(out)
    }
  }
})

test('lz4: kernel and reference agree both ways, round trips', () => {
  for (const pattern of ['random', 'smooth', 'zeros'] as const) {
    for (const bytes of [0, 1, 5, 12, 13, 17, 64, 1000, 65_536, 70_000, 300_000]) {
      const x = data(bytes, pattern, bytes)
      const wire = codec.compress(x, 'lz4', 1)
      assert.is(new DataView(wire.buffer).getUint32(0, true), bytes)
      equalBytes(lz4DecodeRef(wire.subarray(4), bytes), x, `ref decodes kernel ${pattern} ${bytes}`)
      equalBytes(codec.decompress(wire, 'lz4', 1, bytes), x, `round trip ${pattern} ${bytes}`)
      const ref = lz4EncodeRef(x)
      const prefixed = new Uint8Array(ref.length + 4)
      prefixed.set(ref, 4)
      equalBytes(codec.decompress(prefixed, 'lz4', 1, bytes), x, `decodes ref ${pattern} ${bytes}`)
      if (pattern === 'zeros' && bytes >= 1000) assert.ok(wire.length < bytes / 50, 'compresses')
    }
  }
})

test('lz4 encoder output obeys the end-of-block rules', () => {
  for (const bytes of [13, 20, 100, 5000]) {
    const x = data(bytes, 'zeros', 1)
    const block = codec.compress(x, 'lz4', 1).subarray(4)
    // Walk the sequences: the last one is literals only and holds >= 5 bytes; every match
    // starts at least 12 bytes before the end.
    let ip = 0
    let out = 0
    for (;;) {
      const token = block[ip++]!
      let lit = token >> 4
      if (lit === 15) for (let b = 255; b === 255; lit += b) b = block[ip++]!
      ip += lit
      out += lit
      if (ip === block.length) {
        assert.ok(lit >= 5, `last literals ${lit} for ${bytes}`)
        break
      }
      assert.ok(out <= bytes - 12, `match at ${out} of ${bytes}`)
      ip += 2
      let len = token & 15
      if (len === 15) for (let b = 255; b === 255; len += b) b = block[ip++]!
      out += len + 4
    }
    assert.is(out, bytes)
  }
})

test('bitshuffle_lz4: kernel == reference, round trips, every size and count', () => {
  for (const s of SIZES) {
    for (const n of COUNTS) {
      for (const pattern of ['random', 'smooth'] as const) {
        const x = data(n * s, pattern, n + s)
        const wire = codec.compress(x, 'bitshuffle_lz4', s)
        const dv = new DataView(wire.buffer)
        assert.is(Number(dv.getBigUint64(0)), n * s)
        assert.is(dv.getUint32(8), Math.max(128, Math.floor(8192 / s) & ~7) * s)
        equalBytes(bslz4DecodeRef(wire, s), x, `ref decodes kernel s=${s} n=${n} ${pattern}`)
        equalBytes(
          codec.decompress(wire, 'bitshuffle_lz4', s, n * s),
          x,
          `round trip s=${s} n=${n}`,
        )
        if (n <= 5000) {
          const ref = bslz4EncodeRef(x, s)
          equalBytes(
            codec.decompress(ref, 'bitshuffle_lz4', s, n * s),
            x,
            `kernel decodes ref s=${s} n=${n}`,
          )
        }
      }
    }
  }
})

test('bitshuffle_lz4: other block sizes, incl. one bigger than the default', () => {
  for (const s of SIZES) {
    for (const blockBytes of [8 * s, 64 * s, 32768 * s]) {
      const x = data(9001 * s, 'smooth', blockBytes)
      const wire = codec.compress(x, 'bitshuffle_lz4', s, blockBytes)
      assert.is(new DataView(wire.buffer).getUint32(8), blockBytes)
      equalBytes(bslz4DecodeRef(wire, s), x, `ref s=${s} block=${blockBytes}`)
      equalBytes(codec.decompress(wire, 'bitshuffle_lz4', s, x.length), x, `kernel s=${s}`)
    }
  }
  assert.throws(
    () => codec.compress(new Uint8Array(64), 'bitshuffle_lz4', 2, 20),
    (e: unknown) => e instanceof KernelError && e.code === 'BAD_ARGUMENT',
  )
})

// The C bitshuffle library (Debian package `bitshuffle`, Python bindings) as the outside
// oracle for the encoder. Runs only where that library is installed; says so otherwise.
// biome-ignore lint/complexity/noUselessStringRaw: Python source: a backslash added later stays literal
const C_CHECK = String.raw`
import json, struct, sys, numpy as np, bitshuffle
d = sys.argv[1]
dt = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}
bad = []
for c in json.load(open(d + '/cases.json')):
    w = open('%s/%d.bs' % (d, c['id']), 'rb').read()
    raw = open('%s/%d.raw' % (d, c['id']), 'rb').read()
    total, block = struct.unpack('>QI', w[:12])
    s = c['s']
    out = bitshuffle.decompress_lz4(np.frombuffer(w[12:], np.uint8), (total // s,),
                                    np.dtype(dt[s]), block // s)
    if total != len(raw) or out.tobytes() != raw: bad.append(c['id'])
print(json.dumps(bad))
`

function findPythonWithBitshuffle(): string | undefined {
  for (const py of ['python3', '/usr/bin/python3']) {
    const r = spawnSync(py, ['-c', 'import bitshuffle'], { encoding: 'utf8' })
    if (r.status === 0) return py
  }
  return undefined
}

test('the C bitshuffle library decodes what the encoder writes (when installed)', () => {
  const py = findPythonWithBitshuffle()
  if (!py) {
    console.log('  (C bitshuffle library not installed: cross-check skipped)')
    return
  }
  const dir = mkdtempSync(join(tmpdir(), 'psen-bslz4-'))
  try {
    const cases: Array<{ id: number; s: number }> = []
    let id = 0
    for (const s of SIZES) {
      for (const n of COUNTS) {
        for (const pattern of ['random', 'smooth'] as const) {
          const x = data(n * s, pattern, 7 * n + s)
          writeFileSync(join(dir, `${id}.raw`), x)
          writeFileSync(join(dir, `${id}.bs`), codec.compress(x, 'bitshuffle_lz4', s))
          cases.push({ id: id++, s })
        }
      }
    }
    const frame = new Uint16Array(1024 * 1024)
    generateFrame(frame, { width: 1024, height: 1024, edgeX: 600.5, seed: 3 })
    const bytes = new Uint8Array(frame.buffer)
    writeFileSync(join(dir, `${id}.raw`), bytes)
    writeFileSync(join(dir, `${id}.bs`), codec.compress(bytes, 'bitshuffle_lz4', 2))
    cases.push({ id: id++, s: 2 })
    writeFileSync(join(dir, 'cases.json'), JSON.stringify(cases))
    const r = spawnSync(py, ['-c', C_CHECK, dir], { encoding: 'utf8' })
    assert.is(r.status, 0, r.stderr)
    assert.equal(JSON.parse(r.stdout), [], 'cases the C library rejected or decoded differently')
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

const ELEM_SIZE: Record<string, number> = {
  int8: 1,
  uint8: 1,
  bool: 1,
  string: 1,
  int16: 2,
  uint16: 2,
  int32: 4,
  uint32: 4,
  float32: 4,
  int64: 8,
  uint64: 8,
  float64: 8,
}

interface Channel {
  name: string
  type?: string
  encoding?: string
  compression?: string
}

function decodeHeader(part: Buffer, compression: string | undefined): Channel[] {
  let bytes: Uint8Array = part
  if (compression === 'lz4') {
    const size = part.readUInt32LE(0)
    bytes = codec.decompress(part, 'lz4', 1, size)
  } else if (compression === 'bitshuffle_lz4') {
    bytes = codec.decompress(part, 'bitshuffle_lz4', 1, Number(part.readBigUInt64BE(0)))
  }
  return (JSON.parse(Buffer.from(bytes).toString('utf8')) as { channels: Channel[] }).channels
}

test('every golden vector decodes to its sha256_le', () => {
  let checked = 0
  for (const vector of loadAllVectors()) {
    for (const message of vector.messages) {
      const main = JSON.parse(message.parts[0]!.toString('utf8')) as { dh_compression?: string }
      const channels = decodeHeader(message.parts[1]!, main.dh_compression)
      channels.forEach((ch, k) => {
        const expected = message.expected.channels[ch.name]
        const part = message.parts[2 + 2 * k]
        if (expected?.kind !== 'array' || !part || part.length === 0) return
        const e = expected as ExpectedArray
        const s = ELEM_SIZE[ch.type ?? 'float64']!
        const bytes = e.n_elements * s
        const compression = ch.compression ?? 'none'
        let value =
          compression === 'none'
            ? new Uint8Array(part)
            : codec.decompress(part, compression as Compression, s, bytes)
        if (ch.encoding === 'big') value = Codec.byteswap(value.slice(), s)
        const sha = createHash('sha256').update(value).digest('hex')
        assert.is(sha, e.sha256_le, `${vector.name} ${ch.name}`)
        checked++
      })
    }
  }
  assert.ok(checked > 40, `checked ${checked} arrays`)
})

test('ROI-aware decode gives the same ROI rows as a full decode', () => {
  const width = 333
  const height = 207
  const frame = new Uint16Array(width * height)
  generateFrame(frame, { width, height, edgeX: 150.3, seed: 5 })
  const bytes = new Uint8Array(frame.buffer)
  const wire = codec.compress(bytes, 'bitshuffle_lz4', 2)
  const full = codec.decompress(wire, 'bitshuffle_lz4', 2, bytes.length)
  equalBytes(full, bytes, 'full')
  const region = kernel.region()
  const cases: Array<Array<[number, number]>> = [
    [[0, 1]],
    [[206, 207]],
    [[100, 101]],
    [
      [10, 60],
      [150, 190],
    ],
    [[0, 207]],
    [
      [50, 70],
      [60, 80],
    ],
    [
      [-5, 3],
      [200, 300],
    ],
  ]
  for (const ranges of cases) {
    // Poison the region so rows that were not decoded cannot pass by accident.
    kernel.bytes(region.ensure(bytes.length), bytes.length).fill(0xa5)
    const ptr = codec.decompressRowsInto(region, wire, 2, width, height, ranges)
    const got = kernel.bytes(ptr, bytes.length)
    for (const [y0, y1] of mergeRows(ranges, height)) {
      const [a, b] = [y0 * width * 2, y1 * width * 2]
      equalBytes(got.slice(a, b), bytes.slice(a, b), `rows ${y0}..${y1}`)
    }
  }
  // Skipped blocks are not copied in: stale bytes from another frame must not matter.
  const other = new Uint16Array(width * height)
  generateFrame(other, { width, height, seed: 6 })
  const otherWire = codec.compress(new Uint8Array(other.buffer), 'bitshuffle_lz4', 2)
  codec.decompressInto(region, otherWire, 'bitshuffle_lz4', 2, bytes.length)
  const roi = codec.decompressRowsInto(region, wire, 2, width, height, [[120, 140]])
  equalBytes(
    kernel.bytes(roi, bytes.length).slice(120 * width * 2, 140 * width * 2),
    bytes.slice(120 * width * 2, 140 * width * 2),
    'after another frame',
  )
  // lz4 and raw values fall back to a full decode.
  const lz = codec.compress(bytes, 'lz4', 2)
  const ptr = codec.decompressRowsInto(region, lz, 2, width, height, [[3, 4]], 'lz4')
  equalBytes(kernel.bytes(ptr, bytes.length).slice(), bytes, 'lz4 fallback')
  const raw = codec.decompressRowsInto(region, bytes, 2, width, height, [[3, 4]], 'none')
  equalBytes(kernel.bytes(raw, bytes.length).slice(), bytes, 'raw fallback')
})

test('decompressInto decodes into the caller region and reuses it', () => {
  const region = kernel.region()
  const x = data(20_000, 'smooth', 9)
  const wire = codec.compress(x, 'bitshuffle_lz4', 2)
  const p1 = codec.decompressInto(region, wire, 'bitshuffle_lz4', 2, x.length)
  equalBytes(kernel.bytes(p1, x.length).slice(), x, 'decoded')
  const p2 = codec.decompressInto(region, wire, 'bitshuffle_lz4', 2, x.length)
  assert.is(p2, p1)
})

test('byte swapping in kernel memory equals the JS helper', () => {
  for (const s of SIZES) {
    for (const n of [0, 1, 7, 8, 33, 1000]) {
      const x = data(n * s, 'random', n * s + 1)
      const ptr = inKernel(x)
      codec.byteswapAt(ptr, n, s)
      equalBytes(kernel.bytes(ptr, x.length).slice(), Codec.byteswap(x.slice(), s), `s=${s} n=${n}`)
      kernel.exports.free(ptr)
    }
  }
})

// Corruption: the debug build traps on any out-of-bounds store into the allocator's blocks or
// memory, so "no trap" plus a negative status is the check. Buffers sit between guard bytes.
function rawStatus(kind: 'lz4' | 'bslz4', src: Uint8Array, dstCap: number, s = 2): number {
  const guard = 64
  const inPtr = kernel.exports.alloc(src.length + 2 * guard)
  const outPtr = kernel.exports.alloc(dstCap + 2 * guard)
  kernel.bytes(inPtr, src.length + 2 * guard).fill(0x11)
  kernel.bytes(inPtr + guard, src.length).set(src)
  kernel.bytes(outPtr, dstCap + 2 * guard).fill(0x77)
  const status = kernel.run((k) =>
    kind === 'lz4'
      ? k.lz4_decompress(inPtr + guard, src.length, outPtr + guard, dstCap)
      : k.bslz4_decompress(inPtr + guard, src.length, outPtr + guard, dstCap, s),
  )
  const before = kernel.bytes(outPtr, guard)
  const after = kernel.bytes(outPtr + guard + dstCap, guard)
  assert.ok(before.every((v) => v === 0x77) && after.every((v) => v === 0x77), 'wrote outside dst')
  kernel.exports.free(inPtr)
  kernel.exports.free(outPtr)
  return status
}

test('corrupt lz4: every truncation and flipped bytes give a status, never a trap', () => {
  const x = data(600, 'smooth', 3)
  const block = codec.compress(x, 'lz4', 1).subarray(4)
  assert.is(rawStatus('lz4', block, x.length), x.length)
  for (let cut = 0; cut < block.length; cut++) {
    const status = rawStatus('lz4', block.subarray(0, cut), x.length)
    assert.ok(status < 0 || status < x.length, `cut ${cut}: ${status}`)
  }
  const r = rng(77)
  for (let trial = 0; trial < 400; trial++) {
    const bad = block.slice()
    const at = (r() * bad.length) | 0
    bad[at] = bad[at]! ^ (1 << ((r() * 8) | 0))
    rawStatus('lz4', bad, x.length)
    rawStatus('lz4', bad, (r() * 700) | 0)
  }
  assert.is(rawStatus('lz4', block, x.length - 1), -3)
  assert.throws(
    () => codec.decompress(codec.compress(x, 'lz4', 1), 'lz4', 1, x.length + 8),
    (e: unknown) => e instanceof KernelError,
  )
})

test('corrupt bitshuffle_lz4: truncations, flips and lying sizes give errors, never a trap', () => {
  const x = data(2 * 1100, 'smooth', 4)
  const wire = codec.compress(x, 'bitshuffle_lz4', 2, 512)
  assert.is(rawStatus('bslz4', wire, x.length), x.length)
  for (let cut = 0; cut < wire.length; cut++) {
    assert.ok(rawStatus('bslz4', wire.subarray(0, cut), x.length) < 0, `cut ${cut}`)
    assert.throws(
      () => codec.decompress(wire.subarray(0, cut), 'bitshuffle_lz4', 2, x.length),
      (e: unknown) => e instanceof KernelError && e.code !== 'TRAP',
      `codec cut ${cut}`,
    )
  }
  const r = rng(78)
  for (let trial = 0; trial < 600; trial++) {
    const bad = wire.slice()
    const at = (r() * bad.length) | 0
    bad[at] = bad[at]! ^ (1 << ((r() * 8) | 0))
    rawStatus('bslz4', bad, x.length)
  }
  const lie = (offset: number, value: number, width: 4 | 8): Uint8Array => {
    const bad = wire.slice()
    const dv = new DataView(bad.buffer)
    if (width === 8) dv.setBigUint64(offset, BigInt(value))
    else dv.setUint32(offset, value)
    return bad
  }
  const blockLen = new DataView(wire.buffer).getUint32(12)
  const lies: Array<[string, Uint8Array]> = [
    ['total larger', lie(0, x.length + 16, 8)],
    ['total huge', lie(0, 2 ** 40, 8)],
    ['total smaller', lie(0, x.length - 16, 8)],
    ['total odd', lie(0, x.length - 1, 8)],
    ['block size 0', lie(8, 0, 4)],
    ['block size not a multiple', lie(8, 100, 4)],
    ['block size huge', lie(8, 0x7ffffff0, 4)],
    ['block size larger', lie(8, 1024, 4)],
    ['block size smaller', lie(8, 256, 4)],
    ['block length huge', lie(12, 0xfffffff0, 4)],
    ['block length short', lie(12, blockLen - 3, 4)],
    ['block length long', lie(12, blockLen + 3, 4)],
  ]
  for (const [what, bad] of lies) {
    const status = rawStatus('bslz4', bad, x.length)
    if (what === 'total smaller') continue // a shorter valid-looking prefix may still fail later
    assert.ok(status < 0, `${what}: ${status}`)
    assert.throws(
      () => codec.decompress(bad, 'bitshuffle_lz4', 2, x.length),
      (e: unknown) => e instanceof KernelError && e.code !== 'TRAP',
      what,
    )
  }
  assert.is(kernel.resets, 0, 'no trap re-instantiated the kernel')
})

test('sizes are guarded in TypeScript before anything is allocated', () => {
  const small = new Codec(kernel, { maxBytes: 1000 })
  const wire = codec.compress(data(4000, 'smooth', 1), 'bitshuffle_lz4', 2)
  assert.throws(
    () => small.decompress(wire, 'bitshuffle_lz4', 2, 4000),
    (e: unknown) => e instanceof KernelError && e.code === 'OUTPUT_OVERFLOW',
  )
  assert.throws(
    () => codec.decompress(wire, 'bitshuffle_lz4', 3, 4000),
    (e: unknown) => e instanceof KernelError && e.code === 'BAD_ARGUMENT',
  )
  assert.throws(
    () => codec.decompress(new Uint8Array(3), 'lz4', 1, 10),
    (e: unknown) => e instanceof KernelError && e.code === 'TRUNCATED',
  )
  // A lying lz4 size prefix is ignored: the shape decides.
  const lz = codec.compress(data(500, 'smooth', 2), 'lz4', 1)
  new DataView(lz.buffer).setUint32(0, 0xffffffff, true)
  equalBytes(codec.decompress(lz, 'lz4', 1, 500), data(500, 'smooth', 2), 'lying prefix')
})

test.run()
