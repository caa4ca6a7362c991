/**
 * What the record, replay and analyze commands share: where their lines go, their command
 * line's usage error or `--help` (in the format of src/cli/usage.ts), how they are stopped,
 * and the opening of a recording with a readable error.
 * @module
 */
import { RecordingError } from '../recording/format.js'
import { RecordingReader, type ReaderOptions } from '../recording/reader.js'
import { USAGE_EXIT, usageFailure, UsageError } from './usage.js'

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

/**
 * Runs a command's parser: its result, or the exit code after printing the usage (`--help`,
 * 0) or the error (2).
 */
export function parseCommand<T>(
  name: string,
  argv: string[],
  usage: string,
  l: Lines,
  parse: (argv: string[]) => T | 'help',
): T | number {
  let parsed: T | 'help'
  try {
    parsed = parse(argv)
  } catch (e) {
    if (!(e instanceof UsageError)) throw e
    l.err(usageFailure(name, e.message).trimEnd())
    return USAGE_EXIT
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
export function openRecording(
  name: string,
  path: string,
  opts: ReaderOptions,
  l: Lines,
): RecordingReader | undefined {
  try {
    return RecordingReader.open(path, opts)
  } catch (e) {
    l.err(
      `${name}: ${
        e instanceof RecordingError ? e.message : `cannot read ${path}: ${(e as Error).message}`
      }`,
    )
    return undefined
  }
}
