// The uint16 unshuffle has a shortcut for 128-element chunks whose high-byte bit planes are all
// zero (dark pixels < 256, most of a timing-tool frame): random data never takes it, so these
// tests mix dark and bright chunks on purpose. Debug and release builds.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { Codec } from '../src/kernel/codec.js'
import { Kernel } from '../src/kernel/kernel.js'
import { DEBUG_KERNEL_URL, DEFAULT_KERNEL_URL } from '../src/kernel/loader.js'
import { generateFrame } from '../src/sim/frame.js'
import { shuffleRef, unshuffleRef } from './reference/bitshuffle.js'
import { mulberry32 as rng } from './helpers/random.js'

const kernels: Array<[string, Kernel]> = [
  ['debug', await Kernel.load(DEBUG_KERNEL_URL)],
  ['release', await Kernel.load(DEFAULT_KERNEL_URL)],
]

// uint16 values: each 128-element chunk is dark (< 256), bright, or dark but one pixel.
function mixed(n: number, seed: number): Uint8Array {
  const r = rng(seed)
  const px = new Uint16Array(n)
  for (let c = 0; c < n; c += 128) {
    const kind = r()
    for (let i = c; i < Math.min(n, c + 128); i++) {
      px[i] = kind < 0.5 ? (r() * 256) | 0 : kind < 0.8 ? (r() * 65536) | 0 : (r() * 200) | 0
    }
    if (kind >= 0.8) px[Math.min(n - 1, c + ((r() * 128) | 0))] = 256 << ((r() * 8) | 0)
  }
  return new Uint8Array(px.buffer)
}

function firstDifference(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return -2
  return a.findIndex((v, i) => v !== b[i])
}

for (const [name, kernel] of kernels) {
  const k = kernel.exports as unknown as {
    bitshuffle_block(i: number, o: number, n: number, s: number, f: number): number
  }

  test(`${name}: uint16 unshuffle of dark, bright and nearly dark chunks equals the reference`, () => {
    for (const n of [128, 256, 1024, 1032, 4096, 4104, 8192]) {
      for (let seed = 1; seed <= 6; seed++) {
        const x = mixed(n, n * 7 + seed)
        const shuffled = shuffleRef(x, 2)
        const inp = kernel.exports.alloc(x.length)
        const out = kernel.exports.alloc(x.length)
        kernel.bytes(inp, x.length).set(shuffled)
        assert.is(k.bitshuffle_block(inp, out, n, 2, 0), n)
        const got = kernel.bytes(out, x.length).slice()
        assert.is(firstDifference(got, unshuffleRef(shuffled, 2)), -1, `n=${n} seed=${seed}`)
        assert.is(firstDifference(got, x), -1, `n=${n} seed=${seed} round trip`)
        kernel.exports.free(inp)
        kernel.exports.free(out)
      }
    }
  })

  test(`${name}: a simulated camera frame (dark rows, bright band) survives bitshuffle_lz4`, () => {
    const codec = new Codec(kernel)
    const px = new Uint16Array(640 * 480)
    generateFrame(px, { width: 640, height: 480, edgeX: 300.5, seed: 3 })
    const raw = new Uint8Array(px.buffer)
    const wire = codec.compress(raw, 'bitshuffle_lz4', 2)
    const back = codec.decompress(wire, 'bitshuffle_lz4', 2, raw.length)
    assert.is(firstDifference(back, raw), -1)
  })
}

test.run()
