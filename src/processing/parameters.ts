/**
 * The processing parameters of the edge finder: one zod schema with the contract's
 * defaults, validated partial updates, and the `edge_status` code table.
 *
 * With `edge_method: "step"` the defaults reproduce the contract: X-ray shot when
 * `pulse_id % 4 == 0`, the other shots' signal profiles averaged over a window of the last 4,
 * subtracted, refined by linear interpolation with step 1, correlated with a 50-sample falling
 * step ('valid' mode), edge = argmax * step + floor(50 / 2), amplitude = the maximum. The
 * default method is `learned` (issue 21, docs/science.md).
 * @module
 */
import { z } from 'zod'

const roi4 = z.tuple([z.int().min(0), z.int().min(1), z.int().min(0), z.int().min(1)])

/** An event-channel value that selects a shot type; booleans compare as 1 / 0. */
const eventValue = z.union([z.number(), z.boolean(), z.string().max(256)])
/** Most values in a value list: every frame is compared against them. */
const MAX_EVENT_VALUES = 64

const pulseModulo = z
  .object({
    mode: z.literal('pulse_modulo'),
    /** X-ray shot when pulse_id % period == phase; every other shot is a reference shot. */
    period: z.int().min(1).max(1_000_000).default(4),
    phase: z.int().min(0).default(0),
  })
  .strict()

const eventChannel = z
  .object({
    mode: z.literal('event_channel'),
    /** Name of a scalar channel of the input message (event code, boolean, ...). */
    channel: z.string().min(1).max(256),
    /** Values meaning "X-ray shot". */
    xray_values: z.array(eventValue).min(1).max(MAX_EVENT_VALUES).default([1]),
    /** Values meaning "reference shot"; empty = every value that is not an X-ray value. */
    reference_values: z.array(eventValue).max(MAX_EVENT_VALUES).default([]),
  })
  .strict()

const referenceRoi = z
  .object({
    mode: z.literal('reference_roi'),
    /** A third ROI of the same frame, same width as the signal ROI, taken simultaneously. */
    roi: roi4,
  })
  .strict()

const reference = z.discriminatedUnion('mode', [pulseModulo, eventChannel, referenceRoi])

const averaging = z.discriminatedUnion('mode', [
  /** exponential (alpha 0.05) for the learned method, mean of 4 for step and compatibility. */
  z.object({ mode: z.literal('auto') }).strict(),
  z.object({ mode: z.literal('mean'), count: z.int().min(1).max(10_000).default(4) }).strict(),
  z
    .object({
      mode: z.literal('exponential'),
      alpha: z.number().gt(0).max(1).default(0.25),
    })
    .strict(),
])

/** Every processing parameter with its default. */
export const parametersSchema = z
  .object({
    reference: reference.default({ mode: 'pulse_modulo', period: 4, phase: 0 }),
    /** How reference profiles are averaged; the window resets on ROI or reference changes. */
    averaging: averaging.default({ mode: 'auto' }),
    /** subtract: signal - reference (old code); divide: signal / reference - 1 (LCLS). */
    normalisation: z.enum(['subtract', 'divide']).default('subtract'),
    /** Subtract the background ROI's profile (dark) from signal and reference profiles first. */
    dark_subtraction: z.boolean().default(false),
    /** Moving-average window (samples) applied before the edge search; 0 or 1 = off. */
    smoothing: z.int().min(0).max(10_000).default(0),
    /**
     * step: correlation with a +1/-1 step of step_length (the old default); learned: a matched
     * filter learned from the data, with a confidence per shot (docs/science.md).
     */
    edge_method: z.enum(['step', 'learned']).default('learned'),
    /** learned: length of the learned filter in pixels (step: step_length). */
    filter_length: z.int().min(4).max(10_000).default(100),
    /** learned: X-ray shots the learned filter averages over (exponentially weighted). */
    filter_shots: z.int().min(1).max(100_000).default(200),
    /**
     * Confidence (correlation peak / its noise sigma) below which a shot gets status
     * low_confidence (the edge is still reported); null = off.
     */
    minimum_confidence: z.number().min(0).max(1_000_000).nullable().default(6),
    /** Length of the step waveform in pixels. */
    step_length: z.int().min(2).max(100_000).default(50),
    edge_type: z.enum(['falling', 'rising']).default('falling'),
    /** Interpolation step in pixels (1 = no refinement, 0.1 = ten samples per pixel). */
    refinement_step: z.number().min(0.01).max(1).default(1),
    /** Parabolic sub-sample interpolation of the correlation peak. */
    parabola_refinement: z.boolean().default(false),
    /** Amplitude below which the edge is not valid (status below_threshold); null = off. */
    minimum_amplitude: z.number().nullable().default(null),
    /** Polynomial pixel -> fs, lowest order first (c0 + c1 x + ...); empty = off. */
    calibration: z.array(z.number()).max(16).default([]),
    /**
     * Reproduce the old code's arithmetic: refinement over arange(0, n - 1, step) (the last
     * profile pixel dropped) and a step waveform resampled the same way (49 taps, not 50).
     */
    compatibility: z.boolean().default(false),
    /** Shots in the rolling edge median / standard deviation of /statistics. */
    statistics_window: z.int().min(1).max(100_000).default(100),
  })
  .strict()
  .superRefine((p, ctx) => {
    // Refinements may see partly invalid input (other issues are reported too): guard each read.
    const ref = p.reference as Partial<{ mode: string; phase: number; period: number }> | undefined
    if (ref?.mode === 'pulse_modulo' && Number(ref.phase) >= Number(ref.period)) {
      ctx.addIssue({
        code: 'custom',
        path: ['reference', 'phase'],
        message: 'phase must be below period',
      })
    }
    const longest = Math.max(p.step_length, p.filter_length)
    if (p.refinement_step >= 0.01 && longest / p.refinement_step > 1_000_000) {
      ctx.addIssue({
        code: 'custom',
        path: ['refinement_step'],
        message: 'step_length (filter_length) / refinement_step is too large',
      })
    }
  })

export type ProcessingParameters = z.infer<typeof parametersSchema>
export type ReferenceSelection = ProcessingParameters['reference']
export type EventValue = z.infer<typeof eventValue>

/** The default parameter set (a fresh object each call). */
export function defaultParameters(): ProcessingParameters {
  return parametersSchema.parse({})
}

/** A rejected parameter update; `errors` lists one readable message per problem. */
export class ParameterError extends Error {
  constructor(readonly errors: string[]) {
    super(errors.join('; '))
    this.name = 'ParameterError'
  }
}

export type ParameterUpdateResult =
  | { ok: true; parameters: ProcessingParameters }
  | { ok: false; errors: string[] }

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/**
 * Merges a partial update into the current parameters and validates the result. Nested
 * `reference` / `averaging` objects merge into the current ones when their `mode` is absent or
 * unchanged, and replace them (with that mode's defaults) when the mode changes.
 */
export function parseParameterUpdate(
  current: ProcessingParameters,
  body: unknown,
): ParameterUpdateResult {
  if (!isRecord(body)) return { ok: false, errors: ['parameters must be a JSON object'] }
  const merged: Record<string, unknown> = { ...current }
  for (const [key, value] of Object.entries(body)) {
    const cur = (current as Record<string, unknown>)[key]
    if ((key === 'reference' || key === 'averaging') && isRecord(value) && isRecord(cur)) {
      if (key === 'averaging' && value.mode === undefined && cur.mode === 'auto') {
        // From auto, a count means the mean and an alpha the exponential average.
        const mode = 'alpha' in value ? 'exponential' : 'count' in value ? 'mean' : 'auto'
        merged[key] = { mode, ...value }
        continue
      }
      const sameMode = value.mode === undefined || value.mode === cur.mode
      merged[key] = sameMode ? { ...cur, ...value } : value
    } else {
      merged[key] = value
    }
  }
  const parsed = parametersSchema.safeParse(merged)
  if (parsed.success) return { ok: true, parameters: parsed.data }
  return {
    ok: false,
    errors: parsed.error.issues.map((i) => {
      const path = i.path.map(String).join('.')
      return path ? `${path}: ${i.message}` : i.message
    }),
  }
}

/**
 * The parameter model the service's settings store uses (defaults, validated merge that
 * throws a ParameterError, JSON as reported in `processing_parameters`).
 */
export const parameterModel = {
  defaults: defaultParameters,
  merge(current: ProcessingParameters, partial: unknown): ProcessingParameters {
    const r = parseParameterUpdate(current, partial)
    if (!r.ok) throw new ParameterError(r.errors)
    return r.parameters
  },
  toJson(p: ProcessingParameters): Record<string, unknown> {
    return { ...p }
  },
  /**
   * The learned method is the default for new installations only: parameters saved before
   * `edge_method` existed were tuned for the step correlation, so they keep it (and no
   * confidence cut). A state without saved parameters gets today's defaults.
   */
  upgradeSaved(saved: unknown): unknown {
    if (typeof saved !== 'object' || saved === null || Array.isArray(saved)) return saved
    if (Object.keys(saved).length === 0 || 'edge_method' in saved) return saved
    return { edge_method: 'step', minimum_confidence: null, ...saved }
  },
}

export type Averaging = Exclude<ProcessingParameters['averaging'], { mode: 'auto' }>

/** The averaging a parameter set uses: `auto` resolved by the edge method. */
export function effectiveAveraging(p: ProcessingParameters): Averaging {
  if (p.averaging.mode !== 'auto') return p.averaging
  return p.edge_method === 'learned' && !p.compatibility
    ? { mode: 'exponential', alpha: 0.05 }
    : { mode: 'mean', count: 4 }
}

/** True when a change between two parameter sets invalidates the collected references. */
export function referenceChanged(a: ProcessingParameters, b: ProcessingParameters): boolean {
  const key = (p: ProcessingParameters): string =>
    JSON.stringify([p.reference, effectiveAveraging(p), p.dark_subtraction, p.compatibility])
  return key(a) !== key(b)
}

/** `edge_status` codes of the data stream: code, name and what it means. */
export const EDGE_STATUS = [
  { code: 0, name: 'ok', description: 'edge found' },
  {
    code: 1,
    name: 'reference_shot',
    description: 'reference (background) shot: profile added to the reference window',
  },
  {
    code: 2,
    name: 'no_reference_yet',
    description: 'X-ray shot before any reference profile was collected',
  },
  { code: 3, name: 'no_signal_roi', description: 'no signal ROI set' },
  {
    code: 4,
    name: 'roi_outside_frame',
    description: 'the signal ROI does not fit the received frame',
  },
  {
    code: 5,
    name: 'below_threshold',
    description: 'correlation amplitude below minimum_amplitude',
  },
  {
    code: 6,
    name: 'profile_too_short',
    description: 'refined profile shorter than the step waveform',
  },
  {
    code: 7,
    name: 'no_event_value',
    description: 'event_channel mode: the channel is missing from this message',
  },
  {
    code: 8,
    name: 'unknown_event_value',
    description: 'event_channel mode: the value is neither an X-ray nor a reference value',
  },
  {
    code: 9,
    name: 'no_reference_roi',
    description: 'reference_roi mode: reference ROI profile missing (ROI outside the frame)',
  },
  {
    code: 10,
    name: 'reference_size_mismatch',
    description: 'reference_roi mode: reference ROI width differs from the signal ROI width',
  },
  {
    code: 11,
    name: 'no_background',
    description: 'dark subtraction on, but no background profile of the signal width',
  },
  { code: 12, name: 'error', description: 'processing error (see /statistics last_error)' },
  {
    code: 13,
    name: 'low_confidence',
    description: 'edge reported, but its confidence is below minimum_confidence',
  },
] as const

export type EdgeStatusName = (typeof EDGE_STATUS)[number]['name']

/** Code of each status name. */
export const EdgeStatus = Object.fromEntries(EDGE_STATUS.map((s) => [s.name, s.code])) as {
  readonly [K in EdgeStatusName]: number
}
