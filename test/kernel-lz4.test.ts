// The LZ4 block decoder's fast loop (unchecked 16-byte wild copies, swizzled pattern vectors for
// short offsets) against the byte-at-a-time reference, on hand-made sequence streams that hit
// every offset class, long runs near the block ends and corrupt input. Both builds are checked:
// the release build is what the service runs, the debug build has the allocator's assertions.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { Kernel } from '../src/kernel/kernel.js'
import { DEBUG_KERNEL_URL, DEFAULT_KERNEL_URL } from '../src/kernel/loader.js'
import { Lz4Error, lz4DecodeRef } from './reference/lz4.js'
import { mulberry32 as rng } from './helpers/random.js'

const kernels: Array<[string, Kernel]> = [
  ['debug', await Kernel.load(DEBUG_KERNEL_URL)],
  ['release', await Kernel.load(DEFAULT_KERNEL_URL)],
]
const GUARD = 48

function pushLength(out: number[], n: number): void {
  while (n >= 255) {
    out.push(255)
    n -= 255
  }
  out.push(n)
}

/**
 * A valid LZ4 block of random sequences written directly (not by an encoder, which would only
 * pick the offsets its hash finds): literal runs of 0..20 or hundreds of bytes, offsets 1..70
 * or far, match lengths 4..40 or hundreds, and optionally a long match right before the final
 * literals (like the zero runs that end the blocks of a dark frame).
 */
function randomBlock(r: () => number, target: number): Uint8Array {
  const out: number[] = []
  let produced = 0
  while (produced < target) {
    // The first match needs at least one byte of history.
    const lit = Math.max(
      produced === 0 ? 1 : 0,
      r() < 0.1 ? 100 + ((r() * 700) | 0) : (r() * 20) | 0,
    )
    const longTail = produced > target * 0.7 && r() < 0.3
    let offset = r() < 0.6 ? 1 + ((r() * 70) | 0) : 1 + ((r() * 5000) | 0)
    const len = longTail || r() < 0.08 ? 16 + ((r() * 900) | 0) : 4 + ((r() * 37) | 0)
    offset = Math.min(offset, produced + lit)
    const token = out.length
    out.push(0)
    let t = Math.min(lit, 15) << 4
    if (lit >= 15) pushLength(out, lit - 15)
    for (let i = 0; i < lit; i++) out.push((r() * 256) | 0)
    produced += lit
    out.push(offset & 255, offset >> 8)
    t |= Math.min(len - 4, 15)
    if (len - 4 >= 15) pushLength(out, len - 19)
    out[token] = t
    produced += len
  }
  // Final literals only (0..40 bytes).
  const lit = (r() * 41) | 0
  out.push(Math.min(lit, 15) << 4)
  if (lit >= 15) pushLength(out, lit - 15)
  for (let i = 0; i < lit; i++) out.push((r() * 256) | 0)
  return Uint8Array.from(out)
}

interface Decoded {
  status: number
  out: Uint8Array
}

// Decodes src into dstCap bytes between guard bytes; checks that nothing outside was written.
function decode(kernel: Kernel, src: Uint8Array, dstCap: number, what: string): Decoded {
  const k = kernel.exports
  const inPtr = k.alloc(src.length + 2 * GUARD)
  const outPtr = k.alloc(dstCap + 2 * GUARD)
  kernel.bytes(inPtr, src.length + 2 * GUARD).fill(0x11)
  kernel.bytes(inPtr + GUARD, src.length).set(src)
  kernel.bytes(outPtr, dstCap + 2 * GUARD).fill(0x77)
  const status = kernel.run((e) =>
    e.lz4_decompress(inPtr + GUARD, src.length, outPtr + GUARD, dstCap),
  )
  const before = kernel.bytes(outPtr, GUARD)
  const after = kernel.bytes(outPtr + GUARD + dstCap, GUARD)
  assert.ok(
    before.every((v) => v === 0x77) && after.every((v) => v === 0x77),
    `${what}: wrote outside dst`,
  )
  const out = kernel.bytes(outPtr + GUARD, Math.max(status, 0)).slice()
  k.free(inPtr)
  k.free(outPtr)
  return { status, out }
}

function reference(src: Uint8Array, maxOut: number): Uint8Array | undefined {
  try {
    return lz4DecodeRef(src, maxOut)
  } catch (e) {
    if (e instanceof Lz4Error) return undefined
    throw e
  }
}

// Kernel and reference must agree exactly: same success, same bytes.
function agree(kernel: Kernel, src: Uint8Array, dstCap: number, what: string): number {
  const { status, out } = decode(kernel, src, dstCap, what)
  const ref = reference(src, dstCap)
  if (ref === undefined) {
    assert.ok(status < 0, `${what}: reference rejects, kernel returned ${status}`)
    return status
  }
  assert.is(status, ref.length, `${what}: decoded length`)
  const i = out.findIndex((v, j) => v !== ref[j])
  assert.is(i, -1, `${what}: first difference at byte ${i}`)
  return status
}

for (const [name, kernel] of kernels) {
  test(`${name}: random sequence streams decode like the reference (exact and roomy dst)`, () => {
    const r = rng(11)
    for (let trial = 0; trial < 300; trial++) {
      const target = trial < 50 ? 1 + ((r() * 64) | 0) : 64 + ((r() * 9000) | 0)
      const block = randomBlock(r, target)
      const size = lz4DecodeRef(block, 1 << 30).length
      agree(kernel, block, size, `trial ${trial} exact`)
      agree(kernel, block, size + 1 + ((r() * 40) | 0), `trial ${trial} roomy`)
      agree(kernel, block, Math.max(0, size - 1 - ((r() * 40) | 0)), `trial ${trial} tight`)
    }
  })

  test(`${name}: truncated and bit-flipped long blocks agree with the reference`, () => {
    const r = rng(12)
    for (let trial = 0; trial < 6; trial++) {
      const block = randomBlock(r, 8192)
      const size = lz4DecodeRef(block, 1 << 30).length
      for (let cut = 0; cut < block.length; cut += 1 + ((r() * 7) | 0)) {
        agree(kernel, block.subarray(0, cut), size, `trial ${trial} cut ${cut}`)
      }
      for (let flip = 0; flip < 300; flip++) {
        const bad = block.slice()
        const at = (r() * bad.length) | 0
        bad[at] = bad[at]! ^ (1 << ((r() * 8) | 0))
        agree(kernel, bad, size, `trial ${trial} flip ${flip}`)
        agree(kernel, bad, (r() * 2 * size) | 0, `trial ${trial} flip ${flip} other size`)
      }
    }
    assert.is(kernel.resets, 0, 'no trap re-instantiated the kernel')
  })
}

test.run()
