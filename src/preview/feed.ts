/**
 * The preview feed: the newest image message, kept exactly as received (still compressed), handed
 * to preview clients at a low rate. The processor offers every frame; an offer is a few field
 * stores (no copy, no decode, no allocation), so the feed never slows processing down. Timers run
 * only while someone is subscribed.
 * @module
 */
import type { FrameObserver } from '../processing/frame-observer.js'

/** The channel description a preview frame needs (bsread's ChannelInfo satisfies it). */
export interface PreviewChannel {
  name: string
  type: string
  /** Fastest-changing dimension first: `[width, height]`. */
  shape: readonly number[]
  encoding: 'little' | 'big'
  compression: 'none' | 'lz4' | 'bitshuffle_lz4'
}

/** One frame as the preview hands it out. */
export interface PreviewFrame {
  pulseId: bigint
  globalTimestamp: { sec: number; ns: number }
  channel: PreviewChannel
  /** The value bytes as received on the input socket (compressed as the channel says). */
  data: Uint8Array
  /** `performance.now()` when the frame was offered. */
  offeredAt: number
  /** Frames offered since the feed was created, this one included. */
  sequence: number
}

/** One per-frame result of the service, kept for the page's edge trend. */
export interface PreviewResult {
  pulseId: bigint
  edgePosition: number
  amplitude: number
}

export interface PreviewFeedOptions {
  /** Frames per second handed to each subscriber (default 5). */
  rateHz?: number
  /** Per-frame results kept between two publications (default 1024). */
  resultCapacity?: number
}

/** Called at the preview rate with the newest frame (only when a new one arrived). */
export type PreviewListener = (frame: PreviewFrame, results: PreviewResult[]) => void

/** How long a `latest()` call keeps frames wanted (a polling page asks every 200 ms or so). */
const ASKED_MS = 10_000

/** Default preview rate in frames per second. */
export const DEFAULT_PREVIEW_RATE_HZ = 5

/**
 * Keeps the newest offered frame and publishes it to subscribers at `rateHz`.
 *
 * @example
 * const feed = new PreviewFeed({ rateHz: 5 })
 * feed.offer(msg.pulseId, msg.globalTimestamp, channelInfo, rawValueBytes)   // every frame
 * const stop = feed.subscribe((frame) => ws.send(encodePreviewMessage(frame)))
 */
export class PreviewFeed implements FrameObserver {
  readonly rateHz: number
  // The newest frame, as separate fields: an offer must not allocate.
  #pulseId = 0n
  #ts: { sec: number; ns: number } = { sec: 0, ns: 0 }
  #channel: PreviewChannel | undefined
  #data: Uint8Array | undefined
  #offeredAt = 0
  #sequence = 0
  // Per-frame results in a ring (typed arrays: no garbage per frame).
  readonly #resPulse: BigInt64Array
  readonly #resEdge: Float64Array
  readonly #resAmp: Float64Array
  #resCount = 0
  #resHead = 0
  #resPublished = 0
  #listeners = new Set<PreviewListener>()
  #timer: ReturnType<typeof setTimeout> | undefined
  #lastPublished = 0
  #published = 0
  /** When `latest()` was last asked for (a page polling GET /preview/frame). */
  #askedAt = -Infinity

  constructor(options: PreviewFeedOptions = {}) {
    const rate = options.rateHz ?? DEFAULT_PREVIEW_RATE_HZ
    if (!(rate > 0 && rate <= 1000))
      throw new RangeError(`preview rate must be in (0, 1000] Hz, got ${rate}`)
    this.rateHz = rate
    const cap = Math.max(1, Math.floor(options.resultCapacity ?? 1024))
    this.#resPulse = new BigInt64Array(cap)
    this.#resEdge = new Float64Array(cap)
    this.#resAmp = new Float64Array(cap)
  }

  /**
   * Offers a received image frame. Keeps references only: `data` must not be mutated later by
   * the caller (received zmq buffers never are).
   */
  offer(
    pulseId: bigint,
    globalTimestamp: { sec: number; ns: number },
    channel: PreviewChannel,
    data: Uint8Array,
  ): void {
    this.#pulseId = pulseId
    this.#ts = globalTimestamp
    this.#channel = channel
    this.#data = data
    this.#offeredAt = performance.now()
    this.#sequence++
  }

  /** Offers the service's result for one frame (edge position in pixels, NaN when none). */
  offerResult(pulseId: bigint, edgePosition: number, amplitude: number): void {
    const cap = this.#resPulse.length
    const i = this.#resHead
    this.#resPulse[i] = BigInt.asIntN(64, pulseId)
    this.#resEdge[i] = edgePosition
    this.#resAmp[i] = amplitude
    this.#resHead = (i + 1) % cap
    this.#resCount++
  }

  /** Frames offered so far. */
  get offered(): number {
    return this.#sequence
  }

  /** Frames handed out to subscribers (one count per publication, whatever the subscribers). */
  get published(): number {
    return this.#published
  }

  get subscribers(): number {
    return this.#listeners.size
  }

  /**
   * Whether frames are wanted: someone is subscribed, or asked for the newest frame within the
   * last ASKED_MS. When the frames run in another thread, they are copied over only then.
   */
  wantsFrames(): boolean {
    return this.#listeners.size > 0 || performance.now() - this.#askedAt < ASKED_MS
  }

  /** The newest frame, or undefined before the first offer. */
  latest(): PreviewFrame | undefined {
    this.#askedAt = performance.now()
    if (this.#data === undefined || this.#channel === undefined) return undefined
    return {
      pulseId: this.#pulseId,
      globalTimestamp: this.#ts,
      channel: this.#channel,
      data: this.#data,
      offeredAt: this.#offeredAt,
      sequence: this.#sequence,
    }
  }

  /** Forgets the newest frame (e.g. when processing stops) so that stale frames are not served. */
  clear(): void {
    this.#data = undefined
    this.#channel = undefined
  }

  /** Calls `listener` at the preview rate with each new newest frame; returns the unsubscriber. */
  subscribe(listener: PreviewListener): () => void {
    this.#listeners.add(listener)
    if (this.#timer === undefined) this.#schedule()
    return () => {
      this.#listeners.delete(listener)
      if (this.#listeners.size === 0 && this.#timer !== undefined) {
        clearTimeout(this.#timer)
        this.#timer = undefined
      }
    }
  }

  /** Stops publishing and drops every subscriber. */
  close(): void {
    this.#listeners.clear()
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
  }

  /**
   * Next publication in 0.75..1.25 periods. A fixed period would alias with the shot pattern:
   * at 100 Hz and 5 Hz every preview frame would be 20 pulses after the previous one, so with
   * X-ray shots on every 4th pulse the page would only ever see one kind of shot.
   */
  #schedule(): void {
    const delay = (1000 / this.rateHz) * (0.75 + 0.5 * Math.random())
    this.#timer = setTimeout(() => {
      this.#publish()
      if (this.#listeners.size > 0) this.#schedule()
      else this.#timer = undefined
    }, delay)
    this.#timer.unref?.()
  }

  #takeResults(): PreviewResult[] {
    const cap = this.#resPulse.length
    const n = Math.min(this.#resCount - this.#resPublished, cap)
    this.#resPublished = this.#resCount
    const out: PreviewResult[] = new Array(n)
    for (let k = 0; k < n; k++) {
      const i = (this.#resHead - n + k + cap) % cap
      out[k] = {
        pulseId: BigInt.asUintN(64, this.#resPulse[i] ?? 0n),
        edgePosition: this.#resEdge[i] ?? NaN,
        amplitude: this.#resAmp[i] ?? NaN,
      }
    }
    return out
  }

  #publish(): void {
    if (this.#sequence === this.#lastPublished) return
    const frame = this.latest()
    if (frame === undefined) return
    this.#lastPublished = this.#sequence
    this.#published++
    const results = this.#takeResults()
    for (const listener of this.#listeners) {
      try {
        listener(frame, results)
      } catch {
        // A failing client (closed socket) must not stop the others; it unsubscribes on close.
      }
    }
  }
}

/** The JSON header of a preview message (WebSocket) and of `GET /preview/frame` (as headers). */
export interface PreviewHeader {
  htype: 'psen-preview-1'
  /** Decimal string: pulse ids may exceed 2^53. */
  pulse_id: string
  global_timestamp: { sec: number; ns: number }
  name: string
  type: string
  shape: number[]
  encoding: 'little' | 'big'
  compression: 'none' | 'lz4' | 'bitshuffle_lz4'
  byte_length: number
  /** Service results since the previous message: [pulse_id, edge_position, amplitude]. */
  results: Array<[string, number | null, number | null]>
}

/** The header describing `frame`. */
export function previewHeader(frame: PreviewFrame, results: PreviewResult[] = []): PreviewHeader {
  const num = (x: number): number | null => (Number.isFinite(x) ? x : null)
  return {
    htype: 'psen-preview-1',
    pulse_id: frame.pulseId.toString(),
    global_timestamp: { sec: frame.globalTimestamp.sec, ns: frame.globalTimestamp.ns },
    name: frame.channel.name,
    type: frame.channel.type,
    shape: [...frame.channel.shape],
    encoding: frame.channel.encoding,
    compression: frame.channel.compression,
    byte_length: frame.data.byteLength,
    results: results.map((r) => [r.pulseId.toString(), num(r.edgePosition), num(r.amplitude)]),
  }
}

/**
 * One binary WebSocket message: u32 little-endian header length, the UTF-8 JSON header, zero
 * padding to a multiple of 8 bytes, then the value bytes as received. It is a copy, made at the
 * preview rate only, so the received buffer can be released and is never shared with the socket.
 */
export function encodePreviewMessage(
  frame: PreviewFrame,
  results: PreviewResult[] = [],
): Uint8Array<ArrayBuffer> {
  const header = new TextEncoder().encode(JSON.stringify(previewHeader(frame, results)))
  const dataOffset = Math.ceil((4 + header.byteLength) / 8) * 8
  const out = new Uint8Array(dataOffset + frame.data.byteLength)
  new DataView(out.buffer).setUint32(0, header.byteLength, true)
  out.set(header, 4)
  out.set(frame.data, dataOffset)
  return out
}

/** Splits a preview message into header and value bytes (a view, no copy). Used by the page. */
export function decodePreviewMessage(message: ArrayBuffer | Uint8Array): {
  header: PreviewHeader
  data: Uint8Array
} {
  const bytes = message instanceof Uint8Array ? message : new Uint8Array(message)
  if (bytes.byteLength < 4) throw new Error('preview message too short')
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const headerLength = view.getUint32(0, true)
  if (4 + headerLength > bytes.byteLength) throw new Error('preview message header truncated')
  const header = JSON.parse(
    new TextDecoder().decode(bytes.subarray(4, 4 + headerLength)),
  ) as PreviewHeader
  const dataOffset = Math.ceil((4 + headerLength) / 8) * 8
  const data = bytes.subarray(dataOffset)
  if (data.byteLength !== header.byte_length) throw new Error('preview message data truncated')
  return { header, data }
}
