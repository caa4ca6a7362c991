/**
 * What the HTTP API (and any other front end) controls: the interface the processing service
 * implements and the errors it reports. It lives with processing so that the service does not
 * load the API layer.
 * @module
 */
import type { Roi } from './roi.js'

export type RoiKind = 'roi_signal' | 'roi_background'
export type ProcessingStatus = 'stopped' | 'processing'

/** An expected failure of a control operation: reported in the envelope, nothing changed. */
export class ControlError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'ControlError'
  }
}

/** Who asked for a change (recorded in the history). */
export interface Requester {
  endpoint: string
  client: string
}

/** What the API controls: implemented by src/processing/service.ts. */
export interface ServiceControl {
  status(): ProcessingStatus
  /** Idempotent; throws ControlError when processing cannot start (e.g. a port is taken). */
  start(): Promise<void>
  /** Idempotent. */
  stop(): Promise<void>
  getRoi(kind: RoiKind): Roi
  /** Validates (RoiError), applies from the next frame, persists, then resolves. */
  setRoi(kind: RoiKind, value: unknown, who?: Requester): Promise<Roi>
  /** `{}` before the first start (a promise when the frames run in another thread). */
  statistics(): Record<string, unknown> | Promise<Record<string, unknown>>
  lastError(): { message: string; time: string; cause: string } | null
  getParameters(): Record<string, unknown>
  /** Partial update; throws ControlError with a readable message on invalid input. */
  setParameters(partial: unknown, who?: Requester): Promise<Record<string, unknown>>
  /** Static facts about parameters for clients (e.g. the edge_status name table). */
  parameterInfo(): Record<string, unknown>
  history(): Promise<unknown[]>
  /** Ready = processing and input seen recently. */
  ready(): { ready: boolean; reason: string }
  /** Fields GET /status adds to the envelope (the input's silence, the output consumers). */
  statusDetails?(): Record<string, unknown> | Promise<Record<string, unknown>>
}
