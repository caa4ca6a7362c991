import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { BlockIndex } from '../src/kernel/block-index.js'
import { BlockWalker } from '../src/kernel/block-walker.js'
import { Codec } from '../src/kernel/codec.js'
import { DTYPE_SIZE, type DTypeName } from '../src/kernel/dtype.js'
import { KernelError } from '../src/kernel/errors.js'
import { Kernel } from '../src/kernel/kernel.js'
import { ParallelProfiler, splitRows } from '../src/kernel/parallel-profiler.js'
import { ShareBalance } from '../src/kernel/share-plan.js'
import { CTRL_INTS, MAX_PIECES, PIECE_INTS, Slot } from '../src/kernel/parallel-protocol.js'
import type { ProfileInKernel, RoiTuple } from '../src/kernel/profiles.js'
import { xProfileRef } from './reference/profile.js'
import { xorshift32 as rng } from './helpers/random.js'
import { waitFor } from './helpers/wait.js'

const INTEGER_TYPES: DTypeName[] = [
  'uint8',
  'int8',
  'uint16',
  'int16',
  'uint32',
  'int32',
  'uint64',
  'int64',
]

const kernel = await Kernel.load()
const codec = new Codec(kernel)
const outs = [kernel.region(), kernel.region(), kernel.region()]

interface Case {
  bytes: Uint8Array
  wire: Uint8Array
  width: number
  height: number
  dtype: DTypeName
  bigEndian: boolean
}

/** Random pixels (every byte random: the full range of each type, 64-bit wrap included). */
function makeCase(
  dtype: DTypeName,
  width: number,
  height: number,
  seed: number,
  bigEndian = false,
  blockBytes = 0,
): Case {
  const rnd = rng(seed)
  const bytes = new Uint8Array(width * height * DTYPE_SIZE[dtype])
  // Mostly small values with random bytes sprinkled in: compressible, like a camera frame.
  for (let i = 0; i < bytes.length; i++) bytes[i] = rnd() < 0.3 ? rnd() * 256 : i % 7
  const wire = codec.compress(bytes, 'bitshuffle_lz4', DTYPE_SIZE[dtype], blockBytes)
  return { bytes, wire, width, height, dtype, bigEndian }
}

function view(p: ProfileInKernel): BigUint64Array | BigInt64Array {
  const buf = kernel.exports.memory.buffer
  return p.kind === 'uint64'
    ? new BigUint64Array(buf, p.ptr, p.length)
    : new BigInt64Array(buf, p.ptr, p.length)
}

/**
 * The profiles of a case, split across the threads. The main thread waits 50 ms at most for a
 * worker: one that is late (a GC, a busy machine) leaves that frame and the next ones to the
 * single-thread path until it is idle again; those frames are offered again. A frame declined
 * while no worker was late fails the check.
 */
async function splitProfiles(
  par: ParallelProfiler,
  c: Case,
  rois: RoiTuple[],
  extra: Array<[number, number]>,
): Promise<Array<ProfileInKernel | undefined> | undefined> {
  const shape = { width: c.width, height: c.height, dtype: c.dtype, bigEndian: c.bigEndian }
  const deadline = Date.now() + 10_000
  const late = par.late
  for (;;) {
    const got = par.profiles(c.wire, shape, rois, outs, extra)
    if (got || par.late === late || par.broken !== undefined || Date.now() > deadline) return got
    await new Promise((resolve) => setTimeout(resolve, 10)) // the late worker finishes its job
  }
}

async function checkCase(
  par: ParallelProfiler,
  c: Case,
  rois: RoiTuple[],
  extra: Array<[number, number]> = [],
  what = '',
): Promise<void> {
  const got = await splitProfiles(par, c, rois, extra)
  assert.ok(got, `${what}: split (single ${par.single}, late ${par.late}, split ${par.split})`)
  for (let k = 0; k < rois.length; k++) {
    const ref = xProfileRef(c.bytes, c.width, c.dtype, c.bigEndian, rois[k]!)
    const p = got[k]!
    assert.equal(p.length, rois[k]![1])
    assert.equal(
      Array.from(view(p)),
      Array.from(ref as BigUint64Array),
      `${what} ${c.dtype} roi ${rois[k]!.join(',')}`,
    )
  }
}

test('profile_add_i64 wraps like one u64/i64 pass (reference: BigInt.asUintN)', () => {
  const rnd = rng(77)
  for (const n of [0, 1, 2, 7, 64]) {
    const a = BigUint64Array.from({ length: n }, () => BigInt(Math.floor(rnd() * 2 ** 53)) << 11n)
    const b = BigUint64Array.from({ length: n }, () => BigInt(Math.floor(rnd() * 2 ** 53)) << 11n)
    const pa = kernel.region()
    const pb = kernel.region()
    const ptrA = pa.ensure(n * 8 + 8)
    const ptrB = pb.ensure(n * 8 + 8)
    new BigUint64Array(kernel.exports.memory.buffer, ptrA, n).set(a)
    new BigUint64Array(kernel.exports.memory.buffer, ptrB, n).set(b)
    kernel.exports.profile_add_i64(ptrA, ptrB, n)
    const got = new BigUint64Array(kernel.exports.memory.buffer, ptrA, n)
    assert.equal(
      Array.from(got),
      Array.from(a, (v, i) => BigInt.asUintN(64, v + b[i]!)),
      `n=${n}`,
    )
  }
})

test('BlockIndex span + bslz4_decompress_from: only the header and the span are read', () => {
  for (const [dtype, w, h, blockBytes] of [
    ['uint16', 333, 97, 1024],
    ['int32', 100, 50, 0],
    ['uint8', 257, 31, 64],
  ] as const) {
    const c = makeCase(dtype, w, h, w * h, false, blockBytes)
    const s = DTYPE_SIZE[dtype]
    const index = new BlockIndex()
    assert.ok(index.index(c.wire, c.bytes.length, s))
    for (const [y0, y1] of [
      [0, 1],
      [10, 20],
      [h - 3, h],
      [0, h],
      [h >> 1, (h >> 1) + 1],
    ]) {
      const span = index.span(y0! * w, y1! * w)!
      // Everything outside the header and the span is garbage: the decode must not need it.
      const only = new Uint8Array(c.wire.length).fill(0xa5)
      only.set(c.wire.subarray(0, 12))
      only.set(c.wire.subarray(span.start, span.end), span.start)
      const inPtr = kernel.region().ensure(only.length)
      const dst = kernel.region().ensure(c.bytes.length)
      kernel.bytes(inPtr, only.length).set(only)
      const status = kernel.exports.bslz4_decompress_from(
        inPtr,
        only.length,
        dst,
        c.bytes.length,
        s,
        span.start,
        span.startElem,
        y0! * w,
        y1! * w,
      )
      assert.ok(status >= 0, `${dtype} rows ${y0}..${y1}: status ${status}`)
      assert.equal(
        kernel.bytes(dst + y0! * w * s, (y1! - y0!) * w * s),
        c.bytes.subarray(y0! * w * s, y1! * w * s),
        `${dtype} rows ${y0}..${y1}`,
      )
    }
    // A start that is not a block boundary is refused, not followed.
    const inPtr = kernel.region().ensure(c.wire.length)
    kernel.bytes(inPtr, c.wire.length).set(c.wire)
    const dst = kernel.region().ensure(c.bytes.length)
    assert.is(
      kernel.exports.bslz4_decompress_from(
        inPtr,
        c.wire.length,
        dst,
        c.bytes.length,
        s,
        12,
        8,
        8,
        16,
      ),
      -5,
    )
    assert.ok(
      kernel.exports.bslz4_decompress_from(
        inPtr,
        c.wire.length,
        dst,
        c.bytes.length,
        s,
        13,
        0,
        0,
        16,
      ) < 0,
      'a start inside a block gives an error status',
    )
  }
  assert.not.ok(new BlockIndex().index(new Uint8Array(20), 100, 2), 'bad block size')
})

test('BlockWalker: the blocks of BlockIndex, one step back, the rest of the table checked', () => {
  // 331 x 97 uint16: 32,107 elements, a raw tail of 3; 512-element blocks.
  const c = makeCase('uint16', 331, 97, 5, false, 1024)
  const index = new BlockIndex()
  assert.ok(index.index(c.wire, c.bytes.length, 2))
  const walker = new BlockWalker()
  assert.ok(walker.reset(c.wire, c.bytes.length, 2))
  let blocks = 0
  while (walker.next()) {
    const span = index.span(walker.elem, walker.elem + 1)!
    assert.equal([walker.pos, walker.elem], [span.start, span.startElem], `block ${blocks}`)
    assert.is(walker.count, Math.min(512, (32107 - walker.elem) & ~7))
    if (blocks === 3) {
      const at = walker.pos
      walker.again()
      assert.is(walker.nextPos, at)
      assert.ok(walker.next())
      assert.is(walker.pos, at, 'again: the same block')
    }
    blocks++
  }
  assert.is(blocks, index.count)
  assert.not.ok(walker.broken)
  assert.is(walker.end + 3 * 2, c.wire.length, 'the raw tail follows the last block')
  // finish(): the rest of a whole table adds up; a cut one or a lying length does not.
  assert.ok(walker.reset(c.wire, c.bytes.length, 2))
  walker.next()
  assert.ok(walker.finish())
  assert.ok(walker.reset(c.wire.subarray(0, c.wire.length - 1), c.bytes.length, 2))
  assert.not.ok(walker.finish(), 'the raw tail is cut')
  const lying = c.wire.slice()
  new DataView(lying.buffer).setUint32(12, 0x7ffffff0)
  assert.ok(walker.reset(lying, c.bytes.length, 2))
  assert.not.ok(walker.next())
  assert.ok(walker.broken)
  assert.not.ok(walker.reset(new Uint8Array(20), 100, 2), 'block size 0')
})

test('protocol: every slot of a worker, its pieces included, fits in its control block', () => {
  assert.ok(Slot.PIECES + MAX_PIECES * PIECE_INTS <= CTRL_INTS)
  assert.is((CTRL_INTS * 4) % 64, 0, 'whole cache lines')
})

test('splitRows by cost: a costly range gets fewer rows', () => {
  const shares = splitRows([[0, 100]], 2, (a, b) => {
    let c = 0
    for (let y = a; y < b; y++) c += y < 50 ? 1 : 3
    return c
  })!
  assert.equal(shares, [[[0, 67]], [[67, 100]]])
})

test('splitRows: equal shares of the rows, in order, within MAX_RANGES pieces', () => {
  assert.equal(splitRows([[0, 100]], 2), [[[0, 50]], [[50, 100]]])
  assert.equal(
    splitRows(
      [
        [10, 20],
        [30, 60],
      ],
      2,
    ),
    [
      [
        [10, 20],
        [30, 40],
      ],
      [[40, 60]],
    ],
  )
  assert.equal(
    splitRows(
      [
        [0, 9],
        [20, 21],
      ],
      3,
    ),
    undefined,
    'too few rows to split',
  )
  const s = splitRows(
    [
      [0, 7],
      [10, 1000],
      [1500, 1501],
    ],
    3,
  )!
  const rows = s.map((share) => share.reduce((n, [a, b]) => n + b - a, 0))
  assert.equal(
    rows.reduce((a, b) => a + b),
    998,
  )
  assert.ok(Math.max(...rows) - Math.min(...rows) <= 1)
})

test('splitRows: shares of given fractions of the cost', () => {
  assert.equal(splitRows([[0, 100]], 2, undefined, [0.3, 0.7]), [[[0, 30]], [[30, 100]]])
  assert.equal(splitRows([[0, 100]], 3, undefined, [4, 3, 3]), [[[0, 40]], [[40, 70]], [[70, 100]]])
  assert.equal(
    splitRows(
      [
        [0, 10],
        [20, 110],
      ],
      2,
      undefined,
      [1, 1],
    ),
    [
      [
        [0, 10],
        [20, 60],
      ],
      [[60, 110]],
    ],
  )
  assert.equal(splitRows([[0, 100]], 2, undefined, [1]), undefined, 'one fraction per share')
})

test('ShareBalance: a worker without timings still counts; the main thread keeps 5 %', () => {
  const balance = new ShareBalance(3)
  // Worker 0 finished far after the main thread and gives rows up; worker 1 reported no busy
  // time (its share was empty) and keeps its fraction. Seen in a run: [0.9, 0.092, 0.008].
  const times = {
    startedUs: (w: number) => (w === 0 ? 1_000 : 5_000),
    finishedUs: (w: number) => (w === 0 ? 1_010 : 5_000),
  }
  balance.rebalance('k', [0.85, 0.14, 0.01], 1_000, times)
  const next = balance.fractions('k')
  assert.ok(next[2]! >= 0.05 - 1e-12, `main thread: ${next[2]}`)
  assert.ok(Math.abs(next.reduce((a, b) => a + b, 0) - 1) < 1e-12)
  assert.ok(splitRows([[0, 97]], 3, undefined, next), 'the rows still split')
})

test('every integer type, both byte orders, 2 and 3 threads: equal to the reference', async () => {
  for (const threads of [2, 3]) {
    const par = await ParallelProfiler.create(kernel, codec, { threads, minBytes: 0 })
    try {
      let seed = 1
      for (const dtype of INTEGER_TYPES) {
        for (const bigEndian of [false, true]) {
          // Odd width: rows and bitshuffle blocks never line up.
          const c = makeCase(dtype, 333, 97, seed++, bigEndian, 1024)
          await checkCase(
            par,
            c,
            [
              [0, 333, 10, 40],
              [5, 100, 30, 50],
              [332, 1, 96, 1],
            ],
            [],
            'rois',
          )
          await checkCase(par, c, [[0, 333, 0, 97]], [], 'whole frame')
          await checkCase(
            par,
            c,
            [
              [7, 20, 0, 1],
              [0, 333, 60, 37],
            ],
            [[0, 97]],
            'full decode',
          )
          // A gap between ROIs inside a worker's share: its blocks are walked, not copied.
          await checkCase(
            par,
            c,
            [
              [0, 333, 0, 12],
              [3, 300, 50, 47],
            ],
            [],
            'gap',
          )
        }
      }
      assert.ok(par.split > 0)
    } finally {
      await par.close()
    }
  }
})

test('small pieces: a worker decodes its share as the pieces arrive, the last takes the rest', async () => {
  for (const pieceBytes of [1, 700, 5000]) {
    const par = await ParallelProfiler.create(kernel, codec, {
      threads: 2,
      minBytes: 0,
      pieceBytes,
    })
    try {
      // 64-byte blocks: hundreds of blocks per share, more than MAX_PIECES pieces of 1 byte.
      const c = makeCase('uint16', 200, 150, 31, false, 64)
      for (let frame = 0; frame < 3; frame++) {
        await checkCase(
          par,
          c,
          [
            [0, 200, 0, 150],
            [10, 50, 20, 100],
          ],
          [],
          `pieces ${pieceBytes}`,
        )
        await checkCase(
          par,
          c,
          [
            [0, 200, 5, 30],
            [0, 200, 100, 40],
          ],
          [],
          `gap ${pieceBytes}`,
        )
      }
      assert.is(par.split, 6)
    } finally {
      await par.close()
    }
  }
})

test('float pixels, small values and tiny ROIs stay on the caller single-thread path', async () => {
  const par = await ParallelProfiler.create(kernel, codec, { threads: 2 })
  try {
    const shape = { width: 64, height: 64, dtype: 'uint16' as const, bigEndian: false }
    const small = makeCase('uint16', 64, 64, 9)
    assert.is(par.profiles(small.wire, shape, [[0, 64, 0, 64]], outs), undefined, 'below minBytes')
    const f = makeCase('float32', 600, 400, 10)
    assert.is(
      par.profiles(
        f.wire,
        { ...shape, width: 600, height: 400, dtype: 'float32' },
        [[0, 600, 0, 400]],
        outs,
      ),
      undefined,
      'float sums depend on the order',
    )
    assert.is(par.split, 0)
    assert.is(par.single, 2)
  } finally {
    await par.close()
  }
})

test('a corrupt block in a worker share throws KernelError; the next frame is fine', async () => {
  const par = await ParallelProfiler.create(kernel, codec, { threads: 2, minBytes: 0 })
  try {
    const c = makeCase('uint16', 512, 256, 21, false, 2048)
    const bad = c.wire.slice()
    // Bytes in the last quarter: inside the worker's share (the main thread takes the first half).
    const at = Math.floor(bad.length * 0.75)
    for (let i = at; i < at + 64; i++) bad[i] = bad[i]! ^ 0xff
    const shape = { width: 512, height: 256, dtype: 'uint16' as const, bigEndian: false }
    let err: unknown
    try {
      par.profiles(bad, shape, [[0, 512, 0, 256]], outs)
    } catch (e) {
      err = e
    }
    assert.instance(err, KernelError)
    // A block table that runs past the value: an error where the rows need the missing part,
    // as on one thread; past the rows (ROI rows only) the frame is left to the single-thread
    // path, which checks the whole table and reports it.
    const truncated = c.wire.subarray(0, c.wire.length - 100)
    assert.throws(
      () => par.profiles(truncated, shape, [[0, 512, 0, 256]], outs),
      (e: unknown) => e instanceof KernelError && e.code === 'TRUNCATED',
    )
    assert.is(par.profiles(truncated, shape, [[0, 512, 0, 200]], outs), undefined)
    assert.throws(
      () => codec.decompressRowsInto(kernel.region(), truncated, 2, 512, 256, [[0, 200]]),
      (e: unknown) => e instanceof KernelError,
    )
    await checkCase(
      par,
      c,
      [
        [0, 512, 0, 256],
        [3, 9, 100, 20],
      ],
      [],
      'after errors',
    )
    assert.is(par.broken, undefined)
    // A header that disagrees with the shape is left to the single-thread path to report.
    assert.is(par.profiles(c.wire, { ...shape, height: 255 }, [[0, 512, 0, 255]], outs), undefined)
  } finally {
    await par.close()
  }
})

test('growing frames and ROIs: shared buffers grow, results stay exact', async () => {
  const par = await ParallelProfiler.create(kernel, codec, { threads: 2, minBytes: 0 })
  try {
    for (const [w, h] of [
      [100, 50],
      [1000, 300],
      [64, 64],
      [2000, 400],
    ] as const) {
      const c = makeCase('uint16', w, h, w + h)
      await checkCase(
        par,
        c,
        [
          [0, w, 0, h],
          [1, w - 1, h >> 1, h >> 2],
        ],
        [],
        `${w}x${h}`,
      )
    }
  } finally {
    await par.close()
  }
})

test('close stops the workers; later frames are not split', async () => {
  const par = await ParallelProfiler.create(kernel, codec, { threads: 3, minBytes: 0 })
  await par.close()
  await par.close()
  const c = makeCase('uint16', 300, 100, 5)
  const shape = { width: 300, height: 100, dtype: 'uint16' as const, bigEndian: false }
  assert.is(par.profiles(c.wire, shape, [[0, 300, 0, 100]], outs), undefined)
})

/** The shared waitFor, polling every 10 ms. */
const until = (what: string, fn: () => boolean, ms = 10_000) => waitFor(what, fn, ms, 10)

// The stall is far above the bound, so that the main thread's wait is told apart from it even
// on a loaded machine: before, the main thread blocked until the worker was done.
const STALL_MS = 2000

test('a late worker: the frame is given up after ~50 ms, never blocks for the worker', async () => {
  const par = await ParallelProfiler.create(kernel, codec, {
    threads: 2,
    minBytes: 0,
    faults: { stallMs: STALL_MS },
  })
  try {
    const c = makeCase('uint16', 512, 256, 31)
    const shape = { width: 512, height: 256, dtype: 'uint16' as const, bigEndian: false }
    const t0 = performance.now()
    assert.is(par.profiles(c.wire, shape, [[0, 512, 0, 256]], outs), undefined)
    const blocked = performance.now() - t0
    assert.ok(blocked < STALL_MS / 2, `blocked ${blocked.toFixed(0)} ms`)
    assert.is(par.late, 1)
    // While the worker still holds its buffers, frames go to the single path at once.
    const t1 = performance.now()
    assert.is(par.profiles(c.wire, shape, [[0, 512, 0, 256]], outs), undefined)
    assert.ok(performance.now() - t1 < STALL_MS / 2)
    assert.is(par.single, 1)
    assert.is(par.broken, undefined, 'a late worker is not a broken one')
    // Once it is done, frames are split again, exactly.
    await until(
      'the worker to finish',
      () => par.profiles(c.wire, shape, [[0, 512, 0, 256]], outs) !== undefined,
    )
    await checkCase(
      par,
      c,
      [
        [0, 512, 0, 256],
        [5, 100, 30, 60],
      ],
      [],
      'after the late frame',
    )
  } finally {
    await par.close()
  }
})

test('a worker that exits mid-frame: the frame is given up, the pool dropped and awaited', async () => {
  const broken: string[] = []
  const par = await ParallelProfiler.create(kernel, codec, {
    threads: 3,
    minBytes: 0,
    faults: { exitInJob: 2 },
    onBroken: (r) => broken.push(r),
  })
  try {
    const c = makeCase('uint16', 512, 256, 41)
    const shape = { width: 512, height: 256, dtype: 'uint16' as const, bigEndian: false }
    await checkCase(par, c, [[0, 512, 0, 256]], [], 'first frame')
    const t0 = performance.now()
    assert.is(par.profiles(c.wire, shape, [[0, 512, 0, 256]], outs), undefined)
    assert.ok(performance.now() - t0 < 1000, 'the main thread did not wait for the dead worker')
    await until('the pool to be given up', () => par.broken !== undefined)
    assert.match(par.broken!, /exited \(code 3\)/)
    assert.is(broken.length, 1)
    assert.is(par.profiles(c.wire, shape, [[0, 512, 0, 256]], outs), undefined, 'not split')
  } finally {
    // Resolves once every worker (the dead one and the others) is gone.
    await par.close()
  }
})

test.run()
