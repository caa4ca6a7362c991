/**
 * The messages between the service (main thread, src/processing/ingest-client.ts) and the
 * ingest worker thread (src/processing/ingest-worker.ts). Frame bytes never cross: the main
 * thread gets small state, the edge results, and an image only when the preview asks for one.
 * @module
 */
import type { ChannelInfo, Timestamp } from '../bsread/types.js'
import type { ServiceConfig } from '../config.js'
import type { Snapshot } from './settings.js'
import type { LastError } from './statistics.js'

/** The worker's start data. */
export interface IngestInit {
  config: ServiceConfig
  /** Human-readable logs (the main thread's stdout is a terminal). */
  prettyLogs: boolean
}

/** Main → worker: a request, answered by a `reply` with the same id. */
export type IngestRequest =
  | { id: number; op: 'start'; snapshot: Snapshot<object> }
  | { id: number; op: 'stop' }
  | { id: number; op: 'snapshot'; snapshot: Snapshot<object> }
  | { id: number; op: 'statistics' }
  | { id: number; op: 'metrics' }
  | { id: number; op: 'outputs' }
  | { id: number; op: 'close' }
  | { id: number; op: 'abort' }

/** Main → worker, unanswered: whether the preview wants images now. */
export interface WantFrames {
  op: 'want'
  frames: boolean
}

/** What the main thread keeps of the worker's state (sent with every tick and reply). */
export interface IngestState {
  lastError: LastError | null
  lastReceivedAt: number
}

/** An image for the preview, copied out of the received message. */
export interface PreviewImage {
  pulseId: bigint
  globalTimestamp: Timestamp
  channel: ChannelInfo
  data: Uint8Array
}

/** Worker → main. */
export type IngestEvent =
  | { t: 'ready' }
  | { t: 'failed'; message: string; control: boolean }
  | {
      t: 'reply'
      id: number
      state: IngestState
      value?: unknown
      error?: { message: string; control: boolean }
    }
  /** At most every TICK_MS while frames arrive: state, edge results, maybe an image. */
  | {
      t: 'tick'
      state: IngestState
      results?: { pulseIds: BigInt64Array; edges: Float64Array; amplitudes: Float64Array }
      image?: PreviewImage
    }
  /** The receive loop ended by itself (its supervisor failed). */
  | { t: 'ended'; message: string }

/** Shortest time between two ticks (ms): bounds the messages to the main thread. */
export const TICK_MS = 100
