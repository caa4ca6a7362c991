/**
 * `psen-processing dump tcp://host:port [--sub] [-n N] [--values]`: prints each bsread
 * message's pulse id and channels (type, shape, compression) and a rate line every second,
 * like the facility's `bs` tools. For DAQ engineers checking a stream by hand.
 * @module
 */
import { decodeValue, type BsreadMessage } from '../bsread/decoder.js'
import { BsreadReceiver } from '../bsread/receiver.js'
import { elementCount, type BsreadCodec, type ChannelInfo } from '../bsread/types.js'
import { Codec } from '../kernel/codec.js'
import { Kernel } from '../kernel/kernel.js'
import { checkStreamAddress, parseStrict, USAGE_EXIT, usageFailure, UsageError } from './usage.js'

const USAGE = `usage: psen-processing dump tcp://host:port [--sub] [-n N] [--values]

Prints every bsread message received: pulse id, global timestamp and each channel's
type, shape, compression and size; a rate line every second.

Without --sub it connects PULL, for a PUSH stream (the service's default --output_mode push,
simulate's default --mode push). A PUSH stream hands each message to ONE of its consumers in
turn: next to the DAQ, this dump takes every other message away from it. Watch a running
service with --sub instead, after starting it with --output_mode pub.

  --sub          connect a SUB socket (PUB stream) instead of PULL
  -n, --count N  stop after N messages
  --values       print the values of channels with up to 16 elements
  -h, --help     this text
`

export interface DumpIO {
  /** Where lines go (default: stdout). */
  out?: (line: string) => void
  /** Where errors go (default: stderr). */
  err?: (line: string) => void
  /** Stops the dump (default: SIGINT / SIGTERM). */
  signal?: AbortSignal
  /** Codec for compressed data headers and values (default: the kernel's). */
  codec?: BsreadCodec
}

/** Runs the dump command; resolves to the process exit code. */
export async function runDump(argv: string[], io: DumpIO = {}): Promise<number> {
  const out = io.out ?? ((l: string) => process.stdout.write(l + '\n'))
  const err = io.err ?? ((l: string) => process.stderr.write(l + '\n'))
  let args
  let limit = Infinity
  try {
    args = parseStrict(
      argv,
      {
        sub: { type: 'boolean', default: false },
        count: { type: 'string', short: 'n' },
        values: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      true,
    )
    if (args.values.help) {
      out(USAGE)
      return 0
    }
    const [address, extra] = args.positionals
    if (address === undefined) throw new UsageError('expected an address like tcp://host:port')
    if (extra !== undefined) throw new UsageError(`unexpected argument '${extra}'`)
    if (address.startsWith('tcp://') || !/^(ipc|inproc):\/\/\S+$/.test(address)) {
      checkStreamAddress(address, 'the address')
    }
    if (args.values.count !== undefined) {
      limit = Number(args.values.count)
      if (!/^\d+$/.test(args.values.count) || limit < 1) {
        throw new UsageError(`-n: expected a positive integer, got '${args.values.count}'`)
      }
    }
  } catch (e) {
    if (!(e instanceof UsageError)) throw e
    err(usageFailure('dump', e.message).trimEnd())
    return USAGE_EXIT
  }
  const address = args.positionals[0] as string
  const codec = io.codec ?? (await kernelCodec(err))
  if (!args.values.sub) {
    err(
      `dump: connected PULL to ${address}. If it is a PUSH stream that another consumer ` +
        '(the DAQ) also reads, each message goes to one of you: this dump gets only its share ' +
        'and takes it away from the other. For a PUB stream (service --output_mode pub, ' +
        'simulate --mode pub) use --sub, which takes nothing away.',
    )
  }
  const receiver = new BsreadReceiver({
    address,
    mode: args.values.sub ? 'sub' : 'pull',
    codec,
    onError: (e) => err(`error: ${e.reason}: ${e.message}`),
  })
  const stop = () => receiver.close()
  const onSignal = () => stop()
  // A reader that went away (`dump ... | head`) ends the dump, as it ends any Unix filter.
  const onOutError = (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE' && e.code !== 'ERR_STREAM_DESTROYED') throw e
    stop()
  }
  if (!io.out) process.stdout.on('error', onOutError)
  if (io.signal) io.signal.addEventListener('abort', stop, { once: true })
  else {
    process.once('SIGINT', onSignal)
    process.once('SIGTERM', onSignal)
  }
  let count = 0
  let windowCount = 0
  let windowBytes = 0
  let windowStart = performance.now()
  const rate = setInterval(() => {
    const now = performance.now()
    const s = (now - windowStart) / 1000
    const mbps = (windowBytes / s / 1e6).toFixed(2)
    out(
      `rate: ${(windowCount / s).toFixed(1)} msg/s, ${mbps} MB/s, ` +
        `${count} messages, ${receiver.stats.errors} malformed`,
    )
    windowCount = 0
    windowBytes = 0
    windowStart = now
  }, 1000)
  rate.unref()
  try {
    for await (const m of receiver.messages()) {
      count++
      windowCount++
      for (const p of m.parts) windowBytes += p.length
      for (const line of describe(m, args.values.values, codec)) out(line)
      if (count >= limit) break
    }
  } finally {
    clearInterval(rate)
    receiver.close()
    if (io.signal) io.signal.removeEventListener('abort', stop)
    else {
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
    }
  }
  out(`${count} messages, ${receiver.stats.errors} malformed`)
  return 0
}

async function kernelCodec(err: (l: string) => void): Promise<BsreadCodec | undefined> {
  try {
    return new Codec(await Kernel.load())
  } catch (e) {
    err(`warning: no kernel codec (${(e as Error).message}); compressed values not decoded`)
    return undefined
  }
}

function isoTime(sec: number, ns: number): string {
  const d = new Date(sec * 1000)
  if (Number.isNaN(d.getTime())) return `${sec}.${ns}`
  return d.toISOString().replace(/\.\d+Z$/, `.${String(ns).padStart(9, '0')}Z`)
}

function describe(m: BsreadMessage, values: boolean, codec: BsreadCodec | undefined): string[] {
  const ts = m.globalTimestamp
  const lines = [
    `pulse_id ${m.pulseId}  ${isoTime(ts.sec, ts.ns)}  ${m.channels.length} ` +
      `channels${m.headerChanged ? `  (new data header ${m.hash})` : ''}`,
  ]
  m.channels.forEach((c, i) => {
    const raw = m.valueAt(i)
    let line =
      `  ${c.name}  ${c.type} [${c.shape.join(', ')}] ${c.encoding} ${c.compression}  ` +
      (raw ? `${raw.bytes.length} B` : 'no value')
    if (values && raw && showable(c)) {
      try {
        const v = decodeValue(raw, codec)
        line += `  = ${formatValue(v)}`
      } catch (e) {
        line += `  (${(e as Error).message})`
      }
    }
    lines.push(line)
  })
  return lines
}

function showable(c: ChannelInfo): boolean {
  return c.type === 'string' || elementCount(c.shape) <= 16
}

function formatValue(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v)
  if (ArrayBuffer.isView(v) || Array.isArray(v)) {
    return `[${Array.from(v as ArrayLike<unknown>, String).join(', ')}]`
  }
  return String(v)
}
