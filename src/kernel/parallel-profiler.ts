/**
 * Decodes one frame's ROI rows and sums its x-profiles on several threads at once: the main
 * thread and `threads - 1` workers (each with its own instance of the kernel module) take shares
 * of the rows of equal decode cost, and their partial column sums are added in the main thread's
 * memory.
 * Integer sums wrap the same in any order, so the result is bit-identical to one pass; float
 * pixels (whose sums depend on the order) and small frames stay on the main thread (the caller's
 * single-thread path, signalled by `undefined`).
 *
 * Frame bytes reach a worker through one shared input buffer: the main thread copies in the
 * header and the contiguous span of blocks that worker decodes; the worker copies them into its
 * own module memory and decodes from there without walking the rest of the block table. (One
 * shared WASM memory would save that copy, but the browser preview must load the same .wasm
 * without cross-origin isolation, where shared memory is unavailable.) Jobs and completions go
 * through Atomics on a shared control block; the main thread blocks only for the worker's share that is
 * still running when its own share is done.
 * @module
 */
import { Worker } from 'node:worker_threads'
import { BlockIndex, type BlockSpan } from './block-index.js'
import { mergeRows, type Codec, type RowRange } from './codec.js'
import { DType, DTYPE_SIZE, sumKind } from './dtype.js'
import { KernelError, statusName } from './errors.js'
import type { Kernel, Region } from './kernel.js'
import {
  CTRL_INTS, JobStatus, MAX_RANGES, MAX_ROIS, Op, Slot, resultOffset, type WorkerInit,
} from './parallel-protocol.js'
import { roiFits, type FrameRef, type ProfileInKernel, type RoiTuple } from './profiles.js'

export interface ParallelProfilerOptions {
  /** Threads in all, the main thread included (2 = main + 1 worker). */
  threads: number
  /** Compressed values below this many bytes are not split (the hand-off would cost more). */
  minBytes?: number
  /** Longest wait for a worker's share before the pool is declared broken. */
  timeoutMs?: number
  /** Called once when the workers stop being used (all frames then run on the main thread). */
  onBroken?: (reason: string) => void
}

/** A frame's description without its address (the profiler decodes it). */
export type FrameShape = Omit<FrameRef, 'ptr'>

/** 256 KiB: below this a frame decodes faster than two thread hand-offs. */
export const DEFAULT_MIN_BYTES = 256 * 1024

/** Address space reserved for the growable shared input (bigger values run on one thread). */
const MAX_INPUT_BYTES = 2 ** 30
/** Widest ROI that is split (the result buffer grows up to this). */
const MAX_COLS = 1 << 20

/** Starts a profile worker: dist/ runs the compiled .js; TypeScript sources need tsx again. */
function startWorker(workerData: WorkerInit): Worker {
  if (!import.meta.url.endsWith('.ts')) {
    return new Worker(new URL('./profile-worker.js', import.meta.url), { workerData })
  }
  // Under `node --import tsx` (tests, benchmarks) workers do not inherit tsx's loader on Node 20:
  // register it in the worker first (tsx is a dev dependency, used only from sources).
  const url = new URL('./profile-worker.ts', import.meta.url).href
  const code = `import('tsx/esm/api')` +
    `.then((m) => { m.register(); return import(${JSON.stringify(url)}) })`
  return new Worker(code, { eval: true, workerData })
}

export class ParallelProfiler {
  readonly threads: number
  readonly #kernel: Kernel
  readonly #codec: Codec
  readonly #frame: Region
  readonly #partial: Region
  readonly #blocks = new BlockIndex()
  readonly #workers: Worker[]
  readonly #ctrl: Int32Array
  readonly #seq: number[]
  readonly #minBytes: number
  readonly #timeoutMs: number
  readonly #input: SharedArrayBuffer
  readonly #inputView: Uint8Array<ArrayBufferLike>
  readonly #result: SharedArrayBuffer
  #broken: string | undefined
  readonly #onBroken: ((reason: string) => void) | undefined
  #closed = false
  #split = 0
  #single = 0

  private constructor(kernel: Kernel, codec: Codec, workers: Worker[], init: WorkerInit,
    opts: ParallelProfilerOptions) {
    this.threads = workers.length + 1
    this.#kernel = kernel
    this.#codec = codec
    this.#frame = kernel.region()
    this.#partial = kernel.region()
    this.#workers = workers
    this.#ctrl = new Int32Array(init.control)
    this.#input = init.input
    this.#inputView = new Uint8Array(init.input)
    this.#result = init.result
    this.#seq = workers.map(() => 0)
    this.#minBytes = opts.minBytes ?? DEFAULT_MIN_BYTES
    this.#timeoutMs = opts.timeoutMs ?? 5000
    this.#onBroken = opts.onBroken
    for (const w of workers) {
      w.on('error', (err) => this.#breakDown(`profile worker failed: ${err.message}`))
      w.on('exit', (code) => {
        if (!this.#closed) this.#breakDown(`profile worker exited (code ${code})`)
      })
    }
  }

  /**
   * Starts `threads - 1` workers on the kernel's module. `codec` must belong to `kernel`: the
   * main thread's share is decoded with it.
   */
  static async create(kernel: Kernel, codec: Codec, opts: ParallelProfilerOptions):
    Promise<ParallelProfiler> {
    const n = Math.max(0, Math.floor(opts.threads) - 1)
    const shared: WorkerInit = {
      module: kernel.module,
      control: new SharedArrayBuffer(Math.max(1, n) * CTRL_INTS * 4),
      // Growable: workers' views follow the growth, so no buffer is ever sent again.
      input: new SharedArrayBuffer(0, { maxByteLength: MAX_INPUT_BYTES }),
      result: new SharedArrayBuffer(0, { maxByteLength: Math.max(1, n) * MAX_ROIS * MAX_COLS * 8 }),
      index: 0,
    }
    const workers: Worker[] = []
    try {
      for (let index = 0; index < n; index++) {
        const w = startWorker({ ...shared, index })
        workers.push(w)
        // 'ready' comes once the worker's module graph has loaded and it listens: blocking
        // waits before that could outlast the module loading.
        await new Promise<void>((resolve, reject) => {
          w.once('message', () => resolve())
          w.once('error', reject)
          w.once('exit', (code) => reject(new Error(`profile worker exited (code ${code})`)))
        })
      }
    } catch (err) {
      await Promise.all(workers.map((w) => w.terminate()))
      throw err
    }
    return new ParallelProfiler(kernel, codec, workers, shared, opts)
  }

  /** Frames split across the threads. */
  get split(): number {
    return this.#split
  }

  /** Frames offered but left to the caller's single-thread path. */
  get single(): number {
    return this.#single
  }

  /** Why the workers are no longer used (undefined while they are healthy). */
  get broken(): string | undefined {
    return this.#broken
  }

  /**
   * Decodes the rows under `rois` (and `extraRows`, e.g. the whole frame) of a bitshuffle_lz4
   * value and writes ROI k's exact column sums into `outs[k]`. Returns the profiles (undefined
   * for an undefined ROI), or undefined when this frame is not split (float pixels, small or
   * unusual values, no workers): the caller then runs its single-thread path. Throws KernelError
   * for a corrupt value, like the single-thread path.
   */
  profiles(src: Uint8Array, frame: FrameShape, rois: ReadonlyArray<RoiTuple | undefined>,
    outs: readonly Region[], extraRows: readonly RowRange[] = []):
    Array<ProfileInKernel | undefined> | undefined {
    const kind = sumKind(frame.dtype)
    if (this.#workers.length === 0 || this.#broken !== undefined || this.#closed ||
        kind === 'float64' ||
        src.length < this.#minBytes || src.length > MAX_INPUT_BYTES || rois.length > MAX_ROIS) {
      this.#single++
      return undefined
    }
    const { width, height } = frame
    const rows: RowRange[] = [...extraRows]
    for (const roi of rois) {
      if (roi === undefined) continue
      if (!roiFits(roi, width, height)) {
        throw new KernelError('BAD_ARGUMENT',
          `x_profile: ROI [${roi.join(', ')}] outside ${width}x${height} frame`)
      }
      rows.push([roi[2], roi[2] + roi[3]])
    }
    const elemSize = DTYPE_SIZE[frame.dtype]
    const outBytes = width * height * elemSize
    // A header that disagrees with the shape, or a block table that does not add up, goes to
    // the single-thread path, which reports it.
    const blocks = this.#blocks
    if (src.length < 12 || new DataView(src.buffer, src.byteOffset, 12).getBigUint64(0) !==
        BigInt(outBytes) || !blocks.index(src, outBytes, elemSize)) {
      this.#single++
      return undefined
    }
    // Shares of equal decode cost (bright rows compress less and decode slower than dark ones).
    const shares = splitRows(mergeRows(rows, height), this.threads,
      (y0, y1) => blocks.cost(y0 * width, y1 * width))
    if (shares === undefined) {
      this.#single++
      return undefined
    }
    let cols = 0
    for (const roi of rois) if (roi) cols = Math.max(cols, roi[1])
    if (cols > MAX_COLS) {
      this.#single++
      return undefined
    }
    grow(this.#input, src.length)
    grow(this.#result, this.#workers.length * MAX_ROIS * cols * 8)

    // Each share is decoded from the header and one contiguous span of blocks (no block walk).
    const spans: BlockSpan[] = []
    for (const share of shares) {
      const span = blocks.span(share[0]![0] * width, share[share.length - 1]![1] * width)
      if (span === undefined) {
        this.#single++
        return undefined // rows inside the raw tail alone: left to the single-thread path
      }
      spans.push(span)
    }
    // Workers first (their bytes, then their jobs), so they start while the main thread decodes.
    copyToShared(this.#inputView, src, 0, 12)
    for (let w = 0; w < this.#workers.length; w++) {
      copyToShared(this.#inputView, src, spans[w + 1]!.start, spans[w + 1]!.end)
      this.#post(w, src.length, frame, shares[w + 1]!, spans[w + 1]!, rois, cols)
    }

    // The main thread's share, straight into the output regions. A failure here still waits for
    // the workers below: their shared buffers must not be rewritten under them.
    const result: Array<ProfileInKernel | undefined> = []
    const outPtrs: number[] = []
    let failure: unknown
    try {
      const mine = shares[0]!
      const ptr = this.#codec.decompressSpanInto(this.#frame, src, elemSize, width, height,
        spans[0]!, mine)
      for (let k = 0; k < rois.length; k++) {
        const roi = rois[k]
        if (roi === undefined) {
          result.push(undefined)
          outPtrs.push(0)
          continue
        }
        const out = this.#kernel.run(() => outs[k]!.ensure(roi[1] * 8))
        const part = intersect(roi, mine)
        if (part === undefined) this.#kernel.bytes(out, roi[1] * 8).fill(0)
        else {
          this.#kernel.check(this.#kernel.run((e) => e.x_profile(ptr, width, height,
            DType[frame.dtype], frame.bigEndian ? 1 : 0, ...part, out)), 'x_profile')
        }
        outPtrs.push(out)
        result.push({ ptr: out, length: roi[1], kind })
      }
    } catch (err) {
      failure = err
    }

    // Add each worker's partial sums (waiting for the ones still running).
    for (let w = 0; w < this.#workers.length; w++) {
      const status = this.#wait(w)
      if (failure !== undefined) continue
      if (status !== JobStatus.OK) {
        const code = status === JobStatus.TRAP ? 'TRAP' : statusName(status)
        const what = status === JobStatus.FAILED ? 'failed' : code.toLowerCase().replace('_', ' ')
        failure ??= new KernelError(code, `bitshuffle_lz4 ROI decode (worker ${w + 1}): ${what}`)
        continue
      }
      for (let k = 0; k < rois.length; k++) {
        const roi = rois[k]
        if (roi === undefined || intersect(roi, shares[w + 1]!) === undefined) continue
        const n = roi[1]
        const scratch = this.#kernel.run(() => this.#partial.ensure(n * 8))
        this.#kernel.bytes(scratch, n * 8)
          .set(new Uint8Array(this.#result, resultOffset(w, k, cols), n * 8))
        this.#kernel.run((e) => e.profile_add_i64(outPtrs[k]!, scratch, n))
      }
    }
    if (failure) throw failure
    this.#split++
    return result
  }

  /** Stops the workers (idempotent). */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    for (let w = 0; w < this.#workers.length; w++) this.#signal(w, Op.EXIT)
    await Promise.all(this.#workers.map((w) => w.terminate()))
  }

  #breakDown(reason: string): void {
    if (this.#broken !== undefined || this.#closed) return
    this.#broken = reason
    this.#onBroken?.(reason)
  }

  #signal(w: number, op: number): number {
    const base = w * CTRL_INTS
    const seq = ++this.#seq[w]!
    this.#ctrl[base + Slot.OP] = op
    Atomics.store(this.#ctrl, base + Slot.SEQ, seq)
    Atomics.notify(this.#ctrl, base + Slot.SEQ)
    return seq
  }

  #post(w: number, srcLen: number, frame: FrameShape, share: readonly RowRange[],
    span: BlockSpan, rois: ReadonlyArray<RoiTuple | undefined>, cols: number): void {
    const c = this.#ctrl
    const base = w * CTRL_INTS
    c[base + Slot.SRC_LEN] = srcLen
    c[base + Slot.SPAN_START] = span.start
    c[base + Slot.SPAN_END] = span.end
    c[base + Slot.START_ELEM] = span.startElem
    c[base + Slot.ELEM_SIZE] = DTYPE_SIZE[frame.dtype]
    c[base + Slot.WIDTH] = frame.width
    c[base + Slot.HEIGHT] = frame.height
    c[base + Slot.DTYPE] = DType[frame.dtype]
    c[base + Slot.BIG_ENDIAN] = frame.bigEndian ? 1 : 0
    c[base + Slot.N_RANGES] = share.length
    for (let i = 0; i < share.length; i++) {
      c[base + Slot.RANGES + 2 * i] = share[i]![0]
      c[base + Slot.RANGES + 2 * i + 1] = share[i]![1]
    }
    c[base + Slot.COLS] = cols
    c[base + Slot.N_ROIS] = rois.length
    for (let k = 0; k < rois.length; k++) {
      const part = rois[k] === undefined ? undefined : intersect(rois[k]!, share)
      for (let j = 0; j < 4; j++) c[base + Slot.ROIS + 4 * k + j] = part?.[j] ?? 0
    }
    this.#signal(w, Op.PROFILE)
  }

  /** Blocks until worker w finished its current job; returns its status. */
  #wait(w: number): number {
    const base = w * CTRL_INTS
    const seq = this.#seq[w]!
    const deadline = performance.now() + this.#timeoutMs
    for (;;) {
      const done = Atomics.load(this.#ctrl, base + Slot.DONE)
      if (done === seq) return Atomics.load(this.#ctrl, base + Slot.STATUS)
      const left = deadline - performance.now()
      if (left <= 0) {
        this.#breakDown(`profile worker ${w + 1} did not answer within ${this.#timeoutMs} ms`)
        return JobStatus.TRAP
      }
      Atomics.wait(this.#ctrl, base + Slot.DONE, done, left)
    }
  }
}

/**
 * TypedArray.set into a SharedArrayBuffer takes V8's element-wise (relaxed atomic) path, 4-5x
 * slower than memmove; Buffer.copy is a plain memmove (measured 1.27 vs 0.31 ms for 5.5 MB).
 */
function copyToShared(view: Uint8Array, src: Uint8Array, start: number, end: number): void {
  Buffer.from(src.buffer, src.byteOffset, src.byteLength)
    .copy(Buffer.from(view.buffer, view.byteOffset, view.byteLength), start, start, end)
}

/** Grows a growable SharedArrayBuffer to at least `bytes` (in 1 MiB steps). */
function grow(buf: SharedArrayBuffer, bytes: number): void {
  if (buf.byteLength >= bytes) return
  buf.grow(Math.min(buf.maxByteLength, Math.ceil(bytes / 2 ** 20) * 2 ** 20))
}

/**
 * Splits sorted disjoint row ranges into `parts` shares of (nearly) equal cost, in order, each a
 * list of at most MAX_RANGES ranges and at least one row; `cost(y0, y1)` is the cost of rows
 * [y0, y1) (default: their count). Undefined when there are too few rows to split.
 */
export function splitRows(ranges: readonly RowRange[], parts: number,
  cost: (y0: number, y1: number) => number = (a, b) => b - a): RowRange[][] | undefined {
  let rows = 0
  let total = 0
  for (const [a, b] of ranges) {
    rows += b - a
    total += cost(a, b)
  }
  if (parts < 2 || rows < parts * 8 || ranges.length > MAX_RANGES || !(total > 0)) {
    return undefined
  }
  // Cut points: the row where the cumulative cost reaches p/parts of the total (binary search
  // within a range; cost is monotonic in the end row).
  const cuts: Array<[number, number]> = [] // [range index, row]
  let r = 0
  let acc = 0
  for (let p = 1; p < parts; p++) {
    const want = (total * p) / parts
    while (r < ranges.length - 1 && acc + cost(ranges[r]![0], ranges[r]![1]) < want) {
      acc += cost(ranges[r]![0], ranges[r]![1])
      r++
    }
    const [a, b] = ranges[r]!
    let lo = a
    let hi = b
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (acc + cost(a, mid) < want) lo = mid + 1
      else hi = mid
    }
    cuts.push([r, lo])
  }
  const shares: RowRange[][] = []
  let from: [number, number] = [0, ranges[0]![0]]
  const last: [number, number] = [ranges.length - 1, ranges[ranges.length - 1]![1]]
  for (const to of [...cuts, last]) {
    const share: RowRange[] = []
    for (let k = from[0]; k <= to[0]; k++) {
      const a = k === from[0] ? from[1] : ranges[k]![0]
      const b = k === to[0] ? to[1] : ranges[k]![1]
      if (b > a) share.push([a, b])
    }
    if (share.length === 0) return undefined
    shares.push(share)
    from = to
  }
  return shares
}

/** The part of ROI [ox, sx, oy, sy] inside the row ranges (one contiguous part), or undefined. */
function intersect(roi: RoiTuple, share: readonly RowRange[]):
  [number, number, number, number] | undefined {
  // A share's ranges come from merged ROI rows, so a ROI meets them in one contiguous run.
  let y0 = Infinity
  let y1 = -Infinity
  for (const [a, b] of share) {
    const lo = Math.max(a, roi[2])
    const hi = Math.min(b, roi[2] + roi[3])
    if (hi > lo) {
      y0 = Math.min(y0, lo)
      y1 = Math.max(y1, hi)
    }
  }
  return y1 > y0 ? [roi[0], roi[1], y0, y1 - y0] : undefined
}
