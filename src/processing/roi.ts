/**
 * Regions of interest: `[offset_x, size_x, offset_y, size_y]` or `[]` (off). Validation in the
 * old service's order and with its message prefixes (docs/service.md, "ROIs"), stricter where
 * the old code let nonsense through (non-lists that Python found "falsy", fractions, booleans).
 * @module
 */

/** A ROI as the API reads it back: `[]` (off) or four integers. */
export type Roi = [] | [number, number, number, number]

/** Largest offset or size accepted: far beyond any camera, small enough for exact arithmetic. */
export const ROI_LIMIT = 1 << 24

/** A ROI the service refuses; the message starts with the contract's prefix. */
export class RoiError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'RoiError'
  }
}

/** Formats a value the way the old service's messages did (Python-like lists). */
function show(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(show).join(', ')}]`
  if (value === null) return 'None'
  if (typeof value === 'string') return `'${value}'`
  if (typeof value === 'object') return JSON.stringify(value)
  return String(value)
}

function typeName(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'list'
  return typeof value
}

/**
 * Validates a ROI from a request body and returns it normalised (`null` → `[]`).
 * Throws RoiError: `ROI must be an instance of a list`, `ROI must have exactly 4 elements`,
 * `ROI values must be integers`, `ROI offsets`, `ROI sizes`, in that order.
 */
export function validateRoi(value: unknown): Roi {
  if (value === null || value === undefined) return []
  if (!Array.isArray(value)) {
    throw new RoiError(
      `ROI must be an instance of a list, but ${show(value)} was given as a ${typeName(value)}.`,
    )
  }
  if (value.length === 0) return []
  if (value.length !== 4) {
    throw new RoiError(`ROI must have exactly 4 elements, but ${show(value)} was given.`)
  }
  if (!value.every((v) => typeof v === 'number' && Number.isInteger(v))) {
    throw new RoiError(`ROI values must be integers, but ${show(value)} was given.`)
  }
  const [ox, sx, oy, sy] = value as [number, number, number, number]
  if (ox < 0 || oy < 0) {
    throw new RoiError(
      `ROI offsets (first and third elements) must be positive, but ${show(value)} was given.`,
    )
  }
  if (sx < 1 || sy < 1) {
    throw new RoiError(
      `ROI sizes (second and fourth elements) must be at least 1, but ${show(value)} was given.`,
    )
  }
  if (ox + sx > ROI_LIMIT || oy + sy > ROI_LIMIT) {
    throw new RoiError(
      `ROI offset + size must be at most ${ROI_LIMIT}, but ${show(value)} was given.`,
    )
  }
  return [ox, sx, oy, sy]
}
