/**
 * The profile workers of ParallelProfiler and their lifecycle: starting them on the
 * shared-memory build of the kernel, growing their regions (RESERVE), posting a job, waiting for
 * it, reading a worker's partial profiles back, and giving the pool up when a worker fails.
 * Jobs and completions go through Atomics on the shared control block (parallel-protocol.ts).
 * @module
 */
import type { Worker } from 'node:worker_threads'
import { DType, DTYPE_SIZE } from './dtype.js'
import { statusName } from './errors.js'
import { startWorker } from './start-worker.js'
import { SHARED_KERNEL_URL, compileKernel } from './loader.js'
import {
  CTRL_INTS,
  JobStatus,
  Op,
  Slot,
  resultOffset,
  type WorkerFaults,
  type WorkerInit,
  type WorkerReady,
} from './parallel-protocol.js'
import type { FrameShape, RoiTuple } from './profiles.js'

/** How the pool is started. */
export interface ProfilePoolOptions {
  /** Workers to start (0 gives an empty pool). */
  workers: number
  /** Longest a worker may take for a job before the pool is declared broken. */
  timeoutMs: number
  /** Called once when the workers stop being used (all frames then run on the main thread). */
  onBroken?: ((reason: string) => void) | undefined
  /** The workers' module (default: build/kernel.shared.wasm); it must define a shared memory. */
  workerModule?: WebAssembly.Module | undefined
  /** Test-only worker failures. */
  faults?: WorkerFaults | undefined
}

/** A job a worker has not finished yet. */
interface Pending {
  op: number
  seq: number
  /** performance.now() when it was posted. */
  since: number
}

/** What a worker's regions were last grown to (RESERVE), and where they are. */
interface Reserved {
  srcBytes: number
  frameBytes: number
  resultBytes: number
  inputPtr: number
  resultPtr: number
}

/** How long the main thread polls for a worker's share before it sleeps. */
const SPIN_MS = 0.5
/**
 * Longest the main thread blocks for the workers (per wait the caller bounds by a deadline):
 * HTTP, health checks and the sockets run on it. A worker that is later gives its frame up.
 */
export const MAX_BLOCK_MS = 50

/** The running profile workers, their memories and their control block. */
export class ProfileWorkerPool {
  /** Workers in the pool. */
  readonly size: number
  /** The control block: CTRL_INTS slots per worker (see parallel-protocol.ts). */
  readonly ctrl: Int32Array
  readonly #workers: Worker[]
  /** Each worker's kernel memory (shared): its input and result regions are written/read here. */
  readonly #memories: WebAssembly.Memory[]
  readonly #reserved: Reserved[]
  readonly #seq: number[]
  /** Each worker's unfinished job, if any (a late worker still owns its buffers). */
  readonly #pending: Array<Pending | undefined>
  readonly #timeoutMs: number
  readonly #onBroken: ((reason: string) => void) | undefined
  #broken: string | undefined
  #closed = false
  /** The workers' termination, once the pool was given up or closed. */
  #terminated: Promise<unknown> | undefined

  private constructor(
    workers: Worker[],
    memories: WebAssembly.Memory[],
    control: SharedArrayBuffer,
    opts: ProfilePoolOptions,
  ) {
    this.size = workers.length
    this.#workers = workers
    this.#memories = memories
    this.#reserved = workers.map(() => ({
      srcBytes: 0,
      frameBytes: 0,
      resultBytes: 0,
      inputPtr: 0,
      resultPtr: 0,
    }))
    this.ctrl = new Int32Array(control)
    this.#seq = workers.map(() => 0)
    this.#pending = workers.map(() => undefined)
    this.#timeoutMs = opts.timeoutMs
    this.#onBroken = opts.onBroken
    for (const w of workers) {
      w.on('error', (err) => this.breakDown(`profile worker failed: ${err.message}`))
      w.on('exit', (code) => {
        if (!this.#closed) this.breakDown(`profile worker exited (code ${code})`)
      })
    }
  }

  /** Starts the workers, one after the other, and waits until each has sent its memory. */
  static async start(opts: ProfilePoolOptions): Promise<ProfileWorkerPool> {
    const n = opts.workers
    const control = new SharedArrayBuffer(Math.max(1, n) * CTRL_INTS * 4)
    const module =
      n > 0 ? (opts.workerModule ?? (await compileKernel(SHARED_KERNEL_URL))) : undefined
    const workers: Worker[] = []
    const memories: WebAssembly.Memory[] = []
    try {
      for (let index = 0; index < n; index++) {
        const w = startWorker(import.meta.url, 'profile-worker', {
          workerData: { module: module!, control, index, faults: opts.faults } satisfies WorkerInit,
        })
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
    return new ProfileWorkerPool(workers, memories, control, opts)
  }

  /** Why the workers are no longer used (undefined while they are healthy). */
  get broken(): string | undefined {
    return this.#broken
  }

  /** Whether close() was called. */
  get closed(): boolean {
    return this.#closed
  }

  /** Worker w's kernel memory (shared). */
  memory(w: number): WebAssembly.Memory {
    return this.#memories[w]!
  }

  /** Worker w's input region (its address in the worker's memory). */
  inputPtr(w: number): number {
    return this.#reserved[w]!.inputPtr
  }

  /** When worker w started and finished its last job (clockUs readings). */
  startedUs(w: number): number {
    return this.ctrl[w * CTRL_INTS + Slot.STARTED_US]!
  }

  finishedUs(w: number): number {
    return this.ctrl[w * CTRL_INTS + Slot.FINISHED_US]!
  }

  /** ROI k's partial profile of n columns in worker w's result region (a view, not a copy). */
  partial(w: number, k: number, cols: number, n: number): Uint8Array {
    return new Uint8Array(
      this.#memories[w]!.buffer,
      this.#reserved[w]!.resultPtr + resultOffset(k, cols),
      n * 8,
    )
  }

  /** Stops the workers and waits until they are gone (idempotent). */
  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true
      for (let w = 0; w < this.#workers.length; w++) this.#signal(w, Op.EXIT)
    }
    await this.#terminate()
  }

  /**
   * Gives the pool up (once; not after close): the reason is kept and reported, and the
   * workers are terminated (close() awaits that), so that a failed one holds no memory.
   */
  breakDown(reason: string): void {
    if (this.#broken !== undefined || this.#closed) return
    this.#broken = reason
    void this.#terminate()
    this.#onBroken?.(reason)
  }

  #terminate(): Promise<unknown> {
    this.#terminated ??= Promise.allSettled(this.#workers.map((w) => w.terminate()))
    return this.#terminated
  }

  /**
   * Whether worker w has finished its last job (never blocks). A RESERVE that finished late is
   * taken in here; a job late beyond timeoutMs gives the pool up.
   */
  idle(w: number): boolean {
    const p = this.#pending[w]
    if (p === undefined) return true
    const base = w * CTRL_INTS
    if (Atomics.load(this.ctrl, base + Slot.DONE) === p.seq) {
      this.#finish(w, p, Atomics.load(this.ctrl, base + Slot.STATUS))
      return true
    }
    if (performance.now() - p.since > this.#timeoutMs) {
      this.breakDown(`profile worker ${w + 1} did not answer within ${this.#timeoutMs} ms`)
    }
    return false
  }

  /**
   * Makes worker w's regions hold a value of srcBytes, its decoded frame and the partial
   * profiles (a RESERVE round trip, only when a frame is bigger than any before). Waits until
   * `deadline` (performance.now()) at most. False when the worker failed (the pool is then
   * given up) or is not done by then (it finishes in the background: see idle()).
   */
  reserve(
    w: number,
    srcBytes: number,
    frameBytes: number,
    resultBytes: number,
    deadline: number,
  ): boolean {
    const r = this.#reserved[w]!
    if (srcBytes <= r.srcBytes && frameBytes <= r.frameBytes && resultBytes <= r.resultBytes) {
      return true
    }
    const c = this.ctrl
    const base = w * CTRL_INTS
    c[base + Slot.SRC_LEN] = Math.max(srcBytes, r.srcBytes)
    c[base + Slot.FRAME_BYTES] = Math.max(frameBytes, r.frameBytes)
    c[base + Slot.RESULT_BYTES] = Math.max(resultBytes, r.resultBytes)
    this.#signal(w, Op.RESERVE)
    return this.wait(w, deadline) === JobStatus.OK
  }

  /** Takes a finished job in: a RESERVE's regions, or the pool given up for its failure. */
  #finish(w: number, p: Pending, status: number): void {
    this.#pending[w] = undefined
    if (p.op !== Op.RESERVE) return
    if (status !== JobStatus.OK) {
      this.breakDown(
        `profile worker ${w + 1} could not reserve its regions ` + `(${jobFailure(status)})`,
      )
      return
    }
    const c = this.ctrl
    const base = w * CTRL_INTS
    const r = this.#reserved[w]!
    r.srcBytes = c[base + Slot.SRC_LEN]!
    r.frameBytes = c[base + Slot.FRAME_BYTES]!
    r.resultBytes = c[base + Slot.RESULT_BYTES]!
    r.inputPtr = c[base + Slot.INPUT_PTR]!
    r.resultPtr = c[base + Slot.RESULT_PTR]!
  }

  /**
   * Posts worker w a PROFILE job: the frame, and per ROI the part of it in the worker's share
   * (undefined: none). Its bytes follow piece by piece (READY, see share-stream.ts).
   */
  post(
    w: number,
    srcLen: number,
    frame: FrameShape,
    parts: ReadonlyArray<RoiTuple | undefined>,
    cols: number,
  ): void {
    const c = this.ctrl
    const base = w * CTRL_INTS
    c[base + Slot.SRC_LEN] = srcLen
    c[base + Slot.ELEM_SIZE] = DTYPE_SIZE[frame.dtype]
    c[base + Slot.WIDTH] = frame.width
    c[base + Slot.HEIGHT] = frame.height
    c[base + Slot.DTYPE] = DType[frame.dtype]
    c[base + Slot.BIG_ENDIAN] = frame.bigEndian ? 1 : 0
    c[base + Slot.COLS] = cols
    c[base + Slot.N_ROIS] = parts.length
    for (let k = 0; k < parts.length; k++) {
      const part = parts[k]
      for (let j = 0; j < 4; j++) c[base + Slot.ROIS + 4 * k + j] = part?.[j] ?? 0
    }
    Atomics.store(c, base + Slot.READY, 0)
    this.#signal(w, Op.PROFILE)
  }

  /**
   * Blocks until worker w finished its current job, or until `deadline` (performance.now(),
   * at most MAX_BLOCK_MS from now); returns the job's status, or undefined when the worker is
   * late (the job stays pending: idle() takes it in later).
   */
  wait(w: number, deadline: number): number | undefined {
    const p = this.#pending[w]
    if (p === undefined) return JobStatus.OK
    const base = w * CTRL_INTS
    const start = performance.now()
    const end = Math.min(deadline, start + MAX_BLOCK_MS)
    for (;;) {
      const done = Atomics.load(this.ctrl, base + Slot.DONE)
      if (done === p.seq) {
        const status = Atomics.load(this.ctrl, base + Slot.STATUS)
        this.#finish(w, p, status)
        return status
      }
      const now = performance.now()
      // A share still running is nearly done: polling for a moment saves the ~60 µs it takes
      // this VM to wake a thread sleeping in Atomics.wait.
      if (now - start < SPIN_MS) continue
      if (now >= end) {
        this.idle(w) // gives the pool up if the job is late beyond timeoutMs
        return undefined
      }
      Atomics.wait(this.ctrl, base + Slot.DONE, done, end - now)
    }
  }

  #signal(w: number, op: number): number {
    const base = w * CTRL_INTS
    const seq = ++this.#seq[w]!
    if (op !== Op.EXIT) this.#pending[w] = { op, seq, since: performance.now() }
    this.ctrl[base + Slot.OP] = op
    Atomics.store(this.ctrl, base + Slot.SEQ, seq)
    Atomics.notify(this.ctrl, base + Slot.SEQ)
    return seq
  }
}

/** A failed job's status in words ("trap", "failed", "corrupt", "output overflow"...). */
export function jobFailure(status: number): string {
  if (status === JobStatus.TRAP) return 'trap'
  if (status === JobStatus.FAILED) return 'failed'
  return statusName(status).toLowerCase().replace('_', ' ')
}
