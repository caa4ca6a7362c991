/**
 * Orchestrator side of the service benchmark and the soak: starts the real service CLI and the
 * helper processes (sender, consumers), talks to them, and makes sure every child it started is
 * gone when it exits, whatever happens.
 * @module
 */
import { fork, spawn, type ChildProcess } from 'node:child_process'
import { createWriteStream, mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

import {
  PREFIX,
  ROI_BACKGROUND,
  ROI_SIGNAL,
  nowMs,
  sampleProc,
  sleep,
  type ConsumerEvent,
  type ProcSample,
  type SenderCommand,
  type SenderEvent,
} from './common.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const HERE = fileURLToPath(new URL('./', import.meta.url))

const children = new Set<ChildProcess>()

/**
 * The service runs as users start it: `node bin/psen-processing.js`, no node flags (the
 * Docker image, `npm start` and the bin's `#!` line pass none).
 */
export const SERVICE_NODE_FLAGS: string[] = []

/** Kills every child still running (SIGTERM, then SIGKILL after a grace period). */
export async function killAll(graceMs = 3000): Promise<void> {
  const alive = [...children].filter((c) => c.exitCode === null && c.signalCode === null)
  for (const c of alive) c.kill('SIGTERM')
  const deadline = nowMs() + graceMs
  while (alive.some((c) => c.exitCode === null && c.signalCode === null) && nowMs() < deadline) {
    await sleep(50)
  }
  for (const c of alive) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
}

let exiting = false
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (exiting) return
    exiting = true
    killAll(1000).finally(() => process.exit(130))
  })
}
process.on('exit', () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
})

function track(child: ChildProcess): ChildProcess {
  children.add(child)
  child.on('exit', () => children.delete(child))
  return child
}

/** A temp directory for the run's logs (and CPU profiles). */
export const runDir = mkdtempSync(join(tmpdir(), 'psen-bench-'))

function forkHelper(script: string, args: string[], log: string): ChildProcess {
  const out = createWriteStream(join(runDir, log))
  const child = track(
    fork(join(HERE, script), args, {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      cwd: ROOT,
    }),
  )
  child.stdout?.pipe(out)
  child.stderr?.pipe(out)
  return child
}

/** Asks a child to end (`ask`, while it is connected) and waits; SIGKILL after `graceMs`. */
async function endChild(child: ChildProcess, ask: () => void, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  if (child.connected) ask()
  const t = setTimeout(() => child.kill('SIGKILL'), graceMs)
  await gone
  clearTimeout(t)
}

function waitFor<T>(
  child: ChildProcess,
  pick: (msg: unknown) => T | undefined,
  what: string,
  timeoutMs = 120_000,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = Number.isFinite(timeoutMs)
      ? setTimeout(() => done(new Error(`timed out waiting for ${what}`)), timeoutMs)
      : undefined
    const onMsg = (msg: unknown) => {
      const v = pick(msg)
      if (v !== undefined) done(undefined, v)
    }
    const onExit = (code: number | null) => done(new Error(`${what}: process exited (${code})`))
    const done = (err?: Error, v?: T) => {
      clearTimeout(timer)
      child.off('message', onMsg)
      child.off('exit', onExit)
      if (err) reject(err)
      else resolve(v as T)
    }
    child.on('message', onMsg)
    child.on('exit', onExit)
  })
}

export type SenderDone = Extract<SenderEvent, { type: 'done' }>

/** The sender process: its send times by pulse id accumulate in `sentAt`. */
export class SenderProc {
  port = 0
  frameBytes: number[] = []
  encodeMs = 0
  /** Malformed messages this sender actually put on the wire. */
  garbageSent = 0
  errors: string[] = []
  private constructor(
    readonly child: ChildProcess,
    readonly sentAt: Map<number, number>,
  ) {
    child.on('message', (msg: SenderEvent) => {
      if (msg.type === 'sent') {
        this.garbageSent += msg.garbage
        for (let i = 0; i < msg.pulses.length; i++) {
          this.sentAt.set(msg.pulses[i] as number, msg.times[i] as number)
        }
      } else if (msg.type === 'error') {
        this.errors.push(msg.message)
      }
    })
  }

  /** `sentAt` may be shared with an earlier sender (an upstream restart). */
  static async start(
    opts: {
      port?: number
      ring?: number
      sendTimeoutMs?: number
      hwm?: number
      sentAt?: Map<number, number>
    } = {},
  ): Promise<SenderProc> {
    const args: string[] = []
    if (opts.port) args.push('--port', String(opts.port))
    if (opts.ring) args.push('--ring', String(opts.ring))
    if (opts.sendTimeoutMs !== undefined) args.push('--send-timeout', String(opts.sendTimeoutMs))
    if (opts.hwm) args.push('--hwm', String(opts.hwm))
    const s = new SenderProc(
      forkHelper('sender.ts', args, `sender-${Date.now()}.log`),
      opts.sentAt ?? new Map(),
    )
    const ready = await waitFor(
      s.child,
      (m) => {
        const ev = m as SenderEvent
        if (ev.type === 'error') throw new Error(`sender failed: ${ev.message}`)
        return ev.type === 'ready' ? ev : undefined
      },
      'the sender to pre-encode its frames',
    )
    s.port = ready.port
    s.frameBytes = ready.frameBytes
    s.encodeMs = ready.encodeMs
    return s
  }

  private command(cmd: SenderCommand): void {
    this.child.send(cmd)
  }

  /** Sends at `hz` for `seconds`; resolves with the sender's own account of the step. */
  async run(hz: number, seconds: number, firstPulse: number): Promise<SenderDone> {
    const done = waitFor(
      this.child,
      (m) => {
        const ev = m as SenderEvent
        if (ev.type === 'error') throw new Error(`sender failed: ${ev.message}`)
        return ev.type === 'done' ? ev : undefined
      },
      'the sender step',
      seconds * 1000 + 60_000,
    )
    this.command({ cmd: 'run', hz, seconds, firstPulse })
    return done
  }

  /**
   * Streams at `hz` until `halt()`; the returned promise settles then, or with undefined when
   * the process ends first (killed on purpose).
   */
  stream(hz: number, firstPulse: number): Promise<SenderDone | undefined> {
    const done = waitFor(
      this.child,
      (m) => {
        const ev = m as SenderEvent
        return ev.type === 'done' ? ev : undefined
      },
      'the sender stream',
      Infinity,
    ).catch(() => undefined)
    this.command({ cmd: 'stream', hz, firstPulse })
    return done
  }

  halt(): void {
    this.command({ cmd: 'halt' })
  }
  garbage(count: number): void {
    this.command({ cmd: 'garbage', count })
  }

  /** Asks the process to exit and waits for it (SIGKILL after 3 s). */
  exit(): Promise<void> {
    return endChild(this.child, () => this.command({ cmd: 'exit' }), 3000)
  }

  /** Kills the process abruptly (an upstream crash). */
  async kill(): Promise<void> {
    const gone = new Promise<void>((resolve) => this.child.once('exit', () => resolve()))
    this.child.kill('SIGKILL')
    await gone
  }
}

/** The forward floor's process (bench/service/forwarder.ts): camera in, image stream out. */
export class ForwarderProc {
  private constructor(readonly child: ChildProcess) {}

  static async start(input: string, port: number): Promise<ForwarderProc> {
    const log = `forwarder-${Date.now()}.log`
    const f = new ForwarderProc(forkHelper('forwarder.ts', [input, String(port)], log))
    await waitFor(
      f.child,
      (m) => ((m as ConsumerEvent).type === 'ready' ? true : undefined),
      'the forwarder',
      30_000,
    )
    return f
  }

  /** Disconnects (the forwarder closes its sockets and ends) and waits; SIGKILL after 5 s. */
  exit(): Promise<void> {
    return endChild(this.child, () => this.child.disconnect(), 5000)
  }
}

/** A consumer process: receipt times by pulse id accumulate in `recvAt`. */
export class ConsumerProc {
  readonly bad: string[] = []
  /** Messages whose pulse id was already seen (should never happen). */
  duplicates = 0
  private constructor(
    readonly child: ChildProcess,
    readonly kind: 'data' | 'image',
    readonly recvAt: Map<number, number>,
  ) {
    child.on('message', (msg: ConsumerEvent) => {
      if (msg.type !== 'recv') return
      for (let i = 0; i < msg.pulses.length; i++) {
        const p = msg.pulses[i] as number
        if (this.recvAt.has(p)) this.duplicates++
        else this.recvAt.set(p, msg.times[i] as number)
      }
      for (const b of msg.bad) if (this.bad.length < 100) this.bad.push(b)
    })
  }

  /** `recvAt` may be shared with an earlier consumer of the same stream (a restart). */
  static async start(
    endpoint: string,
    kind: 'data' | 'image',
    recvAt = new Map<number, number>(),
  ): Promise<ConsumerProc> {
    const log = `consumer-${kind}-${Date.now()}.log`
    const c = new ConsumerProc(forkHelper('consumer.ts', [endpoint, kind], log), kind, recvAt)
    await waitFor(
      c.child,
      (m) => ((m as ConsumerEvent).type === 'ready' ? true : undefined),
      `the ${kind} consumer`,
      30_000,
    )
    return c
  }

  /** Number of pulse ids in [first, last] received so far. */
  countIn(first: number, last: number): number {
    let n = 0
    for (let p = first; p <= last; p++) if (this.recvAt.has(p)) n++
    return n
  }

  /** Asks the process to exit and waits for it (SIGKILL after 3 s). */
  exit(): Promise<void> {
    return endChild(this.child, () => this.child.send({ cmd: 'exit' }), 3000)
  }
}

export interface ServiceOptions {
  inputPort: number
  dataPort: number
  imagePort: number
  restPort: number
  /** Extra CLI arguments (e.g. --threads 2). */
  extraArgs?: string[]
  /** Node flags of the service process (e.g. --cpu-prof); default SERVICE_NODE_FLAGS. */
  nodeFlags?: string[]
  /** Extra environment variables of the service process. */
  env?: Record<string, string>
  /** The service CLI (default: this checkout's bin/psen-processing.js). */
  bin?: string
  logLevel?: string
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json }

/** The real service CLI as a child process. */
export class ServiceProc {
  readonly logFile: string
  private constructor(
    readonly child: ChildProcess,
    readonly opts: ServiceOptions,
    logFile: string,
  ) {
    this.logFile = logFile
  }

  get pid(): number {
    return this.child.pid as number
  }
  get base(): string {
    return `http://127.0.0.1:${this.opts.restPort}`
  }

  static async start(opts: ServiceOptions): Promise<ServiceProc> {
    const logFile = join(runDir, `service-${Date.now()}.log`)
    const out = createWriteStream(logFile)
    const args = [
      ...(opts.nodeFlags ?? SERVICE_NODE_FLAGS),
      opts.bin ?? join(ROOT, 'bin/psen-processing.js'),
      `tcp://127.0.0.1:${opts.inputPort}`,
      PREFIX,
      '-o',
      String(opts.dataPort),
      '-i',
      String(opts.imagePort),
      '-r',
      String(opts.restPort),
      '--rest_api_interface',
      '127.0.0.1',
      '--stream_interface',
      '127.0.0.1',
      '--log_level',
      opts.logLevel ?? 'WARNING',
      '--auto_start',
      ...(opts.extraArgs ?? []),
    ]
    const child = track(
      spawn(process.execPath, args, {
        cwd: runDir,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, ...opts.env },
      }),
    )
    child.stdout?.pipe(out)
    child.stderr?.pipe(out)
    const s = new ServiceProc(child, opts, logFile)
    const deadline = nowMs() + 30_000
    for (;;) {
      if (child.exitCode !== null) {
        throw new Error(`service exited (${child.exitCode}) at start:\n${s.logTail()}`)
      }
      try {
        const st = await s.get('/status')
        if (st && typeof st === 'object' && !Array.isArray(st) && st.state === 'ok') break
      } catch {
        /* not listening yet */
      }
      if (nowMs() > deadline) throw new Error(`service did not answer /status:\n${s.logTail()}`)
      await sleep(200)
    }
    return s
  }

  logTail(lines = 30): string {
    try {
      return readFileSync(this.logFile, 'utf8').split('\n').slice(-lines).join('\n')
    } catch {
      return ''
    }
  }

  async get(path: string): Promise<{ [k: string]: Json }> {
    const res = await fetch(this.base + path)
    return (await res.json()) as { [k: string]: Json }
  }

  async post(path: string, body: Json): Promise<{ [k: string]: Json }> {
    const res = await fetch(this.base + path, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    })
    const out = (await res.json()) as { [k: string]: Json }
    if (out.state !== 'ok') throw new Error(`POST ${path}: ${JSON.stringify(out.status)}`)
    return out
  }

  async setRois(signal: Json = ROI_SIGNAL, background: Json = ROI_BACKGROUND): Promise<void> {
    await this.post('/roi_signal', signal)
    await this.post('/roi_background', background)
  }

  async statistics(): Promise<{ [k: string]: Json }> {
    const st = await this.get('/statistics')
    const s = st.statistics
    return s && typeof s === 'object' && !Array.isArray(s) ? s : {}
  }

  sample(): ProcSample {
    return sampleProc(this.pid)
  }

  /**
   * Seconds spent in GC pauses so far: the main thread's (nodejs_gc_duration_seconds) and the
   * thread that receives the frames (psen_ingest_gc_duration_seconds; the main thread's again
   * when the frames run there).
   */
  async gcSeconds(): Promise<{ main: number; ingest: number }> {
    const text = await (await fetch(`${this.base}/metrics`)).text()
    const sum = (name: string): number => {
      let s = 0
      const re = new RegExp(`^${name}_sum\\{[^}]*\\} ([\\d.e+-]+)$`, 'gm')
      for (const m of text.matchAll(re)) s += Number(m[1])
      return s
    }
    return {
      main: sum('nodejs_gc_duration_seconds'),
      ingest: sum('psen_ingest_gc_duration_seconds'),
    }
  }

  /** SIGTERM and wait for the exit (the CPU profile, if any, is written then). */
  async stop(timeoutMs = 10_000): Promise<number | null> {
    if (this.child.exitCode !== null) return this.child.exitCode
    const gone = new Promise<number | null>((resolve) => this.child.once('exit', (c) => resolve(c)))
    this.child.kill('SIGTERM')
    const t = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs)
    const code = await gone
    clearTimeout(t)
    return code
  }
}

/**
 * Drop counters in the service's /statistics: every numeric field whose name says "drop",
 * "malformed", "error" or "lost", flattened (nested objects give `outer.inner` keys).
 */
export function dropCounters(stats: { [k: string]: Json }): Map<string, number> {
  const out = new Map<string, number>()
  const walk = (obj: { [k: string]: Json }, prefix: string) => {
    for (const [k, v] of Object.entries(obj)) {
      const key = prefix ? `${prefix}.${k}` : k
      if (typeof v === 'number' && /drop|malformed|error|lost|fail/i.test(key)) out.set(key, v)
      else if (v && typeof v === 'object' && !Array.isArray(v)) walk(v, key)
    }
  }
  walk(stats, '')
  return out
}

/** Counters that grew between two dropCounters() snapshots. */
export function counterDelta(
  before: Map<string, number>,
  after: Map<string, number>,
): Record<string, number> {
  const out: Record<string, number> = {}
  for (const [k, v] of after) {
    const d = v - (before.get(k) ?? 0)
    if (d !== 0) out[k] = d
  }
  return out
}
