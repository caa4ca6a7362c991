/**
 * The service's logger: pino, JSON lines on stdout (what systemd/docker collect), human-readable
 * when stdout is a terminal and pino-pretty is installed (a development dependency: the
 * container image has no terminal and leaves it out). Levels go by the contract's Python names.
 * @module
 */
import { pino, type Logger, type LevelWithSilent } from 'pino'
import type { LogLevelName } from './config.js'

export type { Logger }

const PINO_LEVEL: Record<LogLevelName, LevelWithSilent> = {
  CRITICAL: 'fatal',
  ERROR: 'error',
  WARNING: 'warn',
  INFO: 'info',
  DEBUG: 'debug',
}

export interface LoggerOptions {
  level?: LogLevelName | 'SILENT'
  /** Pretty output; default: when stdout is a TTY. */
  pretty?: boolean
  name?: string
  /** The pretty printer's package (tests name a missing one to see the JSON fallback). */
  prettyModule?: string
}

/** The root logger; components take `log.child({ module })`. */
export async function createLogger(opts: LoggerOptions = {}): Promise<Logger> {
  const level = opts.level === 'SILENT' ? 'silent' : PINO_LEVEL[opts.level ?? 'INFO']
  const base = { level, name: opts.name ?? 'psen-processing' }
  if (opts.pretty ?? process.stdout.isTTY) {
    const pretty = await loadPretty(opts.prettyModule ?? 'pino-pretty')
    // In-process and synchronous: no worker thread, nothing lost on exit.
    if (pretty) {
      return pino(
        base,
        pretty({ sync: true, translateTime: 'SYS:standard', ignore: 'pid,hostname' }),
      )
    }
  }
  return pino(base, pino.destination({ sync: true }))
}

type PrettyFactory = (opts: Record<string, unknown>) => NodeJS.WritableStream

/** pino-pretty, or undefined when it is not installed (production installs omit it). */
async function loadPretty(name: string): Promise<PrettyFactory | undefined> {
  try {
    return ((await import(name)) as { default: PrettyFactory }).default
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') return undefined
    throw err
  }
}

/** A logger that writes nothing (tests, library use). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' })
}

/**
 * Rate-limits a repeated warning: the first occurrence per key and interval is logged, the
 * others are counted. The count goes out with the next logged occurrence, or, when the problem
 * stopped, in one summary line at the end of the interval, so a bad input at 100 Hz costs one
 * line per interval instead of 100 and no suppressed count is ever lost.
 */
export class RateLimitedLog {
  readonly #last = new Map<string, Entry>()

  constructor(
    private readonly log: Logger,
    private readonly intervalMs = 5000,
  ) {}

  warn(key: string, fields: Record<string, unknown>, message: string): void {
    this.#emit('warn', key, fields, message)
  }

  error(key: string, fields: Record<string, unknown>, message: string): void {
    this.#emit('error', key, fields, message)
  }

  /** Logs the pending suppressed counts now (e.g. at shutdown) and stops the timers. */
  flush(): void {
    for (const [key, entry] of this.#last) {
      if (entry.timer) clearTimeout(entry.timer)
      entry.timer = undefined
      this.#summary(key, entry)
    }
  }

  #emit(
    level: 'warn' | 'error',
    key: string,
    fields: Record<string, unknown>,
    message: string,
  ): void {
    const now = Date.now()
    const entry = this.#last.get(key)
    if (entry && now - entry.at < this.intervalMs) {
      entry.suppressed++
      entry.level = level
      entry.fields = fields
      entry.message = message
      // One timer per key and interval, not per occurrence.
      entry.timer ??= setTimeout(
        () => {
          entry.timer = undefined
          this.#summary(key, entry)
        },
        entry.at + this.intervalMs - now,
      ).unref()
      return
    }
    const suppressed = entry?.suppressed ?? 0
    if (entry?.timer) clearTimeout(entry.timer)
    this.#last.set(key, { at: now, suppressed: 0, level, fields, message, timer: undefined })
    this.log[level](suppressed > 0 ? { ...fields, suppressed } : fields, message)
  }

  /** The interval ended with suppressed occurrences: report them with the last one's text. */
  #summary(key: string, entry: Entry): void {
    if (entry.suppressed === 0) return
    const n = entry.suppressed
    entry.suppressed = 0
    entry.at = Date.now()
    this.log[entry.level](
      { ...entry.fields, suppressed: n, key },
      `${entry.message} (and ${n} more like it suppressed)`,
    )
  }
}

interface Entry {
  at: number
  suppressed: number
  level: 'warn' | 'error'
  fields: Record<string, unknown>
  message: string
  timer: NodeJS.Timeout | undefined
}
