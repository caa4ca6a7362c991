/**
 * Side-by-side timing of x_profile in two or more builds of the kernel module on the bench
 * frame (2560 x 2160 uint16 from src/sim/frame.ts) and the two facility ROIs of bench/kernel.ts.
 * The builds run in one process, interleaved round by round, so a busy neighbour slows all of
 * them alike; times are process CPU time per x_profile call, median and minimum over the rounds.
 *
 *   node --import tsx bench/profile-ab.ts /tmp/old.wasm build/kernel.wasm [--rounds 60]
 *
 * cold: the frame is decoded (bslz4_decompress, 11 MB written) right before each profile call,
 * as in the service; warm: the same ROI profiled again right after. The other 8/16-bit types
 * (u8, i8, i16: the same bytes read as that type, same rows) are timed warm. Every build's
 * output must equal the first one's.
 * @module
 */
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import type { KernelExports } from '../src/kernel/abi.js'
import { Codec } from '../src/kernel/codec.js'
import { DType } from '../src/kernel/dtype.js'
import { Kernel } from '../src/kernel/kernel.js'
import { generateFrame } from '../src/sim/frame.js'

const { values: args, positionals: files } = parseArgs({
  allowPositionals: true,
  options: { rounds: { type: 'string', default: '60' } },
})
if (files.length === 0) files.push('build/kernel.wasm')
const ROUNDS = Math.max(5, Number(args.rounds))
const W = 2560
const H = 2160
/** [name, dtype, width in elements, ox, sx, oy, sy, cold?] */
type Case = [string, number, number, number, number, number, number, boolean]
const CASES: Case[] = [
  ['sig cold', DType.uint16, W, 0, W, 1150, 400, true],
  ['sig warm', DType.uint16, W, 0, W, 1150, 400, false],
  ['bg cold', DType.uint16, W, 0, W, 500, 400, true],
  ['bg warm', DType.uint16, W, 0, W, 500, 400, false],
  ['u8 warm', DType.uint8, 2 * W, 0, 2 * W, 1150, 400, false],
  ['i8 warm', DType.int8, 2 * W, 0, 2 * W, 1150, 400, false],
  ['i16 warm', DType.int16, W, 0, W, 1150, 400, false],
  ['u16 odd warm', DType.uint16, W, 3, 2001, 1150, 400, false],
  ['u16 40 rows', DType.uint16, W, 0, W, 1150, 40, false],
  ['u8 40 rows', DType.uint8, 2 * W, 0, 2 * W, 1150, 40, false],
]

const pixels = new Uint16Array(W * H)
generateFrame(pixels, { width: W, height: H, edgeX: 1200.4, seed: 1 })
const raw = new Uint8Array(pixels.buffer)
const wire = new Codec(await Kernel.load(readFileSync(files[0]!))).compress(
  raw,
  'bitshuffle_lz4',
  2,
)

interface Build {
  file: string
  e: KernelExports
  inPtr: number
  dst: number
  out: number
  times: number[][]
}

const builds: Build[] = []
for (const file of files) {
  const e = (await Kernel.load(readFileSync(file))).exports
  const inPtr = e.alloc(wire.length)
  const dst = e.alloc(raw.length)
  const out = e.alloc(2 * W * 8)
  new Uint8Array(e.memory.buffer, inPtr, wire.length).set(wire)
  builds.push({ file, e, inPtr, dst, out, times: CASES.map(() => []) })
}

function decode(b: Build): void {
  const n = b.e.bslz4_decompress(b.inPtr, wire.length, b.dst, raw.length, 2)
  if (n !== raw.length) throw new Error(`${b.file}: decode returned ${n}`)
}

function profile(b: Build, c: Case): void {
  const [, dtype, width, ox, sx, oy, sy] = c
  const status = b.e.x_profile(b.dst, width, H, dtype, 0, ox, sx, oy, sy, b.out)
  if (status !== 0) throw new Error(`${b.file}: x_profile returned ${status}`)
}

// Same answers everywhere, and the uint16 signal profile checked against a plain sum.
for (const c of CASES) {
  let first: BigInt64Array | undefined
  for (const b of builds) {
    decode(b)
    profile(b, c)
    const got = new BigInt64Array(b.e.memory.buffer, b.out, c[4]).slice()
    if (first && got.some((v, i) => v !== first![i])) throw new Error(`${b.file}: ${c[0]} differs`)
    first ??= got
  }
}
{
  const want = new Float64Array(W)
  for (let y = 1150; y < 1550; y++) for (let x = 0; x < W; x++) want[x]! += pixels[y * W + x]!
  if (sums(CASES[0]!).some((v, i) => Number(v) !== want[i])) throw new Error('wrong sums')
}
function sums(c: Case): BigInt64Array {
  profile(builds[0]!, c)
  return new BigInt64Array(builds[0]!.e.memory.buffer, builds[0]!.out, c[4])
}

// The bench/kernel.ts pair: decode alone, and decode followed by both profiles.
const SIG = CASES[0]!
const BG = CASES[2]!
const frameTimes = builds.map(() => ({ decode: [] as number[], both: [] as number[] }))

for (let w = 0; w < 20; w++) for (const b of builds) for (const c of CASES) profile(b, c)
for (let r = 0; r < ROUNDS; r++) {
  builds.forEach((b, j) => {
    CASES.forEach((c, i) => {
      if (c[7]) decode(b)
      const c0 = process.cpuUsage()
      profile(b, c)
      const d = process.cpuUsage(c0)
      b.times[i]!.push((d.user + d.system) / 1000)
    })
    let c0 = process.cpuUsage()
    decode(b)
    let d = process.cpuUsage(c0)
    frameTimes[j]!.decode.push((d.user + d.system) / 1000)
    c0 = process.cpuUsage()
    decode(b)
    profile(b, SIG)
    profile(b, BG)
    d = process.cpuUsage(c0)
    frameTimes[j]!.both.push((d.user + d.system) / 1000)
  })
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!
console.log(`CPU ms per x_profile call, median / min of ${ROUNDS} interleaved rounds`)
console.log('build'.padEnd(24) + CASES.map((c) => c[0].padStart(15)).join(''))
for (const b of builds) {
  const cells = b.times.map((t) =>
    `${median(t).toFixed(3)} / ${Math.min(...t).toFixed(3)}`.padStart(15),
  )
  console.log(b.file.slice(-24).padEnd(24) + cells.join(''))
}
console.log('\nper frame: decode, decode + both profiles, difference of the medians (CPU ms)')
builds.forEach((b, j) => {
  const t = frameTimes[j]!
  console.log(
    `${b.file.slice(-24).padEnd(24)}${median(t.decode).toFixed(3).padStart(10)}` +
      `${median(t.both).toFixed(3).padStart(10)}` +
      `${(median(t.both) - median(t.decode)).toFixed(3).padStart(10)}`,
  )
})
