/**
 * The frame engine on the thread it is created on: the output streams, and the supervised
 * receive loop of each run (input → FrameHandler → data and image streams). The service runs
 * it in the ingest worker thread (src/processing/ingest-worker.ts), or on its own thread when
 * it is built in process (tests, library use).
 *
 * Frame flow: input (PULL/SUB, queue `--input_queue`) → image stream (bytes as received,
 * non-blocking, drop + count) → pipeline (ROI-aware decode, profiles, edge) → data stream
 * (bounded wait `--data_send_timeout_ms`, then drop + count).
 * @module
 */
import { messageBytes } from '../bsread/receive-queue.js'
import type { BsreadReceiver } from '../bsread/receiver.js'
import type { ServiceConfig } from '../config.js'
import type { Codec } from '../kernel/codec.js'
import type { Kernel } from '../kernel/kernel.js'
import type { ParallelProfiler } from '../kernel/parallel-profiler.js'
import { RateLimitedLog, type Logger } from '../log.js'
import type { Metrics } from '../metrics.js'
import { ControlError } from './control.js'
import type { FaultInjection } from './faults.js'
import type { FrameEngine, LoopEnded } from './frame-engine.js'
import { FrameHandler } from './frame-handler.js'
import type { FrameObserver } from './frame-observer.js'
import { openInput } from './input.js'
import { OutputQueue, type OutputQueueOptions } from './output-queue.js'
import type { EdgeStage } from './edge-stage-contract.js'
import { FramePipeline } from './pipeline.js'
import type { Snapshot } from './settings.js'
import { pythonTimestamp, RunStatistics, statisticsReport, type LastError } from './statistics.js'

export interface FrameLoopOptions<P extends object> {
  config: ServiceConfig
  log: Logger
  metrics: Metrics
  kernel: Kernel
  /**
   * The one codec over `kernel` (input headers, frames, the event channel, the threads' main
   * share): its regions hold at most one value at a time, and each codec over the same memory
   * would keep a copy of its own.
   */
  codec: Codec
  /** The edge stage (one per engine); its statistics restart with every start. */
  edge: EdgeStage<P> & { statistics?(): Record<string, unknown>; resetStatistics?(): void }
  /** Sees every frame and result (the browser preview). */
  observer?: FrameObserver | undefined
  /** Test-only failures (src/processing/faults.ts, env PSEN_FAULT_INJECTION). */
  faults?: FaultInjection | undefined
  /** Shares each frame's decode + profiles with worker threads (--threads > 1); closed here. */
  parallel?: ParallelProfiler | undefined
  /** After every handled frame and every loop failure (the ingest worker reports then). */
  onActivity?: (() => void) | undefined
  /** Told the bytes of every handled message (the ingest worker's FrameScavenger). */
  scavenger?: { frameDone(bytes: number): void } | undefined
}

interface Run {
  stopping: boolean
  receiver: BsreadReceiver | undefined
  stats: RunStatistics
  malformed: Record<string, number>
  done: Promise<void>
  wake: (() => void) | undefined
}

const RESTART_BACKOFF_MS = 1000
const MiB = 1024 * 1024

/** The frame engine of one thread. Create with `FrameLoop.create` (binds the output streams). */
export class FrameLoop<P extends object> implements FrameEngine<P> {
  readonly config: ServiceConfig
  readonly dataQueue: OutputQueue
  readonly imageQueue: OutputQueue
  readonly #opts: FrameLoopOptions<P>
  readonly #log: Logger
  readonly #problems: RateLimitedLog
  readonly #frames: FrameHandler<P>
  #snapshot: Snapshot<P> | undefined
  #run: Run | undefined
  #lastStats: RunStatistics | undefined
  /** Malformed input of the last run, by reason (kept after a stop, like the statistics). */
  #lastMalformed: Record<string, number> = {}
  #lastError: LastError | null = null
  #loopRestarts = 0
  readonly #malformedTotal: Record<string, number> = {}
  #closed = false
  #ended: LoopEnded | undefined

  private constructor(opts: FrameLoopOptions<P>, data: OutputQueue, image: OutputQueue) {
    this.#opts = opts
    this.config = opts.config
    this.#log = opts.log
    this.#problems = new RateLimitedLog(opts.log.child({ topic: 'frames' }))
    this.dataQueue = data
    this.imageQueue = image
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
      pipeline,
      dataQueue: data,
      imageQueue: image,
      metrics: opts.metrics,
      log: opts.log,
      problems: this.#problems,
      ...(opts.observer ? { observer: opts.observer } : {}),
      onError: (error) => {
        this.#lastError = error
      },
    })
    opts.metrics.setSources({
      malformed: () => this.#malformedTotal,
      wasmMemoryBytes: () => opts.kernel.memoryBytes,
      ...(opts.parallel
        ? {
            decodeThreads: () => {
              const p = opts.parallel!
              return {
                threads: p.threads,
                split: p.split,
                single: p.single,
                late: p.late,
                broken: !!p.broken,
              }
            },
          }
        : {}),
    })
  }

  /** Binds both output streams (fails with ControlError when a port is taken). */
  static async create<P extends object>(opts: FrameLoopOptions<P>): Promise<FrameLoop<P>> {
    const { config, log } = opts
    const iface = config.streamInterface
    const common = { mode: config.outputMode, log }
    const data = await bindQueue(`tcp://${iface}:${config.dataPort}`, 'data', {
      capacity: config.dataQueue,
      waitMs: config.dataSendTimeoutMs,
      ...common,
    })
    let image: OutputQueue
    try {
      image = await bindQueue(`tcp://${iface}:${config.imagePort}`, 'image', {
        capacity: config.imageQueue,
        maxBytes: config.imageQueueMb * MiB,
        waitMs: 0,
        ...common,
      })
    } catch (err) {
      data.close()
      throw err
    }
    log.info(
      { data: data.endpoint, image: image.endpoint, mode: config.outputMode },
      'output streams bound',
    )
    return new FrameLoop(opts, data, image)
  }

  /** Whether a run is going (and not stopping). */
  get running(): boolean {
    return this.#run !== undefined && !this.#run.stopping
  }

  async start(snapshot: Snapshot<P>): Promise<void> {
    if (this.#closed) throw new ControlError('The service is shutting down.')
    this.#snapshot = snapshot
    if (this.#run) return
    const stats = new RunStatistics()
    const run: Run = {
      stopping: false,
      receiver: undefined,
      stats,
      malformed: {},
      done: Promise.resolve(),
      wake: undefined,
    }
    // Connect first: a bad address is an error of this request, not of a background loop.
    run.receiver = this.#receiver(run)
    this.#opts.edge.resetStatistics?.()
    this.#run = run
    this.#lastStats = stats
    this.#frames.countImagesInto(stats)
    this.#lastMalformed = run.malformed
    // The supervisor catches everything itself; this is the last line of defence.
    run.done = this.#supervise(run).catch((err: unknown) => {
      this.#log.fatal({ err }, 'processing supervisor failed')
      run.stopping = true
      if (this.#run === run) {
        this.#run = undefined
        this.#ended?.(err as Error)
      }
    })
  }

  async stop(): Promise<number> {
    const run = this.#run
    if (!run) return 0
    run.stopping = true
    run.receiver?.close()
    run.wake?.()
    await run.done
    this.#run = undefined
    this.#opts.observer?.clear()
    return run.stats.nProcessed
  }

  onEnded(listener: LoopEnded): void {
    this.#ended = listener
  }

  outputs(): Record<string, unknown> {
    const stream = (q: OutputQueue) => ({ port: q.port, mode: q.mode, consumers: q.consumers })
    return { data: stream(this.dataQueue), image: stream(this.imageQueue) }
  }

  setSnapshot(snapshot: Snapshot<P>): void {
    this.#snapshot = snapshot
  }

  lastError(): LastError | null {
    return this.#lastStats?.lastError ?? this.#lastError
  }

  lastReceivedAt(): number {
    return this.#run?.stats.lastReceivedAt ?? 0
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

  abort(): void {
    this.#run?.receiver?.close()
    this.dataQueue.close()
    this.imageQueue.close()
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await this.stop()
    this.dataQueue.close()
    this.imageQueue.close()
    await this.#opts.parallel?.close()
    // Suppressed per-frame warnings are reported, not lost, when the service stops.
    this.#problems.flush()
  }

  // ---- internals -----------------------------------------------------------------------------

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
              await this.#frames.frame(msg, this.#snapshot as Snapshot<P>, run.stats, run.receiver)
            } catch (err) {
              // Whatever a frame throws stays with that frame.
              this.#frames.error(
                run.stats,
                'exception',
                `pulse ${msg.pulseId}: ${(err as Error).message}`,
                err,
              )
            }
            this.#opts.scavenger?.frameDone(messageBytes(msg.parts))
            this.#opts.onActivity?.()
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
        const message =
          `processing loop failed, restarting in ${RESTART_BACKOFF_MS} ms: ` +
          (err as Error).message
        this.#lastError = { message, time: pythonTimestamp(), cause: 'loop' }
        run.stats.lastError = this.#lastError
        this.#log.error({ err }, message)
        this.#opts.onActivity?.()
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
  address: string,
  what: string,
  opts: Omit<OutputQueueOptions, 'name'>,
): Promise<OutputQueue> {
  try {
    return await OutputQueue.bind(address, { ...opts, name: what })
  } catch (err) {
    throw new ControlError(
      `cannot bind the ${what} stream to ${address}: ${(err as Error).message}`,
    )
  }
}
