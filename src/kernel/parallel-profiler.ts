/**
 * Decodes one frame's ROI rows and sums its x-profiles on several threads at once: the main
 * thread and `threads - 1` workers (each with its own instance of the kernel module) take shares
 * of the rows of equal decode cost, and their partial column sums are added in the main thread's
 * memory.
 * Integer sums wrap the same in any order, so the result is bit-identical to one pass; float
 * pixels (whose sums depend on the order) and small frames stay on the main thread (the caller's
 * single-thread path, signalled by `undefined`).
 *
 * Workers run the shared-memory build of the kernel (build/kernel.shared.wasm, the same sources)
 * and send their memory to the main thread, which copies the header and the contiguous span of
 * blocks a worker decodes straight into that worker's input region: one copy, as on one thread.
 * The worker decodes from there without walking the rest of the block table and leaves its
 * partial profiles in its memory for the main thread to add. (The main thread's own share runs
 * in the caller's kernel, the plain build that the browser preview loads too.) Jobs and
 * completions go through Atomics on a shared control block; the main thread blocks only for the
 * worker's share that is still running when its own share is done.
 * @module
 */
import { Worker } from 'node:worker_threads'
import { BlockIndex, type BlockSpan } from './block-index.js'
import { mergeRows, type Codec, type RowRange } from './codec.js'
import { DType, DTYPE_SIZE, sumKind } from './dtype.js'
import { KernelError, statusName } from './errors.js'
import type { Kernel, Region } from './kernel.js'
import { SHARED_KERNEL_URL, compileKernel } from './loader.js'
import {
  CTRL_INTS, JobStatus, MAX_PIECES, MAX_RANGES, MAX_ROIS, Op, PIECE_INTS, Piece, Slot,
  resultOffset, type WorkerInit, type WorkerReady,
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
  /** The workers' module (default: build/kernel.shared.wasm); it must define a shared memory. */
  workerModule?: WebAssembly.Module
}

/** A frame's description without its address (the profiler decodes it). */
export type FrameShape = Omit<FrameRef, 'ptr'>

/** 256 KiB: below this a frame decodes faster than two thread hand-offs. */
export const DEFAULT_MIN_BYTES = 256 * 1024

/**
 * Largest value plus decoded frame that is split: a worker's memory (1 GiB at most) holds both,
 * and a worker that ran out of memory would have to be given up.
 */
const MAX_SPLIT_BYTES = 2 ** 29
/** Widest ROI that is split (the result buffer grows up to this). */
const MAX_COLS = 1 << 20
/**
 * Cost (in BlockIndex units, ~0.14 ns each here) of copying one compressed byte into a worker's
 * memory: a cold 5.5 MB value copies in 0.5-0.8 ms.
 */
const COPY_WEIGHT = 1
/** The main thread always keeps some rows: its share's copy and decode overlap the workers'. */
const MIN_MAIN_FRACTION = 0.1

/** A piece of a worker's share: its rows and the span of the value that holds them. */
interface SharePiece {
  rows: readonly RowRange[]
  span: BlockSpan
}

/** What a worker's regions were last grown to (RESERVE), and where they are. */
interface Reserved {
  srcBytes: number
  frameBytes: number
  resultBytes: number
  inputPtr: number
  resultPtr: number
}

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
  /** Each worker's kernel memory (shared): its input and result regions are written/read here. */
  readonly #memories: WebAssembly.Memory[]
  readonly #reserved: Reserved[]
  readonly #ctrl: Int32Array
  readonly #seq: number[]
  readonly #minBytes: number
  readonly #timeoutMs: number
  #broken: string | undefined
  readonly #onBroken: ((reason: string) => void) | undefined
  #closed = false
  #split = 0
  #single = 0

  private constructor(kernel: Kernel, codec: Codec, workers: Worker[],
    memories: WebAssembly.Memory[], control: SharedArrayBuffer, opts: ParallelProfilerOptions) {
    this.threads = workers.length + 1
    this.#kernel = kernel
    this.#codec = codec
    this.#frame = kernel.region()
    this.#partial = kernel.region()
    this.#workers = workers
    this.#memories = memories
    this.#reserved = workers.map(() =>
      ({ srcBytes: 0, frameBytes: 0, resultBytes: 0, inputPtr: 0, resultPtr: 0 }))
    this.#ctrl = new Int32Array(control)
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
    const control = new SharedArrayBuffer(Math.max(1, n) * CTRL_INTS * 4)
    const module = n > 0 ? opts.workerModule ?? await compileKernel(SHARED_KERNEL_URL) : undefined
    const workers: Worker[] = []
    const memories: WebAssembly.Memory[] = []
    try {
      for (let index = 0; index < n; index++) {
        const w = startWorker({ module: module!, control, index })
        workers.push(w)
        // The first message (the worker's memory) comes once its module graph has loaded and
        // it listens: blocking waits before that could outlast the module loading.
        const ready = await new Promise<WorkerReady>((resolve, reject) => {
          w.once('message', resolve)
          w.once('error', reject)
          w.once('exit', (code) => reject(new Error(`profile worker exited (code ${code})`)))
        })
        if (!(ready.memory?.buffer instanceof SharedArrayBuffer)) {
          throw new Error('profile worker: the worker module has no shared memory')
        }
        memories.push(ready.memory)
      }
    } catch (err) {
      await Promise.all(workers.map((w) => w.terminate()))
      throw err
    }
    return new ParallelProfiler(kernel, codec, workers, memories, control, opts)
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
        src.length < this.#minBytes || rois.length > MAX_ROIS) {
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
    if (src.length + outBytes > MAX_SPLIT_BYTES) {
      this.#single++
      return undefined
    }
    // A header that disagrees with the shape, or a block table that does not add up, goes to
    // the single-thread path, which reports it.
    const blocks = this.#blocks
    if (src.length < 12 || new DataView(src.buffer, src.byteOffset, 12).getBigUint64(0) !==
        BigInt(outBytes) || !blocks.index(src, outBytes, elemSize)) {
      this.#single++
      return undefined
    }
    // Shares of equal decode cost (bright rows compress less and decode slower than dark ones),
    // except that the main thread also copies every worker's bytes: it takes less.
    const merged = mergeRows(rows, height)
    const cost = (y0: number, y1: number): number => blocks.cost(y0 * width, y1 * width)
    const shares = splitRows(merged, this.threads, cost, this.#mainFraction(merged, width, cost))
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
    // Each share, and each worker's pieces, are decoded from the header and one contiguous span
    // of blocks (no block walk).
    const mainSpan = blocks.span(shares[0]![0]![0] * width, lastRow(shares[0]!) * width)
    const pieces: SharePiece[][] = []
    for (const share of shares.slice(1)) {
      const mine: SharePiece[] = []
      for (const rows of splitRows(share, MAX_PIECES, cost) ?? [share]) {
        const span = blocks.span(rows[0]![0] * width, lastRow(rows) * width)
        if (span !== undefined) mine.push({ rows, span })
      }
      pieces.push(mine)
    }
    if (mainSpan === undefined || pieces.some((mine) => mine.length === 0)) {
      this.#single++
      return undefined // rows inside the raw tail alone: left to the single-thread path
    }
    for (let w = 0; w < this.#workers.length; w++) {
      if (!this.#reserve(w, src.length, outBytes, MAX_ROIS * cols * 8)) {
        this.#single++
        return undefined
      }
    }

    // Workers first: each gets its job, then its bytes piece by piece (it decodes a piece as
    // soon as it is there), so they run while the main thread copies and decodes its own share.
    for (let w = 0; w < this.#workers.length; w++) {
      const mine = pieces[w]!
      this.#post(w, src.length, frame, shares[w + 1]!, mine, rois, cols)
      const memory = Buffer.from(this.#memories[w]!.buffer)
      const input = this.#reserved[w]!.inputPtr
      copyInto(memory, input, src, 0, 12)
      let copied = 0
      for (let k = 0; k < mine.length; k++) {
        const { start, end } = mine[k]!.span
        copyInto(memory, input, src, Math.max(start, copied), end)
        copied = Math.max(copied, end)
        Atomics.store(this.#ctrl, w * CTRL_INTS + Slot.READY, k + 1)
        Atomics.notify(this.#ctrl, w * CTRL_INTS + Slot.READY)
      }
    }

    // The main thread's share, straight into the output regions. A failure here still waits for
    // the workers below: their shared buffers must not be rewritten under them.
    const result: Array<ProfileInKernel | undefined> = []
    const outPtrs: number[] = []
    let failure: unknown
    try {
      const mine = shares[0]!
      const ptr = this.#codec.decompressSpanInto(this.#frame, src, elemSize, width, height,
        mainSpan, mine)
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
        // After a trap the worker's kernel is a fresh instance with a new memory.
        if (status === JobStatus.TRAP) this.#breakDown(`profile worker ${w + 1} trapped`)
        failure ??= new KernelError(status === JobStatus.TRAP ? 'TRAP' : statusName(status),
          `bitshuffle_lz4 ROI decode (worker ${w + 1}): ${jobFailure(status)}`)
        continue
      }
      const partials = this.#reserved[w]!.resultPtr
      for (let k = 0; k < rois.length; k++) {
        const roi = rois[k]
        if (roi === undefined || intersect(roi, shares[w + 1]!) === undefined) continue
        const n = roi[1]
        const scratch = this.#kernel.run(() => this.#partial.ensure(n * 8))
        this.#kernel.bytes(scratch, n * 8).set(new Uint8Array(this.#memories[w]!.buffer,
          partials + resultOffset(k, cols), n * 8))
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

  /**
   * Makes worker w's regions hold a value of srcBytes, its decoded frame and the partial
   * profiles (a RESERVE round trip, only when a frame is bigger than any before). False when the
   * worker failed (the pool is then given up).
   */
  #reserve(w: number, srcBytes: number, frameBytes: number, resultBytes: number): boolean {
    const r = this.#reserved[w]!
    if (srcBytes <= r.srcBytes && frameBytes <= r.frameBytes && resultBytes <= r.resultBytes) {
      return true
    }
    const c = this.#ctrl
    const base = w * CTRL_INTS
    c[base + Slot.SRC_LEN] = Math.max(srcBytes, r.srcBytes)
    c[base + Slot.FRAME_BYTES] = Math.max(frameBytes, r.frameBytes)
    c[base + Slot.RESULT_BYTES] = Math.max(resultBytes, r.resultBytes)
    this.#signal(w, Op.RESERVE)
    const status = this.#wait(w)
    if (status !== JobStatus.OK) {
      this.#breakDown(`profile worker ${w + 1} could not reserve ${srcBytes + frameBytes} bytes` +
        ` (${jobFailure(status)})`)
      return false
    }
    r.srcBytes = c[base + Slot.SRC_LEN]!
    r.frameBytes = c[base + Slot.FRAME_BYTES]!
    r.resultBytes = c[base + Slot.RESULT_BYTES]!
    r.inputPtr = c[base + Slot.INPUT_PTR]!
    r.resultPtr = c[base + Slot.RESULT_PTR]!
    return true
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
    pieces: readonly SharePiece[], rois: ReadonlyArray<RoiTuple | undefined>, cols: number): void {
    const c = this.#ctrl
    const base = w * CTRL_INTS
    c[base + Slot.SRC_LEN] = srcLen
    c[base + Slot.ELEM_SIZE] = DTYPE_SIZE[frame.dtype]
    c[base + Slot.WIDTH] = frame.width
    c[base + Slot.HEIGHT] = frame.height
    c[base + Slot.DTYPE] = DType[frame.dtype]
    c[base + Slot.BIG_ENDIAN] = frame.bigEndian ? 1 : 0
    c[base + Slot.N_PIECES] = pieces.length
    for (let k = 0; k < pieces.length; k++) {
      const at = base + Slot.PIECES + k * PIECE_INTS
      const { rows, span } = pieces[k]!
      c[at + Piece.SPAN_START] = span.start
      c[at + Piece.SPAN_END] = span.end
      c[at + Piece.START_ELEM] = span.startElem
      c[at + Piece.N_RANGES] = rows.length
      for (let i = 0; i < rows.length; i++) {
        c[at + Piece.RANGES + 2 * i] = rows[i]![0]
        c[at + Piece.RANGES + 2 * i + 1] = rows[i]![1]
      }
    }
    c[base + Slot.COLS] = cols
    c[base + Slot.N_ROIS] = rois.length
    for (let k = 0; k < rois.length; k++) {
      const part = rois[k] === undefined ? undefined : intersect(rois[k]!, share)
      for (let j = 0; j < 4; j++) c[base + Slot.ROIS + 4 * k + j] = part?.[j] ?? 0
    }
    Atomics.store(c, base + Slot.READY, 0)
    this.#signal(w, Op.PROFILE)
  }

  /**
   * The main thread's fraction of the decode cost. It also copies each worker's bytes (about
   * COPY_WEIGHT cost units per compressed byte): with decode cost D, copy cost C of all the rows
   * and c = C / D, a worker taking x = D / (n - (n - 1) c) finishes with the main thread taking
   * the rest, D - (n - 1) x (which includes copying the workers' (n - 1) x / D of the bytes).
   */
  #mainFraction(rows: readonly RowRange[], width: number,
    cost: (y0: number, y1: number) => number): number {
    let decode = 0
    let bytes = 0
    for (const [y0, y1] of rows) {
      decode += cost(y0, y1)
      const span = this.#blocks.span(y0 * width, y1 * width)
      if (span !== undefined) bytes += span.end - span.start
    }
    const n = this.threads
    if (!(decode > 0)) return 1 / n
    const c = Math.min(1, (COPY_WEIGHT * bytes) / decode)
    return Math.max(MIN_MAIN_FRACTION, 1 - (n - 1) / (n - (n - 1) * c))
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

/** A failed job's status in words ("trap", "failed", "corrupt", "output overflow"...). */
function jobFailure(status: number): string {
  if (status === JobStatus.TRAP) return 'trap'
  if (status === JobStatus.FAILED) return 'failed'
  return statusName(status).toLowerCase().replace('_', ' ')
}

/**
 * Copies src[start, end) to memory[at + start, ...). Buffer.fill with a buffer of the same length
 * is one native memcpy; TypedArray.set and Buffer.copy into shared memory take V8's relaxed-atomic
 * copy, 2.3x slower for a 2.75 MB share in cache.
 */
function copyInto(memory: Buffer, at: number, src: Uint8Array, start: number, end: number): void {
  if (end <= start) return
  memory.subarray(at + start, at + end).fill(src.subarray(start, end))
}

/**
 * Splits sorted disjoint row ranges into `parts` shares of (nearly) equal cost, in order, each a
 * list of at most MAX_RANGES ranges and at least one row (the first share gets the fraction
 * `first` of the cost when given); `cost(y0, y1)` is the cost of rows [y0, y1) (default: their
 * count). Undefined when there are too few rows to split.
 */
export function splitRows(ranges: readonly RowRange[], parts: number,
  cost: (y0: number, y1: number) => number = (a, b) => b - a, first = 1 / parts):
  RowRange[][] | undefined {
  let rows = 0
  let total = 0
  for (const [a, b] of ranges) {
    rows += b - a
    total += cost(a, b)
  }
  if (parts < 2 || rows < parts * 8 || ranges.length > MAX_RANGES || !(total > 0)) {
    return undefined
  }
  // Cut points: the row where the cumulative cost reaches `first`, then equal parts of the
  // rest (binary search within a range; cost is monotonic in the end row).
  const cuts: Array<[number, number]> = [] // [range index, row]
  let r = 0
  let acc = 0
  for (let p = 1; p < parts; p++) {
    const want = total * (first + ((1 - first) * (p - 1)) / (parts - 1))
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

/** The end row of a share (its ranges are in order). */
function lastRow(share: readonly RowRange[]): number {
  return share[share.length - 1]![1]
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
