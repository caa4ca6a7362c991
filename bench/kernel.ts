/**
 * Kernel benchmark on a realistic frame: 2560 x 2160 uint16 from src/sim/frame.ts, compressed by
 * the project's own bitshuffle_lz4 encoder, with the facility's ROIs (signal [0, 2560, 1150, 400],
 * background [0, 2560, 500, 400]). Median of at least 20 timed runs after warm-up.
 *
 *   npm run bench                 human table
 *   npm run bench -- --json       one JSON object per line
 *   npm run bench -- --runs 50    more runs
 *   npm run bench -- --kernel other.wasm    another build of the module (A/B comparisons)
 *   npm run bench -- --threads 1  no worker threads
 *   npm run bench -- --analyze-frames 0   leave out the analyze cases (bench/analyze-case.ts)
 *   npm run bench -- --cases analyze      only the cases whose name matches this regular
 *                                         expression (the others run once, for the checks)
 *
 * `decode_profiles` and `roi_decode_profiles` run the service's path with --threads N (default:
 * the machine's cores): the main thread and N-1 workers decode and sum equal shares of the rows
 * (src/kernel/parallel-profiler.ts). The `_1thread` lines are the same work on the main thread
 * alone. `decode_bslz4` is always one thread. The `analyze_` lines are `psen-processing
 * analyze` over a recording of such frames on disk, the kernels on one thread, the records read
 * and checked on a second (bench/analyze-case.ts).
 * @module
 */
import { availableParallelism } from 'node:os'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { Codec } from '../src/kernel/codec.js'
import { DType } from '../src/kernel/dtype.js'
import { Kernel } from '../src/kernel/kernel.js'
import { ParallelProfiler } from '../src/kernel/parallel-profiler.js'
import { generateFrame } from '../src/sim/frame.js'
import { bslz4DecodeRef } from '../test/reference/bitshuffle.js'
import { xProfileRef, type Roi } from '../test/reference/profile.js'
import { analyzeCase } from './analyze-case.js'
import { REFERENCES, TAPS, edgeBuffers, edgeRing } from './edge-case.js'

const { values: args } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    runs: { type: 'string', default: '25' },
    'ref-runs': { type: 'string', default: '20' },
    kernel: { type: 'string' },
    threads: { type: 'string' },
    'analyze-frames': { type: 'string', default: '100' },
    'analyze-runs': { type: 'string', default: '5' },
    cases: { type: 'string', default: '' },
  },
})
const CASES = new RegExp(args.cases)
const THREADS = Math.max(1, Number(args.threads ?? availableParallelism()))
const RUNS = Math.max(20, Number(args.runs))
const REF_RUNS = Math.max(1, Number(args['ref-runs']))
const WIDTH = 2560
const HEIGHT = 2160
const FRAME = `${WIDTH}x${HEIGHT} uint16 bitshuffle_lz4`
const SIGNAL: Roi = [0, 2560, 1150, 400]
const BACKGROUND: Roi = [0, 2560, 500, 400]

interface Result {
  name: string
  frame: string
  ms_per_frame: number
  /** Fastest run: on a shared machine the median also measures the neighbours. */
  ms_min: number
  /**
   * Median CPU time of this process per frame: unlike wall time it leaves out the time the
   * process waited for a core while other jobs ran (it still includes their cache pressure).
   */
  cpu_ms: number
  fps: number
  mb_per_s_out: number
  runs: number
  /** Threads working on each frame (main + workers). */
  threads: number
  note?: string
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

/**
 * Times `fn` (one frame per call): warm-up (>= 10 calls, so the wasm code has tiered up to
 * the optimising compiler), then `runs` timed runs of `reps` calls each, where reps makes a run
 * last at least ~5 ms (so microsecond kernels are not timer noise).
 */
function measure(
  name: string,
  fn: () => void,
  bytesOut: number,
  runs = RUNS,
  note?: string,
  threads = 1,
): Result | undefined {
  if (!CASES.test(name)) {
    // Once all the same: the checks below read what the cases computed.
    fn()
    return undefined
  }
  let t0 = performance.now()
  let warm = 0
  do {
    fn()
    warm++
  } while (warm < 10 || (performance.now() - t0 < 500 && warm < 100))
  const per = (performance.now() - t0) / warm
  const reps = Math.max(1, Math.ceil(5 / Math.max(per, 1e-6)))
  const times: number[] = []
  const cpu: number[] = []
  for (let r = 0; r < runs; r++) {
    const c0 = process.cpuUsage()
    t0 = performance.now()
    for (let i = 0; i < reps; i++) fn()
    times.push((performance.now() - t0) / reps)
    const c = process.cpuUsage(c0)
    cpu.push((c.user + c.system) / 1000 / reps)
  }
  const ms = median(times)
  return {
    name,
    frame: FRAME,
    ms_per_frame: round(ms, 4),
    ms_min: round(Math.min(...times), 4),
    cpu_ms: round(median(cpu), 4),
    fps: round(1000 / ms, 1),
    mb_per_s_out: round(bytesOut / 1e6 / (ms / 1000), 1),
    runs,
    threads,
    ...(note ? { note } : {}),
  }
}

function round(x: number, digits: number): number {
  const f = 10 ** digits
  return Math.round(x * f) / f
}

const kernel = await Kernel.load(args.kernel ? pathToFileURL(args.kernel) : undefined)
const codec = new Codec(kernel)
const pixels = new Uint16Array(WIDTH * HEIGHT)
generateFrame(pixels, { width: WIDTH, height: HEIGHT, edgeX: 1200.4, seed: 1 })
const raw = new Uint8Array(pixels.buffer)
const t0 = performance.now()
const wire = codec.compress(raw, 'bitshuffle_lz4', 2)
const encodeMs = performance.now() - t0
const ratio = raw.length / wire.length

const frame = kernel.region()
const sigOut = kernel.region()
const bgOut = kernel.region()
const u16 = DType.uint16

function profiles(ptr: number): void {
  const sig = sigOut.ensure(SIGNAL[1] * 8)
  const bg = bgOut.ensure(BACKGROUND[1] * 8)
  kernel.check(kernel.exports.x_profile(ptr, WIDTH, HEIGHT, u16, 0, ...SIGNAL, sig), 'x_profile')
  kernel.check(kernel.exports.x_profile(ptr, WIDTH, HEIGHT, u16, 0, ...BACKGROUND, bg), 'x_profile')
}

const rows: Array<[number, number]> = [
  [SIGNAL[2], SIGNAL[2] + SIGNAL[3]],
  [BACKGROUND[2], BACKGROUND[2] + BACKGROUND[3]],
]
const parallel = await ParallelProfiler.create(kernel, codec, { threads: THREADS })
const shape = { width: WIDTH, height: HEIGHT, dtype: 'uint16' as const, bigEndian: false }
const outs = [sigOut, bgOut]
function parallelProfiles(extraRows: Array<[number, number]>): void {
  if (!parallel.profiles(wire, shape, [SIGNAL, BACKGROUND], outs, extraRows)) {
    // One thread (--threads 1): the single-thread path, as the service does.
    profiles(
      codec.decompressRowsInto(
        frame,
        wire,
        2,
        WIDTH,
        HEIGHT,
        extraRows.length > 0 ? extraRows : rows,
      ),
    )
  }
}

const results: Result[] = []
function keep(r: Result | undefined): void {
  if (r) results.push(r)
}
keep(
  measure(
    'decode_bslz4',
    () => {
      codec.decompressInto(frame, wire, 'bitshuffle_lz4', 2, raw.length)
    },
    raw.length,
  ),
)
keep(
  measure(
    'decode_profiles',
    () => parallelProfiles([[0, HEIGHT]]),
    raw.length,
    RUNS,
    `${THREADS} threads, each decodes and sums a share of the rows`,
    THREADS,
  ),
)
keep(
  measure(
    'roi_decode_profiles',
    () => parallelProfiles([]),
    raw.length,
    RUNS,
    `${THREADS} threads; MB/s counted on the whole frame`,
    THREADS,
  ),
)
keep(
  measure(
    'decode_profiles_1thread',
    () => {
      profiles(codec.decompressInto(frame, wire, 'bitshuffle_lz4', 2, raw.length))
    },
    raw.length,
  ),
)
keep(
  measure(
    'roi_decode_profiles_1thread',
    () => {
      profiles(codec.decompressRowsInto(frame, wire, 2, WIDTH, HEIGHT, rows))
    },
    raw.length,
    RUNS,
    'MB/s counted on the whole frame',
  ),
)
// The threaded profiles must equal the single-thread ones.
{
  parallelProfiles([])
  const view = (r: typeof sigOut): BigUint64Array =>
    new BigUint64Array(kernel.exports.memory.buffer, r.ptr, WIDTH)
  const a = [sigOut, bgOut].map((r) => view(r).slice())
  profiles(codec.decompressRowsInto(frame, wire, 2, WIDTH, HEIGHT, rows))
  const b = [sigOut, bgOut].map(view)
  if (!a.every((p, k) => p.every((v, i) => v === b[k]![i]))) throw new Error('profile mismatch')
}
await parallel.close()

// Check once that the measured paths compute the right thing.
const check = codec.decompressInto(frame, wire, 'bitshuffle_lz4', 2, raw.length)
if (!kernel.bytes(check, raw.length).every((v, i) => v === raw[i])) {
  throw new Error('decode mismatch')
}

// edge_2560: mean of the reference ring, subtraction, (step-1) refinement, step correlation.
{
  const n = WIDTH
  const {
    ring: ringPtr,
    mean: meanPtr,
    sub: subPtr,
    refined: refPtr,
    scratch: scratchPtr,
    out: outPtr,
  } = edgeBuffers((bytes) => kernel.region().ensure(bytes), n)
  new Float64Array(kernel.exports.memory.buffer, ringPtr, (REFERENCES + 1) * n).set(
    edgeRing(pixels, WIDTH, HEIGHT, SIGNAL[2], SIGNAL[3]),
  )
  const sigPtr = ringPtr + REFERENCES * n * 8
  const e = kernel.exports
  let position = 0
  keep(
    measure(
      'edge_2560',
      () => {
        e.profiles_mean(ringPtr, REFERENCES, n, meanPtr)
        e.profile_subtract(sigPtr, meanPtr, n, subPtr)
        const m = e.profile_refine(subPtr, n, 1, n - 1, refPtr)
        e.edge_find(refPtr, m, TAPS, 0, scratchPtr, outPtr)
      },
      n * 8,
      RUNS,
      'MB/s of the f64 profile',
    ),
  )
  position = new Float64Array(e.memory.buffer, outPtr, 5)[0]! + Math.floor(TAPS / 2)
  if (Math.abs(position - 1200.4) > 5) throw new Error(`edge found at ${position}, expected ~1200`)
}

keep(
  measure(
    'ts_reference_decode_profiles',
    () => {
      const decoded = bslz4DecodeRef(wire, 2)
      xProfileRef(decoded, WIDTH, 'uint16', false, SIGNAL)
      xProfileRef(decoded, WIDTH, 'uint16', false, BACKGROUND)
    },
    raw.length,
    REF_RUNS,
    'plain TS reference (test/reference), for the ratio',
  ),
)

const ANALYZE_FRAMES = Math.max(0, Number(args['analyze-frames']))
if (ANALYZE_FRAMES > 0) {
  for (const a of await analyzeCase(kernel, codec, {
    frames: ANALYZE_FRAMES,
    runs: Number(args['analyze-runs']),
    only: (name) => CASES.test(name),
  })) {
    results.push({
      name: a.name,
      frame: FRAME,
      ms_per_frame: a.ms_per_frame,
      ms_min: a.ms_min,
      cpu_ms: a.cpu_ms,
      fps: a.fps,
      mb_per_s_out: round(raw.length / 1e6 / (a.ms_per_frame / 1000), 1),
      runs: a.runs,
      threads: 1,
      note: a.note,
    })
  }
}

const summary = {
  name: 'frame',
  frame: FRAME,
  bytes: raw.length,
  compressed_bytes: wire.length,
  compression_ratio: round(ratio, 3),
  encode_ms: round(encodeMs, 1),
}
if (args.json) {
  for (const r of results) console.log(JSON.stringify(r))
  console.log(JSON.stringify(summary))
} else {
  const mb = (n: number): string => (n / 1e6).toFixed(2)
  console.log(
    `frame ${FRAME}: ${mb(raw.length)} MB -> ${mb(wire.length)} MB` +
      ` (ratio ${ratio.toFixed(2)}), encoded once in ${encodeMs.toFixed(1)} ms`,
  )
  console.log(
    'name                            ms/frame     ms min     cpu ms        fps     MB/s out' +
      '  runs',
  )
  for (const r of results) {
    console.log(
      `${r.name.padEnd(30)} ${r.ms_per_frame.toFixed(3).padStart(9)}` +
        ` ${r.ms_min.toFixed(3).padStart(10)} ${r.cpu_ms.toFixed(3).padStart(10)}` +
        ` ${r.fps.toFixed(1).padStart(10)}` +
        ` ${r.mb_per_s_out.toFixed(1).padStart(12)} ${String(r.runs).padStart(5)}`,
    )
  }
  // The analyze lines' notes say which thread was the slower one.
  for (const r of results) if (r.name.startsWith('analyze_')) console.log(`${r.name}: ${r.note}`)
  const ts = results.find((r) => r.name === 'ts_reference_decode_profiles')
  const wasm = results.find((r) => r.name === 'decode_profiles')
  if (ts && wasm) {
    const x = (ts.ms_per_frame / wasm.ms_per_frame).toFixed(0)
    console.log(`decode_profiles is ${x}x the TS reference`)
  }
}
