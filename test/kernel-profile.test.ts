import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { DType, DTYPE_SIZE, type DTypeName } from '../src/kernel/dtype.js'
import { KernelError } from '../src/kernel/errors.js'
import { Kernel } from '../src/kernel/kernel.js'
import { DEBUG_KERNEL_URL, DEFAULT_KERNEL_URL, compileKernel } from '../src/kernel/loader.js'
import {
  ProfileKernels,
  histogramPercentiles,
  type FrameRef,
  type RoiTuple,
} from '../src/kernel/profiles.js'
import { BsreadDecoder } from '../src/bsread/decoder.js'
import { Codec } from '../src/kernel/codec.js'
import { isDTypeName } from '../src/kernel/dtype.js'
import { EdgeFinder } from '../src/processing/edge-finder.js'
import { defaultParameters } from '../src/processing/parameters.js'
import { histogramRef, minMaxRef, roiStatsRef, xProfileRef } from './reference/profile.js'
import { loadVector, vectorNames } from './helpers/vectors.js'
import { randomFrame, xorshift32 as rng } from './helpers/random.js'

const TYPES = Object.keys(DType) as DTypeName[]

function list(a: ArrayLike<unknown>): unknown[] {
  return Array.from(a)
}

async function debugKernel(): Promise<Kernel> {
  return Kernel.fromModule(await compileKernel(DEBUG_KERNEL_URL))
}

function put(k: Kernel, bytes: Uint8Array): number {
  const ptr = k.exports.alloc(bytes.length)
  k.bytes(ptr, bytes.length).set(bytes)
  return ptr
}

function rois(width: number, height: number): RoiTuple[] {
  return [
    [0, width, 0, height],
    [0, 1, 0, 1],
    [width - 1, 1, height - 1, 1],
    [1, width - 2, height - 3, 3],
    [Math.floor(width / 3), Math.ceil(width / 2), 0, height],
    [width - 17, 17, 2, 1],
  ]
}

test('x_profile = reference: every type, both byte orders, odd sizes, edge ROIs', async () => {
  const k = await debugKernel()
  const pk = new ProfileKernels(k)
  const out = k.region()
  const rnd = rng(7)
  for (const dtype of TYPES) {
    for (const bigEndian of [false, true]) {
      for (const [width, height] of [
        [37, 29],
        [67, 5],
        [19, 3],
      ] as const) {
        const bytes = randomFrame(dtype, width * height, bigEndian, rnd)
        const frame: FrameRef = { ptr: put(k, bytes), width, height, dtype, bigEndian }
        for (const roi of rois(width, height)) {
          const got = pk.xProfile(frame, roi, out)
          const want = xProfileRef(bytes, width, dtype, bigEndian, roi)
          assert.is(got.constructor, want.constructor, `${dtype} kind`)
          assert.equal(
            list(got),
            list(want),
            `${dtype} be=${bigEndian} ${width}x${height} roi=${roi.join(',')}`,
          )
        }
        k.exports.free(frame.ptr)
      }
    }
  }
})

test('x_profile flushes its 32-bit lanes: 70,000 rows of 65535 and -32768 stay exact', async () => {
  const k = await debugKernel()
  const pk = new ProfileKernels(k)
  const width = 9
  const height = 70_000
  const extremes = [
    ['uint16', 65535],
    ['int16', -32768],
    ['uint8', 255],
    ['int8', -128],
  ] as const
  for (const [dtype, value] of extremes) {
    const bytes = new Uint8Array(width * height * DTYPE_SIZE[dtype])
    const dv = new DataView(bytes.buffer)
    for (let i = 0; i < width * height; i++) {
      if (DTYPE_SIZE[dtype] === 2) dv.setInt16(i * 2, value, true)
      else dv.setInt8(i, value)
    }
    const frame: FrameRef = { ptr: put(k, bytes), width, height, dtype, bigEndian: false }
    const got = pk.xProfile(frame, [0, width, 0, height], k.region())
    for (const v of got) assert.is(v, BigInt(value) * BigInt(height))
    k.exports.free(frame.ptr)
  }
})

test('x_profile SIMD paths flush exactly: 8/16-bit extremes over >= 16 columns, > 256 rows', async () => {
  const k = await debugKernel()
  const pk = new ProfileKernels(k)
  // 40 columns: two 16-column vectors and a scalar tail; 601 rows: 8-bit lanes flush every
  // 256 rows, 8-row blocks leave a remainder.
  const width = 40
  const height = 601
  const extremes = [
    ['uint16', 65535],
    ['int16', -32768],
    ['int16', 32767],
    ['uint8', 255],
    ['int8', -128],
    ['int8', 127],
  ] as const
  for (const [dtype, value] of extremes) {
    for (const bigEndian of [false, true]) {
      const bytes = new Uint8Array(width * height * DTYPE_SIZE[dtype])
      const dv = new DataView(bytes.buffer)
      for (let i = 0; i < width * height; i++) {
        if (DTYPE_SIZE[dtype] === 2) dv.setInt16(i * 2, value, !bigEndian)
        else dv.setInt8(i, value)
      }
      const frame: FrameRef = { ptr: put(k, bytes), width, height, dtype, bigEndian }
      for (const roi of [
        [0, width, 0, height],
        [3, 33, 5, 590],
      ] as RoiTuple[]) {
        const got = pk.xProfile(frame, roi, k.region())
        for (const v of got) assert.is(v, BigInt(value) * BigInt(roi[3]), `${dtype} ${value}`)
      }
      k.exports.free(frame.ptr)
    }
  }
})

test('x_profile wider than one accumulator pass: 8-bit 8300, 16-bit 4200 columns, random', async () => {
  const k = await debugKernel()
  const pk = new ProfileKernels(k)
  const rnd = rng(12)
  for (const [dtype, width] of [
    ['uint8', 8300],
    ['int8', 8300],
    ['uint16', 4200],
    ['int16', 4200],
  ] as const) {
    for (const bigEndian of [false, true]) {
      const height = 300
      const bytes = randomFrame(dtype, width * height, bigEndian, rnd)
      const frame: FrameRef = { ptr: put(k, bytes), width, height, dtype, bigEndian }
      for (const roi of [
        [0, width, 0, height],
        [7, width - 9, 13, 270],
      ] as RoiTuple[]) {
        const got = pk.xProfile(frame, roi, k.region()) as ArrayLike<unknown>
        assert.equal(
          list(got),
          list(xProfileRef(bytes, width, dtype, bigEndian, roi)),
          `${dtype} be=${bigEndian} roi ${roi.join(',')}`,
        )
      }
      k.exports.free(frame.ptr)
    }
  }
})

test('x_profile over more columns than one accumulator pass (5000 wide)', async () => {
  const k = await debugKernel()
  const pk = new ProfileKernels(k)
  const rnd = rng(11)
  const width = 5000
  const height = 3
  const bytes = randomFrame('uint16', width * height, false, rnd)
  const frame: FrameRef = { ptr: put(k, bytes), width, height, dtype: 'uint16', bigEndian: false }
  const roi: RoiTuple = [1, 4999, 0, 3]
  const got = pk.xProfile(frame, roi, k.region()) as ArrayLike<unknown>
  assert.equal(list(got), list(xProfileRef(bytes, width, 'uint16', false, roi)))
})

test('bad ROIs and types return ERR_BAD_ARGUMENT; the wrapper throws a KernelError', async () => {
  const k = await debugKernel()
  const pk = new ProfileKernels(k)
  const ptr = k.exports.alloc(64)
  const out = k.exports.alloc(64)
  const bad = [
    [0, 9, 0, 1],
    [8, 1, 0, 1],
    [0, 1, 8, 1],
    [-1, 2, 0, 1],
    [0, 0, 0, 1],
    [0, 1, 0, 0],
  ]
  for (const [ox, sx, oy, sy] of bad) {
    const status = k.exports.x_profile(ptr, 8, 8, DType.uint8, 0, ox!, sx!, oy!, sy!, out)
    assert.is(status, -5, `roi ${[ox, sx, oy, sy]}`)
    assert.is(k.exports.roi_stats(ptr, 8, 8, DType.uint8, 0, ox!, sx!, oy!, sy!, 0, out), -5)
  }
  assert.is(k.exports.x_profile(ptr, 8, 8, 10, 0, 0, 1, 0, 1, out), -5)
  assert.is(k.exports.x_profile(ptr, 2147483647, 8, 0, 0, 2147483647, 2, 0, 1, out), -5)
  const frame: FrameRef = { ptr, width: 8, height: 8, dtype: 'uint8', bigEndian: false }
  assert.throws(
    () => pk.xProfile(frame, [4, 5, 0, 1], k.region()),
    (e: unknown) => e instanceof KernelError && e.code === 'BAD_ARGUMENT',
  )
})

test('roi_stats, frame_min_max and histogram equal the references', async () => {
  const k = await debugKernel()
  const rnd = rng(3)
  const out = k.exports.alloc(8 * 64)
  for (const dtype of TYPES) {
    for (const bigEndian of [false, true]) {
      const width = 23
      const height = 11
      const n = width * height
      const bytes = randomFrame(dtype, n, bigEndian, rnd)
      const ptr = put(k, bytes)
      const dt = DType[dtype]
      const be = bigEndian ? 1 : 0
      for (const roi of rois(width, height)) {
        const [mn, mx] = minMaxRef(bytes, n, dtype, bigEndian, 1)
        const sat = (mn + mx) / 2
        assert.is(k.exports.roi_stats(ptr, width, height, dt, be, ...roi, sat, out), 0)
        const got = Array.from(new Float64Array(k.exports.memory.buffer, out, 5))
        assert.equal(got, roiStatsRef(bytes, width, dtype, bigEndian, roi, sat), `${dtype} ${roi}`)
      }
      for (const stride of [1, 2, 7]) {
        assert.is(k.exports.frame_min_max(ptr, n, dt, be, stride, out), 0)
        const mm = Array.from(new Float64Array(k.exports.memory.buffer, out, 2))
        assert.equal(mm, minMaxRef(bytes, n, dtype, bigEndian, stride))
        for (const bins of [1, 16, 100]) {
          assert.is(k.exports.histogram(ptr, n, dt, be, stride, mm[0]!, mm[1]!, bins, out), 0)
          const h = Array.from(new Uint32Array(k.exports.memory.buffer, out, bins))
          const want = histogramRef(bytes, n, dtype, bigEndian, stride, mm[0]!, mm[1]!, bins)
          assert.equal(h, Array.from(want))
          assert.is(
            h.reduce((a, b) => a + b, 0),
            Math.ceil(n / stride),
          )
        }
      }
      k.exports.free(ptr)
    }
  }
})

test('percentiles from the subsampled histogram bracket the true ones', async () => {
  const k = await debugKernel()
  const pk = new ProfileKernels(k)
  const width = 640
  const height = 480
  const px = new Uint16Array(width * height)
  for (let i = 0; i < px.length; i++) px[i] = i % 1000
  const bytes = new Uint8Array(px.buffer)
  const frame: FrameRef = { ptr: put(k, bytes), width, height, dtype: 'uint16', bigEndian: false }
  const h = pk.histogram(frame, 1000, 50_000)
  assert.is(h.min, 0)
  assert.ok(h.stride > 1)
  const [p1, p50, p99] = histogramPercentiles(h, [1, 50, 99])
  assert.ok(Math.abs(p1! - 10) < 3, `p1 ${p1}`)
  assert.ok(Math.abs(p50! - 500) < 3, `p50 ${p50}`)
  assert.ok(Math.abs(p99! - 990) < 3, `p99 ${p99}`)
})

test('release build gives the same profile as the debug build (optimiser check)', async () => {
  const rel = Kernel.fromModule(await compileKernel(DEFAULT_KERNEL_URL))
  const dbg = await debugKernel()
  const rnd = rng(99)
  for (const dtype of ['uint16', 'int8', 'float32', 'int64'] as DTypeName[]) {
    const bytes = randomFrame(dtype, 101 * 13, true, rnd)
    const profiles = [rel, dbg].map((k) =>
      new ProfileKernels(k).xProfile(
        { ptr: put(k, bytes), width: 101, height: 13, dtype, bigEndian: true },
        [3, 97, 1, 12],
        k.region(),
      ),
    )
    assert.equal(list(profiles[0]!), list(profiles[1]!))
  }
})

test('profiles of equal frames do not grow kernel memory', async () => {
  const k = await debugKernel()
  const pk = new ProfileKernels(k)
  const bytes = randomFrame('uint16', 256 * 64, false, rng(5))
  const frame: FrameRef = {
    ptr: put(k, bytes),
    width: 256,
    height: 64,
    dtype: 'uint16',
    bigEndian: false,
  }
  const out = k.region()
  pk.xProfile(frame, [0, 256, 0, 64], out)
  pk.roiStats(frame, [0, 256, 0, 64])
  pk.histogram(frame)
  const before = k.memoryBytes
  for (let i = 0; i < 1000; i++) {
    pk.xProfile(frame, [0, 256, 0, 64], out)
    pk.roiStats(frame, [0, 256, 0, 64])
    pk.histogram(frame)
  }
  assert.is(k.memoryBytes, before)
})

/** Every image of the golden vectors that carries a roi_x_profile, decoded into kernel memory. */
interface Golden {
  tag: string
  frame: FrameRef
  roi: RoiTuple
  want: string[]
}

function goldenFrames(k: Kernel): Golden[] {
  const codec = new Codec(k)
  const found: Golden[] = []
  for (const name of vectorNames()) {
    const v = loadVector(name)
    const dec = new BsreadDecoder({ codec })
    v.messages.forEach((msg, i) => {
      const m = dec.decode(msg.parts)
      for (const [ch, exp] of Object.entries(msg.expected.channels)) {
        if (exp?.kind !== 'array' || !exp.roi || !exp.roi_x_profile) continue
        const raw = m.value(ch)
        if (!raw || !isDTypeName(raw.info.type)) continue
        const dtype = raw.info.type
        const [width, height] = raw.info.shape as [number, number]
        const bytes = width * height * DTYPE_SIZE[dtype]
        const region = k.region()
        let ptr: number
        if (raw.info.compression === 'none') {
          ptr = region.ensure(bytes)
          k.bytes(ptr, bytes).set(raw.bytes)
        } else {
          const c = raw.info.compression
          ptr = codec.decompressInto(region, raw.bytes, c, DTYPE_SIZE[dtype], bytes)
        }
        found.push({
          tag: `${name}#${i} ${ch}`,
          frame: { ptr, width, height, dtype, bigEndian: raw.info.encoding === 'big' },
          roi: exp.roi,
          want: exp.roi_x_profile.map(String),
        })
      }
    })
  }
  return found
}

test('golden vectors: every roi_x_profile comes out exactly through x_profile', async () => {
  const k = Kernel.fromModule(await compileKernel(DEFAULT_KERNEL_URL))
  const pk = new ProfileKernels(k)
  const frames = goldenFrames(k)
  assert.ok(frames.length >= 15, `found ${frames.length} golden images`)
  for (const g of frames) {
    const got = list(pk.xProfile(g.frame, g.roi, k.region())).map(String)
    // float sums print as numbers in the vectors; compare numerically there.
    if (g.frame.dtype.startsWith('float')) {
      got.forEach((v, i) => {
        assert.is(Number(v), Number(g.want[i]), `${g.tag} [${i}]`)
      })
    } else {
      assert.equal(got, g.want, g.tag)
    }
  }
})

test('golden camera frame: the step edge at x = 600 is found from its x-profile', async () => {
  const k = Kernel.fromModule(await compileKernel(DEFAULT_KERNEL_URL))
  const pk = new ProfileKernels(k)
  const g = goldenFrames(k).find((f) => f.tag.startsWith('camera_1024x1024'))!
  const roi = g.roi
  const profile = pk.xProfileInKernel(g.frame, roi, k.region())
  // One frame, no reference shot: use a flat reference (the raw profile's mean) so that the
  // step correlation runs on the profile itself.
  const sums = pk.copyOut(profile) as BigUint64Array
  const mean = sums.reduce((a, b) => a + b, 0n) / BigInt(sums.length)
  const finder = new EdgeFinder(k, {
    ...defaultParameters(),
    reference: { mode: 'reference_roi', roi: [...roi] },
  })
  const r = finder.process({
    pulseId: 0n,
    signal: profile,
    signalRoi: roi,
    reference: new BigUint64Array(sums.length).fill(mean),
  })
  assert.is(r.edge_status, 0)
  assert.ok(Math.abs(roi[0] + r.edge_position - 600) <= 1, `edge at ${roi[0] + r.edge_position}`)
})

test.run()
