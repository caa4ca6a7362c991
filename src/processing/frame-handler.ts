/**
 * What happens to one received frame: forward the image as received, run the pipeline, offer
 * frame and result to the observer, queue the data message, and count all of it.
 * @module
 */
import { BsreadEncoder, preEncoded } from '../bsread/encoder.js'
import type { BsreadMessage, RawValue } from '../bsread/decoder.js'
import type { BsreadReceiver } from '../bsread/receiver.js'
import type { Logger, RateLimitedLog } from '../log.js'
import type { Metrics } from '../metrics.js'
import type { FrameObserver } from './frame-observer.js'
import type { OutputQueue } from './output-queue.js'
import type { FramePipeline } from './pipeline.js'
import type { Snapshot } from './settings.js'
import type { FrameErrorCause, LastError, RunStatistics } from './statistics.js'

export interface FrameHandlerOptions<P extends object> {
  pipeline: FramePipeline<P>
  dataQueue: OutputQueue
  imageQueue: OutputQueue
  metrics: Metrics
  log: Logger
  /** Rate-limited warnings and errors about frames. */
  problems: RateLimitedLog
  observer?: FrameObserver
  /** Called with every frame error, so that the service can report the last one. */
  onError(error: LastError | null): void
}

/** Handles the frames of every run (one per service). */
export class FrameHandler<P extends object> {
  readonly #o: FrameHandlerOptions<P>
  readonly #imageEncoder = new BsreadEncoder()
  /** Per-frame debug lines only when asked for (--log_level DEBUG), as the old service did. */
  readonly #debug: boolean
  /** The statistics the image stream's sent callbacks count into (the newest run's). */
  #imageStats: RunStatistics | undefined
  readonly #imageSent = (): void => {
    if (this.#imageStats) this.#imageStats.nImageSent++
  }

  constructor(opts: FrameHandlerOptions<P>) {
    this.#o = opts
    this.#debug = opts.log.isLevelEnabled('debug')
  }

  /** Sent images count into these statistics from now on (a new run's). */
  countImagesInto(stats: RunStatistics): void {
    this.#imageStats = stats
  }

  async frame(
    msg: BsreadMessage,
    snap: Snapshot<P>,
    stats: RunStatistics,
    rx: BsreadReceiver | undefined,
  ): Promise<void> {
    const t0 = performance.now()
    const { metrics, pipeline, observer } = this.#o
    const gaps = stats.nPulseIdGaps
    if (rx) metrics.stage.receive.observe(rx.lastDecodeMs / 1000)
    stats.received(msg.pulseId, t0)
    metrics.framesReceived.inc()
    if (stats.nPulseIdGaps !== gaps) metrics.pulseIdGaps.inc()
    metrics.lastPulseId.set(Number(msg.pulseId))
    const ts = msg.globalTimestamp
    metrics.inputLagSeconds.set(Date.now() / 1000 - (ts.sec + ts.ns / 1e9))

    const raw = msg.value(pipeline.imageName)
    if (raw !== undefined) {
      this.#forwardImage(msg, raw, stats)
      metrics.stage.forward.observe((performance.now() - t0) / 1000)
    }

    let parts: Buffer[]
    try {
      parts = pipeline.process(msg, snap, stats)
    } catch (err) {
      // A bug or a kernel trap (the kernel has re-instantiated itself): count, log, go on.
      this.error(stats, 'exception', `pulse ${msg.pulseId}: ${(err as Error).message}`, err)
      parts = pipeline.parametersOnly(msg, snap)
    }
    if (observer && raw !== undefined) {
      const e = pipeline.lastEdge
      if (e) observer.offerResult(msg.pulseId, e.edge_position, e.cross_correlation_amplitude)
    }
    stats.processed(performance.now() - t0)
    metrics.framesProcessed.inc()

    const t1 = performance.now()
    const pulseId = msg.pulseId
    const offered = this.#o.dataQueue.offer(parts, () => stats.sent(pulseId))
    // Only a full queue makes this wait (at most --data_send_timeout_ms).
    const queued = typeof offered === 'boolean' ? offered : await offered
    metrics.stage.send.observe((performance.now() - t1) / 1000)
    if (!queued) {
      stats.nDroppedData++
      metrics.framesDropped.inc({ reason: 'data_queue' })
      // With no consumer at all the queue has said so once; this is for a slow consumer.
      if (this.#o.dataQueue.consumers > 0) {
        this.#o.problems.warn(
          'drop:data',
          { dropped: stats.nDroppedData },
          'data message dropped: the data stream queue is full (slow consumer)',
        )
      }
    }
    metrics.stage.total.observe((performance.now() - t0) / 1000)
    if (this.#debug) {
      const ms = performance.now() - t0
      this.#o.log.debug({ pulse_id: String(pulseId), queued, ms }, 'frame processed')
    }
  }

  /** Counts and logs a frame that could not be (fully) handled. */
  error(stats: RunStatistics, cause: FrameErrorCause, message: string, err: unknown): void {
    stats.error(cause, message)
    this.#o.onError(stats.lastError)
    this.#o.metrics.frameErrors.inc({ cause })
    this.#o.problems.error(cause, { err }, message)
  }

  #forwardImage(msg: BsreadMessage, raw: RawValue, stats: RunStatistics): void {
    this.#o.observer?.offer(msg.pulseId, msg.globalTimestamp, raw.info, raw.bytes)
    let parts: Buffer[]
    try {
      parts = this.#imageEncoder.encode({
        pulseId: msg.pulseId,
        globalTimestamp: msg.globalTimestamp,
        channels: [
          {
            info: raw.info,
            value: preEncoded(raw.bytes),
            timestamp: raw.timestamp ?? msg.globalTimestamp,
          },
        ],
      })
    } catch (err) {
      this.error(
        stats,
        'exception',
        `cannot forward image of pulse ${msg.pulseId}: ${(err as Error).message}`,
        err,
      )
      return
    }
    // A full image queue drops the image at once; processing never waits for it.
    if (this.#o.imageQueue.offer(parts, this.#imageSent) === false) {
      stats.nDroppedImage++
      this.#o.metrics.framesDropped.inc({ reason: 'image_queue' })
    }
  }
}
