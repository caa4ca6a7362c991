/**
 * Worker thread of ParallelProfiler: its own instance of the kernel module decodes the rows it
 * is given out of the shared input buffer and sums its slice of each ROI into the shared result
 * buffer. It blocks in Atomics.wait between jobs (no timers: an idle worker costs nothing) and
 * never returns to its event loop (the main thread terminates it).
 * @module
 */
import { parentPort, workerData } from 'node:worker_threads'
import { Codec } from './codec.js'
import { KernelError } from './errors.js'
import { Kernel } from './kernel.js'
import {
  CTRL_INTS, JobStatus, MAX_RANGES, MAX_ROIS, Op, Slot, resultOffset, type WorkerInit,
} from './parallel-protocol.js'

const init = workerData as WorkerInit
const ctrl = new Int32Array(init.control)
const base = init.index * CTRL_INTS
const kernel = Kernel.fromModule(init.module)
// The main thread has already checked sizes against its limit.
const codec = new Codec(kernel, { maxBytes: 2 ** 31 - 1 })
const frame = kernel.region()
const sums = kernel.region()
// Length-tracking views: they follow the main thread's grow() of the shared buffers.
const input = new Uint8Array(init.input)
const result = new Uint8Array(init.result)
let seen = Atomics.load(ctrl, base + Slot.SEQ)

function slot(i: number): number {
  return ctrl[base + i]!
}

function statusOf(err: unknown): number {
  if (!(err instanceof KernelError)) return JobStatus.FAILED
  return JobStatus[err.code]
}

function runJob(): void {
  const width = slot(Slot.WIDTH)
  const height = slot(Slot.HEIGHT)
  const rows: Array<[number, number]> = []
  const nRanges = Math.min(MAX_RANGES, slot(Slot.N_RANGES))
  for (let i = 0; i < nRanges; i++) {
    rows.push([slot(Slot.RANGES + 2 * i), slot(Slot.RANGES + 2 * i + 1)])
  }
  const span = {
    start: slot(Slot.SPAN_START), startElem: slot(Slot.START_ELEM), end: slot(Slot.SPAN_END),
  }
  const ptr = kernel.run(() => codec.decompressSpanInto(frame,
    input.subarray(0, slot(Slot.SRC_LEN)), slot(Slot.ELEM_SIZE), width, height, span, rows))
  const nRois = Math.min(MAX_ROIS, slot(Slot.N_ROIS))
  for (let k = 0; k < nRois; k++) {
    const r = Slot.ROIS + 4 * k
    const sx = slot(r + 1)
    const sy = slot(r + 3)
    if (sy <= 0) continue
    const out = kernel.run(() => sums.ensure(sx * 8))
    kernel.check(kernel.run((e) => e.x_profile(ptr, width, height, slot(Slot.DTYPE),
      slot(Slot.BIG_ENDIAN), slot(r), sx, slot(r + 2), sy, out)), 'x_profile')
    result.set(kernel.bytes(out, sx * 8), resultOffset(init.index, k, slot(Slot.COLS)))
  }
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
      runJob()
    } catch (err) {
      status = statusOf(err)
    }
    Atomics.store(ctrl, base + Slot.STATUS, status)
    Atomics.store(ctrl, base + Slot.DONE, seen)
    Atomics.notify(ctrl, base + Slot.DONE)
  }
}

parentPort?.postMessage('ready')
serve()
