// The SIMD kernels run the same step on more than one path, written out separately (see the
// comments at the top of assembly/bitshuffle-transpose.ts and assembly/profile.ts). The other
// kernel suites mostly reach the paths that the data happens to take; this one drives EVERY path
// of each pair on purpose and compares it with the plain references in test/reference/, on
// random data and on the real frames of the golden vectors, in the debug and release builds:
// - bitshuffle: the unrolled 1- and 2-byte chunks, the 2-byte dark-pixel shortcut, and the
//   generic path (reached for every element size through bitshuffle_block's GENERIC flag);
// - x_profile: blocks of 8 rows in registers and the single-row remainder, vector columns and
//   the scalar tail, across the flushes of the narrow accumulators.
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { BsreadDecoder } from '../src/bsread/decoder.js'
import { Codec } from '../src/kernel/codec.js'
import { DType, DTYPE_SIZE, isDTypeName, type DTypeName } from '../src/kernel/dtype.js'
import { Kernel } from '../src/kernel/kernel.js'
import { DEBUG_KERNEL_URL, DEFAULT_KERNEL_URL, compileKernel } from '../src/kernel/loader.js'
import { ProfileKernels, type FrameRef, type RoiTuple } from '../src/kernel/profiles.js'
import { mulberry32, randomFrame } from './helpers/random.js'
import { loadVector, vectorNames } from './helpers/vectors.js'
import { bslz4DecodeRef, shuffleRef, unshuffleRef } from './reference/bitshuffle.js'
import { xProfileRef } from './reference/profile.js'

/** bitshuffle_block is a test hook outside the public ABI; mode bits below. */
interface Hook {
  bitshuffle_block(inp: number, out: number, n: number, s: number, mode: number): number
}
const FORWARD = 1
const GENERIC = 2
const PATHS = [
  ['fast', 0],
  ['generic', GENERIC],
] as const

const BUILDS = [
  ['debug', DEBUG_KERNEL_URL],
  ['release', DEFAULT_KERNEL_URL],
] as const

/** A real array of the golden vectors, decoded by the reference (not by the kernel). */
interface RealArray {
  tag: string
  dtype: DTypeName
  bigEndian: boolean
  shape: number[]
  bytes: Uint8Array
}

async function realArrays(): Promise<RealArray[]> {
  // The kernel codec only inflates the compressed data headers of two vectors.
  const codec = new Codec(await Kernel.load())
  const found: RealArray[] = []
  for (const name of vectorNames()) {
    const v = loadVector(name)
    const dec = new BsreadDecoder({ codec })
    v.messages.forEach((msg, i) => {
      const m = dec.decode(msg.parts)
      for (const ch of Object.keys(msg.expected.channels)) {
        const raw = m.value(ch)
        if (!raw || !isDTypeName(raw.info.type)) continue
        const s = DTYPE_SIZE[raw.info.type]
        let bytes: Uint8Array
        if (raw.info.compression === 'bitshuffle_lz4') bytes = bslz4DecodeRef(raw.bytes, s)
        else if (raw.info.compression === 'none') bytes = new Uint8Array(raw.bytes)
        else continue
        if (bytes.length < 8 * s) continue
        const shape = raw.info.shape ?? [bytes.length / s]
        found.push({
          tag: `${name}#${i} ${ch}`,
          dtype: raw.info.type,
          bigEndian: raw.info.encoding === 'big',
          shape,
          bytes,
        })
      }
    })
  }
  return found
}

const REAL = await realArrays()

function firstDifference(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return -2
  return a.findIndex((v, i) => v !== b[i])
}

for (const [build, url] of BUILDS) {
  const kernel = Kernel.fromModule(await compileKernel(url))
  const hook = kernel.exports as unknown as Hook

  /** Runs the hook on x (n elements of s bytes) and returns the result bytes. */
  const run = (x: Uint8Array, s: number, mode: number): Uint8Array => {
    const inp = kernel.exports.alloc(Math.max(x.length, 16))
    const out = kernel.exports.alloc(Math.max(x.length, 16))
    try {
      kernel.bytes(inp, x.length).set(x)
      assert.is(hook.bitshuffle_block(inp, out, x.length / s, s, mode), x.length / s)
      return kernel.bytes(out, x.length).slice()
    } finally {
      kernel.exports.free(inp)
      kernel.exports.free(out)
    }
  }

  /** Both paths, both directions, against the reference; x holds a multiple of 8 elements. */
  const checkBitshuffle = (x: Uint8Array, s: number, tag: string): void => {
    const shuffled = shuffleRef(x, s)
    for (const [path, mode] of PATHS) {
      assert.is(
        firstDifference(run(x, s, FORWARD | mode), shuffled),
        -1,
        `${build} ${path} shuffle ${tag}`,
      )
      assert.is(
        firstDifference(run(shuffled, s, mode), unshuffleRef(shuffled, s)),
        -1,
        `${build} ${path} unshuffle ${tag}`,
      )
      assert.is(
        firstDifference(run(shuffled, s, mode), x),
        -1,
        `${build} ${path} round trip ${tag}`,
      )
    }
  }

  const bitshuffle = suite(`${build}: bitshuffle, both paths of each pair`)

  bitshuffle('random data: every element size, counts around the 128-element chunk', () => {
    const rnd = mulberry32(5)
    for (const s of [1, 2, 4, 8]) {
      for (const n of [8, 120, 128, 136, 256, 1024, 1032, 4096, 4104]) {
        const x = Uint8Array.from({ length: n * s }, () => (rnd() * 256) | 0)
        checkBitshuffle(x, s, `s=${s} n=${n}`)
      }
    }
  })

  bitshuffle(
    'uint16 chunks that are dark (high planes zero), bright, or dark but one pixel',
    () => {
      const rnd = mulberry32(9)
      for (const n of [128, 1024, 1032]) {
        for (const kind of ['dark', 'bright', 'one bright pixel'] as const) {
          const px = new Uint16Array(n)
          for (let i = 0; i < n; i++) px[i] = kind === 'bright' ? rnd() * 65536 : rnd() * 256
          if (kind === 'one bright pixel') px[(rnd() * n) | 0] = 0x8000
          checkBitshuffle(new Uint8Array(px.buffer), 2, `${kind} n=${n}`)
        }
      }
    },
  )

  bitshuffle('real arrays of the golden vectors, block by block', () => {
    let blocks = 0
    for (const a of REAL) {
      const s = DTYPE_SIZE[a.dtype]
      // Blocks of 4096 elements (the decoder's for uint16), at most 24 per array, spread out.
      const blockBytes = 4096 * s
      const whole = Math.floor(a.bytes.length / (8 * s)) * 8 * s
      const count = Math.max(1, Math.ceil(whole / blockBytes))
      const step = Math.max(1, Math.floor(count / 24))
      for (let b = 0; b < count; b += step) {
        const x = a.bytes.subarray(b * blockBytes, Math.min(whole, (b + 1) * blockBytes))
        checkBitshuffle(x, s, `${a.tag} block ${b}`)
        blocks++
      }
    }
    assert.ok(blocks > 50, `${blocks} real blocks checked`)
  })

  bitshuffle.run()

  const pk = new ProfileKernels(kernel)
  const scratch = kernel.region()

  /** x_profile of ROI on frame bytes against the reference. */
  const checkProfile = (
    bytes: Uint8Array,
    width: number,
    height: number,
    dtype: DTypeName,
    bigEndian: boolean,
    roi: RoiTuple,
    tag: string,
  ): void => {
    const ptr = kernel.exports.alloc(bytes.length)
    try {
      kernel.bytes(ptr, bytes.length).set(bytes)
      const frame: FrameRef = { ptr, width, height, dtype, bigEndian }
      const got = pk.xProfile(frame, roi, scratch)
      const want = xProfileRef(bytes, width, dtype, bigEndian, roi)
      assert.equal(
        Array.from(got as ArrayLike<unknown>),
        Array.from(want as ArrayLike<unknown>),
        `${build} ${tag} roi ${roi.join(',')}`,
      )
    } finally {
      kernel.exports.free(ptr)
    }
  }

  // Heights 1-7 take only the single-row path, 8 and 16 only the 8-row blocks, the others both;
  // 263 rows cross the 256-row flush of the 8-bit lanes.
  const HEIGHTS = [1, 2, 3, 5, 7, 8, 9, 15, 16, 17, 24, 263]

  const profile = suite(`${build}: x_profile, both paths of each pair`)

  profile('random frames: every type and byte order, 8-row blocks and single rows', () => {
    const rnd = mulberry32(21)
    // 37 columns: whole vectors of 16, 8 and 4 columns plus a scalar tail of each kind.
    const width = 37
    const height = 270
    for (const dtype of Object.keys(DType) as DTypeName[]) {
      for (const bigEndian of [false, true]) {
        const bytes = randomFrame(dtype, width * height, bigEndian, rnd)
        for (const sy of HEIGHTS) {
          checkProfile(bytes, width, height, dtype, bigEndian, [0, width, 0, sy], dtype)
          checkProfile(bytes, width, height, dtype, bigEndian, [1, 35, 270 - sy, sy], dtype)
        }
      }
    }
  })

  profile('real frames of the golden vectors: the same heights', () => {
    let checked = 0
    for (const a of REAL) {
      if (a.shape.length !== 2) continue
      const [width, height] = a.shape as [number, number]
      for (const sy of HEIGHTS) {
        if (sy > height) continue
        const oy = Math.floor((height - sy) / 2)
        checkProfile(a.bytes, width, height, a.dtype, a.bigEndian, [0, width, oy, sy], a.tag)
        checked++
      }
    }
    assert.ok(checked > 50, `${checked} real ROIs checked`)
  })

  profile.run()
}
