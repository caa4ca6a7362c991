/**
 * `psen-processing record INPUT FILE [--sub] [--count N] [--duration S]`: writes every bsread
 * message of a stream, as received, to a recording (src/recording/format.ts) for `replay` and
 * `analyze`. The receive loop never waits for the disk: a disk slower than the stream drops
 * messages (counted) instead of growing memory.
 * @module
 */
import { BsreadReceiver } from '../bsread/receiver.js'
import type { RecordingInfo } from '../recording/format.js'
import { RecordingWriter } from '../recording/writer.js'
import { lines, onStop, parseCommand, type CommandIO } from './command.js'
import { parseStrict, UsageError } from './usage.js'
import { packageVersion } from './version.js'

/**
 * Largest message part taken (zeromq drops the connection before reading a bigger one, and the
 * receiver connects again): with the receive queue of 100 messages it bounds the memory. A
 * 256 MiB image (the service's --max_frame_bytes default) uncompressed fits, with room.
 */
const MAX_PART_BYTES = 272 * 1024 * 1024

export const RECORD_USAGE = `usage: psen-processing record INPUT FILE [--sub] [--count N]
       [--duration S] [--queue_mb MB]

Writes every bsread message received from INPUT (tcp://host:port) to FILE, as received (all
parts, values still compressed) with its receive time; replay and analyze read it. FILE must
not exist. A rate line every second on a terminal. Ctrl-C (SIGINT) or SIGTERM ends it cleanly.

  --sub                connect a SUB socket (PUB stream) instead of PULL
  -n, --count N        stop after N messages
  --duration S         stop after S seconds
  --queue_mb MB        most data waiting for the disk before messages are dropped [256]
  -h, --help           this text
`

interface Parsed {
  input: string
  file: string
  sub: boolean
  count: number
  durationS: number
  queueBytes: number
}

function positive(name: string, raw: string | undefined, integer: boolean): number {
  if (raw === undefined) return Infinity
  const v = Number(raw)
  if (raw.trim() === '' || !Number.isFinite(v) || v <= 0 || (integer && !Number.isInteger(v))) {
    throw new UsageError(`${name} needs a positive ${integer ? 'integer' : 'number'}, got '${raw}'`)
  }
  return v
}

function parse(argv: string[]): Parsed | 'help' {
  const args = parseStrict(
    argv,
    {
      sub: { type: 'boolean', default: false },
      count: { type: 'string', short: 'n' },
      duration: { type: 'string' },
      queue_mb: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    true,
  )
  if (args.values.help) return 'help'
  const [input, file, ...extra] = args.positionals
  if (input === undefined || file === undefined || extra.length > 0) {
    throw new UsageError('expected INPUT (tcp://host:port) and FILE')
  }
  if (!/^(tcp|ipc|inproc):\/\/\S+$/.test(input)) {
    throw new UsageError(`INPUT must be an address like tcp://host:port, got '${input}'`)
  }
  const queueMb =
    args.values.queue_mb === undefined ? 256 : positive('--queue_mb', args.values.queue_mb, false)
  return {
    input,
    file,
    sub: args.values.sub,
    count: positive('--count', args.values.count, true),
    durationS: positive('--duration', args.values.duration, false),
    queueBytes: Math.round(queueMb * 1024 * 1024),
  }
}

function mb(bytes: number): string {
  return (bytes / 1e6).toFixed(1)
}

/** Records until --count, --duration, Ctrl-C or SIGTERM; resolves to the exit code. */
export async function runRecord(argv: string[], io: CommandIO = {}): Promise<number> {
  const l = lines(io)
  const { out, err } = l
  const p = parseCommand('record', argv, RECORD_USAGE, l, parse)
  if (typeof p === 'number') return p
  const info: RecordingInfo = {
    recorder: 'psen-processing record',
    version: packageVersion(),
    input: p.input,
    mode: p.sub ? 'sub' : 'pull',
    started: new Date().toISOString(),
  }
  let writer: RecordingWriter
  try {
    writer = await RecordingWriter.create(p.file, info, { maxQueueBytes: p.queueBytes })
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    err(
      `record: cannot create ${p.file}: ` +
        (code === 'EEXIST' ? 'it exists (a recording is never overwritten)' : (e as Error).message),
    )
    return 1
  }
  // Every message is kept as received, malformed or not: the decoder is not used here.
  const receiver = new BsreadReceiver({
    address: p.input,
    mode: p.sub ? 'sub' : 'pull',
    maxPartBytes: MAX_PART_BYTES,
  })
  const stop = (): void => receiver.close()
  const unwatch = onStop(io, stop)
  const timers: NodeJS.Timeout[] = []
  if (Number.isFinite(p.durationS)) timers.push(setTimeout(stop, p.durationS * 1000))
  const s = writer.stats
  let windowCount = 0
  let windowBytes = 0
  let windowStart = performance.now()
  if (l.tty) {
    const t = setInterval(() => {
      const now = performance.now()
      const sec = (now - windowStart) / 1000
      err(
        `${(windowCount / sec).toFixed(1)} msg/s, ${mb(windowBytes / sec)} MB/s; ` +
          `${s.written} messages, ${mb(s.bytes)} MB written, ${s.dropped} dropped ` +
          `(disk too slow), ${mb(writer.queuedBytes)} MB waiting`,
      )
      windowCount = 0
      windowBytes = 0
      windowStart = now
    }, 1000)
    t.unref()
    timers.push(t)
  }
  let received = 0
  let failed: Error | undefined
  try {
    for (;;) {
      const parts = await receiver.receiveRaw()
      if (parts === undefined) break
      const at = performance.timeOrigin + performance.now()
      received++
      windowCount++
      for (const part of parts) windowBytes += part.length
      writer.append(parts, at)
      if (writer.error) break
      if (received >= p.count) break
    }
  } catch (e) {
    failed = e as Error
  } finally {
    for (const t of timers) clearTimeout(t)
    receiver.close()
    unwatch()
  }
  try {
    await writer.close()
  } catch (e) {
    failed ??= e as Error
  }
  out(
    `${p.file}: ${s.written} messages, ${mb(s.bytes)} MB; ${s.dropped} dropped ` +
      `(the disk was too slow)`,
  )
  if (failed) {
    err(`record: ${failed.message}`)
    return 1
  }
  return 0
}
