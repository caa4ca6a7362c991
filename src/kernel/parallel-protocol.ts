/**
 * The shared-memory protocol between ParallelProfiler (main thread) and its profile workers:
 * one Int32Array control block per worker, jobs posted and completed by Atomics, so a frame
 * costs two futex wake-ups and no message. The input and result buffers are growable
 * SharedArrayBuffers: the main thread grows them in place and the workers' length-tracking views
 * follow, so buffers are never re-sent.
 * @module
 */
import { KernelStatus } from './errors.js'

/** Int32 slots per worker (192 bytes: workers never share a cache line). */
export const CTRL_INTS = 48

/** Control slots, relative to a worker's base (worker index * CTRL_INTS). */
export const Slot = {
  /** Incremented by the main thread to post a job (op + arguments below). */
  SEQ: 0,
  /** Set by the worker to the SEQ it finished. */
  DONE: 1,
  /** 0, or a negative JobStatus of the finished job. */
  STATUS: 2,
  OP: 3,
  SRC_LEN: 4,
  ELEM_SIZE: 5,
  WIDTH: 6,
  HEIGHT: 7,
  DTYPE: 8,
  BIG_ENDIAN: 9,
  /** Row ranges [y0, y1) to decode: count, then up to MAX_RANGES pairs. */
  N_RANGES: 10,
  RANGES: 11,
  /** ROIs to sum over the decoded rows: count, then up to MAX_ROIS [ox, sx, oy, sy]. */
  N_ROIS: 17,
  ROIS: 18,
  /** Columns per profile slot in the result buffer (see resultOffset). */
  COLS: 30,
  /** The worker's span of the value (see blockSpan): prefix of its first block, its element. */
  SPAN_START: 31,
  SPAN_END: 32,
  START_ELEM: 33,
} as const

export const MAX_RANGES = 3
export const MAX_ROIS = 3

export const Op = {
  /** Decode Slot.RANGES, write the partial profiles of Slot.ROIS into the result buffer. */
  PROFILE: 1,
  EXIT: 2,
} as const

/** Job status codes: the kernels' status codes, plus a trap and a worker-side failure. */
export const JobStatus = {
  OK: 0,
  ...KernelStatus,
  TRAP: -6,
  FAILED: -7,
} as const

/** What a worker gets at start (workerData). */
export interface WorkerInit {
  module: WebAssembly.Module
  control: SharedArrayBuffer
  /** Frame bytes (growable): the 12-byte header and each worker's span of blocks. */
  input: SharedArrayBuffer
  /** Partial profiles (growable), laid out by resultOffset. */
  result: SharedArrayBuffer
  index: number
}

/** Byte offset of ROI k's partial profile of worker w in the result buffer. */
export function resultOffset(worker: number, roi: number, cols: number): number {
  return (worker * MAX_ROIS + roi) * cols * 8
}
