/**
 * The processing service: settings (ROIs + parameters, persisted), start/stop control and the
 * views of the running frames that the HTTP API shows. Implements what the HTTP API controls.
 *
 * The frames themselves run in a FrameEngine (src/processing/frame-engine.ts): by default a
 * FrameLoop on this thread; the command line hands in an IngestWorker, which runs the same
 * FrameLoop in a worker thread so that the frames never reach this thread's heap.
 * @module
 */
import type { ServiceConfig } from '../config.js'
import type { Codec } from '../kernel/codec.js'
import type { Kernel } from '../kernel/kernel.js'
import type { ParallelProfiler } from '../kernel/parallel-profiler.js'
import type { Logger } from '../log.js'
import type { Metrics } from '../metrics.js'
import type { StateStore } from '../state/store.js'
import {
  ControlError,
  type ProcessingStatus,
  type Requester,
  type RoiKind,
  type ServiceControl,
} from './control.js'
import type { FaultInjection } from './faults.js'
import type { FrameEngine } from './frame-engine.js'
import { FrameLoop } from './frame-loop.js'
import type { FrameObserver } from './frame-observer.js'
import { InputSilence, type InputReport } from './input-silence.js'
import type { EdgeStage } from './edge-stage-contract.js'
import type { Roi } from './roi.js'
import type { ParameterModel, Snapshot } from './settings.js'
import { SettingsKeeper } from './settings-keeper.js'
import type { LastError } from './statistics.js'

export interface ServiceOptions<P extends object> {
  config: ServiceConfig
  log: Logger
  metrics: Metrics
  store: StateStore
  parameters: ParameterModel<P>
  /** Static parameter facts for GET /parameters (e.g. the edge_status table). */
  parameterInfo?: Record<string, unknown>
  /**
   * Runs the frames (closed with the service). Without it the service builds a FrameLoop on
   * this thread from the options below.
   */
  engine?: FrameEngine<P>
  /** The kernel of an in-thread FrameLoop. */
  kernel?: Kernel
  /** The one codec over `kernel` (see FrameLoopOptions.codec). */
  codec?: Codec
  /** The edge stage of an in-thread FrameLoop (its statistics restart with every start). */
  edge?: EdgeStage<P> & { statistics?(): Record<string, unknown>; resetStatistics?(): void }
  /** Sees every frame and result (the browser preview); wired by the command line. */
  observer?: FrameObserver
  /** Test-only failures (src/processing/faults.ts, env PSEN_FAULT_INJECTION). */
  faults?: FaultInjection
  /** Shares each frame's decode + profiles with worker threads (--threads > 1); closed here. */
  parallel?: ParallelProfiler
}

/** The service. Create with `PsenService.create` (binds the output streams). */
export class PsenService<P extends object> implements ServiceControl {
  readonly config: ServiceConfig
  readonly #opts: ServiceOptions<P>
  readonly #log: Logger
  readonly #settings: SettingsKeeper<P>
  readonly #engine: FrameEngine<P>
  /** Set while processing (and not stopping). */
  #processing = false
  /** Warns while the input of the current run stays silent. */
  #silence: InputSilence | undefined
  #lifecycle: Promise<unknown> = Promise.resolve()
  #closed = false

  private constructor(
    opts: ServiceOptions<P>,
    engine: FrameEngine<P>,
    settings: SettingsKeeper<P>,
  ) {
    this.#opts = opts
    this.config = opts.config
    this.#log = opts.log
    this.#engine = engine
    this.#settings = settings
    // Every change reaches the frames before the request that made it is answered.
    settings.onChange((next) => engine.setSnapshot(next))
    engine.onEnded(() => this.#loopEnded())
  }

  /** Loads the saved settings and sets up the engine (binds the output streams). */
  static async create<P extends object>(opts: ServiceOptions<P>): Promise<PsenService<P>> {
    const settings = new SettingsKeeper(opts.parameters, opts.store, opts.log, opts.metrics)
    const engine =
      opts.engine ??
      (await FrameLoop.create<P>({
        config: opts.config,
        log: opts.log,
        metrics: opts.metrics,
        kernel: required(opts.kernel, 'kernel'),
        codec: required(opts.codec, 'codec'),
        edge: required(opts.edge, 'edge'),
        observer: opts.observer,
        faults: opts.faults,
        parallel: opts.parallel,
      }))
    return new PsenService(opts, engine, settings)
  }

  // ---- control -------------------------------------------------------------------------------

  status(): ProcessingStatus {
    return this.#processing ? 'processing' : 'stopped'
  }

  /** The settings the next frame is processed with. */
  get snapshot(): Snapshot<P> {
    return this.#settings.snapshot
  }

  start(): Promise<void> {
    return this.#serial(async () => {
      if (this.#closed) throw new ControlError('The service is shutting down.')
      if (this.#processing) return
      await this.#engine.start(this.#settings.snapshot)
      this.#processing = true
      this.#opts.metrics.processing.set(1)
      const { inputStream: input, inputMode: mode } = this.config
      const engine = this.#engine
      this.#silence = new InputSilence({
        address: input,
        mode,
        log: this.#log,
        lastReceivedAt: () => engine.lastReceivedAt(),
      })
      this.#log.info({ input, mode }, 'processing started')
    })
  }

  stop(): Promise<void> {
    return this.#serial(async () => {
      if (!this.#processing) return
      this.#processing = false
      this.#silence?.stop()
      const processed = await this.#engine.stop()
      this.#opts.metrics.processing.set(0)
      this.#log.info({ processed }, 'processing stopped')
    })
  }

  /** The engine's receive loop ended by itself (logged there): processing has stopped. */
  #loopEnded(): void {
    if (!this.#processing) return
    this.#processing = false
    this.#silence?.stop()
    this.#opts.metrics.processing.set(0)
  }

  getRoi(kind: RoiKind): Roi {
    return this.#settings.getRoi(kind)
  }

  setRoi(kind: RoiKind, value: unknown, who?: Requester): Promise<Roi> {
    return this.#settings.setRoi(kind, value, who)
  }

  getParameters(): Record<string, unknown> {
    return this.#settings.getParameters()
  }

  setParameters(partial: unknown, who?: Requester): Promise<Record<string, unknown>> {
    return this.#settings.setParameters(partial, who)
  }

  parameterInfo(): Record<string, unknown> {
    return this.#opts.parameterInfo ?? {}
  }

  async history(): Promise<unknown[]> {
    return this.#opts.store.history()
  }

  lastError(): LastError | null {
    return this.#engine.lastError()
  }

  ready(): { ready: boolean; reason: string } {
    if (!this.#processing) return { ready: false, reason: 'processing is stopped' }
    const last = this.#engine.lastReceivedAt()
    if (last === 0) return { ready: false, reason: 'no input received yet' }
    const age = (Date.now() - last) / 1000
    if (age > this.config.readyTimeoutS) {
      return { ready: false, reason: `no input for ${age.toFixed(0)} s` }
    }
    return { ready: true, reason: '' }
  }

  /** GET /status's own fields: the input's silence and the output streams' consumers. */
  async statusDetails(): Promise<{ input: InputReport | null; outputs: Record<string, unknown> }> {
    return {
      input: this.#processing ? (this.#silence?.report() ?? null) : null,
      outputs: await this.#engine.outputs(),
    }
  }

  statistics(): Record<string, unknown> | Promise<Record<string, unknown>> {
    return this.#engine.statistics()
  }

  /** Closes the engine's sockets at once, whatever is in flight (before a forced exit). */
  abort(): Promise<void> {
    return Promise.resolve(this.#engine.abort())
  }

  /** Stops processing and closes the engine (output streams, threads). Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await this.stop()
    await this.#settings.settled()
    await this.#opts.store.flush()
    await this.#engine.close()
  }

  // ---- internals -----------------------------------------------------------------------------

  #serial<T>(job: () => Promise<T>): Promise<T> {
    const p = this.#lifecycle.then(job, job)
    this.#lifecycle = p.catch(() => undefined)
    return p
  }
}

function required<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`PsenService: no engine and no ${what}`)
  return value
}
