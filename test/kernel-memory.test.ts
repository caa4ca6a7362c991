import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { readFileSync } from 'node:fs'
import { BlockIndex } from '../src/kernel/block-index.js'
import { Codec, maxDecodedBytes } from '../src/kernel/codec.js'
import { KernelError } from '../src/kernel/errors.js'
import { KERNEL_MEMORY_CAP, Kernel } from '../src/kernel/kernel.js'
import { EdgeFinder } from '../src/processing/edge-finder.js'
import {
  EdgeStatus,
  defaultParameters,
  parseParameterUpdate,
} from '../src/processing/parameters.js'
import { generateFrame } from '../src/sim/frame.js'
import { mulberry32 } from './helpers/random.js'

const WIDTH = 640
const HEIGHT = 480

// A few different frames of one size, compressed both ways, cycled through the decoders.
interface Setup {
  kernel: Kernel
  codec: Codec
  frames: Uint8Array[]
  wires: Uint8Array[][]
}

async function setup(): Promise<Setup> {
  const kernel = await Kernel.load()
  const codec = new Codec(kernel)
  const frames: Uint8Array[] = []
  const wires: Uint8Array[][] = []
  for (let seed = 1; seed <= 4; seed++) {
    const px = new Uint16Array(WIDTH * HEIGHT)
    const edgeX = seed % 2 ? 300.5 + seed : undefined
    generateFrame(px, { width: WIDTH, height: HEIGHT, edgeX, seed })
    const bytes = new Uint8Array(px.buffer)
    frames.push(bytes)
    wires.push([codec.compress(bytes, 'bitshuffle_lz4', 2), codec.compress(bytes, 'lz4', 2)])
  }
  return { kernel, codec, frames, wires }
}

test('1,000 equal-size frames through the Codec regions do not grow kernel memory', async () => {
  const { kernel, codec, frames, wires } = await setup()
  const region = kernel.region()
  const rows: Array<[number, number]> = [
    [255, 355],
    [100, 200],
  ]
  let after = 0
  let ptr = 0
  for (let i = 0; i < 1000; i++) {
    const k = i % frames.length
    const [bs, lz] = wires[k]!
    const bytes = frames[k]!.length
    switch (i % 4) {
      case 0:
        ptr = codec.decompressInto(region, bs!, 'bitshuffle_lz4', 2, bytes)
        break
      case 1:
        ptr = codec.decompressInto(region, lz!, 'lz4', 2, bytes)
        break
      case 2:
        ptr = codec.decompressRowsInto(region, bs!, 2, WIDTH, HEIGHT, rows)
        break
      default:
        codec.decompress(bs!, 'bitshuffle_lz4', 2, bytes)
    }
    if (i === 0) after = kernel.memoryBytes
    else assert.is(kernel.memoryBytes, after, `memory grew at frame ${i}`)
  }
  // The region kept its address: nothing was re-allocated either.
  const again = codec.decompressInto(region, wires[0]![0]!, 'bitshuffle_lz4', 2, frames[0]!.length)
  assert.is(again, ptr)
  const last = kernel.bytes(ptr, frames[0]!.length)
  assert.ok(
    last.every((v, i) => v === frames[0]![i]),
    'last frame decoded correctly',
  )
})

test('encoding frames of one size repeatedly does not grow kernel memory either', async () => {
  const { kernel, codec, frames } = await setup()
  codec.compress(frames[0]!, 'bitshuffle_lz4', 2)
  codec.compress(frames[0]!, 'lz4', 2)
  const after = kernel.memoryBytes
  for (let i = 0; i < 200; i++) {
    codec.compress(frames[i % frames.length]!, i % 2 ? 'lz4' : 'bitshuffle_lz4', 2)
    assert.is(kernel.memoryBytes, after, `memory grew at encode ${i}`)
  }
})

test('the memory cap agrees with the module: asconfig.json maximumMemory', () => {
  const config = JSON.parse(readFileSync(new URL('../asconfig.json', import.meta.url), 'utf8')) as {
    options: { maximumMemory: number }
  }
  assert.is(KERNEL_MEMORY_CAP, config.options.maximumMemory * 65_536)
})

test('a region above the memory cap is refused before anything is allocated', async () => {
  const kernel = await Kernel.load()
  const region = kernel.region()
  const ptr = region.ensure(1024)
  const before = kernel.memoryBytes
  // 53,688 columns x 8 bytes x 10,000 shots: 2^32 + 72,704 bytes, which a u32 size wraps.
  for (const bytes of [53_688 * 8 * 10_000, KERNEL_MEMORY_CAP + 1, NaN, -1, Infinity]) {
    assert.throws(
      () => region.ensure(bytes),
      (e: unknown) => e instanceof KernelError && e.code === 'MEMORY_CAP',
      String(bytes),
    )
  }
  assert.is(region.ptr, ptr, 'the region kept its block')
  assert.is(kernel.memoryBytes, before)
  assert.is(region.ensure(1024), ptr)
})

test('a ROI 53,688 px wide x a 10,000-shot window: an edge error, not a write past a region', async () => {
  const kernel = await Kernel.load()
  const r = parseParameterUpdate(defaultParameters(), {
    averaging: { mode: 'mean', count: 10_000 },
  })
  if (!r.ok) throw new Error(r.errors.join('; '))
  const finder = new EdgeFinder(kernel, r.parameters)
  const n = 53_688
  const signal = new Float64Array(n).fill(1000)
  const before = kernel.memoryBytes
  for (let pid = 1n; pid <= 4n; pid++) {
    const out = finder.process({ pulseId: pid, signal, signalRoi: [0, n, 0, 1] })
    assert.is(out.edge_status, EdgeStatus.error, `pulse ${pid}`)
  }
  assert.is(kernel.resets, 0, 'no trap')
  assert.ok(kernel.memoryBytes - before < 64 * 1024 * 1024, 'no region of gigabytes')
  // A window that fits works on the same kernel.
  const small = parseParameterUpdate(r.parameters, { averaging: { mode: 'mean', count: 4 } })
  if (!small.ok) throw new Error(small.errors.join('; '))
  finder.setParameters(small.parameters)
  const ok = finder.process({ pulseId: 5n, signal, signalRoi: [0, n, 0, 1] })
  assert.is.not(ok.edge_status, EdgeStatus.error)
})

test('fuzz: a lying bitshuffle_lz4 header never sizes an allocation its bytes cannot fill', async () => {
  const kernel = await Kernel.load()
  const codec = new Codec(kernel)
  const index = new BlockIndex()
  const region = kernel.region()
  const r = mulberry32(0x51fe)
  const before = kernel.memoryBytes
  let fit = 0
  for (let n = 0; n < 2000; n++) {
    const len = 12 + Math.floor(r() * 4096)
    const src = new Uint8Array(len)
    for (let i = 12; i < len; i++) src[i] = Math.floor(r() * 256)
    const elem = [1, 2, 4, 8][Math.floor(r() * 4)]!
    // Declared size up to 256 MiB, blocks as small as allowed (8 elements).
    const declared = elem * Math.floor(r() * ((256 * 1024 * 1024) / elem))
    const view = new DataView(src.buffer)
    view.setBigUint64(0, BigInt(declared))
    view.setUint32(8, 8 * elem * (1 + Math.floor(r() * 4)))
    if (r() < 0.5) {
      // Plausible block lengths, so that the walk gets far.
      for (let at = 12; at + 4 <= len; at += 4 + (at % 13)) view.setUint32(at, at % 13)
    }
    index.index(src, declared, elem)
    // The index keeps its arrays: its capacity is what the biggest value so far could fill.
    fit = Math.max(fit, Math.floor((len - 12) / 4) + 2)
    assert.ok(index.capacity <= fit, `case ${n}: ${index.capacity} entries for ${len} bytes`)
    try {
      codec.decompressInto(region, src, 'bitshuffle_lz4', elem, declared)
    } catch (err) {
      if (!(err instanceof KernelError)) throw err
    }
    assert.ok(region.capacity <= maxDecodedBytes(4096 + 12), `case ${n}: ${region.capacity}`)
  }
  assert.ok(kernel.memoryBytes - before <= 2 * maxDecodedBytes(4108), 'kernel memory bounded')
})

test.run()
