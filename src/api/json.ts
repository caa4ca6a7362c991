/**
 * JSON for HTTP responses with exact 64-bit integers: bigints (pulse ids) are written as plain
 * JSON numbers with all their digits, as Python's json did, instead of throwing or rounding.
 * @module
 */

const MARK = '\u0001bigint:'
const MARKED = /"\\u0001bigint:(-?\d+)"/g

/** JSON.stringify that writes bigint values as exact JSON numbers. */
export function stringifyJson(value: unknown): string {
  let sawBigint = false
  const text = JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v === 'bigint') {
      sawBigint = true
      return MARK + v.toString()
    }
    // JSON has no NaN/Infinity; null is what Python clients can read back.
    if (typeof v === 'number' && !Number.isFinite(v)) return null
    return v
  })
  return sawBigint ? text.replace(MARKED, '$1') : text
}
