/**
 * The processing service: settings (ROIs + parameters, persisted), the output streams, and the
 * supervised receive loop that start/stop control. Implements what the HTTP API controls.
 *
 * Frame flow: input (PULL/SUB, queue `--input_queue`) → image stream (bytes as received,
 * non-blocking, drop + count) → pipeline (ROI-aware decode, profiles, edge) → data stream
 * (bounded wait `--data_send_timeout_ms`, then drop + count).
 * @module
 */
import { BsreadReceiver } from '../bsread/receiver.js'
import { BsreadEncoder, preEncoded } from '../bsread/encoder.js'
import type { BsreadMessage, RawValue } from '../bsread/decoder.js'
import type { BsreadError } from '../bsread/errors.js'
import {
  ControlError, type ProcessingStatus, type Requester, type RoiKind, type ServiceControl,
} from './control.js'
import type { ServiceConfig } from '../config.js'
import { Codec } from '../kernel/codec.js'
import type { Kernel } from '../kernel/kernel.js'
import type { ParallelProfiler } from '../kernel/parallel-profiler.js'
import { RateLimitedLog, type Logger } from '../log.js'
import type { Metrics } from '../metrics.js'
import { StateWriteError, type StateStore } from '../state/store.js'
import type { FaultInjection } from './faults.js'
import type { FrameObserver } from './frame-observer.js'
import { OutputQueue } from './output-queue.js'
import { FramePipeline, type EdgeStage } from './pipeline.js'
import { RoiError, validateRoi, type Roi } from './roi.js'
import { makeSnapshot, type ParameterModel, type Snapshot } from './settings.js'
import {
  pythonTimestamp, RunStatistics, type FrameErrorCause, type LastError,
} from './statistics.js'

export interface ServiceOptions<P extends object> {
  config: ServiceConfig
  log: Logger
  metrics: Metrics
  store: StateStore
  kernel: Kernel
  parameters: ParameterModel<P>
  /** The edge stage (one per service). */
  edge: EdgeStage<P> & { statistics?(): Record<string, unknown> }
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
}

const RESTART_BACKOFF_MS = 1000
/** The input's part-size limit never goes below this (bytes). */
const MIN_PART_LIMIT = 256 * 1024 * 1024

/** The service. Create with `PsenService.create` (binds the output streams). */
export class PsenService<P extends object> implements ServiceControl {
  readonly config: ServiceConfig
  readonly dataQueue: OutputQueue
  readonly imageQueue: OutputQueue
  readonly #opts: ServiceOptions<P>
  readonly #log: Logger
  readonly #problems: RateLimitedLog
  readonly #pipeline: FramePipeline<P>
  readonly #imageEncoder = new BsreadEncoder()
  readonly #headerCodec: Codec
  #snapshot: Snapshot<P>
  #run: Run | undefined
  #lastStats: RunStatistics | undefined
  /** Malformed input of the last run, by reason (kept after a stop, like the statistics). */
  #lastMalformed: Record<string, number> = {}
  #lifecycle: Promise<unknown> = Promise.resolve()
  #mutations: Promise<unknown> = Promise.resolve()
  #lastError: LastError | null = null
  #loopRestarts = 0
  readonly #malformedTotal: Record<string, number> = {}
  #closed = false
  /** Per-frame debug lines only when asked for (--log_level DEBUG), as the old service did. */
  readonly #debug: boolean
  readonly #imageSent = (): void => {
    if (this.#lastStats) this.#lastStats.nImageSent++
  }

  private constructor(
    opts: ServiceOptions<P>, data: OutputQueue, image: OutputQueue, snap: Snapshot<P>,
  ) {
    this.#opts = opts
    this.config = opts.config
    this.#log = opts.log
    this.#problems = new RateLimitedLog(opts.log.child({ topic: 'frames' }))
    this.#debug = opts.log.isLevelEnabled('debug')
    this.dataQueue = data
    this.imageQueue = image
    this.#snapshot = snap
    this.#headerCodec = new Codec(opts.kernel, { maxBytes: 16 * 1024 * 1024 })
    this.#pipeline = new FramePipeline<P>({
      kernel: opts.kernel,
      prefix: opts.config.prefix,
      naming: opts.config.channelNaming,
      maxFrameBytes: opts.config.maxFrameBytes,
      edge: opts.edge,
      metrics: opts.metrics,
      ...(opts.parallel ? { parallel: opts.parallel } : {}),
      onProblem: (cause, message) => this.#problems.warn(cause, { cause }, message),
    })
    opts.metrics.setSources({
      malformed: () => this.#malformedTotal,
      wasmMemoryBytes: () => opts.kernel.memoryBytes,
      ...(opts.parallel ? {
        decodeThreads: () => {
          const p = opts.parallel!
          return { threads: p.threads, split: p.split, single: p.single, broken: !!p.broken }
        },
      } : {}),
    })
    this.#roiMetrics(snap)
  }

  /** Loads the saved settings and binds both output streams (fails when a port is taken). */
  static async create<P extends object>(opts: ServiceOptions<P>): Promise<PsenService<P>> {
    const { config, log, store } = opts
    const saved = store.state
    const roi = (name: RoiKind, value: unknown): Roi => {
      try {
        return validateRoi(value)
      } catch (err) {
        log.warn({ roi: name, value },
          `saved ${name} is invalid (${(err as Error).message}); using []`)
        return []
      }
    }
    let parameters: P
    try {
      parameters = opts.parameters.merge(opts.parameters.defaults(), saved.parameters ?? {})
    } catch (err) {
      log.warn({ saved: saved.parameters },
        `saved parameters are invalid (${(err as Error).message}); using defaults`)
      parameters = opts.parameters.defaults()
    }
    const snap = makeSnapshot(opts.parameters, 1, roi('roi_signal', saved.roi_signal),
      roi('roi_background', saved.roi_background), parameters)
    const iface = config.streamInterface
    const data = await bindQueue(`tcp://${iface}:${config.dataPort}`, 'data', {
      capacity: config.dataQueue, waitMs: config.dataSendTimeoutMs,
    })
    let image: OutputQueue
    try {
      image = await bindQueue(`tcp://${iface}:${config.imagePort}`, 'image', {
        capacity: config.imageQueue, waitMs: 0,
      })
    } catch (err) {
      data.close()
      throw err
    }
    log.info({ data: data.endpoint, image: image.endpoint }, 'output streams bound')
    return new PsenService(opts, data, image, snap)
  }

  // ---- control -------------------------------------------------------------------------------

  status(): ProcessingStatus {
    return this.#run && !this.#run.stopping ? 'processing' : 'stopped'
  }

  /** The settings the next frame is processed with. */
  get snapshot(): Snapshot<P> {
    return this.#snapshot
  }

  start(): Promise<void> {
    return this.#serial(async () => {
      if (this.#closed) throw new ControlError('The service is shutting down.')
      if (this.#run) return
      const stats = new RunStatistics()
      const run: Run = {
        stopping: false, receiver: undefined, stats, malformed: {},
        done: Promise.resolve(), wake: undefined,
      }
      // Connect first: a bad address is an error of this request, not of a background loop.
      run.receiver = this.#receiver(run)
      this.#run = run
      this.#lastStats = stats
      this.#lastMalformed = run.malformed
      this.#opts.metrics.processing.set(1)
      // The supervisor catches everything itself; this is the last line of defence.
      run.done = this.#supervise(run).catch((err: unknown) => {
        this.#log.fatal({ err }, 'processing supervisor failed')
        run.stopping = true
        if (this.#run === run) {
          this.#run = undefined
          this.#opts.metrics.processing.set(0)
        }
      })
      const { inputStream: input, inputMode: mode } = this.config
      this.#log.info({ input, mode }, 'processing started')
    })
  }

  stop(): Promise<void> {
    return this.#serial(async () => {
      const run = this.#run
      if (!run) return
      run.stopping = true
      run.receiver?.close()
      run.wake?.()
      await run.done
      this.#run = undefined
      this.#opts.metrics.processing.set(0)
      this.#log.info({ processed: run.stats.nProcessed }, 'processing stopped')
    })
  }

  getRoi(kind: RoiKind): Roi {
    const s = this.#snapshot
    return [...(kind === 'roi_signal' ? s.roiSignal : s.roiBackground)] as Roi
  }

  setRoi(kind: RoiKind, value: unknown, who?: Requester): Promise<Roi> {
    // Validate before queueing, so a bad request never waits behind good ones.
    const roi = validateRoi(value)
    return this.#mutate(who ?? { endpoint: `POST /${kind}`, client: 'local' }, (cur) => {
      const old = kind === 'roi_signal' ? cur.roiSignal : cur.roiBackground
      return {
        next: makeSnapshot(this.#opts.parameters, cur.version + 1,
          kind === 'roi_signal' ? roi : cur.roiSignal,
          kind === 'roi_background' ? roi : cur.roiBackground, cur.parameters),
        patch: { [kind]: roi },
        old,
        now: roi,
      }
    }).then(() => [...roi] as Roi)
  }

  getParameters(): Record<string, unknown> {
    return this.#opts.parameters.toJson(this.#snapshot.parameters as P)
  }

  setParameters(partial: unknown, who?: Requester): Promise<Record<string, unknown>> {
    const model = this.#opts.parameters
    try {
      model.merge(this.#snapshot.parameters as P, partial)
    } catch (err) {
      return Promise.reject(new ControlError(`Invalid parameters: ${(err as Error).message}`))
    }
    return this.#mutate(who ?? { endpoint: 'POST /parameters', client: 'local' }, (cur) => {
      let merged: P
      try {
        // Merged again against the state current at its turn: concurrent updates never undo
        // each other.
        merged = model.merge(cur.parameters as P, partial)
      } catch (err) {
        throw new ControlError(`Invalid parameters: ${(err as Error).message}`)
      }
      return {
        next: makeSnapshot(model, cur.version + 1, cur.roiSignal, cur.roiBackground, merged),
        patch: { parameters: model.toJson(merged) },
        old: model.toJson(cur.parameters as P),
        now: model.toJson(merged),
      }
    }).then(() => this.getParameters())
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

  statistics(): Record<string, unknown> {
    const s = this.#lastStats
    if (!s) return {}
    const malformed = this.#lastMalformed
    const errors: Record<string, number> = {}
    for (const [cause, n] of Object.entries(s.errors)) if (n > 0) errors[cause] = n
    let malformedTotal = 0
    for (const n of Object.values(malformed)) malformedTotal += n
    const round = (x: number): number | null =>
      (Number.isFinite(x) ? Math.round(x * 1000) / 1000 : null)
    return {
      processing_start_time: s.startTime,
      last_sent_pulse_id: s.lastSentPulseId,
      last_sent_time: s.lastSentAt === 0 ? null : pythonTimestamp(new Date(s.lastSentAt)),
      n_processed_images: s.nProcessed,
      n_received_images: s.nReceived,
      n_sent_data: s.nSent,
      n_dropped_data: s.nDroppedData,
      n_sent_images: s.nImageSent,
      n_dropped_images: s.nDroppedImage,
      n_malformed: malformedTotal,
      malformed_by_reason: { ...malformed },
      n_frame_errors: errors,
      n_pulse_id_gaps: s.nPulseIdGaps,
      last_received_pulse_id: s.lastReceivedPulseId,
      input_rate_hz: round(s.inputRate(performance.now())),
      processing_time_ms: { p50: round(s.percentile(50)), p99: round(s.percentile(99)) },
      loop_restarts: this.#loopRestarts,
      last_error: s.lastError ?? this.#lastError,
      ...(this.#opts.edge.statistics ? { edge: this.#opts.edge.statistics() } : {}),
    }
  }

  /** Stops processing and closes the output streams (linger 0). Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await this.stop()
    await this.#mutations.catch(() => undefined)
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

  /**
   * Applies one settings change at a time: compute from the current snapshot, persist, then
   * swap. A change is acknowledged only once it is durable, and the state file always matches
   * what the frames use.
   */
  #mutate(who: Requester, change: (cur: Snapshot<P>) => {
    next: Snapshot<P>; patch: Record<string, unknown>; old: unknown; now: unknown
  }): Promise<void> {
    const job = async (): Promise<void> => {
      const cur = this.#snapshot
      const { next, patch, old, now } = change(cur)
      try {
        await this.#opts.store.update(patch,
          { endpoint: who.endpoint, client: who.client, old, new: now })
      } catch (err) {
        if (!(err instanceof StateWriteError)) throw err
        this.#log.error({ err }, 'a settings change could not be saved')
        // The reason without the path: answers never show the host's file layout.
        const code = (err.cause as NodeJS.ErrnoException | undefined)?.code
        throw new ControlError('The change could not be saved to the state file' +
          `${code ? ` (${code})` : ''}; nothing was changed.`)
      }
      this.#snapshot = next
      this.#roiMetrics(next)
      this.#log.info({ change: who.endpoint, client: who.client, old, new: now },
        'settings changed')
    }
    const p = this.#mutations.then(job, job)
    this.#mutations = p.catch(() => undefined)
    return p
  }

  #roiMetrics(s: Snapshot<P>): void {
    const g = this.#opts.metrics.roiSize
    for (const [name, roi] of [['signal', s.roiSignal], ['background', s.roiBackground]] as const) {
      g.set({ roi: name, dim: 'x' }, roi.length === 4 ? roi[1] : 0)
      g.set({ roi: name, dim: 'y' }, roi.length === 4 ? roi[3] : 0)
    }
  }

  #receiver(run: Run): BsreadReceiver {
    try {
      return new BsreadReceiver({
        address: this.config.inputStream,
        mode: this.config.inputMode,
        receiveHighWaterMark: this.config.inputQueue,
        maxValueBytes: this.config.maxFrameBytes,
        // A data header is parsed only when the hash changes: checking its MD5 then is cheap and
        // rejects a header that does not match its hash (counted as hash_mismatch).
        verifyHash: true,
        codec: this.#headerCodec,
        // Bounds the memory one message part can take: zeromq drops the connection before
        // reading a bigger part (and the receiver reconnects). No valid image comes close.
        maxPartBytes: Math.max(MIN_PART_LIMIT, Math.ceil(this.config.maxFrameBytes * 1.01) +
          16 * 1024 * 1024),
        onDisconnect: () => {
          this.#opts.metrics.inputDisconnects.inc()
          this.#problems.warn('input:disconnect', { input: this.config.inputStream },
            'input connection lost (the sender stopped, or sent a message part above the limit); ' +
            'connecting again')
        },
        onError: (err: BsreadError) => {
          run.malformed[err.reason] = (run.malformed[err.reason] ?? 0) + 1
          this.#malformedTotal[err.reason] = (this.#malformedTotal[err.reason] ?? 0) + 1
          this.#opts.metrics.framesDropped.inc({ reason: 'malformed' })
          this.#problems.warn(`malformed:${err.reason}`, { reason: err.reason },
            `malformed input: ${err.message}`)
        },
      })
    } catch (err) {
      throw new ControlError(
        `Cannot connect to ${this.config.inputStream}: ${(err as Error).message}`)
    }
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
              await this.#frame(msg, run)
            } catch (err) {
              // Whatever a frame throws stays with that frame.
              this.#frameError(run.stats, 'exception',
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

  async #frame(msg: BsreadMessage, run: Run): Promise<void> {
    const t0 = performance.now()
    const stats = run.stats
    const metrics = this.#opts.metrics
    const gaps = stats.nPulseIdGaps
    const rx = run.receiver
    if (rx) metrics.stage.receive.observe(rx.lastDecodeMs / 1000)
    stats.received(msg.pulseId, t0)
    metrics.framesReceived.inc()
    if (stats.nPulseIdGaps !== gaps) metrics.pulseIdGaps.inc()
    metrics.lastPulseId.set(Number(msg.pulseId))
    const ts = msg.globalTimestamp
    metrics.inputLagSeconds.set(Date.now() / 1000 - (ts.sec + ts.ns / 1e9))

    const raw = msg.value(this.#pipeline.imageName)
    if (raw !== undefined) {
      this.#forwardImage(msg, raw, stats)
      metrics.stage.forward.observe((performance.now() - t0) / 1000)
    }

    let parts: Buffer[]
    const snap = this.#snapshot
    try {
      parts = this.#pipeline.process(msg, snap, stats)
    } catch (err) {
      // A bug or a kernel trap (the kernel has re-instantiated itself): count, log, go on.
      this.#frameError(stats, 'exception', `pulse ${msg.pulseId}: ${(err as Error).message}`, err)
      parts = this.#pipeline.encoder.encode({
        pulseId: msg.pulseId, globalTimestamp: ts,
        channels: [{ info: this.#pipeline.paramsInfo, value: snap.json }],
      })
    }
    if (this.#opts.observer && raw !== undefined) {
      const e = this.#pipeline.lastEdge
      if (e) {
        this.#opts.observer.offerResult(msg.pulseId, e.edge_position, e.cross_correlation_amplitude)
      }
    }
    stats.processed(performance.now() - t0)
    metrics.framesProcessed.inc()

    const t1 = performance.now()
    const pulseId = msg.pulseId
    const offered = this.dataQueue.offer(parts, () => stats.sent(pulseId))
    // Only a full queue makes this wait (at most --data_send_timeout_ms).
    const queued = typeof offered === 'boolean' ? offered : await offered
    metrics.stage.send.observe((performance.now() - t1) / 1000)
    if (!queued) {
      stats.nDroppedData++
      metrics.framesDropped.inc({ reason: 'data_queue' })
      this.#problems.warn('drop:data', { dropped: stats.nDroppedData },
        'data message dropped: the data stream queue is full (no or slow consumer)')
    }
    metrics.stage.total.observe((performance.now() - t0) / 1000)
    if (this.#debug) {
      const ms = performance.now() - t0
      this.#log.debug({ pulse_id: String(pulseId), queued, ms }, 'frame processed')
    }
  }

  #forwardImage(msg: BsreadMessage, raw: RawValue, stats: RunStatistics): void {
    this.#opts.observer?.offer(msg.pulseId, msg.globalTimestamp, raw.info, raw.bytes)
    let parts: Buffer[]
    try {
      parts = this.#imageEncoder.encode({
        pulseId: msg.pulseId, globalTimestamp: msg.globalTimestamp,
        channels: [{
          info: raw.info, value: preEncoded(raw.bytes),
          timestamp: raw.timestamp ?? msg.globalTimestamp,
        }],
      })
    } catch (err) {
      this.#frameError(stats, 'exception',
        `cannot forward image of pulse ${msg.pulseId}: ${(err as Error).message}`, err)
      return
    }
    // A full image queue drops the image at once; processing never waits for it.
    if (this.imageQueue.offer(parts, this.#imageSent) === false) {
      stats.nDroppedImage++
      this.#opts.metrics.framesDropped.inc({ reason: 'image_queue' })
    }
  }

  #frameError(stats: RunStatistics, cause: FrameErrorCause, message: string, err: unknown): void {
    stats.error(cause, message)
    this.#lastError = stats.lastError
    this.#opts.metrics.frameErrors.inc({ cause })
    this.#problems.error(cause, { err }, message)
  }
}

async function bindQueue(
  address: string, what: string, opts: { capacity: number; waitMs: number },
): Promise<OutputQueue> {
  try {
    return await OutputQueue.bind(address, opts)
  } catch (err) {
    throw new ControlError(
      `cannot bind the ${what} stream to ${address}: ${(err as Error).message}`)
  }
}

export { RoiError }
