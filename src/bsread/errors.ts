/**
 * The one error type the bsread layer throws for malformed input.
 * @module
 */

export type BsreadErrorReason =
  | 'not_multipart'
  | 'part_count'
  | 'bad_main_header'
  | 'bad_json'
  | 'bad_htype'
  | 'bad_pulse_id'
  | 'bad_timestamp'
  | 'bad_data_header'
  | 'hash_mismatch'
  | 'unknown_type'
  | 'unknown_compression'
  | 'unknown_encoding'
  | 'bad_shape'
  | 'value_size'
  | 'decompressed_too_large'
  | 'decompression_failed'
  | 'bad_value'

/** Malformed bsread input; `reason` is a stable code for counters, `message` says what. */
export class BsreadError extends Error {
  constructor(
    readonly reason: BsreadErrorReason,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options)
    this.name = 'BsreadError'
  }
}
