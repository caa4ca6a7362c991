/**
 * The service's logger: pino, JSON lines on stdout (what systemd/docker collect), human-readable
 * when stdout is a terminal. Levels go by the contract's Python names.
 * @module
 */
import { pino, type Logger, type LevelWithSilent } from 'pino'
import type { LogLevelName } from './cli/args.js'

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
}

/** The root logger; components take `log.child({ module })`. */
export async function createLogger(opts: LoggerOptions = {}): Promise<Logger> {
  const level = opts.level === 'SILENT' ? 'silent' : PINO_LEVEL[opts.level ?? 'INFO']
  const base = { level, name: opts.name ?? 'psen-processing' }
  if (opts.pretty ?? process.stdout.isTTY) {
    // In-process and synchronous: no worker thread, nothing lost on exit.
    const { default: pretty } = await import('pino-pretty')
    return pino(base, pretty({ sync: true, translateTime: 'SYS:standard', ignore: 'pid,hostname' }))
  }
  return pino(base, pino.destination({ sync: true }))
}

/** A logger that writes nothing (tests, library use). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' })
}

/**
 * Rate-limits a repeated warning: the first occurrence per key and interval is logged, the
 * others are counted and reported with the next logged one, so a bad input at 100 Hz costs one
 * line per interval instead of 100.
 */
export class RateLimitedLog {
  readonly #last = new Map<string, { at: number; suppressed: number }>()

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

  #emit(
    level: 'warn' | 'error', key: string, fields: Record<string, unknown>, message: string,
  ): void {
    const now = Date.now()
    const entry = this.#last.get(key)
    if (entry && now - entry.at < this.intervalMs) {
      entry.suppressed++
      return
    }
    const suppressed = entry?.suppressed ?? 0
    this.#last.set(key, { at: now, suppressed: 0 })
    this.log[level](suppressed > 0 ? { ...fields, suppressed } : fields, message)
  }
}
