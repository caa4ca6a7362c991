/**
 * What runs the frames for the service: the receive loop, the pipeline and the output streams.
 * The service (src/processing/service.ts) keeps the settings and the control; an engine runs
 * either on the same thread (FrameLoop, src/processing/frame-loop.ts) or in the ingest worker
 * thread (IngestWorker, src/processing/ingest-client.ts), which keeps frame bytes off the
 * main thread's heap.
 * @module
 */
import type { Snapshot } from './settings.js'
import type { LastError } from './statistics.js'

export interface FrameEngine<P extends object> {
  /**
   * Connects the input and starts the receive loop with these settings (a new run: fresh
   * statistics). Throws ControlError when the input address cannot be used.
   */
  start(snapshot: Snapshot<P>): Promise<void>
  /** Ends the run; resolves with its processed frames once the loop has ended. */
  stop(): Promise<number>
  /** The settings every frame from the next one on is processed with (resolves once applied). */
  setSnapshot(snapshot: Snapshot<P>): void | Promise<void>
  /** The `/statistics` answer of the last run (`{}` before the first start). */
  statistics(): Record<string, unknown> | Promise<Record<string, unknown>>
  /** The newest error of the last run, or of the engine (a loop restart). */
  lastError(): LastError | null
  /** Wall-clock ms of the last frame received in the current run (0: none yet). */
  lastReceivedAt(): number
  /** The output streams: port, mode and connected consumers of `data` and `image`. */
  outputs(): Record<string, unknown> | Promise<Record<string, unknown>>
  /** `listener` is told when the receive loop ends by itself (its supervisor failed). */
  onEnded(listener: LoopEnded): void
  /**
   * Closes the sockets at once, whatever is in flight (a forced exit: a thread must not be torn
   * down with open zeromq sockets).
   */
  abort(): void | Promise<void>
  /** Stops and closes the output streams and threads. Idempotent. */
  close(): Promise<void>
}

/** Told when the receive loop ended by itself (its supervisor failed; never on stop()). */
export type LoopEnded = (error: Error) => void
