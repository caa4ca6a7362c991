import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { Kernel } from '../src/kernel/kernel.js'
import { DEBUG_KERNEL_URL, compileKernel } from '../src/kernel/loader.js'
import { correlateValid, filterFindRef, filterNoiseRef } from './reference/edge.js'
import { xorshift32 as rng } from './helpers/random.js'

const module = await compileKernel(DEBUG_KERNEL_URL)

function putF64(k: Kernel, values: ArrayLike<number>): number {
  const ptr = k.exports.alloc(Math.max(1, values.length) * 8)
  new Float64Array(k.exports.memory.buffer, ptr, values.length).set(values)
  return ptr
}

function readF64(k: Kernel, ptr: number, n: number): number[] {
  return Array.from(new Float64Array(k.exports.memory.buffer, ptr, n))
}

/** A profile with a smooth falling edge, a weaker second edge and noise. */
function scene(m: number, rnd: () => number): number[] {
  return Array.from(
    { length: m },
    (_, i) =>
      100 / (1 + Math.exp((i - m * 0.4) / 3)) +
      30 / (1 + Math.exp((i - m * 0.8) / 5)) +
      (rnd() - 0.5) * 10,
  )
}

/** A tapered, mean-free step like the learned filter, or random taps. */
function filter(taps: number, rnd: () => number, random: boolean): number[] {
  return Array.from({ length: taps }, (_, j) =>
    random
      ? rnd() - 0.5
      : (j < taps / 2 ? 1 : -1) * (1 - Math.abs(j + 0.5 - taps / 2) / (taps / 2)),
  )
}

test('filter_correlate equals the literal correlation bit for bit', () => {
  const k = Kernel.fromModule(module)
  const rnd = rng(7)
  for (const m of [0, 1, 2, 3, 10, 63, 64, 65, 1024]) {
    for (const taps of [1, 2, 3, 50, 64, 101]) {
      const p = Array.from({ length: m }, () => rnd() * 1000 - 500)
      const f = filter(taps, rnd, true)
      const pp = putF64(k, p)
      const fp = putF64(k, f)
      const out = k.exports.alloc(Math.max(1, m) * 8)
      const count = k.exports.filter_correlate(pp, m, fp, taps, out)
      const want = correlateValid(p, f)
      assert.is(count, want.length, `m=${m} taps=${taps}`)
      assert.equal(readF64(k, out, count), Array.from(want), `m=${m} taps=${taps}`)
      for (const ptr of [pp, fp, out]) k.exports.free(ptr)
    }
  }
  assert.is(k.exports.filter_correlate(0, 10, 0, 0, 0), -5)
  assert.ok(Number.isNaN(k.exports.mean_square(0, 0)))
})

test('filter_find and filter_noise equal the plain TS reference on generated scenes', () => {
  const k = Kernel.fromModule(module)
  const rnd = rng(11)
  for (const m of [5, 64, 200, 1024, 2560]) {
    for (const taps of [4, 50, 100]) {
      for (const random of [false, true]) {
        const p = scene(m, rnd)
        const f = filter(taps, rnd, random)
        const pp = putF64(k, p)
        const fp = putF64(k, f)
        const scratch = k.exports.alloc(Math.max(1, m) * 8)
        const out = k.exports.alloc(40)
        const tag = `m=${m} taps=${taps} random=${random}`
        const count = k.exports.filter_find(pp, m, fp, taps, scratch, out)
        const want = filterFindRef(p, f)
        assert.is(count, want.count, tag)
        const got = readF64(k, out, 5)
        if (count === 0) {
          assert.ok(got.every(Number.isNaN), tag)
        } else {
          assert.equal(got, [want.argmax, want.amplitude, want.fwhm, want.next, want.offset], tag)
        }
        const noise = k.exports.filter_noise(pp, m, fp, taps, scratch)
        const wantNoise = filterNoiseRef(p, f)
        assert.ok(
          Number.isNaN(wantNoise) ? Number.isNaN(noise) : noise === wantNoise,
          `${tag}: noise ${noise} vs ${wantNoise}`,
        )
        let sq = 0
        for (const v of p) sq += v * v
        assert.is(k.exports.mean_square(pp, m), sq / m, `${tag}: mean_square`)
        for (const ptr of [pp, fp, scratch, out]) k.exports.free(ptr)
      }
    }
  }
})

test('the tapered step filter finds a pixel-aligned edge at argmax + taps/2', () => {
  const k = Kernel.fromModule(module)
  const m = 1024
  const taps = 100
  const p = Array.from({ length: m }, (_, i) => (i < 600 ? 1000 : 10))
  const pp = putF64(k, p)
  const fp = putF64(
    k,
    filter(taps, () => 0, false),
  )
  const scratch = k.exports.alloc(m * 8)
  const out = k.exports.alloc(40)
  k.exports.filter_find(pp, m, fp, taps, scratch, out)
  const [argmax, , , , offset] = readF64(k, out, 5)
  assert.is(argmax! + taps / 2, 600)
  assert.ok(Math.abs(offset!) < 1e-9, `symmetric peak: offset ${offset}`)
})

test.run()
