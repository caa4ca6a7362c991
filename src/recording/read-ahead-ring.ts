/**
 * The ring between the read-ahead thread (src/recording/read-ahead-worker.ts, the producer)
 * and the thread that analyses (src/recording/read-ahead.ts, the consumer): a few ArrayBuffers
 * go round. The producer reads a record's payload into a free one and transfers it (no copy)
 * with the record on a MessagePort; the consumer transfers it back once done with the message.
 * Each side takes the other's messages with receiveMessageOnPort (no event-loop turn per
 * record) and, when there are none, waits on a counter the other side bumps after posting.
 *
 * Plain ArrayBuffers, not SharedArrayBuffers, on purpose: V8 copies out of shared memory
 * element by element (it must allow for concurrent writers), which made the copy of the ROI's
 * blocks into kernel memory ~4x slower than a memcpy (bench/analyze-case.ts).
 * @module
 */
import { receiveMessageOnPort, type MessagePort } from 'node:worker_threads'

import type { RecordingDamage, UncheckedTail } from './reader.js'

/** Words of the shared counters. */
export const Counter = {
  /** Set to 1 by the consumer: the producer stops. */
  STOP: 0,
  /** Bumped by the producer after each message it posts. */
  POSTED: 1,
  /** Bumped by the consumer after each buffer it gives back. */
  RETURNED: 2,
  /**
   * Set by the consumer: the share of each payload's CRC-32 (in 1/SHARE_ONE) the producer
   * leaves to it, at the payload's end (see ReadAheadReader's balance).
   */
  SHARE: 3,
} as const
const COUNTERS = 4
/** The unit of Counter.SHARE: the whole payload. */
export const SHARE_ONE = 1024

/** Producer to consumer, in file order. */
export type ToConsumer =
  | {
      type: 'record'
      /** Byte offset of the record; position after it. */
      offset: number
      next: number
      /** The payload is its first `length` bytes. */
      buffer: ArrayBuffer
      length: number
      /** The part of the CRC-32 left to the consumer (Counter.SHARE), if any. */
      unchecked?: UncheckedTail
    }
  | { type: 'end'; damage: RecordingDamage | undefined }
  | { type: 'error'; name: string; message: string }

/** Consumer to producer: a buffer to read into again. */
export interface ToProducer {
  buffer: ArrayBuffer
}

/** What the read-ahead thread gets at its start. */
export interface ReadAheadInit {
  path: string
  /** The consumer's open file descriptor (process-wide; every read is positional). */
  fd: number
  size: number
  /** Byte offset of the first record to read. */
  position: number
  verify: boolean
  /** Buffers in the ring (records read ahead, plus the one being analysed). */
  buffers: number
  counters: SharedArrayBuffer
  port: MessagePort
}

export function counters(): SharedArrayBuffer {
  return new SharedArrayBuffer(COUNTERS * 4)
}

/** Bumps a counter after a post, waking the other side if it waits on it. */
export function bump(ints: Int32Array, counter: number): void {
  Atomics.add(ints, counter, 1)
  Atomics.notify(ints, counter)
}

/** Consumer: asks the producer to stop, waking it wherever it waits. */
export function stop(ints: Int32Array): void {
  Atomics.store(ints, Counter.STOP, 1)
  for (const c of [Counter.STOP, Counter.RETURNED]) Atomics.notify(ints, c)
}

/**
 * Producer: the next message on `port`, blocking until the consumer bumps RETURNED; undefined
 * once the consumer asked to stop. The timeout only bounds a missed wake-up.
 */
export function receiveBlocking(port: MessagePort, ints: Int32Array): ToProducer | undefined {
  for (;;) {
    if (Atomics.load(ints, Counter.STOP) !== 0) return undefined
    const seen = Atomics.load(ints, Counter.RETURNED)
    const got = receiveMessageOnPort(port)
    if (got !== undefined) return got.message as ToProducer
    Atomics.wait(ints, Counter.RETURNED, seen, 1000)
  }
}

/** Producer: blocks until the consumer asks to stop. */
export function waitStopped(ints: Int32Array): void {
  while (Atomics.load(ints, Counter.STOP) === 0) Atomics.wait(ints, Counter.STOP, 0, 1000)
}

/** Consumer: the next message on `port` if there is one. */
export function receiveNow(port: MessagePort): ToConsumer | undefined {
  return receiveMessageOnPort(port)?.message as ToConsumer | undefined
}

/**
 * Consumer: the next message on `port`, waiting (without blocking the thread) until the
 * producer bumps POSTED; `failed` rejects when the producer is gone.
 */
export async function receiveAsync(
  port: MessagePort,
  ints: Int32Array,
  failed: Promise<never>,
): Promise<ToConsumer> {
  for (;;) {
    const seen = Atomics.load(ints, Counter.POSTED)
    const got = receiveMessageOnPort(port)
    if (got !== undefined) return got.message as ToConsumer
    const w = Atomics.waitAsync(ints, Counter.POSTED, seen)
    if (w.async) await Promise.race([w.value, failed])
  }
}
