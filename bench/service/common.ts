/**
 * Shared pieces of the service benchmark and the soak harness: the IPC messages between the
 * orchestrator and its helper processes, the machine-wide monotonic clock, /proc sampling and
 * small statistics.
 * @module
 */
import { readFileSync, readdirSync } from 'node:fs'

/** The benchmark's frame: what the facility's cameras send. */
export const FRAME_WIDTH = 2560
export const FRAME_HEIGHT = 2160
export const ROI_SIGNAL: [number, number, number, number] = [0, 2560, 1150, 400]
export const ROI_BACKGROUND: [number, number, number, number] = [0, 2560, 500, 400]
export const PREFIX = 'BENCH-CAM'
export const IMAGE_CHANNEL = `${PREFIX}:FPICTURE`

/**
 * Milliseconds on CLOCK_MONOTONIC. process.hrtime reads the system-wide monotonic clock, so
 * stamps taken in different processes on this machine compare directly: the sender's send time
 * and a consumer's receipt time give the latency without trusting the wall clock.
 */
export function nowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6
}

/** Orchestrator -> sender. */
export type SenderCommand =
  | { cmd: 'run'; hz: number; seconds: number; firstPulse: number }
  | { cmd: 'stream'; hz: number; firstPulse: number }
  | { cmd: 'halt' }
  | { cmd: 'garbage'; count: number }
  | { cmd: 'exit' }

/** Sender -> orchestrator. */
export type SenderEvent =
  | { type: 'ready'; port: number; frameBytes: number[]; encodeMs: number }
  | { type: 'sent'; pulses: number[]; times: number[]; garbage: number }
  | {
      type: 'done'
      firstPulse: number
      lastPulse: number
      sent: number
      failed: number
      garbage: number
      elapsedMs: number
      maxLateMs: number
    }
  | { type: 'error'; message: string }

/** Consumer -> orchestrator (the orchestrator only ever sends `exit`). */
export type ConsumerEvent =
  | { type: 'ready' }
  | { type: 'recv'; pulses: number[]; times: number[]; bad: string[] }

export interface ProcSample {
  /** user + system CPU time of the process, ms. */
  cpuMs: number
  /** system (kernel) part of cpuMs, ms. */
  sysMs: number
  /** minor page faults so far (fresh memory being touched). */
  minorFaults: number
  /** resident set size, MiB. */
  rssMb: number
  /** monotonic time of the sample, ms. */
  at: number
}

const CLK_TCK = 100

/** CPU time and RSS of a process from /proc (Linux). */
export function sampleProc(pid: number): ProcSample {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // The command name may contain spaces and parentheses: fields start after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  const utime = Number(fields[11])
  const stime = Number(fields[12])
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN)
  return {
    cpuMs: ((utime + stime) * 1000) / CLK_TCK,
    sysMs: (stime * 1000) / CLK_TCK,
    minorFaults: Number(fields[7]),
    rssMb: rssKb / 1024,
    at: nowMs(),
  }
}

/** CPU time (ms) of a process's threads by role: main (the JS thread), zmq (libzmq I/O), other. */
export interface ThreadSample {
  main: number
  zmq: number
  other: number
  /** The other threads one by one (thread id → CPU ms). */
  byTid: Map<string, number>
}

/**
 * Per-thread CPU of a process from /proc/<pid>/task (threads that ended are not counted), from
 * schedstat (nanoseconds) where the kernel has it, else from stat (10 ms ticks).
 */
export function sampleThreads(pid: number): ThreadSample {
  const out: ThreadSample = { main: 0, zmq: 0, other: 0, byTid: new Map() }
  let tids: string[]
  try {
    tids = readdirSync(`/proc/${pid}/task`)
  } catch {
    return out
  }
  for (const tid of tids) {
    let stat: string
    let ms: number
    try {
      stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8')
      ms = threadCpuMs(pid, tid, stat)
    } catch {
      continue
    }
    const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'))
    if (Number(tid) === pid) out.main += ms
    else if (comm.startsWith('ZMQbg')) out.zmq += ms
    else {
      out.other += ms
      out.byTid.set(tid, ms)
    }
  }
  return out
}

function threadCpuMs(pid: number, tid: string, stat: string): number {
  try {
    return Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]) / 1e6
  } catch {
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK
  }
}

/** Busy and total jiffies of the whole machine (/proc/stat), to see whether it is saturated. */
export function sampleMachine(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] as string
  const v = line.trim().split(/\s+/).slice(1).map(Number)
  const total = v.reduce((a, b) => a + b, 0)
  const idle = (v[3] ?? 0) + (v[4] ?? 0)
  return { busy: total - idle, total }
}

/** The q-quantile (0..1) of already sorted numbers, nearest rank; NaN when empty. */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return NaN
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))
  return sorted[rank] as number
}

export function median(values: number[]): number {
  return quantile(
    [...values].sort((a, b) => a - b),
    0.5,
  )
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** Fixed-width table for the terminal. */
export function table(rows: Array<Record<string, string | number>>): string {
  if (rows.length === 0) return ''
  const keys = Object.keys(rows[0] as object)
  const cells = rows.map((r) => keys.map((k) => fmt(r[k])))
  const widths = keys.map((k, i) =>
    Math.max(k.length, ...cells.map((c) => (c[i] as string).length)),
  )
  const line = (vals: string[]) => vals.map((v, i) => v.padStart(widths[i] as number)).join('  ')
  return [line(keys), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n')
}

function fmt(v: string | number | undefined): string {
  if (v === undefined) return ''
  if (typeof v === 'string') return v
  if (Number.isNaN(v)) return '-'
  if (Number.isInteger(v)) return String(v)
  return Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2)
}

/** Parses `--name value` / `--name=value` / `--flag` options of the harness scripts. */
export function parseOptions(argv: string[]): Map<string, string> {
  const opts = new Map<string, string>()
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string
    if (!arg.startsWith('--')) throw new Error(`unexpected argument: ${arg}`)
    const eq = arg.indexOf('=')
    if (eq > 0) {
      opts.set(arg.slice(2, eq), arg.slice(eq + 1))
    } else if (i + 1 < argv.length && !(argv[i + 1] as string).startsWith('--')) {
      opts.set(arg.slice(2), argv[++i] as string)
    } else {
      opts.set(arg.slice(2), 'true')
    }
  }
  return opts
}
