/**
 * The shared-memory protocol between ParallelProfiler (main thread) and its profile workers:
 * one Int32Array control block per worker, jobs posted and completed by Atomics, so a frame
 * costs two futex wake-ups and no message. Each worker runs the shared-memory build of the
 * kernel and sends its memory to the main thread once; the worker alone allocates in it (RESERVE
 * publishes where its input and result regions are), the main thread writes the worker's share
 * of each value straight into the input region and reads the partial profiles back.
 * @module
 */
import { KernelStatus } from './errors.js'

/** Int32 slots per worker (512 bytes: workers never share a cache line). */
export const CTRL_INTS = 128

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
  /** ROIs to sum over the decoded rows: count, then up to MAX_ROIS [ox, sx, oy, sy]. */
  N_ROIS: 10,
  ROIS: 11,
  /** Columns per profile slot in the result region (see resultOffset). */
  COLS: 23,
  /** RESERVE arguments: bytes of the decoded frame and of the partial profiles (and SRC_LEN). */
  FRAME_BYTES: 24,
  RESULT_BYTES: 25,
  /** Published by RESERVE: addresses of the input and result regions in the worker's memory. */
  INPUT_PTR: 26,
  RESULT_PTR: 27,
  /**
   * Pieces published so far, plus READY_FINAL once there are no more: the worker decodes piece
   * k as soon as its bytes are copied, while the main thread copies the next ones. (One word, so
   * a waiting worker never misses the last one.)
   */
  READY: 28,
  /** When the worker started and finished the job (µs clock, see clockUs): for the balance. */
  STARTED_US: 29,
  FINISHED_US: 30,
  /** The pieces, PIECE_INTS each (see Piece). */
  PIECES: 31,
} as const

/**
 * A piece: whole blocks, from the one whose prefix is at START_POS (its first element
 * START_ELEM) to element END_ELEM.
 */
export const Piece = {
  START_POS: 0,
  START_ELEM: 1,
  END_ELEM: 2,
} as const

export const PIECE_INTS = 3
export const MAX_PIECES = 32
export const READY_FINAL = 1 << 30
export const MAX_ROIS = 3

export const Op = {
  /** Decode the pieces as they become READY, sum Slot.ROIS into the result region. */
  PROFILE: 1,
  EXIT: 2,
  /** Grow the regions to SRC_LEN / FRAME_BYTES / RESULT_BYTES and publish their addresses. */
  RESERVE: 3,
} as const

/** Job status codes: the kernels' status codes, plus a trap and a worker-side failure. */
export const JobStatus = {
  OK: 0,
  ...KernelStatus,
  TRAP: -6,
  FAILED: -7,
} as const

/**
 * Test-only failures of a worker (the thread-failure tests): it sleeps `stallMs` in its first
 * PROFILE job, or exits in the middle of its `exitInJob`-th PROFILE job (1-based).
 */
export interface WorkerFaults {
  stallMs?: number
  exitInJob?: number
}

/** What a worker gets at start (workerData). */
export interface WorkerInit {
  /** The shared-memory build of the kernel (build/kernel.shared.wasm). */
  module: WebAssembly.Module
  control: SharedArrayBuffer
  index: number
  faults?: WorkerFaults | undefined
}

/** The worker's first message: its kernel's (shared) memory. */
export interface WorkerReady {
  memory: WebAssembly.Memory
}

const CLOCK_WRAP = 2 ** 30

/** A microsecond clock that agrees between threads (wall time; wraps every ~18 minutes). */
export function clockUs(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000) % CLOCK_WRAP
}

/** b - a in milliseconds for two clockUs() readings less than half a wrap apart. */
export function clockDiffMs(a: number, b: number): number {
  const d = ((((b - a) % CLOCK_WRAP) + CLOCK_WRAP + CLOCK_WRAP / 2) % CLOCK_WRAP) - CLOCK_WRAP / 2
  return d / 1000
}

/** Byte offset of ROI k's partial profile from RESULT_PTR. */
export function resultOffset(roi: number, cols: number): number {
  return roi * cols * 8
}
