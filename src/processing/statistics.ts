/**
 * Per-run processing statistics, as `/statistics` reports them: the old service's four fields
 * (same names, same formats) plus counters, input rate, processing-time percentiles and the
 * last error. Updated per frame with plain number writes only (no allocation).
 * @module
 */

/** Local time as Python's `str(datetime.datetime.now())` wrote it: `2026-11-25 12:38:26.123000`. */
export function pythonTimestamp(date = new Date()): string {
  const p = (n: number, w = 2): string => String(n).padStart(w, '0')
  const base =
    `${date.getFullYear()}-${p(date.getMonth() + 1)}-${p(date.getDate())} ` +
    `${p(date.getHours())}:${p(date.getMinutes())}:${p(date.getSeconds())}`
  const micros = date.getMilliseconds() * 1000
  // Python leaves the fraction out when it is zero.
  return micros === 0 ? base : `${base}.${p(micros, 6)}`
}

/** Causes of a frame that could not be (fully) processed; each has its own counter. */
export const FRAME_ERROR_CAUSES = [
  'missing_image',
  'unsupported_type',
  'bad_shape',
  'frame_too_large',
  'decode_error',
  'roi_signal_outside_frame',
  'roi_background_outside_frame',
  'edge_error',
  'exception',
] as const
export type FrameErrorCause = (typeof FRAME_ERROR_CAUSES)[number]

export interface LastError {
  message: string
  time: string
  cause: string
}

const WINDOW = 1024

/** Statistics of one processing run (reset on every start, as the old service did). */
export class RunStatistics {
  readonly startTime: string
  readonly startedAt = Date.now()
  lastSentPulseId: bigint | null = null
  lastSentAt = 0
  nProcessed = 0
  nReceived = 0
  nSent = 0
  nDroppedData = 0
  nDroppedImage = 0
  nImageSent = 0
  nPulseIdGaps = 0
  lastReceivedPulseId: bigint | null = null
  /** Wall-clock ms of the last received frame. */
  lastReceivedAt = 0
  readonly errors: Record<FrameErrorCause, number>
  lastError: LastError | null = null
  readonly #times = new Float64Array(WINDOW)
  readonly #arrivals = new Float64Array(WINDOW)
  #nTimes = 0
  #nArrivals = 0

  constructor(now = new Date()) {
    this.startTime = pythonTimestamp(now)
    this.errors = Object.fromEntries(FRAME_ERROR_CAUSES.map((c) => [c, 0])) as Record<
      FrameErrorCause,
      number
    >
  }

  /** A frame arrived (monotonic ms from performance.now()). */
  received(pulseId: bigint, monotonicMs: number): void {
    const last = this.lastReceivedPulseId
    if (last !== null && pulseId !== last + 1n) this.nPulseIdGaps++
    this.lastReceivedPulseId = pulseId
    this.nReceived++
    this.lastReceivedAt = Date.now()
    this.#arrivals[this.#nArrivals++ % WINDOW] = monotonicMs
  }

  /** A frame went through the pipeline in `ms` (receive to send). */
  processed(ms: number): void {
    this.nProcessed++
    this.#times[this.#nTimes++ % WINDOW] = ms
  }

  /** The data message of a frame left on the data stream. */
  sent(pulseId: bigint): void {
    this.nSent++
    this.lastSentPulseId = pulseId
    this.lastSentAt = Date.now()
  }

  error(cause: FrameErrorCause, message: string): void {
    this.errors[cause]++
    this.lastError = { message, time: pythonTimestamp(), cause }
  }

  /** Frames per second over the last up-to-1024 arrivals, 0 when the input went quiet (>2 s). */
  inputRate(nowMonotonic: number): number {
    const n = Math.min(this.#nArrivals, WINDOW)
    if (n < 2) return 0
    const last = this.#arrivals[(this.#nArrivals - 1) % WINDOW] ?? 0
    const first = this.#arrivals[(this.#nArrivals - n) % WINDOW] ?? 0
    if (nowMonotonic - last > 2000 || last <= first) return 0
    // Include the quiet time since the last frame so a stopping input decays towards 0.
    return (n - 1) / ((Math.max(last, nowMonotonic) - first) / 1000)
  }

  /** Percentile (0..100) of the recent processing times in ms, NaN before the first frame. */
  percentile(p: number): number {
    const n = Math.min(this.#nTimes, WINDOW)
    if (n === 0) return NaN
    const sorted = this.#times.slice(0, n).sort()
    const i = Math.min(n - 1, Math.max(0, Math.ceil((p / 100) * n) - 1))
    return sorted[i] ?? NaN
  }
}

/** What `/statistics` shows beyond the run's own counters. */
export interface StatisticsExtras {
  /** Malformed input messages of the run, by reason. */
  malformed: Record<string, number>
  loopRestarts: number
  /** The service's last error when the run has none of its own (e.g. a loop restart). */
  lastError: LastError | null
  /** The edge finder's own statistics, when it keeps any. */
  edge?: Record<string, unknown>
}

/** The `/statistics` answer: the old service's fields first, then what this service adds. */
export function statisticsReport(
  s: RunStatistics,
  extras: StatisticsExtras,
): Record<string, unknown> {
  const malformed = extras.malformed
  const errors: Record<string, number> = {}
  for (const [cause, n] of Object.entries(s.errors)) if (n > 0) errors[cause] = n
  let malformedTotal = 0
  for (const n of Object.values(malformed)) malformedTotal += n
  const round = (x: number): number | null =>
    Number.isFinite(x) ? Math.round(x * 1000) / 1000 : null
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
    loop_restarts: extras.loopRestarts,
    last_error: s.lastError ?? extras.lastError,
    ...(extras.edge ? { edge: extras.edge } : {}),
  }
}
