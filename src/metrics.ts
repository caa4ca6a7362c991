/**
 * Prometheus metrics of the service (prom-client, an own Registry so tests and several
 * services in one process never share counters). Counters are lifetime totals; `/statistics`
 * holds the per-run view.
 * @module
 */
import { constants, PerformanceObserver } from 'node:perf_hooks'
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

/**
 * Pipeline stages timed per frame. receive: bsread header parsing and size checks of the
 * message taken off the socket; forward: the image stream and the preview; decode: image
 * decompression (ROI rows); profile, edge: the kernels; send: handing the data message to its
 * queue; total: receive to send.
 */
export type Stage = 'receive' | 'forward' | 'decode' | 'profile' | 'edge' | 'send' | 'total'

/**
 * The metrics of the frame path: counted where the frames run. When that is the ingest worker
 * thread, its own registry keeps them and this thread's `/metrics` shows the worker's values
 * (`setFrameSource`); everything else (HTTP, settings, the process) is counted here.
 */
export const FRAME_METRICS: ReadonlySet<string> = new Set([
  'psen_frames_received_total',
  'psen_frames_processed_total',
  'psen_frames_dropped_total',
  'psen_frame_errors_total',
  'psen_input_pulse_id_gaps_total',
  'psen_loop_restarts_total',
  'psen_input_disconnects_total',
  'psen_stage_seconds',
  'psen_last_pulse_id',
  'psen_input_lag_seconds',
  'psen_input_malformed_total',
  'psen_wasm_memory_bytes',
  'psen_decode_threads',
  'psen_frames_decoded_total',
  'psen_ingest_gc_duration_seconds',
])

/** perf_hooks' GC kinds as labels (prom-client's names for the main thread's collector). */
const GC_KINDS: Record<number, string> = {
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
}

/** A registry whose frame-path metrics may come from another thread. */
class FrameMergingRegistry extends Registry {
  /** The frame-path metrics as exposition text; undefined: use this registry's own. */
  frameSource: (() => Promise<string | undefined>) | undefined

  override async metrics(): Promise<string> {
    const remote = await this.frameSource?.().catch(() => undefined)
    if (remote === undefined) return super.metrics()
    const own = await Promise.all(
      this.getMetricsAsArray()
        .filter((m) => !FRAME_METRICS.has(m.name))
        .map((m) => this.getSingleMetricAsString(m.name)),
    )
    return `${[...own, remote].join('\n\n')}\n`
  }

  /** This registry's frame-path metrics as exposition text (no trailing newline). */
  async frameText(): Promise<string> {
    const blocks = await Promise.all(
      this.getMetricsAsArray()
        .filter((m) => FRAME_METRICS.has(m.name))
        .map((m) => this.getSingleMetricAsString(m.name)),
    )
    return blocks.join('\n\n')
  }
}

export interface MetricsSources {
  /** Malformed input messages by reason, as counted by the receiver. */
  malformed?: () => Record<string, number>
  /** Bytes of WebAssembly memory in use. */
  wasmMemoryBytes?: () => number
  /** Frames whose decode + profiles were split across threads / run on the main thread alone. */
  decodeThreads?: () => {
    threads: number
    split: number
    single: number
    late: number
    broken: boolean
  }
}

export class Metrics {
  readonly #registry = new FrameMergingRegistry()
  readonly registry: Registry = this.#registry
  readonly framesReceived: Counter
  readonly framesProcessed: Counter
  readonly framesDropped: Counter<'reason'>
  readonly frameErrors: Counter<'cause'>
  readonly pulseIdGaps: Counter
  readonly loopRestarts: Counter
  readonly inputDisconnects: Counter
  readonly stageSeconds: Histogram<'stage'>
  /** Per-stage children bound once (no label lookup per frame). */
  readonly stage: Record<Stage, { observe(seconds: number): void }>
  readonly lastPulseId: Gauge
  readonly inputLagSeconds: Gauge
  readonly roiSize: Gauge<'roi' | 'dim'>
  readonly processing: Gauge
  readonly #frameGc: Histogram<'kind'>
  readonly #httpRequests: Counter<'method' | 'route' | 'code'>
  readonly #httpSeconds: Histogram<'route'>
  readonly #httpRefused: Counter<'reason' | 'route'>
  #sources: MetricsSources = {}

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry]
    // The event-loop-lag monitor is a libuv timer at this resolution: prom-client's default
    // (10 ms) woke an idle service 100 times a second. Sampling the lag once a second keeps an
    // idle service asleep; stalls shorter than that may go unseen there, but the per-stage
    // histograms time every frame itself.
    if (opts.defaultMetrics ?? true) {
      collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 1000 })
    }
    this.framesReceived = new Counter({
      name: 'psen_frames_received_total',
      help: 'Input messages received (valid bsread)',
      registers,
    })
    this.framesProcessed = new Counter({
      name: 'psen_frames_processed_total',
      help: 'Frames processed into a data message',
      registers,
    })
    this.framesDropped = new Counter({
      name: 'psen_frames_dropped_total',
      help:
        'Frames lost, by reason: data_queue / image_queue (queue full), malformed (input ' +
        'not decodable, details in psen_input_malformed_total), roi_outside_frame (signal ROI ' +
        'outside the frame: no profile, no edge)',
      labelNames: ['reason'],
      registers,
    })
    this.frameErrors = new Counter({
      name: 'psen_frame_errors_total',
      help: 'Frames not (fully) processed, by cause (missing image, ROI outside frame, ...)',
      labelNames: ['cause'],
      registers,
    })
    this.pulseIdGaps = new Counter({
      name: 'psen_input_pulse_id_gaps_total',
      help: 'Input frames whose pulse id did not follow the previous one',
      registers,
    })
    this.loopRestarts = new Counter({
      name: 'psen_loop_restarts_total',
      help: 'Restarts of the processing loop after an unexpected failure',
      registers,
    })
    this.inputDisconnects = new Counter({
      name: 'psen_input_disconnects_total',
      help: 'Lost input connections (the sender went away, or sent a part above the limit)',
      registers,
    })
    this.stageSeconds = new Histogram({
      name: 'psen_stage_seconds',
      help: 'Time per frame and pipeline stage',
      labelNames: ['stage'],
      registers,
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25],
    })
    const stageNames: Stage[] = ['receive', 'forward', 'decode', 'profile', 'edge', 'send', 'total']
    this.stage = Object.fromEntries(
      stageNames.map((s) => [s, this.stageSeconds.labels(s)]),
    ) as unknown as Record<Stage, { observe(seconds: number): void }>
    this.lastPulseId = new Gauge({
      name: 'psen_last_pulse_id',
      help: 'Pulse id of the last received frame',
      registers,
    })
    this.inputLagSeconds = new Gauge({
      name: 'psen_input_lag_seconds',
      help: 'Wall clock minus the global timestamp of the last received frame',
      registers,
    })
    this.roiSize = new Gauge({
      name: 'psen_roi_size_pixels',
      help: 'Current ROI sizes (0: ROI off)',
      labelNames: ['roi', 'dim'],
      registers,
    })
    this.processing = new Gauge({
      name: 'psen_processing',
      help: '1 while processing, 0 when stopped',
      registers,
    })
    this.#frameGc = new Histogram({
      name: 'psen_ingest_gc_duration_seconds',
      help:
        'Garbage collection pauses of the thread that receives the frames, by kind (major: ' +
        'mark-compact; minor: scavenge; see docs/performance.md)',
      labelNames: ['kind'],
      registers,
      buckets: [0.0001, 0.001, 0.01, 0.1, 1],
    })
    const sources = (): MetricsSources => this.#sources
    new Counter({
      name: 'psen_input_malformed_total',
      help: 'Malformed input messages, by reason',
      labelNames: ['reason'],
      registers,
      collect() {
        const counts = sources().malformed?.()
        if (!counts) return
        this.reset()
        for (const [reason, n] of Object.entries(counts)) if (n > 0) this.inc({ reason }, n)
      },
    })
    new Gauge({
      name: 'psen_wasm_memory_bytes',
      help: 'WebAssembly memory of the kernel module',
      registers,
      collect() {
        const bytes = sources().wasmMemoryBytes?.()
        if (bytes !== undefined) this.set(bytes)
      },
    })
    new Gauge({
      name: 'psen_decode_threads',
      help: 'Threads that decode and sum each frame (--threads; 1 after a worker failure)',
      registers,
      collect() {
        const t = sources().decodeThreads?.()
        this.set(t === undefined ? 1 : t.broken ? 1 : t.threads)
      },
    })
    new Counter({
      name: 'psen_frames_decoded_total',
      help:
        'Frames decoded, by path: split across threads, on the main thread alone, or ' +
        'on the main thread after a worker was late (> 50 ms)',
      labelNames: ['path'],
      registers,
      collect() {
        const t = sources().decodeThreads?.()
        if (!t) return
        this.reset()
        this.inc({ path: 'split' }, t.split)
        this.inc({ path: 'single' }, t.single)
        // Split given up after a worker was late (then decoded on the main thread alone).
        this.inc({ path: 'late' }, t.late)
      },
    })
    this.#httpRequests = new Counter({
      name: 'psen_http_requests_total',
      help: 'HTTP requests',
      labelNames: ['method', 'route', 'code'],
      registers,
    })
    this.#httpSeconds = new Histogram({
      name: 'psen_http_request_seconds',
      help: 'HTTP request duration',
      labelNames: ['route'],
      registers,
      buckets: [0.001, 0.005, 0.025, 0.1, 0.5, 2],
    })
    this.#httpRefused = new Counter({
      name: 'psen_http_refused_total',
      help:
        'Mutating HTTP requests and WebSocket upgrades refused, by reason: origin (a page ' +
        'of another web origin, CSRF), token (missing or wrong API token)',
      labelNames: ['reason', 'route'],
      registers,
    })
  }

  /**
   * From now on the frame-path metrics (FRAME_METRICS) are read from `fetch` at scrape time
   * (the ingest worker's `frameText()`); when it fails or answers undefined, from here.
   */
  setFrameSource(fetch: () => Promise<string | undefined>): void {
    this.#registry.frameSource = fetch
  }

  /** The frame-path metrics as exposition text (what `setFrameSource`'s fetch returns). */
  frameText(): Promise<string> {
    return this.#registry.frameText()
  }

  /** Connects metrics that are read from their owner at scrape time. */
  setSources(sources: MetricsSources): void {
    this.#sources = { ...this.#sources, ...sources }
  }

  /**
   * Times this thread's garbage collection pauses into psen_ingest_gc_duration_seconds (the
   * frame path's thread; the main thread's are in prom-client's nodejs_gc_duration_seconds).
   * Returns the function that stops it.
   */
  watchFrameGc(): () => void {
    const observer = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        const detail = (e as { detail?: { kind?: number } }).detail
        const kind = GC_KINDS[detail?.kind ?? -1] ?? 'other'
        this.#frameGc.observe({ kind }, e.duration / 1000)
      }
    })
    observer.observe({ entryTypes: ['gc'] })
    return () => observer.disconnect()
  }

  /** A request refused by the origin or token rule (src/api/guard.ts). */
  httpRefused(reason: 'origin' | 'token', route: string): void {
    this.#httpRefused.inc({ reason, route })
  }

  httpRequest(method: string, route: string, code: number, seconds: number): void {
    this.#httpRequests.inc({ method, route, code: String(code) })
    this.#httpSeconds.observe({ route }, seconds)
  }
}
