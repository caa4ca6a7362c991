import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { Codec } from '../src/kernel/codec.js'
import { Kernel } from '../src/kernel/kernel.js'
import { generateFrame } from '../src/sim/frame.js'

const WIDTH = 640
const HEIGHT = 480

// A few different frames of one size, compressed both ways, cycled through the decoders.
interface Setup { kernel: Kernel; codec: Codec; frames: Uint8Array[]; wires: Uint8Array[][] }

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
  const rows: Array<[number, number]> = [[255, 355], [100, 200]]
  let after = 0
  let ptr = 0
  for (let i = 0; i < 1000; i++) {
    const k = i % frames.length
    const [bs, lz] = wires[k]!
    const bytes = frames[k]!.length
    switch (i % 4) {
      case 0: ptr = codec.decompressInto(region, bs!, 'bitshuffle_lz4', 2, bytes); break
      case 1: ptr = codec.decompressInto(region, lz!, 'lz4', 2, bytes); break
      case 2: ptr = codec.decompressRowsInto(region, bs!, 2, WIDTH, HEIGHT, rows); break
      default: codec.decompress(bs!, 'bitshuffle_lz4', 2, bytes)
    }
    if (i === 0) after = kernel.memoryBytes
    else assert.is(kernel.memoryBytes, after, `memory grew at frame ${i}`)
  }
  // The region kept its address: nothing was re-allocated either.
  const again = codec.decompressInto(region, wires[0]![0]!, 'bitshuffle_lz4', 2, frames[0]!.length)
  assert.is(again, ptr)
  const last = kernel.bytes(ptr, frames[0]!.length)
  assert.ok(last.every((v, i) => v === frames[0]![i]), 'last frame decoded correctly')
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

test.run()
