/**
 * Who else sees each frame and its result besides the output streams: the browser preview,
 * wired in by the command line. Processing owns this interface so that it never imports the
 * layers that implement it.
 * @module
 */
import type { ChannelInfo, Timestamp } from '../bsread/types.js'

/** Called on the hot path, once per frame: implementations keep references, never copy. */
export interface FrameObserver {
  /** A received image frame; `data` is the value as received and is never mutated later. */
  offer(pulseId: bigint, globalTimestamp: Timestamp, channel: ChannelInfo, data: Uint8Array): void
  /** The frame's result (edge position in pixels, NaN when none). */
  offerResult(pulseId: bigint, edgePosition: number, amplitude: number): void
  /** Processing stopped: forget the newest frame, so that no one shows it as if it were live. */
  clear(): void
  /**
   * Whether images are wanted now (default: always). When the frames run in another thread,
   * images are copied over only while this says yes.
   */
  wantsFrames?(): boolean
}
