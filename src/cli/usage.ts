/**
 * What every command line of psen-processing (the service, `simulate`, `dump`) shares: the
 * UsageError, strict option parsing that suggests the nearest known option, value checks with
 * one wording, and the one error format (`psen-processing CMD: message` + where the help is;
 * exit code 2).
 * @module
 */
import { parseArgs, type ParseArgsConfig } from 'node:util'

/** A command line that cannot be run; the message says why. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'UsageError'
  }
}

/** Exit code of a command line that cannot be run (as the service always had). */
export const USAGE_EXIT = 2

/** The error text for `command` ('' for the service itself, else 'simulate' or 'dump'). */
export function usageFailure(command: string, message: string): string {
  const name = command ? `psen-processing ${command}` : 'psen-processing'
  return `${name}: ${message}\nRun '${name} --help' for usage.\n`
}

/**
 * Edit distance with adjacent transpositions (optimal string alignment). A dozen lines here
 * rather than a dependency: it only ranks a handful of option names for a "did you mean".
 */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  )
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      const row = d[i]!
      row[j] = Math.min(d[i - 1]![j]! + 1, row[j - 1]! + 1, d[i - 1]![j - 1]! + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        row[j] = Math.min(row[j]!, d[i - 2]![j - 2]! + 1)
      }
    }
  }
  return d[a.length]![b.length]!
}

/** The candidate closest to `word`, when close enough to be what was meant. */
export function nearest(word: string, candidates: readonly string[]): string | undefined {
  const w = word.toLowerCase()
  let best: string | undefined
  let bestDistance = Math.max(2, Math.floor(w.length / 3)) + 1
  for (const c of candidates) {
    const dist = distance(w, c.toLowerCase())
    if (dist < bestDistance) {
      best = c
      bestDistance = dist
    }
  }
  return best
}

type Options = NonNullable<ParseArgsConfig['options']>
interface StrictConfig<O extends Options> {
  args: string[]
  options: O
  allowPositionals: boolean
  strict: true
}

/**
 * node:util parseArgs in strict mode; an unknown option's error names the nearest known one
 * ("unknown option '--rest_api_prot': did you mean --rest_api_port?").
 */
export function parseStrict<O extends Options>(
  args: string[],
  options: O,
  allowPositionals: boolean,
): ReturnType<typeof parseArgs<StrictConfig<O>>> {
  try {
    return parseArgs({ args, options, allowPositionals, strict: true })
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err)
    const unknown = /^Unknown option '([^']+)'/.exec(message)?.[1]
    if (unknown !== undefined) {
      // Only long names: any one letter is as near to every short option as to another.
      const guess = unknown.startsWith('--')
        ? nearest(
            unknown,
            Object.keys(options).map((long) => `--${long}`),
          )
        : undefined
      throw new UsageError(
        `unknown option '${unknown}'` + (guess ? `: did you mean ${guess}?` : ''),
      )
    }
    // parseArgs' own messages name the option; drop its hint about '--' for positionals.
    throw new UsageError(message.split('. To specify')[0] || 'bad command line')
  }
}

export function integer(
  name: string,
  raw: string | undefined,
  fallback: number,
  min: number,
  max: number,
): number {
  if (raw === undefined) return fallback
  if (!/^\s*\d+\s*$/.test(raw)) throw new UsageError(`--${name}: expected an integer, got '${raw}'`)
  const value = Number(raw)
  if (value < min || value > max) {
    throw new UsageError(`--${name}: ${value} is out of range [${min}, ${max}]`)
  }
  return value
}

export function decimal(
  name: string,
  raw: string | undefined,
  fallback: number,
  min: number,
  max: number,
): number {
  if (raw === undefined) return fallback
  const value = Number(raw)
  if (raw.trim() === '' || !Number.isFinite(value)) {
    throw new UsageError(`--${name}: expected a number, got '${raw}'`)
  }
  if (value < min || value > max) {
    throw new UsageError(`--${name}: ${value} is out of range [${min}, ${max}]`)
  }
  return value
}

export function choice<T extends string>(
  name: string,
  raw: string | undefined,
  fallback: T,
  choices: readonly T[],
): T {
  if (raw === undefined) return fallback
  const found = choices.find((c) => c.toLowerCase() === raw.toLowerCase())
  if (!found) throw new UsageError(`--${name}: '${raw}' is not one of ${choices.join(', ')}`)
  return found
}

/**
 * Checks a tcp://host:port address (what the old service accepted, split the same way); `what`
 * names it in the message. A port out of range is said to be so.
 */
export function checkStreamAddress(address: string, what = 'INPUT_STREAM'): string {
  const m = /^tcp:\/\/([^\s/]+):(\d+)$/.exec(address)
  if (!m) throw new UsageError(`${what} must look like tcp://host:port, got '${address}'`)
  const port = Number(m[2])
  if (port < 1 || port > 65535) {
    throw new UsageError(`${what} ${address}: port ${port} is out of range [1, 65535]`)
  }
  return address
}
