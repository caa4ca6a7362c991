/**
 * Side-by-side timing of the edge_2560 sequence of bench/kernel.ts (profiles_mean over 4
 * references, profile_subtract, profile_refine step 1, edge_find with 50 taps) in two or more
 * builds of the kernel module, call by call. The builds run in one process, interleaved round by
 * round; times are process CPU time per call (median and minimum over the rounds), and every
 * build's edge_find output is checked against the first build's.
 *
 *   node --import tsx bench/edge-ab.ts /tmp/old.wasm build/kernel.wasm [--rounds 40]
 * @module
 */
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { Kernel } from '../src/kernel/kernel.js'
import { generateFrame } from '../src/sim/frame.js'
import { REFERENCES, TAPS, edgeBuffers, edgeRing } from './edge-case.js'

const { values: args, positionals: files } = parseArgs({
  allowPositionals: true,
  options: { rounds: { type: 'string', default: '40' }, reps: { type: 'string', default: '400' } },
})
if (files.length === 0) files.push('build/kernel.wasm')
const ROUNDS = Math.max(3, Number(args.rounds))
const REPS = Math.max(1, Number(args.reps))
const W = 2560
const H = 2160
const ROW0 = 1150
const ROWS = 400

const signal = new Uint16Array(W * H)
generateFrame(signal, { width: W, height: H, edgeX: 1200.4, seed: 1 })
const ring = edgeRing(signal, W, H, ROW0, ROWS)

const STAGES = ['mean', 'subtract', 'refine', 'find', 'all'] as const
type Stage = (typeof STAGES)[number]
interface Build {
  file: string
  run: Record<Stage, () => void>
  out: () => number[]
  times: Record<Stage, number[]>
}

const builds: Build[] = []
for (const file of files) {
  const e = (await Kernel.load(readFileSync(file))).exports
  const n = W
  const {
    ring: ringPtr,
    mean: meanPtr,
    sub: subPtr,
    refined: refPtr,
    scratch: scratchPtr,
    out: outPtr,
  } = edgeBuffers(e.alloc, n)
  new Float64Array(e.memory.buffer, ringPtr, ring.length).set(ring)
  const sigPtr = ringPtr + REFERENCES * n * 8
  let m = n
  const run: Record<Stage, () => void> = {
    mean: () => e.profiles_mean(ringPtr, REFERENCES, n, meanPtr),
    subtract: () => e.profile_subtract(sigPtr, meanPtr, n, subPtr),
    refine: () => {
      m = e.profile_refine(subPtr, n, 1, n - 1, refPtr)
    },
    find: () => e.edge_find(refPtr, m, TAPS, 0, scratchPtr, outPtr),
    all: () => {
      e.profiles_mean(ringPtr, REFERENCES, n, meanPtr)
      e.profile_subtract(sigPtr, meanPtr, n, subPtr)
      const m = e.profile_refine(subPtr, n, 1, n - 1, refPtr)
      e.edge_find(refPtr, m, TAPS, 0, scratchPtr, outPtr)
    },
  }
  const out = (): number[] => Array.from(new Float64Array(e.memory.buffer, outPtr, 5))
  const times = Object.fromEntries(STAGES.map((s) => [s, [] as number[]])) as Build['times']
  builds.push({ file, run, out, times })
}

for (let w = 0; w < 200; w++) for (const b of builds) for (const s of STAGES) b.run[s]()
const want = JSON.stringify(builds[0]!.out())
for (const b of builds) {
  const got = JSON.stringify(b.out())
  if (got !== want) throw new Error(`${b.file}: edge_find ${got}, first build ${want}`)
}
for (let r = 0; r < ROUNDS; r++) {
  for (const b of builds) {
    for (const s of STAGES) {
      const f = b.run[s]
      const c0 = process.cpuUsage()
      for (let i = 0; i < REPS; i++) f()
      const c = process.cpuUsage(c0)
      b.times[s].push((c.user + c.system) / REPS)
    }
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!
console.log(
  `CPU us per call, median / min of ${ROUNDS} interleaved rounds of ${REPS} calls;` +
    ` edge_find out ${want}`,
)
console.log('build'.padEnd(24) + STAGES.map((s) => s.padStart(16)).join('') + '     all/s')
for (const b of builds) {
  const cells = STAGES.map((s) =>
    `${median(b.times[s]).toFixed(2)} / ${Math.min(...b.times[s]).toFixed(2)}`.padStart(16),
  )
  console.log(
    b.file.slice(-24).padEnd(24) +
      cells.join('') +
      `${(1e6 / median(b.times.all)).toFixed(0)}`.padStart(10),
  )
}
