/**
 * What the record, replay and analyze commands share: where their lines go, the parsing of
 * their command line into a usage error or `--help`, how they are stopped, and the opening of
 * a recording with a readable error.
 * @module
 */
import { parseArgs, type ParseArgsConfig } from 'node:util'

import { RecordingError } from '../recording/format.js'
import { RecordingReader, type ReaderOptions } from '../recording/reader.js'
import { UsageError } from './args.js'

export interface CommandIO {
  /** Where result lines go (default: stdout). */
  out?: (line: string) => void
  /** Where errors and progress go (default: stderr). */
  err?: (line: string) => void
  /** Stops the command (default: SIGINT / SIGTERM). */
  signal?: AbortSignal
  /** Show progress (default: when stderr is a terminal). */
  tty?: boolean
}

export interface Lines {
  out: (line: string) => void
  err: (line: string) => void
  tty: boolean
}

export function lines(io: CommandIO): Lines {
  return {
    out: io.out ?? ((l: string) => process.stdout.write(l + '\n')),
    err: io.err ?? ((l: string) => process.stderr.write(l + '\n')),
    tty: io.tty ?? process.stderr.isTTY,
  }
}

type Options = NonNullable<ParseArgsConfig['options']>
interface Config<O extends Options> {
  args: string[]
  allowPositionals: true
  strict: true
  options: O
}

/** node:util parseArgs, strict, with its errors as UsageError (without its hints). */
export function parseArgv<O extends Options>(argv: string[], options: O):
  ReturnType<typeof parseArgs<Config<O>>> {
  try {
    return parseArgs({ args: argv, allowPositionals: true, strict: true, options })
  } catch (e) {
    throw new UsageError((e as Error).message.split('. To specify')[0] ?? 'bad command line')
  }
}

/**
 * Runs a command's parser: its result, or the exit code after printing the usage (`--help`,
 * 0) or the error (2).
 */
export function parseCommand<T>(name: string, argv: string[], usage: string, l: Lines,
  parse: (argv: string[]) => T | 'help'): T | number {
  let parsed: T | 'help'
  try {
    parsed = parse(argv)
  } catch (e) {
    if (!(e instanceof UsageError)) throw e
    l.err(`${name}: ${e.message}\n(see: psen-processing ${name} --help)`)
    return 2
  }
  if (parsed === 'help') {
    l.out(usage)
    return 0
  }
  return parsed
}

/** Calls `stop` on the abort signal, or on SIGINT / SIGTERM; returns the undo. */
export function onStop(io: CommandIO, stop: () => void): () => void {
  const signal = io.signal
  if (signal) {
    if (signal.aborted) stop()
    else signal.addEventListener('abort', stop, { once: true })
    return () => signal.removeEventListener('abort', stop)
  }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
  return () => {
    process.off('SIGINT', stop)
    process.off('SIGTERM', stop)
  }
}

/** Opens a recording, or prints why it cannot be read and returns undefined. */
export function openRecording(name: string, path: string, opts: ReaderOptions, l: Lines):
  RecordingReader | undefined {
  try {
    return RecordingReader.open(path, opts)
  } catch (e) {
    l.err(`${name}: ${e instanceof RecordingError ? e.message
      : `cannot read ${path}: ${(e as Error).message}`}`)
    return undefined
  }
}
