/**
 * The service's side of the ingest worker thread (src/processing/ingest-worker.ts): a
 * FrameEngine whose frames run in that thread. This thread keeps what the HTTP API reads at
 * once (the last error, the time of the last frame), hands the edge results and the images the
 * preview asks for to the FrameObserver, and reads statistics and the frame-path metrics from
 * the worker when they are asked for.
 * @module
 */
import type { Worker } from 'node:worker_threads'
import type { ServiceConfig } from '../config.js'
import { startWorker } from '../kernel/start-worker.js'
import type { Logger } from '../log.js'
import type { Metrics } from '../metrics.js'
import { ControlError } from './control.js'
import type { FrameEngine, LoopEnded } from './frame-engine.js'
import type { FrameObserver } from './frame-observer.js'
import type {
  IngestEvent,
  IngestInit,
  IngestRequest,
  IngestState,
  WantFrames,
} from './ingest-protocol.js'
import { raiseOldSpaceFloor } from './scavenger.js'
import type { Snapshot } from './settings.js'
import { pythonTimestamp, type LastError } from './statistics.js'

export interface IngestWorkerOptions {
  config: ServiceConfig
  log: Logger
  /** This thread's metrics: its `/metrics` shows the worker's frame-path metrics. */
  metrics: Metrics
  /** Gets the edge results and, while it wants them, images (the browser preview). */
  observer?: FrameObserver | undefined
  /** Human-readable logs in the worker too (default: when stdout is a terminal). */
  prettyLogs?: boolean
}

/** Longest wait for the worker's metrics at a scrape before this thread's own are shown. */
const METRICS_WAIT_MS = 2000
/** Longest wait for the worker to close its sockets and end at a forced exit. */
const ABORT_WAIT_MS = 250
/** Longest wait for the worker to close before it is terminated. */
const CLOSE_WAIT_MS = 1200

type Pending = { resolve(value: unknown): void; reject(err: Error): void }
/** A request before its id is given (Omit over each member of the union). */
type Request = IngestRequest extends infer R ? (R extends unknown ? Omit<R, 'id'> : never) : never

/** A FrameEngine in the ingest worker thread. Create with `IngestWorker.start`. */
export class IngestWorker<P extends object> implements FrameEngine<P> {
  readonly #worker: Worker
  readonly #log: Logger
  readonly #observer: FrameObserver | undefined
  readonly #pending = new Map<number, Pending>()
  /** Resolves when the worker thread has ended. */
  readonly #exited: Promise<void>
  #nextId = 0
  #state: IngestState = { lastError: null, lastReceivedAt: 0 }
  #wantFrames = false
  #ended: LoopEnded | undefined
  /** Why the worker is gone (undefined while it runs). */
  #gone: string | undefined
  #closed = false

  private constructor(worker: Worker, opts: IngestWorkerOptions) {
    this.#worker = worker
    this.#log = opts.log
    this.#observer = opts.observer
    worker.on('message', (e: IngestEvent) => this.#event(e))
    worker.on('error', (err) => this.#lost(`the ingest thread failed: ${err.message}`))
    worker.on('exit', (code) => this.#lost(`the ingest thread exited (code ${code})`))
    this.#exited = new Promise((resolve) => worker.once('exit', () => resolve()))
    opts.metrics.setFrameSource(() => this.#metrics())
  }

  /**
   * Starts the worker: it loads the kernel and binds both output streams (ControlError when a
   * port is taken), then waits for `start`.
   */
  static async start<P extends object>(opts: IngestWorkerOptions): Promise<IngestWorker<P>> {
    const init: IngestInit = {
      config: opts.config,
      prettyLogs: opts.prettyLogs ?? process.stdout.isTTY === true,
    }
    raiseOldSpaceFloor()
    const worker = startWorker(import.meta.url, 'ingest-worker', { workerData: init })
    let onMessage!: (e: IngestEvent) => void
    let onError!: (err: Error) => void
    let onExit!: (code: number) => void
    const first = await new Promise<IngestEvent>((resolve, reject) => {
      onMessage = resolve
      onError = reject
      onExit = (code) => reject(new Error(`the ingest thread exited (code ${code})`))
      worker.once('message', onMessage).once('error', onError).once('exit', onExit)
    }).finally(() => {
      // Only these: the Worker's own listeners (they ref and unref its port) must stay.
      worker.off('message', onMessage).off('error', onError).off('exit', onExit)
    })
    if (first.t !== 'ready') {
      await worker.terminate()
      const message = first.t === 'failed' ? first.message : `unexpected message ${first.t}`
      throw first.t === 'failed' && first.control ? new ControlError(message) : new Error(message)
    }
    const engine = new IngestWorker<P>(worker, opts)
    engine.#want()
    return engine
  }

  async start(snapshot: Snapshot<P>): Promise<void> {
    await this.#request({ op: 'start', snapshot })
  }

  async stop(): Promise<number> {
    if (this.#gone !== undefined) return 0
    const processed = (await this.#request({ op: 'stop' })) as number
    // The worker forgot its newest image; this thread's observer forgets its copy.
    this.#observer?.clear()
    return processed
  }

  async setSnapshot(snapshot: Snapshot<P>): Promise<void> {
    // Saved already: a worker that is gone gets the settings with its next start (none).
    if (this.#gone === undefined) await this.#request({ op: 'snapshot', snapshot })
  }

  async statistics(): Promise<Record<string, unknown>> {
    if (this.#gone !== undefined) return {}
    return (await this.#request({ op: 'statistics' })) as Record<string, unknown>
  }

  async outputs(): Promise<Record<string, unknown>> {
    if (this.#gone !== undefined) return {}
    return (await this.#request({ op: 'outputs' })) as Record<string, unknown>
  }

  lastError(): LastError | null {
    return this.#state.lastError
  }

  lastReceivedAt(): number {
    return this.#state.lastReceivedAt
  }

  onEnded(listener: LoopEnded): void {
    this.#ended = listener
  }

  /**
   * Asks the worker to close its sockets at once and waits for it to end (the close under way
   * then finishes), ABORT_WAIT_MS at most.
   */
  async abort(): Promise<void> {
    if (this.#gone !== undefined) return
    let timer: ReturnType<typeof setTimeout> | undefined
    await Promise.race([
      this.#request({ op: 'abort' })
        .catch(() => undefined)
        .then(() => this.#exited),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, ABORT_WAIT_MS)
      }),
    ])
    clearTimeout(timer)
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    if (this.#gone === undefined) {
      // Closed, the worker ends by itself (its sockets closed first); terminating it while
      // zeromq still tears down can abort the process.
      const exited = new Promise<void>((resolve) => this.#worker.once('exit', () => resolve()))
      const closed = this.#request({ op: 'close' }).catch((err: unknown) => {
        this.#log.error({ err }, 'closing the ingest thread failed')
      })
      let timer: ReturnType<typeof setTimeout> | undefined
      const late = await Promise.race([
        closed.then(() => exited).then(() => false),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(true), CLOSE_WAIT_MS)
        }),
      ])
      clearTimeout(timer)
      if (late) {
        this.#log.warn('the ingest thread did not end after closing; terminating it')
        await this.#worker.terminate()
      }
    }
    this.#gone ??= 'closed'
  }

  // ---- internals -----------------------------------------------------------------------------

  #request(msg: Request): Promise<unknown> {
    if (this.#gone !== undefined) return Promise.reject(new ControlError(this.#gone))
    const id = ++this.#nextId
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject })
      this.#worker.postMessage({ ...msg, id } as IngestRequest)
    })
  }

  #metrics(): Promise<string | undefined> {
    if (this.#gone !== undefined) return Promise.resolve(undefined)
    let timer: ReturnType<typeof setTimeout> | undefined
    return Promise.race([
      this.#request({ op: 'metrics' }) as Promise<string>,
      new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), METRICS_WAIT_MS)
      }),
    ]).finally(() => clearTimeout(timer))
  }

  #event(e: IngestEvent): void {
    switch (e.t) {
      case 'reply': {
        this.#state = e.state
        const p = this.#pending.get(e.id)
        this.#pending.delete(e.id)
        if (e.error) {
          p?.reject(
            e.error.control ? new ControlError(e.error.message) : new Error(e.error.message),
          )
        } else {
          p?.resolve(e.value)
        }
        return
      }
      case 'tick': {
        this.#state = e.state
        const o = this.#observer
        if (!o) return
        const r = e.results
        if (r) {
          for (let i = 0; i < r.pulseIds.length; i++) {
            o.offerResult(
              BigInt.asUintN(64, r.pulseIds[i] as bigint),
              r.edges[i] as number,
              r.amplitudes[i] as number,
            )
          }
        }
        const img = e.image
        if (img) o.offer(img.pulseId, img.globalTimestamp, img.channel, img.data)
        this.#want()
        return
      }
      case 'ended':
        this.#ended?.(new Error(e.message))
        return
      default:
        return
    }
  }

  /** Tells the worker whether the preview wants images, when that changed. */
  #want(): void {
    const want = this.#observer ? (this.#observer.wantsFrames?.() ?? true) : false
    if (want === this.#wantFrames) return
    this.#wantFrames = want
    this.#worker.postMessage({ op: 'want', frames: want } satisfies WantFrames)
  }

  /** The worker is gone: pending requests fail, processing has stopped. */
  #lost(reason: string): void {
    if (this.#gone !== undefined) return
    this.#gone = reason
    for (const p of this.#pending.values()) p.reject(new ControlError(reason))
    this.#pending.clear()
    if (this.#closed) return
    this.#log.fatal(reason)
    this.#state = {
      ...this.#state,
      lastError: { message: reason, time: pythonTimestamp(), cause: 'loop' },
    }
    this.#ended?.(new Error(reason))
  }
}
