/**
 * Worker thread of ParallelProfiler: its own instance of the kernel's shared-memory build decodes
 * the rows it is given out of its input region (which the main thread fills) and sums its slice
 * of each ROI into its result region (which the main thread reads). It blocks in Atomics.wait
 * between jobs (no timers: an idle worker costs nothing) and never returns to its event loop
 * (the main thread terminates it).
 * @module
 */
import { parentPort, workerData } from 'node:worker_threads'
import { KernelError } from './errors.js'
import { Kernel } from './kernel.js'
import {
  CTRL_INTS,
  JobStatus,
  MAX_PIECES,
  MAX_ROIS,
  Op,
  PIECE_INTS,
  Piece,
  READY_FINAL,
  Slot,
  clockUs,
  resultOffset,
  type WorkerInit,
  type WorkerReady,
} from './parallel-protocol.js'

const init = workerData as WorkerInit
const ctrl = new Int32Array(init.control)
const base = init.index * CTRL_INTS
const kernel = Kernel.fromModule(init.module)
const input = kernel.region()
const frame = kernel.region()
const results = kernel.region()
let seen = Atomics.load(ctrl, base + Slot.SEQ)
/** The main thread copies a share in well under a millisecond; this only stops a hang. */
const PIECE_TIMEOUT_MS = 5000
let jobs = 0

function slot(i: number): number {
  return ctrl[base + i]!
}

function statusOf(err: unknown): number {
  if (!(err instanceof KernelError) || err.code === 'MEMORY_CAP') return JobStatus.FAILED
  return JobStatus[err.code]
}

/** Grows the regions (this thread alone allocates in its memory) and publishes them. */
function reserve(): void {
  kernel.run(() => {
    ctrl[base + Slot.INPUT_PTR] = input.ensure(slot(Slot.SRC_LEN))
    frame.ensure(slot(Slot.FRAME_BYTES))
    ctrl[base + Slot.RESULT_PTR] = results.ensure(slot(Slot.RESULT_BYTES))
  })
}

/** Waits until piece k is copied (true) or the main thread has published its last (false). */
function awaitPiece(k: number): boolean {
  const deadline = performance.now() + PIECE_TIMEOUT_MS
  for (;;) {
    const ready = Atomics.load(ctrl, base + Slot.READY)
    if ((ready & ~READY_FINAL) > k) return true
    if (ready & READY_FINAL) return false
    const left = deadline - performance.now()
    if (left <= 0) throw new Error(`piece ${k} was not copied within ${PIECE_TIMEOUT_MS} ms`)
    Atomics.wait(ctrl, base + Slot.READY, ready, left)
  }
}

/** Test-only failures (WorkerFaults): a slow or dying worker, for the main thread to survive. */
function injectFaults(): void {
  const f = init.faults
  if (f === undefined) return
  jobs++
  if (f.exitInJob === jobs) process.exit(3)
  if (f.stallMs && jobs === 1) {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, f.stallMs)
  }
}

function profile(): void {
  ctrl[base + Slot.STARTED_US] = clockUs()
  injectFaults()
  const width = slot(Slot.WIDTH)
  const height = slot(Slot.HEIGHT)
  const inPtr = slot(Slot.INPUT_PTR)
  const elemSize = slot(Slot.ELEM_SIZE)
  const frameBytes = width * height * elemSize
  const dst = frame.ensure(frameBytes) // reserved by RESERVE: no growth here
  for (let k = 0; k < MAX_PIECES && awaitPiece(k); k++) {
    const at = base + Slot.PIECES + k * PIECE_INTS
    const status = kernel.run((e) =>
      e.bslz4_decompress_from(
        inPtr,
        slot(Slot.SRC_LEN),
        dst,
        frameBytes,
        elemSize,
        ctrl[at + Piece.START_POS]!,
        ctrl[at + Piece.START_ELEM]!,
        ctrl[at + Piece.START_ELEM]!,
        ctrl[at + Piece.END_ELEM]!,
      ),
    )
    kernel.check(status, 'bitshuffle_lz4 ROI decode')
  }
  const nRois = Math.min(MAX_ROIS, slot(Slot.N_ROIS))
  const out = slot(Slot.RESULT_PTR)
  for (let k = 0; k < nRois; k++) {
    const r = Slot.ROIS + 4 * k
    const sy = slot(r + 3)
    if (sy <= 0) continue
    kernel.check(
      kernel.run((e) =>
        e.x_profile(
          dst,
          width,
          height,
          slot(Slot.DTYPE),
          slot(Slot.BIG_ENDIAN),
          slot(r),
          slot(r + 1),
          slot(r + 2),
          sy,
          out + resultOffset(k, slot(Slot.COLS)),
        ),
      ),
      'x_profile',
    )
  }
  ctrl[base + Slot.FINISHED_US] = clockUs()
}

/** Serves jobs until the main thread posts EXIT. */
function serve(): void {
  for (;;) {
    Atomics.wait(ctrl, base + Slot.SEQ, seen)
    seen = Atomics.load(ctrl, base + Slot.SEQ)
    const op = slot(Slot.OP)
    if (op === Op.EXIT) {
      parentPort?.close()
      return
    }
    let status: number = JobStatus.OK
    try {
      if (op === Op.RESERVE) reserve()
      else profile()
    } catch (err) {
      status = statusOf(err)
    }
    Atomics.store(ctrl, base + Slot.STATUS, status)
    Atomics.store(ctrl, base + Slot.DONE, seen)
    Atomics.notify(ctrl, base + Slot.DONE)
  }
}

const ready: WorkerReady = { memory: kernel.exports.memory }
parentPort?.postMessage(ready)
serve()
