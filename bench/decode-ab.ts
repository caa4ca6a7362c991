/**
 * Side-by-side timing of the bitshuffle_lz4 decoder of two or more builds of the kernel module,
 * stage by stage, on the bench frame (2560 x 2160 uint16 from src/sim/frame.ts). The builds run
 * in one process, interleaved round by round, so a busy neighbour slows all of them alike; times
 * are process CPU time (not wall time), median and minimum over the rounds.
 *
 *   node --import tsx bench/decode-ab.ts old.wasm build/kernel.wasm [--rounds 30]
 *
 * Stages (per frame): full = bslz4_decompress; lz4 = lz4_decompress of every block into an
 * L1-sized scratch; shuffle = the uint16 unshuffle of one dark block, repeated for every block
 * position of the frame; bright = the same with a block of the spectrum band; roi = the two
 * facility ROIs (rows 500..900 and 1150..1550) through bslz4_decompress_range.
 * @module
 */
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import type { KernelExports } from '../src/kernel/abi.js'
import { Codec } from '../src/kernel/codec.js'
import { Kernel } from '../src/kernel/kernel.js'
import { generateFrame } from '../src/sim/frame.js'

const { values: args, positionals: files } = parseArgs({
  allowPositionals: true,
  options: { rounds: { type: 'string', default: '30' }, reps: { type: 'string', default: '5' } },
})
if (files.length === 0) files.push('build/kernel.wasm')
const ROUNDS = Math.max(3, Number(args.rounds))
const REPS = Math.max(1, Number(args.reps))
const W = 2560
const H = 2160
const BLOCK = 8192

/** bitshuffle_block is a test hook outside the public ABI. */
type Exports = KernelExports & {
  bitshuffle_block(inp: number, out: number, n: number, s: number, forward: number): number
}

const pixels = new Uint16Array(W * H)
generateFrame(pixels, { width: W, height: H, edgeX: 1200.4, seed: 1 })
const raw = new Uint8Array(pixels.buffer)
const wire = new Codec(await Kernel.load(readFileSync(files[0]!))).compress(
  raw,
  'bitshuffle_lz4',
  2,
)

// [offset of the LZ4 data, compressed length] of every block.
const blocks: Array<[number, number]> = []
{
  const dv = new DataView(wire.buffer, wire.byteOffset, wire.byteLength)
  let pos = 12
  for (let left = raw.length; left >= 16; left -= Math.min(BLOCK, left & ~15)) {
    const clen = dv.getUint32(pos)
    blocks.push([pos + 4, clen])
    pos += 4 + clen
  }
}
const DARK = blocks.length - 1
const BRIGHT = Math.floor((1300 * W * 2) / BLOCK)

interface Build {
  file: string
  e: Exports
  inPtr: number
  dst: number
  scratch: number
  times: Record<string, number[]>
}

const STAGES = ['full', 'lz4', 'shuffle', 'bright', 'roi'] as const
const builds: Build[] = []
for (const file of files) {
  const e = (await Kernel.load(readFileSync(file))).exports as Exports
  const inPtr = e.alloc(wire.length)
  const dst = e.alloc(raw.length)
  const scratch = e.alloc(BLOCK + 64)
  new Uint8Array(e.memory.buffer, inPtr, wire.length).set(wire)
  const status = e.bslz4_decompress(inPtr, wire.length, dst, raw.length, 2)
  const out = new Uint8Array(e.memory.buffer, dst, raw.length)
  if (status !== raw.length || out.some((v, i) => v !== raw[i])) {
    throw new Error(`${file}: wrong decode (${status})`)
  }
  const times = Object.fromEntries(STAGES.map((s) => [s, [] as number[]]))
  builds.push({ file, e, inPtr, dst, scratch, times })
}

function unshuffleAll(b: Build, block: number): void {
  const [at, clen] = blocks[block]!
  b.e.lz4_decompress(b.inPtr + at, clen, b.scratch, BLOCK)
  for (let i = 0; i < blocks.length - 1; i++) {
    b.e.bitshuffle_block(b.scratch, b.dst + i * BLOCK, BLOCK / 2, 2, 0)
  }
}

const run: Record<(typeof STAGES)[number], (b: Build) => void> = {
  full: (b) => b.e.bslz4_decompress(b.inPtr, wire.length, b.dst, raw.length, 2),
  lz4: (b) => {
    for (const [at, clen] of blocks) b.e.lz4_decompress(b.inPtr + at, clen, b.scratch, BLOCK)
  },
  shuffle: (b) => unshuffleAll(b, DARK),
  bright: (b) => unshuffleAll(b, BRIGHT),
  roi: (b) => {
    b.e.bslz4_decompress_range(b.inPtr, wire.length, b.dst, raw.length, 2, 500 * W, 900 * W)
    b.e.bslz4_decompress_range(b.inPtr, wire.length, b.dst, raw.length, 2, 1150 * W, 1550 * W)
  },
}

for (let w = 0; w < 15; w++) for (const b of builds) for (const s of STAGES) run[s](b)
for (let r = 0; r < ROUNDS; r++) {
  for (const b of builds) {
    for (const s of STAGES) {
      const c0 = process.cpuUsage()
      for (let i = 0; i < REPS; i++) run[s](b)
      const c = process.cpuUsage(c0)
      b.times[s]!.push((c.user + c.system) / 1000 / REPS)
    }
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!
console.log(
  `CPU ms per frame, median / min of ${ROUNDS} interleaved rounds` +
    ` (ratio ${(raw.length / wire.length).toFixed(2)}, ${blocks.length} blocks)`,
)
console.log('build'.padEnd(28) + STAGES.map((s) => s.padStart(16)).join(''))
for (const b of builds) {
  const cells = STAGES.map((s) =>
    `${median(b.times[s]!).toFixed(3)} / ${Math.min(...b.times[s]!).toFixed(3)}`.padStart(16),
  )
  console.log(b.file.slice(-28).padEnd(28) + cells.join(''))
}
