/**
 * The profile workers of ParallelProfiler and their lifecycle: starting them on the
 * shared-memory build of the kernel, growing their regions (RESERVE), posting a job, waiting for
 * it, reading a worker's partial profiles back, and giving the pool up when a worker fails.
 * Jobs and completions go through Atomics on the shared control block (parallel-protocol.ts).
 * @module
 */
import { Worker } from 'node:worker_threads'
import { DType, DTYPE_SIZE } from './dtype.js'
import { statusName } from './errors.js'
import { SHARED_KERNEL_URL, compileKernel } from './loader.js'
import {
  CTRL_INTS, JobStatus, Op, Slot, resultOffset, type WorkerInit, type WorkerReady,
} from './parallel-protocol.js'
import type { FrameShape, RoiTuple } from './profiles.js'

/** How the pool is started. */
export interface ProfilePoolOptions {
  /** Workers to start (0 gives an empty pool). */
  workers: number
  /** Longest wait for a worker's job before the pool is declared broken. */
  timeoutMs: number
  /** Called once when the workers stop being used (all frames then run on the main thread). */
  onBroken?: ((reason: string) => void) | undefined
  /** The workers' module (default: build/kernel.shared.wasm); it must define a shared memory. */
  workerModule?: WebAssembly.Module | undefined
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
  readonly #timeoutMs: number
  readonly #onBroken: ((reason: string) => void) | undefined
  #broken: string | undefined
  #closed = false

  private constructor(workers: Worker[], memories: WebAssembly.Memory[],
    control: SharedArrayBuffer, opts: ProfilePoolOptions) {
    this.size = workers.length
    this.#workers = workers
    this.#memories = memories
    this.#reserved = workers.map(() =>
      ({ srcBytes: 0, frameBytes: 0, resultBytes: 0, inputPtr: 0, resultPtr: 0 }))
    this.ctrl = new Int32Array(control)
    this.#seq = workers.map(() => 0)
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
    return new Uint8Array(this.#memories[w]!.buffer,
      this.#reserved[w]!.resultPtr + resultOffset(k, cols), n * 8)
  }

  /** Stops the workers (idempotent). */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    for (let w = 0; w < this.#workers.length; w++) this.#signal(w, Op.EXIT)
    await Promise.all(this.#workers.map((w) => w.terminate()))
  }

  /** Gives the pool up (once; not after close): the reason is kept and reported. */
  breakDown(reason: string): void {
    if (this.#broken !== undefined || this.#closed) return
    this.#broken = reason
    this.#onBroken?.(reason)
  }

  /**
   * Makes worker w's regions hold a value of srcBytes, its decoded frame and the partial
   * profiles (a RESERVE round trip, only when a frame is bigger than any before). False when the
   * worker failed (the pool is then given up).
   */
  reserve(w: number, srcBytes: number, frameBytes: number, resultBytes: number): boolean {
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
    const status = this.wait(w)
    if (status !== JobStatus.OK) {
      this.breakDown(`profile worker ${w + 1} could not reserve ${srcBytes + frameBytes} bytes` +
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

  /**
   * Posts worker w a PROFILE job: the frame, and per ROI the part of it in the worker's share
   * (undefined: none). Its bytes follow piece by piece (READY, see share-stream.ts).
   */
  post(w: number, srcLen: number, frame: FrameShape,
    parts: ReadonlyArray<RoiTuple | undefined>, cols: number): void {
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

  /** Blocks until worker w finished its current job; returns its status. */
  wait(w: number): number {
    const base = w * CTRL_INTS
    const seq = this.#seq[w]!
    const start = performance.now()
    const deadline = start + this.#timeoutMs
    for (;;) {
      const done = Atomics.load(this.ctrl, base + Slot.DONE)
      if (done === seq) return Atomics.load(this.ctrl, base + Slot.STATUS)
      const now = performance.now()
      // A share still running is nearly done: polling for a moment saves the ~60 µs it takes
      // this VM to wake a thread sleeping in Atomics.wait.
      if (now - start < SPIN_MS) continue
      const left = deadline - now
      if (left <= 0) {
        this.breakDown(`profile worker ${w + 1} did not answer within ${this.#timeoutMs} ms`)
        return JobStatus.TRAP
      }
      Atomics.wait(this.ctrl, base + Slot.DONE, done, left)
    }
  }

  #signal(w: number, op: number): number {
    const base = w * CTRL_INTS
    const seq = ++this.#seq[w]!
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
