/**
 * The processing service: settings (ROIs + parameters, persisted), the output streams, and the
 * supervised receive loop that start/stop control. Implements what the HTTP API controls.
 *
 * Frame flow: input (PULL/SUB, queue `--input_queue`) → image stream (bytes as received,
 * non-blocking, drop + count) → pipeline (ROI-aware decode, profiles, edge) → data stream
 * (bounded wait `--data_send_timeout_ms`, then drop + count).
 * @module
 */
import type { BsreadReceiver } from '../bsread/receiver.js'
import type { ServiceConfig } from '../config.js'
import type { Codec } from '../kernel/codec.js'
import type { Kernel } from '../kernel/kernel.js'
import type { ParallelProfiler } from '../kernel/parallel-profiler.js'
import { RateLimitedLog, type Logger } from '../log.js'
import type { Metrics } from '../metrics.js'
import type { StateStore } from '../state/store.js'
import {
  ControlError, type ProcessingStatus, type Requester, type RoiKind, type ServiceControl,
} from './control.js'
import type { FaultInjection } from './faults.js'
import { FrameHandler } from './frame-handler.js'
import type { FrameObserver } from './frame-observer.js'
import { openInput } from './input.js'
import { InputSilence, type InputReport } from './input-silence.js'
import { OutputQueue, type OutputQueueOptions } from './output-queue.js'
import { FramePipeline, type EdgeStage } from './pipeline.js'
import type { Roi } from './roi.js'
import type { ParameterModel, Snapshot } from './settings.js'
import { SettingsKeeper } from './settings-keeper.js'
import {
  pythonTimestamp, RunStatistics, statisticsReport, type LastError,
} from './statistics.js'

export interface ServiceOptions<P extends object> {
  config: ServiceConfig
  log: Logger
  metrics: Metrics
  store: StateStore
  kernel: Kernel
  /**
   * The one codec over `kernel` (input headers, frames, the event channel, the threads' main
   * share): its regions hold at most one value at a time, and each codec over the same memory
   * would keep a copy of its own.
   */
  codec: Codec
  parameters: ParameterModel<P>
  /** The edge stage (one per service); its statistics restart with every start. */
  edge: EdgeStage<P> & { statistics?(): Record<string, unknown>; resetStatistics?(): void }
  /** Static parameter facts for GET /parameters (e.g. the edge_status table). */
  parameterInfo?: Record<string, unknown>
  /** Sees every frame and result (the browser preview); wired by the command line. */
  observer?: FrameObserver
  /** Test-only failures (src/processing/faults.ts, env PSEN_FAULT_INJECTION). */
  faults?: FaultInjection
  /** Shares each frame's decode + profiles with worker threads (--threads > 1); closed here. */
  parallel?: ParallelProfiler
}

interface Run {
  stopping: boolean
  receiver: BsreadReceiver | undefined
  stats: RunStatistics
  malformed: Record<string, number>
  done: Promise<void>
  wake: (() => void) | undefined
  silence: InputSilence
}

const RESTART_BACKOFF_MS = 1000
const MiB = 1024 * 1024

/** The service. Create with `PsenService.create` (binds the output streams). */
export class PsenService<P extends object> implements ServiceControl {
  readonly config: ServiceConfig
  readonly dataQueue: OutputQueue
  readonly imageQueue: OutputQueue
  readonly #opts: ServiceOptions<P>
  readonly #log: Logger
  readonly #problems: RateLimitedLog
  readonly #settings: SettingsKeeper<P>
  readonly #frames: FrameHandler<P>
  #run: Run | undefined
  #lastStats: RunStatistics | undefined
  /** Malformed input of the last run, by reason (kept after a stop, like the statistics). */
  #lastMalformed: Record<string, number> = {}
  #lifecycle: Promise<unknown> = Promise.resolve()
  #lastError: LastError | null = null
  #loopRestarts = 0
  readonly #malformedTotal: Record<string, number> = {}
  #closed = false

  private constructor(
    opts: ServiceOptions<P>, data: OutputQueue, image: OutputQueue, settings: SettingsKeeper<P>,
  ) {
    this.#opts = opts
    this.config = opts.config
    this.#log = opts.log
    this.#problems = new RateLimitedLog(opts.log.child({ topic: 'frames' }))
    this.dataQueue = data
    this.imageQueue = image
    this.#settings = settings
    const pipeline = new FramePipeline<P>({
      kernel: opts.kernel,
      codec: opts.codec,
      prefix: opts.config.prefix,
      naming: opts.config.channelNaming,
      maxFrameBytes: opts.config.maxFrameBytes,
      edge: opts.edge,
      metrics: opts.metrics,
      ...(opts.parallel ? { parallel: opts.parallel } : {}),
      onProblem: (cause, message) => this.#problems.warn(cause, { cause }, message),
    })
    this.#frames = new FrameHandler<P>({
      pipeline, dataQueue: data, imageQueue: image, metrics: opts.metrics, log: opts.log,
      problems: this.#problems,
      ...(opts.observer ? { observer: opts.observer } : {}),
      onError: (error) => {
        this.#lastError = error
      },
    })
    opts.metrics.setSources({
      malformed: () => this.#malformedTotal,
      wasmMemoryBytes: () => opts.kernel.memoryBytes,
      ...(opts.parallel ? {
        decodeThreads: () => {
          const p = opts.parallel!
          return {
            threads: p.threads, split: p.split, single: p.single, late: p.late, broken: !!p.broken,
          }
        },
      } : {}),
    })
  }

  /** Loads the saved settings and binds both output streams (fails when a port is taken). */
  static async create<P extends object>(opts: ServiceOptions<P>): Promise<PsenService<P>> {
    const { config, log } = opts
    const settings = new SettingsKeeper(opts.parameters, opts.store, log, opts.metrics)
    const iface = config.streamInterface
    const common = { mode: config.outputMode, log }
    const data = await bindQueue(`tcp://${iface}:${config.dataPort}`, 'data', {
      capacity: config.dataQueue, waitMs: config.dataSendTimeoutMs, ...common,
    })
    let image: OutputQueue
    try {
      image = await bindQueue(`tcp://${iface}:${config.imagePort}`, 'image', {
        capacity: config.imageQueue, maxBytes: config.imageQueueMb * MiB, waitMs: 0, ...common,
      })
    } catch (err) {
      data.close()
      throw err
    }
    log.info({ data: data.endpoint, image: image.endpoint, mode: config.outputMode },
      'output streams bound')
    return new PsenService(opts, data, image, settings)
  }

  // ---- control -------------------------------------------------------------------------------

  status(): ProcessingStatus {
    return this.#run && !this.#run.stopping ? 'processing' : 'stopped'
  }

  /** The settings the next frame is processed with. */
  get snapshot(): Snapshot<P> {
    return this.#settings.snapshot
  }

  start(): Promise<void> {
    return this.#serial(async () => {
      if (this.#closed) throw new ControlError('The service is shutting down.')
      if (this.#run) return
      const stats = new RunStatistics()
      const { inputStream: input, inputMode: mode } = this.config
      const run: Run = {
        stopping: false, receiver: undefined, stats, malformed: {},
        done: Promise.resolve(), wake: undefined,
        silence: new InputSilence({
          address: input, mode, log: this.#log, lastReceivedAt: () => stats.lastReceivedAt,
        }),
      }
      // Connect first: a bad address is an error of this request, not of a background loop.
      try {
        run.receiver = this.#receiver(run)
      } catch (err) {
        run.silence.stop()
        throw err
      }
      this.#opts.edge.resetStatistics?.()
      this.#run = run
      this.#lastStats = stats
      this.#frames.countImagesInto(stats)
      this.#lastMalformed = run.malformed
      this.#opts.metrics.processing.set(1)
      // The supervisor catches everything itself; this is the last line of defence.
      run.done = this.#supervise(run).catch((err: unknown) => {
        this.#log.fatal({ err }, 'processing supervisor failed')
        run.stopping = true
        run.silence.stop()
        if (this.#run === run) {
          this.#run = undefined
          this.#opts.metrics.processing.set(0)
        }
      })
      this.#log.info({ input, mode }, 'processing started')
    })
  }

  stop(): Promise<void> {
    return this.#serial(async () => {
      const run = this.#run
      if (!run) return
      run.stopping = true
      run.silence.stop()
      run.receiver?.close()
      run.wake?.()
      await run.done
      this.#run = undefined
      this.#opts.metrics.processing.set(0)
      this.#opts.observer?.clear()
      this.#log.info({ processed: run.stats.nProcessed }, 'processing stopped')
    })
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
    return this.#lastStats?.lastError ?? this.#lastError
  }

  ready(): { ready: boolean; reason: string } {
    const run = this.#run
    if (!run || run.stopping) return { ready: false, reason: 'processing is stopped' }
    const last = run.stats.lastReceivedAt
    if (last === 0) return { ready: false, reason: 'no input received yet' }
    const age = (Date.now() - last) / 1000
    if (age > this.config.readyTimeoutS) {
      return { ready: false, reason: `no input for ${age.toFixed(0)} s` }
    }
    return { ready: true, reason: '' }
  }

  /** GET /status's own fields: the input's silence and the output streams' consumers. */
  statusDetails(): { input: InputReport | null; outputs: Record<string, unknown> } {
    const run = this.#run
    const stream = (q: OutputQueue) => ({ port: q.port, mode: q.mode, consumers: q.consumers })
    return {
      input: run && !run.stopping ? run.silence.report() : null,
      outputs: { data: stream(this.dataQueue), image: stream(this.imageQueue) },
    }
  }

  statistics(): Record<string, unknown> {
    const s = this.#lastStats
    if (!s) return {}
    const edge = this.#opts.edge.statistics?.()
    return statisticsReport(s, {
      malformed: this.#lastMalformed,
      loopRestarts: this.#loopRestarts,
      lastError: this.#lastError,
      ...(edge ? { edge } : {}),
    })
  }

  /** Stops processing and closes the output streams (linger 0). Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await this.stop()
    await this.#settings.settled()
    await this.#opts.store.flush()
    this.dataQueue.close()
    this.imageQueue.close()
    await this.#opts.parallel?.close()
    // Suppressed per-frame warnings are reported, not lost, when the service stops.
    this.#problems.flush()
  }

  // ---- internals -----------------------------------------------------------------------------

  #serial<T>(job: () => Promise<T>): Promise<T> {
    const p = this.#lifecycle.then(job, job)
    this.#lifecycle = p.catch(() => undefined)
    return p
  }

  #receiver(run: Run): BsreadReceiver {
    return openInput({
      config: this.config,
      codec: this.#opts.codec,
      metrics: this.#opts.metrics,
      problems: this.#problems,
      onMalformed: (reason) => {
        run.malformed[reason] = (run.malformed[reason] ?? 0) + 1
        this.#malformedTotal[reason] = (this.#malformedTotal[reason] ?? 0) + 1
      },
    })
  }

  /** Runs the receive loop until stopped; an unexpected failure restarts it after a pause. */
  async #supervise(run: Run): Promise<void> {
    while (!run.stopping) {
      try {
        const receiver = run.receiver ?? this.#receiver(run)
        run.receiver = receiver
        try {
          for await (const msg of receiver) {
            this.#opts.faults?.loop(msg.pulseId)
            try {
              this.#opts.faults?.frame(msg.pulseId)
              await this.#frames.frame(msg, this.#settings.snapshot, run.stats, run.receiver)
            } catch (err) {
              // Whatever a frame throws stays with that frame.
              this.#frames.error(run.stats, 'exception',
                `pulse ${msg.pulseId}: ${(err as Error).message}`, err)
            }
            if (run.stopping) break
          }
        } finally {
          receiver.close()
          run.receiver = undefined
        }
      } catch (err) {
        if (run.stopping) break
        this.#loopRestarts++
        this.#opts.metrics.loopRestarts.inc()
        const message = `processing loop failed, restarting in ${RESTART_BACKOFF_MS} ms: ` +
          (err as Error).message
        this.#lastError = { message, time: pythonTimestamp(), cause: 'loop' }
        run.stats.lastError = this.#lastError
        this.#log.error({ err }, message)
      }
      if (run.stopping) break
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, RESTART_BACKOFF_MS)
        run.wake = () => {
          clearTimeout(t)
          resolve()
        }
      })
      run.wake = undefined
    }
  }
}

async function bindQueue(
  address: string, what: string, opts: Omit<OutputQueueOptions, 'name'>,
): Promise<OutputQueue> {
  try {
    return await OutputQueue.bind(address, { ...opts, name: what })
  } catch (err) {
    throw new ControlError(
      `cannot bind the ${what} stream to ${address}: ${(err as Error).message}`)
  }
}
