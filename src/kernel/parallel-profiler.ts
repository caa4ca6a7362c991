/**
 * Decodes one frame's ROI rows and sums its x-profiles on several threads at once: `threads - 1`
 * workers (each with its own instance of the kernel module) and the main thread take shares of
 * the rows, in that order, and their partial column sums are added in the main thread's memory.
 * Integer sums wrap the same in any order, so the result is bit-identical to one pass; float
 * pixels (whose sums depend on the order) and small frames stay on the main thread (the caller's
 * single-thread path, signalled by `undefined`).
 *
 * Workers run the shared-memory build of the kernel (build/kernel.shared.wasm, the same sources)
 * and send their memory to the main thread (profile-pool.ts). Per frame the main thread posts
 * each worker its job, then streams the worker's share straight into that worker's input region
 * (share-stream.ts): the worker decodes a piece as soon as it is there. Then the main thread
 * copies and decodes its own share in the caller's kernel (the plain build that the browser
 * preview loads too), sums its rows, and adds the partial profiles the workers left in their
 * memories. The shares' sizes follow a measured balance (share-plan.ts): a worker that finished
 * after the main thread gets fewer rows on the next frame.
 * @module
 */
import { BITSHUFFLE_HEADER_BYTES, bitshuffleTotalBytes } from './bitshuffle-header.js'
import { BlockWalker } from './block-walker.js'
import { maxDecodedBytes, mergeRows, type Codec, type RowRange } from './codec.js'
import { DType, DTYPE_SIZE, sumKind, type SumKind } from './dtype.js'
import { KernelError, statusName } from './errors.js'
import type { Kernel, Region } from './kernel.js'
import { JobStatus, MAX_ROIS, clockUs, type WorkerFaults } from './parallel-protocol.js'
import { MAX_BLOCK_MS, ProfileWorkerPool, jobFailure } from './profile-pool.js'
import { roiFits, type FrameShape, type ProfileInKernel, type RoiTuple } from './profiles.js'
import { ShareBalance, intersect, lastRow, splitRows } from './share-plan.js'
import { ShareStreamer, spanOf } from './share-stream.js'

export type { FrameShape } from './profiles.js'
export { splitRows } from './share-plan.js'

export interface ParallelProfilerOptions {
  /** Threads in all, the main thread included (2 = main + 1 worker). */
  threads: number
  /** Compressed values below this many bytes are not split (the hand-off would cost more). */
  minBytes?: number
  /**
   * Longest a worker may take for a job before the pool is declared broken. The main thread
   * never waits that long: after MAX_BLOCK_MS (50 ms) it gives the frame's split up.
   */
  timeoutMs?: number
  /** Called once when the workers stop being used (all frames then run on the main thread). */
  onBroken?: (reason: string) => void
  /** The workers' module (default: build/kernel.shared.wasm); it must define a shared memory. */
  workerModule?: WebAssembly.Module
  /** Bytes of a worker's share per published piece (default 256 KiB; small in tests). */
  pieceBytes?: number
  /** Test-only worker failures (a slow or dying worker). */
  faults?: WorkerFaults
}

/** 256 KiB: below this a frame decodes faster than two thread hand-offs. */
export const DEFAULT_MIN_BYTES = 256 * 1024

/**
 * Largest value plus decoded frame that is split: a worker's memory (1 GiB at most) holds both,
 * and a worker that ran out of memory would have to be given up.
 */
const MAX_SPLIT_BYTES = 2 ** 29
/** Widest ROI that is split (the result buffer grows up to this). */
const MAX_COLS = 1 << 20
/** Bytes per published piece after the first (one batch, so that the worker starts at once). */
export const DEFAULT_PIECE_BYTES = 256 * 1024
/** Thrown inside `profiles` when a frame turns out not to be splittable after all. */
const NOT_SPLIT = Symbol('not split')
/** A worker did not finish its share within MAX_BLOCK_MS: the frame's split is given up. */
const LATE = Symbol('late')

/** One frame's split, decided before any thread starts on it. */
interface SplitPlan {
  kind: SumKind
  elemSize: number
  /** The set of needed rows (the balance's key) and its fractions per thread. */
  key: string
  fractions: number[]
  /** Shares of the rows: one per worker, then the main thread's. */
  shares: RowRange[][]
  /** Widest ROI's end column (the partial profiles' stride). */
  cols: number
}

export class ParallelProfiler {
  readonly threads: number
  readonly #kernel: Kernel
  readonly #codec: Codec
  readonly #frame: Region
  readonly #partial: Region
  readonly #walker = new BlockWalker()
  readonly #pool: ProfileWorkerPool
  readonly #balance: ShareBalance
  readonly #streamer: ShareStreamer
  readonly #minBytes: number
  #split = 0
  #single = 0
  #late = 0

  private constructor(
    kernel: Kernel,
    codec: Codec,
    pool: ProfileWorkerPool,
    opts: ParallelProfilerOptions,
  ) {
    this.threads = pool.size + 1
    this.#kernel = kernel
    this.#codec = codec
    this.#frame = kernel.region()
    this.#partial = kernel.region()
    this.#pool = pool
    this.#balance = new ShareBalance(this.threads)
    this.#minBytes = opts.minBytes ?? DEFAULT_MIN_BYTES
    this.#streamer = new ShareStreamer(
      pool.ctrl,
      Math.max(1, opts.pieceBytes ?? DEFAULT_PIECE_BYTES),
    )
  }

  /**
   * Starts `threads - 1` workers on the shared-memory build of the kernel (`workerModule`).
   * `codec` must belong to `kernel`: the main thread's share is decoded with it.
   */
  static async create(
    kernel: Kernel,
    codec: Codec,
    opts: ParallelProfilerOptions,
  ): Promise<ParallelProfiler> {
    const pool = await ProfileWorkerPool.start({
      workers: Math.max(0, Math.floor(opts.threads) - 1),
      timeoutMs: opts.timeoutMs ?? 5000,
      onBroken: opts.onBroken,
      workerModule: opts.workerModule,
      faults: opts.faults,
    })
    return new ParallelProfiler(kernel, codec, pool, opts)
  }

  /** Frames split across the threads. */
  get split(): number {
    return this.#split
  }

  /** Frames offered but left to the caller's single-thread path (late ones not included). */
  get single(): number {
    return this.#single
  }

  /**
   * Frames whose split was given up because a worker was not done within MAX_BLOCK_MS (they
   * went to the caller's single-thread path: nothing is lost, the main thread stays live).
   */
  get late(): number {
    return this.#late
  }

  /** Why the workers are no longer used (undefined while they are healthy). */
  get broken(): string | undefined {
    return this.#pool.broken
  }

  /**
   * Decodes the rows under `rois` (and `extraRows`, e.g. the whole frame) of a bitshuffle_lz4
   * value and writes ROI k's exact column sums into `outs[k]`. Returns the profiles (undefined
   * for an undefined ROI), or undefined when this frame is not split (float pixels, small or
   * unusual values, no workers): the caller then runs its single-thread path. Throws KernelError
   * for a corrupt value, like the single-thread path.
   */
  profiles(
    src: Uint8Array,
    frame: FrameShape,
    rois: ReadonlyArray<RoiTuple | undefined>,
    outs: readonly Region[],
    extraRows: readonly RowRange[] = [],
  ): Array<ProfileInKernel | undefined> | undefined {
    const plan = this.#plan(src, frame, rois, extraRows)
    if (plan === undefined) {
      this.#single++
      return undefined
    }
    // Each worker gets its job, then its bytes piece by piece (it decodes a piece as soon as it
    // is there), so it runs while the main thread copies the next worker's share and its own.
    this.#startWorkers(src, frame, rois, plan)
    // The main thread's share, straight into the output regions. A failure here still waits for
    // the workers below: their shared buffers must not be rewritten under them.
    const result: Array<ProfileInKernel | undefined> = []
    const outPtrs: number[] = []
    let failure: unknown
    let mainDone = 0
    try {
      this.#profileMainShare(src, frame, rois, outs, plan, result, outPtrs)
      mainDone = clockUs()
      // Like one thread, reject a frame whose block table breaks after the rows it needs (only
      // ROI rows leave blocks unread; the single-thread path then reports the error).
      if (lastRow(plan.shares[this.#pool.size]!) < frame.height && !this.#walker.finish()) {
        throw NOT_SPLIT
      }
    } catch (err) {
      failure = err
    }
    failure = this.#addWorkerPartials(rois, plan, outPtrs, failure)
    if (failure === NOT_SPLIT) {
      this.#single++
      return undefined
    }
    if (failure === LATE) {
      this.#late++
      return undefined
    }
    if (failure) throw failure
    this.#balance.rebalance(plan.key, plan.fractions, mainDone, this.#pool)
    this.#split++
    return result
  }

  /** Stops the workers (idempotent). */
  async close(): Promise<void> {
    await this.#pool.close()
  }

  /**
   * Whether and how this frame is split: the shares of its rows, the workers' regions grown to
   * hold it. Undefined leaves it to the single-thread path; throws KernelError for a ROI outside
   * the frame.
   */
  #plan(
    src: Uint8Array,
    frame: FrameShape,
    rois: ReadonlyArray<RoiTuple | undefined>,
    extraRows: readonly RowRange[],
  ): SplitPlan | undefined {
    const pool = this.#pool
    const kind = sumKind(frame.dtype)
    if (
      pool.size === 0 ||
      pool.broken !== undefined ||
      pool.closed ||
      kind === 'float64' ||
      src.length < this.#minBytes ||
      rois.length > MAX_ROIS
    ) {
      return undefined
    }
    // A worker still on an earlier (late) job owns its buffers until it is done.
    for (let w = 0; w < pool.size; w++) if (!pool.idle(w)) return undefined
    const { width, height } = frame
    const rows: RowRange[] = [...extraRows]
    for (const roi of rois) {
      if (roi === undefined) continue
      if (!roiFits(roi, width, height)) {
        throw new KernelError(
          'BAD_ARGUMENT',
          `x_profile: ROI [${roi.join(', ')}] outside ${width}x${height} frame`,
        )
      }
      rows.push([roi[2], roi[2] + roi[3]])
    }
    const elemSize = DTYPE_SIZE[frame.dtype]
    const outBytes = width * height * elemSize
    if (src.length + outBytes > MAX_SPLIT_BYTES || outBytes > maxDecodedBytes(src.length)) {
      return undefined
    }
    // A header that disagrees with the shape, or a block table that does not add up, goes to
    // the single-thread path, which reports it.
    if (
      src.length < BITSHUFFLE_HEADER_BYTES ||
      bitshuffleTotalBytes(src) !== BigInt(outBytes) ||
      !this.#walker.reset(src, outBytes, elemSize)
    ) {
      return undefined
    }
    // Shares of the rows in order: the workers first, the main thread last (it copies the
    // workers' bytes first). Their sizes follow the measured balance of earlier frames.
    const merged = mergeRows(rows, height)
    const key = merged.join(';')
    const fractions = this.#balance.fractions(key)
    const shares = splitRows(merged, this.threads, undefined, fractions)
    let cols = 0
    for (const roi of rois) if (roi) cols = Math.max(cols, roi[1])
    if (shares === undefined || cols > MAX_COLS) return undefined
    const deadline = performance.now() + MAX_BLOCK_MS
    for (let w = 0; w < pool.size; w++) {
      if (!pool.reserve(w, src.length, outBytes, MAX_ROIS * cols * 8, deadline)) return undefined
    }
    return { kind, elemSize, key, fractions, shares, cols }
  }

  /** Posts each worker its job and streams its share into its memory. */
  #startWorkers(
    src: Uint8Array,
    frame: FrameShape,
    rois: ReadonlyArray<RoiTuple | undefined>,
    plan: SplitPlan,
  ): void {
    const pool = this.#pool
    for (let w = 0; w < pool.size; w++) {
      const share = plan.shares[w]!
      const parts = rois.map((roi) => (roi === undefined ? undefined : intersect(roi, share)))
      pool.post(w, src.length, frame, parts, plan.cols)
      this.#streamer.stream(
        w,
        Buffer.from(pool.memory(w).buffer),
        pool.inputPtr(w),
        this.#walker,
        src,
        share,
        frame.width,
      )
    }
  }

  /**
   * Decodes the main thread's (last) share in the caller's kernel and sums its part of each ROI
   * into `outs[k]`, pushing each profile to `result` and its address to `outPtrs`. Throws
   * NOT_SPLIT when its span cannot be found (a broken table, rows in the raw tail alone).
   */
  #profileMainShare(
    src: Uint8Array,
    frame: FrameShape,
    rois: ReadonlyArray<RoiTuple | undefined>,
    outs: readonly Region[],
    plan: SplitPlan,
    result: Array<ProfileInKernel | undefined>,
    outPtrs: number[],
  ): void {
    const { width, height } = frame
    const kernel = this.#kernel
    const walker = this.#walker
    const mine = plan.shares[this.#pool.size]!
    const mainSpan = walker.broken ? undefined : spanOf(walker, mine, width, height, src.length)
    // A block table that does not add up (or rows in the raw tail alone) is left to the
    // single-thread path, once the workers are done with what they were given.
    if (mainSpan === undefined) throw NOT_SPLIT
    const ptr = this.#codec.decompressSpanInto(
      this.#frame,
      src,
      plan.elemSize,
      width,
      height,
      mainSpan,
      mine,
    )
    for (let k = 0; k < rois.length; k++) {
      const roi = rois[k]
      if (roi === undefined) {
        result.push(undefined)
        outPtrs.push(0)
        continue
      }
      const out = kernel.run(() => outs[k]!.ensure(roi[1] * 8))
      const part = intersect(roi, mine)
      if (part === undefined) kernel.bytes(out, roi[1] * 8).fill(0)
      else {
        kernel.check(
          kernel.run((e) =>
            e.x_profile(
              ptr,
              width,
              height,
              DType[frame.dtype],
              frame.bigEndian ? 1 : 0,
              ...part,
              out,
            ),
          ),
          'x_profile',
        )
      }
      outPtrs.push(out)
      result.push({ ptr: out, length: roi[1], kind: plan.kind })
    }
  }

  /**
   * Waits for every worker (MAX_BLOCK_MS at most in all) and, unless something failed already,
   * adds its partial sums to the main thread's profiles. Returns the frame's failure (the one
   * given, a worker's, or LATE).
   */
  #addWorkerPartials(
    rois: ReadonlyArray<RoiTuple | undefined>,
    plan: SplitPlan,
    outPtrs: readonly number[],
    failure: unknown,
  ): unknown {
    const pool = this.#pool
    const kernel = this.#kernel
    const deadline = performance.now() + MAX_BLOCK_MS
    for (let w = 0; w < pool.size; w++) {
      const status = pool.wait(w, deadline)
      if (status === undefined) {
        failure ??= LATE
        continue
      }
      if (failure !== undefined) continue
      if (status !== JobStatus.OK) {
        // After a trap the worker's kernel is a fresh instance with a new memory.
        if (status === JobStatus.TRAP) pool.breakDown(`profile worker ${w + 1} trapped`)
        failure ??= new KernelError(
          status === JobStatus.TRAP ? 'TRAP' : statusName(status),
          `bitshuffle_lz4 ROI decode (worker ${w + 1}): ${jobFailure(status)}`,
        )
        continue
      }
      for (let k = 0; k < rois.length; k++) {
        const roi = rois[k]
        if (roi === undefined || intersect(roi, plan.shares[w]!) === undefined) continue
        const n = roi[1]
        const scratch = kernel.run(() => this.#partial.ensure(n * 8))
        kernel.bytes(scratch, n * 8).set(pool.partial(w, k, plan.cols, n))
        kernel.run((e) => e.profile_add_i64(outPtrs[k]!, scratch, n))
      }
    }
    return failure
  }
}
