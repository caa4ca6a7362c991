/**
 * Decodes one frame's ROI rows and sums its x-profiles on several threads at once: `threads - 1`
 * workers (each with its own instance of the kernel module) and the main thread take shares of
 * the rows, in that order, and their partial column sums are added in the main thread's memory.
 * Integer sums wrap the same in any order, so the result is bit-identical to one pass; float
 * pixels (whose sums depend on the order) and small frames stay on the main thread (the caller's
 * single-thread path, signalled by `undefined`).
 *
 * Workers run the shared-memory build of the kernel (build/kernel.shared.wasm, the same sources)
 * and send their memory to the main thread. Per frame the main thread posts each worker its job,
 * then copies the header and the worker's share straight into that worker's input region in
 * batches, walking the block table as it goes (each length prefix is read just after its batch
 * was copied, so the walk reads warm bytes), and publishes the share piece by piece: the worker
 * decodes a piece as soon as it is there. Then the main thread copies and decodes its own share
 * in the caller's kernel (the plain build that the browser preview loads too), sums its rows,
 * and adds the partial profiles the workers left in their memories. Jobs, pieces and
 * completions go through Atomics on a shared control block. The shares' sizes follow a measured
 * balance: a worker that finished after the main thread gets fewer rows on the next frame.
 * @module
 */
import { Worker } from 'node:worker_threads'
import type { BlockSpan } from './block-index.js'
import { BlockWalker } from './block-walker.js'
import { mergeRows, type Codec, type RowRange } from './codec.js'
import { DType, DTYPE_SIZE, sumKind } from './dtype.js'
import { KernelError, statusName } from './errors.js'
import type { Kernel, Region } from './kernel.js'
import { SHARED_KERNEL_URL, compileKernel } from './loader.js'
import {
  CTRL_INTS, JobStatus, MAX_PIECES, MAX_ROIS, Op, PIECE_INTS, Piece, READY_FINAL, Slot, clockDiffMs,
  clockUs, resultOffset, type WorkerInit, type WorkerReady,
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
  /** Bytes of a worker's share per published piece (default 256 KiB; small in tests). */
  pieceBytes?: number
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
/** Bytes a worker's share is copied in: the walk reads each prefix right after its batch. */
const COPY_BYTES = 64 * 1024
/** Bytes per published piece after the first (one batch, so that the worker starts at once). */
export const DEFAULT_PIECE_BYTES = 256 * 1024
/** Row sets whose balance is remembered (e.g. ROIs alone, ROIs plus the whole frame). */
const MAX_BALANCES = 16
/** How long the main thread polls for a worker's share before it sleeps. */
const SPIN_MS = 0.5
/** Thrown inside `profiles` when a frame turns out not to be splittable after all. */
const NOT_SPLIT = Symbol('not split')

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
  readonly #walker = new BlockWalker()
  /** Row fractions per thread (workers, then the main thread), per set of needed rows. */
  readonly #fractions = new Map<string, number[]>()
  readonly #workers: Worker[]
  /** Each worker's kernel memory (shared): its input and result regions are written/read here. */
  readonly #memories: WebAssembly.Memory[]
  readonly #reserved: Reserved[]
  readonly #ctrl: Int32Array
  readonly #seq: number[]
  readonly #minBytes: number
  readonly #timeoutMs: number
  readonly #pieceBytes: number
  readonly #copyBytes: number
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
    this.#pieceBytes = Math.max(1, opts.pieceBytes ?? DEFAULT_PIECE_BYTES)
    this.#copyBytes = Math.min(COPY_BYTES, this.#pieceBytes)
    this.#onBroken = opts.onBroken
    for (const w of workers) {
      w.on('error', (err) => this.#breakDown(`profile worker failed: ${err.message}`))
      w.on('exit', (code) => {
        if (!this.#closed) this.#breakDown(`profile worker exited (code ${code})`)
      })
    }
  }

  /**
   * Starts `threads - 1` workers on the shared-memory build of the kernel (`workerModule`).
   * `codec` must belong to `kernel`: the main thread's share is decoded with it.
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
    const walker = this.#walker
    if (src.length < 12 || new DataView(src.buffer, src.byteOffset, 12).getBigUint64(0) !==
        BigInt(outBytes) || !walker.reset(src, outBytes, elemSize)) {
      this.#single++
      return undefined
    }
    // Shares of the rows in order: the workers first, the main thread last (it copies the
    // workers' bytes first). Their sizes follow the measured balance of earlier frames.
    const merged = mergeRows(rows, height)
    const key = merged.join(';')
    const fractions = this.#fractions.get(key) ?? this.#initialFractions()
    const shares = splitRows(merged, this.threads, undefined, fractions)
    let cols = 0
    for (const roi of rois) if (roi) cols = Math.max(cols, roi[1])
    if (shares === undefined || cols > MAX_COLS) {
      this.#single++
      return undefined
    }
    for (let w = 0; w < this.#workers.length; w++) {
      if (!this.#reserve(w, src.length, outBytes, MAX_ROIS * cols * 8)) {
        this.#single++
        return undefined
      }
    }

    // Each worker gets its job, then its bytes piece by piece (it decodes a piece as soon as it
    // is there), so it runs while the main thread copies the next worker's share and its own.
    for (let w = 0; w < this.#workers.length; w++) {
      this.#post(w, src.length, frame, shares[w]!, rois, cols)
      this.#stream(w, src, shares[w]!, width)
    }
    const mine = shares[this.#workers.length]!
    const mainSpan = walker.broken ? undefined : spanOf(walker, mine, width, height, src.length)

    // The main thread's share, straight into the output regions. A failure here still waits for
    // the workers below: their shared buffers must not be rewritten under them.
    const result: Array<ProfileInKernel | undefined> = []
    const outPtrs: number[] = []
    let failure: unknown
    let mainDone = 0
    try {
      // A block table that does not add up (or rows in the raw tail alone) is left to the
      // single-thread path, once the workers are done with what they were given.
      if (mainSpan === undefined) throw NOT_SPLIT
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
      mainDone = clockUs()
      // Like one thread, reject a frame whose block table breaks after the rows it needs (only
      // ROI rows leave blocks unread; the single-thread path then reports the error).
      if (lastRow(mine) < height && !walker.finish()) throw NOT_SPLIT
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
        if (roi === undefined || intersect(roi, shares[w]!) === undefined) continue
        const n = roi[1]
        const scratch = this.#kernel.run(() => this.#partial.ensure(n * 8))
        this.#kernel.bytes(scratch, n * 8).set(new Uint8Array(this.#memories[w]!.buffer,
          partials + resultOffset(k, cols), n * 8))
        this.#kernel.run((e) => e.profile_add_i64(outPtrs[k]!, scratch, n))
      }
    }
    if (failure === NOT_SPLIT) {
      this.#single++
      return undefined
    }
    if (failure) throw failure
    this.#rebalance(key, fractions, mainDone)
    this.#split++
    return result
  }

  /**
   * Copies the header and worker w's share of `src` into its memory and publishes it piece by
   * piece (READY), walking the block table as it goes: each prefix is read just after the copy
   * brought it into the cache. Blocks between the share's row ranges are walked, not copied.
   */
  #stream(w: number, src: Uint8Array, share: readonly RowRange[], width: number): void {
    const walker = this.#walker
    const memory = Buffer.from(this.#memories[w]!.buffer)
    const input = this.#reserved[w]!.inputPtr
    const ready = w * CTRL_INTS + Slot.READY
    const endElem = lastRow(share) * width
    let pieces = 0
    // The open piece: blocks from (startPos, startElem) up to element pieceEnd, all copied.
    let startPos = 0
    let startElem = 0
    let pieceEnd = 0
    let copied = 0 // the open run's bytes are copied up to here
    const publish = (): void => {
      if (pieceEnd > startElem) {
        const at = w * CTRL_INTS + Slot.PIECES + pieces * PIECE_INTS
        this.#ctrl[at + Piece.START_POS] = startPos
        this.#ctrl[at + Piece.START_ELEM] = startElem
        this.#ctrl[at + Piece.END_ELEM] = pieceEnd
        Atomics.store(this.#ctrl, ready, ++pieces)
        Atomics.notify(this.#ctrl, ready)
      }
      startElem = pieceEnd
    }
    copyInto(memory, input, src, 0, 12)
    let open = false
    for (;;) {
      // Copy ahead of the walk, so that the next prefix it reads is already in cache.
      if (open && walker.nextPos + 4 > copied) copied = this.#copyBatch(memory, input, src, copied)
      if (!walker.next()) break
      if (walker.elem >= endElem) {
        walker.again() // the next share's first block (after a gap)
        break
      }
      // Blocks between the share's row ranges end the open piece and are not copied, except
      // once the last piece slot is in use: that piece then takes them too (decoded for nothing).
      if (!shareOverlaps(share, walker, width) && !(open && pieces === MAX_PIECES - 1)) {
        if (open) publish()
        open = false
        continue
      }
      if (!open) {
        open = true
        startPos = walker.pos
        startElem = walker.elem
        copied = startPos
      }
      while (copied < walker.end) copied = this.#copyBatch(memory, input, src, copied)
      pieceEnd = walker.elem + walker.count
      // The first piece is small, so the worker starts at once; the last slot takes the rest.
      const size = pieces === 0 ? this.#copyBytes : this.#pieceBytes
      if (walker.end - startPos >= size && pieces < MAX_PIECES - 1) {
        publish()
        startPos = walker.end
      }
      if (pieceEnd >= endElem) {
        // A block that runs past the share's end holds the next share's first rows too.
        if (pieceEnd > endElem) walker.again()
        break
      }
    }
    if (open) publish()
    // Only the main thread's share (the last) can reach the raw tail. A broken table ends the
    // share here: the worker decodes what it has, the single-thread path reports the error.
    Atomics.store(this.#ctrl, ready, pieces | READY_FINAL)
    Atomics.notify(this.#ctrl, ready)
  }

  /** Copies the next batch of src into a worker's input region; returns where it stopped. */
  #copyBatch(memory: Buffer, at: number, src: Uint8Array, from: number): number {
    const to = Math.min(src.length, from + this.#copyBytes)
    copyInto(memory, at, src, from, to)
    return to
  }

  /** Equal shares of the rows for a new set of rows (the balance then adjusts them). */
  #initialFractions(): number[] {
    return Array.from({ length: this.threads }, () => 1 / this.threads)
  }

  /**
   * Moves rows between the threads so that they finish together: a worker that finished d ms
   * after the main thread's own share, having been busy b ms, gives up about d / 2b of its rows
   * (damped by half: the machine's noise moves single frames a lot).
   */
  #rebalance(key: string, fractions: number[], mainDone: number): void {
    const next = [...fractions]
    let workers = 0
    for (let w = 0; w < this.#workers.length; w++) {
      const base = w * CTRL_INTS
      const started = this.#ctrl[base + Slot.STARTED_US]!
      const finished = this.#ctrl[base + Slot.FINISHED_US]!
      const busy = clockDiffMs(started, finished)
      const late = clockDiffMs(mainDone, finished)
      if (!(busy > 0.01)) continue
      const factor = Math.min(1.2, Math.max(0.8, 1 - (0.25 * late) / busy))
      next[w] = Math.min(0.9, Math.max(0.05, fractions[w]! * factor))
      workers += next[w]!
    }
    if (workers > 0.95) for (let w = 0; w < this.#workers.length; w++) next[w]! *= 0.95 / workers
    next[this.#workers.length] = Math.max(0, 1 - next.slice(0, -1).reduce((a, b) => a + b, 0))
    if (this.#fractions.size >= MAX_BALANCES && !this.#fractions.has(key)) this.#fractions.clear()
    this.#fractions.set(key, next)
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
    rois: ReadonlyArray<RoiTuple | undefined>, cols: number): void {
    const c = this.#ctrl
    const base = w * CTRL_INTS
    c[base + Slot.SRC_LEN] = srcLen
    c[base + Slot.ELEM_SIZE] = DTYPE_SIZE[frame.dtype]
    c[base + Slot.WIDTH] = frame.width
    c[base + Slot.HEIGHT] = frame.height
    c[base + Slot.DTYPE] = DType[frame.dtype]
    c[base + Slot.BIG_ENDIAN] = frame.bigEndian ? 1 : 0
    c[base + Slot.COLS] = cols
    c[base + Slot.N_ROIS] = rois.length
    for (let k = 0; k < rois.length; k++) {
      const part = rois[k] === undefined ? undefined : intersect(rois[k]!, share)
      for (let j = 0; j < 4; j++) c[base + Slot.ROIS + 4 * k + j] = part?.[j] ?? 0
    }
    Atomics.store(c, base + Slot.READY, 0)
    this.#signal(w, Op.PROFILE)
  }

  /** Blocks until worker w finished its current job; returns its status. */
  #wait(w: number): number {
    const base = w * CTRL_INTS
    const seq = this.#seq[w]!
    const start = performance.now()
    const deadline = start + this.#timeoutMs
    for (;;) {
      const done = Atomics.load(this.#ctrl, base + Slot.DONE)
      if (done === seq) return Atomics.load(this.#ctrl, base + Slot.STATUS)
      const now = performance.now()
      // A share still running is nearly done: polling for a moment saves the ~60 µs it takes
      // this VM to wake a thread sleeping in Atomics.wait.
      if (now - start < SPIN_MS) continue
      const left = deadline - now
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
 * Splits sorted disjoint row ranges into `parts` shares, in order, each a list of ranges with at
 * least one row: shares of equal cost, or of the given fractions of the cost (one per part);
 * `cost(y0, y1)` is the cost of rows [y0, y1) (default: their count). Undefined when there are
 * too few rows to split.
 */
export function splitRows(ranges: readonly RowRange[], parts: number,
  cost: (y0: number, y1: number) => number = (a, b) => b - a,
  fractions?: readonly number[]): RowRange[][] | undefined {
  let rows = 0
  let total = 0
  for (const [a, b] of ranges) {
    rows += b - a
    total += cost(a, b)
  }
  const weights = fractions ?? Array.from({ length: parts }, () => 1)
  const sum = weights.reduce((a, b) => a + b, 0)
  if (parts < 2 || rows < parts * 8 || !(total > 0) || weights.length !== parts || !(sum > 0)) {
    return undefined
  }
  // Cut points: the row where the cumulative cost reaches the cumulative fraction (binary
  // search within a range; cost is monotonic in the end row).
  const cuts: Array<[number, number]> = [] // [range index, row]
  let r = 0
  let acc = 0
  let want = 0
  for (let p = 1; p < parts; p++) {
    want += (total * weights[p - 1]!) / sum
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

/** Whether the walker's current block holds elements of the share's rows. */
function shareOverlaps(share: readonly RowRange[], walker: BlockWalker, width: number): boolean {
  for (const [y0, y1] of share) if (walker.overlaps(y0 * width, y1 * width)) return true
  return false
}

/**
 * The span of blocks that holds the main thread's (last) share, walked on from where the
 * workers' shares ended; undefined when its rows start in the raw tail or the table breaks.
 */
function spanOf(walker: BlockWalker, share: readonly RowRange[], width: number, height: number,
  srcLength: number): BlockSpan | undefined {
  const first = share[0]![0] * width
  const end = lastRow(share) * width
  while (walker.elem + walker.count <= first) if (!walker.next()) return undefined
  const span = { start: walker.pos, startElem: walker.elem, end: srcLength }
  // A share that reaches the last row needs the raw tail too: the value's end.
  if (lastRow(share) < height) {
    while (walker.elem + walker.count < end) {
      // Out of blocks: the rows reach into the raw tail after all (end stays the value's end).
      if (!walker.next()) return walker.broken ? undefined : span
    }
    span.end = walker.end
  }
  return span
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
