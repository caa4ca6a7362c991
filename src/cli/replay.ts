/**
 * `psen-processing replay FILE [--port N] [--interface ADDR] [--mode push|pub]
 * [--rate HZ | --as_recorded] [--loop]`: a camera stand-in that sends a recording's messages
 * byte for byte (the parts as recorded: same headers, hashes, pulse ids, timestamps and
 * compressed values), so the service, `dump` and any bsread client read them as they read the
 * camera.
 *
 * Paced (--rate, --as_recorded) it behaves like a camera: it never waits for a slow reader,
 * a full queue drops the message (counted). Unpaced it sends as fast as the reader takes the
 * messages and loses none.
 * @module
 */
import { BsreadSender } from '../bsread/sender.js'
import { describeDamage, type RecordingReader } from '../recording/reader.js'
import { lines, onStop, openRecording, parseCommand, type CommandIO } from './command.js'
import { parseStrict, UsageError } from './usage.js'

const DEFAULT_PORT = 9010
/** How long the last messages may take to leave after the end of the file (ms). */
const LINGER_MS = 2000

export const REPLAY_USAGE = `usage: psen-processing replay FILE [options]

Sends the messages of a recording (psen-processing record) byte for byte, like the camera did.
Without --rate or --as_recorded, as fast as the reader takes them (none lost); paced, a reader
that cannot keep up loses messages, as with a camera (counted).

  --port N            port to bind (0: any free port)                     [${DEFAULT_PORT}]
  --interface ADDR    interface to bind ('*': all)                         [127.0.0.1]
  --mode push|pub     PUSH (point to point) or PUB (broadcast)             [push]
  --rate HZ           messages per second
  --as_recorded       at the pace they were received when recorded
  --loop              start again at the end of the file (until Ctrl-C)
  -h, --help          this text

Ctrl-C (SIGINT) or SIGTERM stops it. A damaged or truncated recording is sent up to the damage
(exit code 1).`

type Pace = { kind: 'fast' } | { kind: 'rate'; hz: number } | { kind: 'recorded' }

interface Parsed {
  file: string
  bind: string
  mode: 'push' | 'pub'
  pace: Pace
  loop: boolean
}

function parse(argv: string[]): Parsed | 'help' {
  const args = parseStrict(
    argv,
    {
      port: { type: 'string' },
      interface: { type: 'string' },
      mode: { type: 'string' },
      rate: { type: 'string' },
      as_recorded: { type: 'boolean', default: false },
      loop: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    true,
  )
  const v = args.values
  if (v.help) return 'help'
  const [file, ...extra] = args.positionals
  if (file === undefined || extra.length > 0) throw new UsageError('expected one FILE')
  const port = v.port === undefined ? DEFAULT_PORT : Number(v.port)
  if (
    v.port !== undefined &&
    (v.port.trim() === '' || !Number.isInteger(port) || port < 0 || port > 65535)
  ) {
    throw new UsageError(`--port: expected an integer in [0, 65535], got '${v.port}'`)
  }
  const iface = v.interface ?? '127.0.0.1'
  if (!/^[^\s/]+$/.test(iface)) throw new UsageError(`--interface: bad address '${iface}'`)
  const mode = (v.mode ?? 'push').toLowerCase()
  if (mode !== 'push' && mode !== 'pub') {
    throw new UsageError(`--mode: '${v.mode}' is not one of push, pub`)
  }
  if (v.rate !== undefined && v.as_recorded) {
    throw new UsageError('--rate and --as_recorded exclude each other')
  }
  let pace: Pace = { kind: v.as_recorded ? 'recorded' : 'fast' }
  if (v.rate !== undefined) {
    const hz = Number(v.rate)
    if (v.rate.trim() === '' || !Number.isFinite(hz) || hz <= 0 || hz > 100_000) {
      throw new UsageError(`--rate: expected a number of Hz in (0, 100000], got '${v.rate}'`)
    }
    pace = { kind: 'rate', hz }
  }
  return { file, bind: `tcp://${iface}:${port === 0 ? '*' : port}`, mode, pace, loop: v.loop }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted || ms <= 0) return resolve()
    const t = setTimeout(done, ms)
    function done(): void {
      clearTimeout(t)
      signal.removeEventListener('abort', done)
      resolve()
    }
    signal.addEventListener('abort', done, { once: true })
  })
}

/** Replays until the end of the file (or forever with --loop); resolves to the exit code. */
export async function runReplay(argv: string[], io: CommandIO = {}): Promise<number> {
  const l = lines(io)
  const { out, err } = l
  const p = parseCommand('replay', argv, REPLAY_USAGE, l, parse)
  if (typeof p === 'number') return p
  // Fresh buffers per message: zeromq may still hold the previous ones while sending.
  const reader = openRecording('replay', p.file, {}, l)
  if (reader === undefined) return 1
  const paced = p.pace.kind !== 'fast'
  let sender: BsreadSender
  try {
    sender = await BsreadSender.bind({
      address: p.bind,
      mode: p.mode,
      lingerMs: LINGER_MS,
      // Paced like a camera: never wait. Unpaced: wait for the reader, retry, lose nothing.
      nonBlocking: paced,
      sendTimeoutMs: 200,
      pubNoDrop: !paced,
    })
  } catch (e) {
    reader.close()
    err(`replay: cannot bind ${p.bind}: ${(e as Error).message}`)
    return 1
  }
  const stop = new AbortController()
  const unwatch = onStop(io, () => stop.abort())
  const count: Counts = { sent: 0, dropped: 0 }
  let lastSent = 0
  let lastAt = performance.now()
  let passes = 0
  const progress = l.tty
    ? setInterval(() => {
        const now = performance.now()
        const rate = (count.sent - lastSent) / ((now - lastAt) / 1000)
        err(
          `${rate.toFixed(1)} msg/s; ${count.sent} sent, ${count.dropped} dropped` +
            (p.loop ? `, pass ${passes + 1}` : ''),
        )
        lastSent = count.sent
        lastAt = now
      }, 1000)
    : undefined
  progress?.unref()
  out(`replaying ${p.file} on ${sender.endpoint} (${p.mode})`)
  let damaged = false
  try {
    while (!stop.signal.aborted) {
      const sentBefore = count.sent + count.dropped
      await replayOnce(reader, sender, p.pace, stop.signal, count)
      if (reader.damage && !damaged) {
        damaged = true
        err(`replay: ${describeDamage(reader)}`)
      }
      passes++
      // An empty recording would spin: stop after one pass that sent nothing.
      if (!p.loop || count.sent + count.dropped === sentBefore) break
      reader.rewind()
    }
  } finally {
    if (progress) clearInterval(progress)
    unwatch()
    reader.close()
    sender.close()
  }
  out(
    `${count.sent} messages sent, ${count.dropped} dropped (reader too slow)` +
      (p.loop ? `, ${passes} passes` : ''),
  )
  return damaged ? 1 : 0
}

interface Counts {
  sent: number
  /** Paced only: messages a full queue dropped. */
  dropped: number
}

/** Sends every message of the file once, paced as asked. */
async function replayOnce(
  reader: RecordingReader,
  sender: BsreadSender,
  pace: Pace,
  signal: AbortSignal,
  count: Counts,
): Promise<void> {
  const t0 = performance.now()
  let first: number | undefined
  let last: Promise<unknown> = Promise.resolve()
  let i = 0
  for (let m = reader.next(); m !== undefined && !signal.aborted; m = reader.next(), i++) {
    if (pace.kind !== 'fast') {
      first ??= m.receivedAt
      const due = pace.kind === 'rate' ? i * (1000 / pace.hz) : m.receivedAt - first
      // Late messages go at once: every recorded message is sent, none skipped.
      await sleep(t0 + due - performance.now(), signal)
      if (signal.aborted) break
      // Non-blocking: settles at once, sent or dropped.
      last = sender.send(m.parts).then((ok) => {
        if (ok) count.sent++
        else count.dropped++
      })
      continue
    }
    // false: no reader took it within the send timeout; the same message again.
    while (!signal.aborted) {
      if (await sender.send(m.parts)) {
        count.sent++
        break
      }
    }
  }
  await last
}
