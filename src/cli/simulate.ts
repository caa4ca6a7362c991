/**
 * `psen-processing simulate [options]`: runs the built-in simulated PSEN camera alone, so DAQ
 * engineers can point the service or their own consumers at a stream they control.
 * @module
 */
import type { Compression } from '../bsread/types.js'
import { createLogger, type Logger } from '../log.js'
import { LOG_LEVELS, type LogLevelName } from '../config.js'
import {
  SIM_COMPRESSIONS,
  SIM_DTYPES,
  SIMULATOR_DEFAULTS,
  SimulatorConfigError,
  type EdgeMotion,
  type SimDtype,
  type SimulatorOptions,
} from '../sim/options.js'
import { startSimulator } from '../sim/simulator.js'
import {
  choice,
  decimal,
  integer,
  parseStrict,
  USAGE_EXIT,
  usageFailure,
  UsageError,
} from './usage.js'

const D = SIMULATOR_DEFAULTS
const DEFAULT_PORT = 9010

export const SIMULATE_USAGE = `usage: psen-processing simulate [options]

A simulated PSEN camera: bsread frames (PREFIX:FPICTURE) with a spectrum band, noise, X-ray
shots (pulse_id % 4 == 0) with an edge that moves and reference shots without, plus the
channels PREFIX:XRAY (1 on X-ray shots, 0 otherwise), PREFIX:SIM_EDGE_POSITION (the true edge
in pixels, NaN on reference shots), PREFIX:WIDTH and PREFIX:HEIGHT.

  --port N              port to bind (0: any free port)                  [${DEFAULT_PORT}]
  --interface ADDR      interface to bind ('*': all)                      [127.0.0.1]
  --mode push|pub       PUSH (point to point) or PUB (broadcast)          [push]
  --prefix NAME         camera name                                       [${D.prefix}]
  --width N             image width in pixels                             [${D.width}]
  --height N            image height in pixels                            [${D.height}]
  --dtype TYPE          ${SIM_DTYPES.join(' ')}   [${D.dtype}]
  --compression C       ${SIM_COMPRESSIONS.join(' ')}                  [${D.compression}]
  --rate HZ             frames per second; 0: as fast as the reader takes them  [${D.rate}]
  --edge SPEC           the edge: 'off', a fixed position in pixels, or key=value pairs
                        center=PX,amplitude=PX,period=S,drift=PX_PER_S,depth=FRACTION,
                        positions=N (e.g. --edge center=600,amplitude=100,period=20)
                        [center 45 % of the width, amplitude 8 %, period ${D.period} s,
                        depth ${D.depth}]
  --start_pulse_id N    pulse id of the first frame             [derived from the clock]
  --seed N              noise seed                                                [1]
  --duration S          stop after S seconds (0: run until Ctrl-C)                [0]
  --log_level LEVEL     ${LOG_LEVELS.join(' ')}                  [INFO]
  -h, --help            this text

Ctrl-C (SIGINT) or SIGTERM stops it cleanly.`

export interface SimulateIO {
  /** Where the usage and error lines go (default: stdout / stderr). */
  out?: (line: string) => void
  err?: (line: string) => void
  /** Stops the simulator (default: SIGINT / SIGTERM). */
  signal?: AbortSignal
  logger?: Logger
}

const EDGE_KEYS = ['center', 'amplitude', 'period', 'drift', 'depth', 'positions'] as const

/** `off` | `<pixels>` | `key=value,…` → the simulator's edge option. */
export function parseEdge(spec: string): EdgeMotion | false {
  const s = spec.trim()
  if (['off', 'none', 'false', 'no'].includes(s.toLowerCase())) return false
  if (/^[+-]?\d+(\.\d+)?$/.test(s)) return { center: Number(s), amplitude: 0 }
  const edge: EdgeMotion = {}
  for (const pair of s.split(',')) {
    const m = /^\s*(\w+)\s*=\s*([^\s,]+)\s*$/.exec(pair)
    const key = m?.[1] as (typeof EDGE_KEYS)[number] | undefined
    if (!m || !key || !EDGE_KEYS.includes(key)) {
      throw new UsageError(`--edge: '${pair.trim()}' is not one of ${EDGE_KEYS.join('=, ')}=`)
    }
    const v = Number(m[2])
    if (!Number.isFinite(v)) throw new UsageError(`--edge: ${key} needs a number, got '${m[2]}'`)
    edge[key] = v
  }
  return edge
}

interface Parsed {
  opts: SimulatorOptions
  durationS: number
  logLevel: LogLevelName
}

function parse(argv: string[]): Parsed | 'help' {
  const v = parseStrict(
    argv,
    {
      port: { type: 'string' },
      interface: { type: 'string' },
      mode: { type: 'string' },
      prefix: { type: 'string' },
      width: { type: 'string' },
      height: { type: 'string' },
      dtype: { type: 'string' },
      compression: { type: 'string' },
      rate: { type: 'string' },
      edge: { type: 'string' },
      start_pulse_id: { type: 'string' },
      seed: { type: 'string' },
      duration: { type: 'string' },
      log_level: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    false,
  ).values
  if (v.help) return 'help'
  const port = integer('port', v.port, DEFAULT_PORT, 0, 65535)
  const iface = v.interface ?? '127.0.0.1'
  if (!/^[^\s/]+$/.test(iface)) throw new UsageError(`--interface: bad address '${iface}'`)
  let startPulseId: bigint | undefined
  if (v.start_pulse_id !== undefined) {
    if (!/^\d+$/.test(v.start_pulse_id) || BigInt(v.start_pulse_id) >= 2n ** 63n) {
      throw new UsageError(
        `--start_pulse_id: expected an integer in [0, 2^63), got ` + `'${v.start_pulse_id}'`,
      )
    }
    startPulseId = BigInt(v.start_pulse_id)
  }
  const opts: SimulatorOptions = {
    bind: `tcp://${iface}:${port === 0 ? '*' : port}`,
    mode: choice('mode', v.mode, 'push', ['push', 'pub'] as const),
    prefix: v.prefix ?? D.prefix,
    width: integer('width', v.width, D.width, 8, 16384),
    height: integer('height', v.height, D.height, 8, 16384),
    dtype: choice<SimDtype>('dtype', v.dtype, D.dtype, SIM_DTYPES),
    compression: choice<Compression>('compression', v.compression, D.compression, SIM_COMPRESSIONS),
    rate: decimal('rate', v.rate, D.rate, 0, 10_000),
    seed: integer('seed', v.seed, 1, 0, 2 ** 32 - 1),
    ...(v.edge === undefined ? {} : { edge: parseEdge(v.edge) }),
    ...(startPulseId === undefined ? {} : { startPulseId }),
  }
  return {
    opts,
    durationS: decimal('duration', v.duration, 0, 0, 1e9),
    logLevel: choice<LogLevelName>('log_level', v.log_level, 'INFO', LOG_LEVELS),
  }
}

/** Runs the simulator until Ctrl-C / SIGTERM / `--duration`; resolves to the exit code. */
export async function runSimulate(argv: string[], io: SimulateIO = {}): Promise<number> {
  const out = io.out ?? ((l: string) => process.stdout.write(l + '\n'))
  const err = io.err ?? ((l: string) => process.stderr.write(l + '\n'))
  let parsed: Parsed | 'help'
  try {
    parsed = parse(argv)
  } catch (e) {
    if (!(e instanceof UsageError)) throw e
    err(usageFailure('simulate', e.message).trimEnd())
    return USAGE_EXIT
  }
  if (parsed === 'help') {
    out(SIMULATE_USAGE)
    return 0
  }
  const log = io.logger ?? (await createLogger({ level: parsed.logLevel, name: 'simulate' }))

  const stop = new AbortController()
  const onSignal = () => stop.abort()
  if (io.signal) {
    if (io.signal.aborted) stop.abort()
    else io.signal.addEventListener('abort', onSignal, { once: true })
  } else {
    process.once('SIGINT', onSignal)
    process.once('SIGTERM', onSignal)
  }
  const stopped = new Promise<void>((res) => {
    if (stop.signal.aborted) res()
    else stop.signal.addEventListener('abort', () => res(), { once: true })
  })
  const timers: NodeJS.Timeout[] = []
  try {
    let sim
    try {
      sim = await startSimulator({ ...parsed.opts, logger: log })
    } catch (e) {
      if (e instanceof SimulatorConfigError) {
        err(usageFailure('simulate', e.message).trimEnd())
        return USAGE_EXIT
      }
      err(`psen-processing simulate: cannot start on ${parsed.opts.bind}: ${(e as Error).message}`)
      return 1
    }
    // Rates over the last interval, so a stalled reader shows up as drops at once.
    let last = sim.stats
    timers.push(
      setInterval(() => {
        const s = sim.stats
        log.info(
          {
            sent: s.sent - last.sent,
            dropped: s.dropped - last.dropped,
            skipped: s.skipped - last.skipped,
            last_pulse_id: String(s.lastPulseId),
          },
          'simulator: last 10 s',
        )
        last = s
      }, 10_000),
    )
    if (parsed.durationS > 0) timers.push(setTimeout(() => stop.abort(), parsed.durationS * 1000))
    await stopped
    await sim.close()
    const s = sim.stats
    log.info(
      {
        sent: s.sent,
        dropped: s.dropped,
        skipped: s.skipped,
        last_pulse_id: String(s.lastPulseId),
      },
      'simulator stopped',
    )
    return 0
  } finally {
    for (const t of timers) clearTimeout(t)
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    io.signal?.removeEventListener('abort', onSignal)
  }
}
