/**
 * The service's input: the bsread receiver as the configuration asks for it, with malformed
 * messages and lost connections counted and reported.
 * @module
 */
import type { DecoderOptions } from '../bsread/decoder.js'
import type { BsreadError } from '../bsread/errors.js'
import { BsreadReceiver } from '../bsread/receiver.js'
import type { ServiceConfig } from '../config.js'
import type { Codec } from '../kernel/codec.js'
import type { RateLimitedLog } from '../log.js'
import type { Metrics } from '../metrics.js'
import { ControlError } from './control.js'

/** The input's part-size limit never goes below this (bytes). */
const MIN_PART_LIMIT = 256 * 1024 * 1024

export interface InputOptions {
  config: ServiceConfig
  /** Decodes compressed data headers (the decoder bounds their size itself). */
  codec: Codec
  metrics: Metrics
  problems: RateLimitedLog
  /** Every malformed message, after it was counted in the metrics and logged. */
  onMalformed(reason: string): void
}

/** How the input's messages are decoded (`analyze` decodes a recording's the same way). */
export function inputDecoderOptions(maxFrameBytes: number, codec: Codec): DecoderOptions {
  return {
    maxValueBytes: maxFrameBytes,
    // A data header is parsed only when the hash changes: checking its MD5 then is cheap and
    // rejects a header that does not match its hash (counted as hash_mismatch).
    verifyHash: true,
    codec,
  }
}

/** Connects the input; throws ControlError when the address cannot be used. */
export function openInput(o: InputOptions): BsreadReceiver {
  const { config, metrics, problems } = o
  try {
    return new BsreadReceiver({
      address: config.inputStream,
      mode: config.inputMode,
      receiveHighWaterMark: config.inputQueue,
      // libzmq bounds its queue in messages only: the receiver keeps its own, bounded in bytes.
      queueBytes: config.inputQueueMb * 1024 * 1024,
      ...inputDecoderOptions(config.maxFrameBytes, o.codec),
      // Bounds the memory one message part can take: zeromq drops the connection before
      // reading a bigger part (and the receiver reconnects). No valid image comes close.
      maxPartBytes: Math.max(
        MIN_PART_LIMIT,
        Math.ceil(config.maxFrameBytes * 1.01) + 16 * 1024 * 1024,
      ),
      onDisconnect: () => {
        metrics.inputDisconnects.inc()
        problems.warn(
          'input:disconnect',
          { input: config.inputStream },
          'input connection lost (the sender stopped, or sent a message part above the limit); ' +
            'connecting again',
        )
      },
      onError: (err: BsreadError) => {
        o.onMalformed(err.reason)
        metrics.framesDropped.inc({ reason: 'malformed' })
        problems.warn(
          `malformed:${err.reason}`,
          { reason: err.reason },
          `malformed input: ${err.message}`,
        )
      },
    })
  } catch (err) {
    throw new ControlError(`Cannot connect to ${config.inputStream}: ${(err as Error).message}`)
  }
}
