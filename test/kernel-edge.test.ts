import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { Kernel } from '../src/kernel/kernel.js'
import { DEBUG_KERNEL_URL, compileKernel } from '../src/kernel/loader.js'
import { edgeFindRef, refineRef, smoothRef } from './reference/edge.js'
import { xorshift32 as rng } from './helpers/random.js'

async function kernel(): Promise<Kernel> {
  return Kernel.fromModule(await compileKernel(DEBUG_KERNEL_URL))
}

function putF64(k: Kernel, values: ArrayLike<number>, extra = 0): number {
  const ptr = k.exports.alloc((values.length + extra) * 8 + 16)
  new Float64Array(k.exports.memory.buffer, ptr, values.length).set(values)
  return ptr
}

function readF64(k: Kernel, ptr: number, n: number): number[] {
  return Array.from(new Float64Array(k.exports.memory.buffer, ptr, n))
}

function close(a: number, b: number, tol: number): boolean {
  if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) && Number.isNaN(b)
  return Math.abs(a - b) <= tol * Math.max(1, Math.abs(a), Math.abs(b))
}

test('profile_to_f64 converts u64, i64 and f64 sums', async () => {
  const k = await kernel()
  const src = k.exports.alloc(24)
  const dst = k.exports.alloc(24)
  new BigUint64Array(k.exports.memory.buffer, src, 3).set([0n, 123456789012n, 2n ** 63n])
  k.exports.profile_to_f64(src, 3, 0, dst)
  assert.equal(readF64(k, dst, 3), [0, 123456789012, 2 ** 63])
  new BigInt64Array(k.exports.memory.buffer, src, 3).set([-5n, 7n, -(2n ** 40n)])
  k.exports.profile_to_f64(src, 3, 1, dst)
  assert.equal(readF64(k, dst, 3), [-5, 7, -(2 ** 40)])
  new Float64Array(k.exports.memory.buffer, src, 3).set([1.5, -2.25, 1e300])
  k.exports.profile_to_f64(src, 3, 2, dst)
  assert.equal(readF64(k, dst, 3), [1.5, -2.25, 1e300])
})

test('mean, ema, normalise, subtract and smooth equal plain loops', async () => {
  const k = await kernel()
  const rnd = rng(1)
  for (const n of [1, 2, 7, 100]) {
    const ring = Array.from({ length: 3 * n }, () => rnd() * 100)
    const ringPtr = putF64(k, ring)
    const out = k.exports.alloc(n * 8)
    k.exports.profiles_mean(ringPtr, 3, n, out)
    const mean = Array.from(
      { length: n },
      (_, i) => (ring[i]! + ring[n + i]! + ring[2 * n + i]!) / 3,
    )
    readF64(k, out, n).forEach((v, i) => {
      assert.ok(close(v, mean[i]!, 1e-15))
    })
    const sig = Array.from({ length: n }, () => rnd() * 100)
    const ref = sig.map((_, i) => (i === 0 ? 0 : rnd() * 100))
    const sp = putF64(k, sig)
    const rp = putF64(k, ref)
    k.exports.profile_normalise(sp, rp, n, 0, out)
    assert.equal(
      readF64(k, out, n),
      sig.map((s, i) => s - ref[i]!),
    )
    k.exports.profile_normalise(sp, rp, n, 1, out)
    assert.equal(
      readF64(k, out, n),
      sig.map((s, i) => (ref[i] === 0 ? 0 : s / ref[i]! - 1)),
    )
    k.exports.profile_subtract(sp, rp, n, out)
    assert.equal(
      readF64(k, out, n),
      sig.map((s, i) => s - ref[i]!),
    )
    const ema = putF64(k, ref)
    k.exports.profile_ema(ema, sp, n, 0.25)
    assert.equal(
      readF64(k, ema, n),
      sig.map((s, i) => 0.25 * s + 0.75 * ref[i]!),
    )
    for (const w of [0, 1, 2, 3, 4, 9, 2 * n + 3]) {
      k.exports.profile_smooth(sp, n, w, out)
      const want = smoothRef(sig, w)
      readF64(k, out, n).forEach((v, i) => {
        assert.ok(close(v, want[i]!, 1e-12), `w=${w} i=${i}`)
      })
    }
  }
})

test('profile_refine equals numpy interp, including the arange quirk and step 0.1', async () => {
  const k = await kernel()
  const rnd = rng(2)
  for (const n of [1, 2, 5, 64, 257]) {
    const p = Array.from({ length: n }, () => rnd() * 10 - 5)
    const src = putF64(k, p)
    for (const step of [1, 0.5, 0.1, 0.3]) {
      for (const lastX of n > 1 ? [n - 1, n - 2] : [0]) {
        const out = k.exports.alloc(Math.ceil(n / step + 2) * 8)
        const count = k.exports.profile_refine(src, n, step, lastX, out)
        const want = refineRef(p, step, lastX)
        assert.is(count, want.length, `n=${n} step=${step} lastX=${lastX}`)
        readF64(k, out, count).forEach((v, i) => {
          assert.ok(close(v, want[i]!, 1e-12))
        })
        k.exports.free(out)
      }
    }
  }
  assert.is(k.exports.profile_refine(src0(k), 4, 0, 3, src0(k)), -5)
  assert.is(k.exports.profile_refine(src0(k), 4, 1, 4, src0(k)), -5)
})

function src0(k: Kernel): number {
  return putF64(k, [1, 2, 3, 4])
}

// argmax, amplitude, FWHM, next peak, parabola offset
test('edge_find equals a literal step correlation', async () => {
  const k = await kernel()
  const rnd = rng(4)
  for (const m of [2, 10, 49, 50, 51, 200, 2560]) {
    for (const taps of [2, 3, 49, 50, 51]) {
      for (const rising of [false, true]) {
        // A smooth edge plus noise and a second, weaker edge: realistic peaks and side lobes.
        const e1 = m * 0.3
        const e2 = m * 0.7
        const p = Array.from(
          { length: m },
          (_, i) =>
            100 / (1 + Math.exp((i - e1) / 3)) + 40 / (1 + Math.exp((i - e2) / 5)) + rnd() * 5,
        )
        if (rising) p.reverse()
        const pp = putF64(k, p)
        const scratch = k.exports.alloc((m + 1) * 8)
        const out = k.exports.alloc(40)
        const count = k.exports.edge_find(pp, m, taps, rising ? 1 : 0, scratch, out)
        const want = edgeFindRef(p, taps, rising)
        assert.is(count, want.count, `m=${m} taps=${taps}`)
        if (count === 0) {
          assert.ok(readF64(k, out, 5).every(Number.isNaN))
        } else {
          const [argmax, amp, fwhm, next, offset] = readF64(k, out, 5)
          const tag = `m=${m} taps=${taps} rising=${rising}`
          assert.is(argmax, want.argmax, tag)
          assert.ok(close(amp!, want.amplitude, 1e-9), `${tag} amp ${amp} ${want.amplitude}`)
          assert.ok(close(fwhm!, want.fwhm, 1e-6), `${tag} fwhm ${fwhm} ${want.fwhm}`)
          assert.ok(close(next!, want.next, 1e-9), `${tag} next ${next} ${want.next}`)
          assert.ok(close(offset!, want.offset, 1e-6), `${tag} offset ${offset} ${want.offset}`)
        }
        k.exports.free(pp)
        k.exports.free(scratch)
        k.exports.free(out)
      }
    }
  }
  assert.is(k.exports.edge_find(0, 10, 1, 0, 0, 0), -5)
})

test('edge_find places a pixel-aligned step at argmax + taps/2', async () => {
  const k = await kernel()
  const m = 1024
  const p = Array.from({ length: m }, (_, i) => (i < 600 ? 1000 : 10))
  const pp = putF64(k, p)
  const scratch = k.exports.alloc((m + 1) * 8)
  const out = k.exports.alloc(40)
  k.exports.edge_find(pp, m, 50, 0, scratch, out)
  const [argmax, amp, fwhm] = readF64(k, out, 3)
  assert.is(argmax! + 25, 600)
  assert.is(amp, 25 * 990)
  // A triangle of half-width 25 samples: FWHM = 25.
  assert.ok(Math.abs(fwhm! - 25) < 1e-9, `fwhm ${fwhm}`)
})

test.run()
