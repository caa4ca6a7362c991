/**
 * The one error type the bsread layer throws for malformed input, and the bounded formatting
 * its messages use for values taken from a message.
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
  /** Anything else that failed while decoding (never a reason to stop receiving). */
  | 'decode_failed'

/** Longest message of a BsreadError (they go to logs and /statistics). */
const MAX_MESSAGE_CHARS = 500

/** Malformed bsread input; `reason` is a stable code for counters, `message` says what. */
export class BsreadError extends Error {
  constructor(
    readonly reason: BsreadErrorReason,
    message: string,
    options?: { cause?: unknown },
  ) {
    const long = message.length > MAX_MESSAGE_CHARS
    super(long ? `${message.slice(0, MAX_MESSAGE_CHARS)}…` : message, options)
    this.name = 'BsreadError'
  }
}

/** Characters `brief` shows by default. */
export const BRIEF_CHARS = 80
/** Nesting `brief` descends into; deeper arrays and objects show as `…`. */
const BRIEF_DEPTH = 4

/**
 * A value from a message as JSON-like text of at most `max` characters (then `…`). Never
 * throws and never recurses without bound: a message can hold anything JSON.parse accepts,
 * e.g. arrays nested 200,000 deep, which JSON.stringify cannot format (RangeError).
 */
export function brief(value: unknown, max = BRIEF_CHARS): string {
  const out: string[] = []
  let length = 0
  const emit = (s: string): boolean => {
    out.push(s)
    length += s.length
    return length <= max
  }
  const write = (v: unknown, depth: number): boolean => {
    if (typeof v === 'string') return emit(JSON.stringify(v.slice(0, max + 1)))
    if (typeof v === 'bigint') return emit(`${v}`)
    if (typeof v !== 'object' || v === null) return emit(String(v))
    if (depth >= BRIEF_DEPTH) return emit(Array.isArray(v) ? '[…]' : '{…}')
    if (Array.isArray(v)) {
      if (!emit('[')) return false
      for (let i = 0; i < v.length; i++) {
        if ((i > 0 && !emit(', ')) || !write(v[i], depth + 1)) return false
      }
      return emit(']')
    }
    if (!emit('{')) return false
    let first = true
    // for..in stops early; Object.keys would list a million keys first.
    for (const key in v) {
      if (!Object.hasOwn(v, key)) continue
      if (
        (!first && !emit(', ')) ||
        !emit(`${JSON.stringify(key.slice(0, max + 1))}: `) ||
        !write((v as Record<string, unknown>)[key], depth + 1)
      )
        return false
      first = false
    }
    return emit('}')
  }
  try {
    write(value, 0)
  } catch {
    // A getter or a proxy that throws: show what was formatted so far.
    out.push('…')
  }
  const text = out.join('')
  return text.length > max ? `${text.slice(0, max)}…` : text
}
