/**
 * `npm run bench:service`: the whole service under load, as the facility runs it.
 *
 * Starts the real service CLI (bin/psen-processing.js) on free 127.0.0.1 ports and, each in its
 * own process, a bsread PUSH sender of pre-encoded 2560×2160 uint16 bitshuffle-LZ4 frames
 * (bench/service/sender.ts) and PULL consumers of the data and image streams
 * (bench/service/consumer.ts). Both ROIs are set (signal [0,2560,1150,400], background
 * [0,2560,500,400]); edge finding runs on every X-ray shot.
 *
 * First the floors, each alone for one step at --floor-hz (100): a bare zeromq.js PULL receiver
 * (bench/service/consumer.ts, which only reads the pulse id), then a bare receiver that forwards
 * every frame on a PUSH to an image consumer (bench/service/forwarder.ts); their CPU per frame is
 * what receiving, and receiving plus the image stream, cost on this machine. Then the service: its idle CPU with no input, then
 * a sweep of the frame rate upward. A
 * step passes when the sender kept its rate without a failed send, every pulse id it sent
 * arrived on the data stream and the service counted no drop. Per step: latency send → data
 * consumer receipt (p50/p99/max), service CPU per frame (from /proc utime+stime), by thread (main,
 * the busiest other thread = the ingest worker, ZeroMQ I/O), the share in GC pauses of the main
 * thread (nodejs_gc_duration_seconds of /metrics over its CPU time) and of the ingest worker
 * (psen_ingest_gc_duration_seconds over its CPU time), the p99 answer time of GET /status
 * polled every 100 ms during the step, and RSS at the start and end. Table by default, `--json`
 * one object per line.
 *
 * Options:
 *   --seconds S        length of each step (default 10)
 *   --rates a,b,...    the sweep (default 100,200,300,400,500,600); it stops at the first
 *                      failed step unless --keep-going, then bisects once (--no-refine: not)
 *   --repeat N         N interleaved rounds over the rates (no stop, no bisection), then one
 *                      row of medians per rate; a rate counts as sustained only if it always passed
 *   --idle-seconds S   idle CPU measurement (default 10; 0 skips it)
 *   --threads N        passed to the service (--threads N)
 *   --service-args "…" extra service arguments
 *   --cpu-prof         run the service under `node --cpu-prof` and print where the time goes
 *   --node-flags=…     Node flags of the service process (default none, as deployed; e.g.
 *                      "--trace-gc")
 *   --bin PATH         the service CLI to run (default bin/psen-processing.js of this checkout;
 *                      another checkout's for an A/B comparison)
 *   --floor-hz HZ      rate of the floor step (default 100; 0 skips it)
 *   --service-env "K=V …"  extra environment of the service process (e.g. malloc tuning)
 *   --no-image         no image-stream consumer
 *   --baseline         no service: the data consumer reads the sender directly (what loopback
 *                      ZeroMQ alone can carry on this machine)
 *   --json             one JSON object per line
 * @module
 */
import { execSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { join } from 'node:path'

import { freePorts } from '../test/helpers/ports.js'
import {
  ROI_BACKGROUND,
  ROI_SIGNAL,
  median,
  nowMs,
  parseOptions,
  quantile,
  sampleMachine,
  sampleProc,
  sampleThreads,
  sleep,
  table,
  type ProcSample,
  type ThreadSample,
} from './service/common.js'
import {
  ConsumerProc,
  ForwarderProc,
  SenderProc,
  SERVICE_NODE_FLAGS,
  ServiceProc,
  counterDelta,
  dropCounters,
  killAll,
  runDir,
} from './service/harness.js'
import { formatProfile, summariseProfile } from './service/profile-top.js'

const opts = parseOptions(process.argv.slice(2))
const json = opts.has('json')
const seconds = Number(opts.get('seconds') ?? 10)
const rates = (opts.get('rates') ?? '100,200,300,400,500,600').split(',').map(Number)
const idleSeconds = Number(opts.get('idle-seconds') ?? 10)
const keepGoing = opts.has('keep-going')
const repeat = Math.max(1, Number(opts.get('repeat') ?? 1))
const refine = !opts.has('no-refine')
const baseline = opts.has('baseline')
const cpuProf = opts.has('cpu-prof')
const withImage = !opts.has('no-image') && !baseline
const floorHz = Number(opts.get('floor-hz') ?? 100)
const bin = opts.get('bin')
const extraArgs = [
  ...(opts.has('threads') ? ['--threads', opts.get('threads') as string] : []),
  ...(opts.get('service-args')?.split(' ').filter(Boolean) ?? []),
]

type Row = Record<string, string | number>
const rows: Row[] = []
function emit(row: Row): void {
  if (json) console.log(JSON.stringify(row))
  rows.push(row)
}
function note(msg: string): void {
  if (!json) console.error(msg)
}

function machine(): Row {
  let commit = 'unknown'
  try {
    commit = execSync('git rev-parse --short HEAD', { encoding: 'utf8' }).trim()
    if (execSync('git status --porcelain -- src bench', { encoding: 'utf8' }).trim()) {
      commit += '+dirty'
    }
  } catch {
    /* not a checkout */
  }
  return {
    kind: 'machine',
    date: new Date().toISOString(),
    nproc: cpus().length,
    cpu: cpus()[0]?.model ?? '?',
    node: process.version,
    commit,
    // Other work on the machine skews every number: record how busy it was at the start.
    load1: Math.round((loadavg()[0] as number) * 10) / 10,
  }
}

let nextPulse = 1_000_000

async function main(): Promise<void> {
  const info = machine()
  emit(info)
  note(
    `${info.date}  ${info.nproc} × ${info.cpu}  Node ${info.node}  ${info.commit}  ` +
      `load ${info.load1}`,
  )
  note(`logs in ${runDir}`)

  const sender = await SenderProc.start()
  const mb = sender.frameBytes.reduce((a, b) => a + b, 0) / sender.frameBytes.length / 1e6
  note(
    `sender: ${sender.frameBytes.length} frames pre-encoded, ${mb.toFixed(2)} MB each ` +
      `(${(sender.encodeMs / 1000).toFixed(1)} s)`,
  )

  if (floorHz > 0 && !baseline) await floorStep(sender)

  let service: ServiceProc | undefined
  let data: ConsumerProc
  let image: ConsumerProc | undefined
  if (baseline) {
    // The camera stream itself: no data-message checks.
    data = await ConsumerProc.start(`tcp://127.0.0.1:${sender.port}`, 'image')
  } else {
    const [dataPort, imagePort, restPort] = (await freePorts(3)) as [number, number, number]
    service = await ServiceProc.start({
      inputPort: sender.port,
      dataPort,
      imagePort,
      restPort,
      extraArgs,
      ...(bin ? { bin } : {}),
      nodeFlags: [
        ...(cpuProf ? ['--cpu-prof', '--cpu-prof-dir', join(runDir, 'prof')] : []),
        ...(opts.get('node-flags')?.split(' ').filter(Boolean) ?? SERVICE_NODE_FLAGS),
      ],
      env: Object.fromEntries(
        (opts.get('service-env')?.split(' ').filter(Boolean) ?? []).map((kv) => [
          kv.slice(0, kv.indexOf('=')),
          kv.slice(kv.indexOf('=') + 1),
        ]),
      ),
    })
    await service.setRois(ROI_SIGNAL, ROI_BACKGROUND)
    data = await ConsumerProc.start(`tcp://127.0.0.1:${dataPort}`, 'data')
    if (withImage) image = await ConsumerProc.start(`tcp://127.0.0.1:${imagePort}`, 'image')
  }

  // Warm-up: connections up, JIT warm, first data header parsed.
  const warm = await sender.run(50, 2, nextPulse)
  nextPulse = warm.lastPulse + 1
  await drain(data, warm.firstPulse, warm.lastPulse)
  if (data.countIn(warm.firstPulse, warm.lastPulse) === 0) {
    throw new Error(`no data message arrived during the warm-up\n${service?.logTail() ?? ''}`)
  }

  if (service && idleSeconds > 0) {
    // Let the after-load work settle first (V8's memory reducer runs GCs a few seconds after
    // allocation stops, freeing the frames): idle means a quiet input for a while.
    await sleep(8000)
    const a = service.sample()
    await sleep(idleSeconds * 1000)
    const b = service.sample()
    const cpuPct = (100 * (b.cpuMs - a.cpuMs)) / (b.at - a.at)
    emit({
      kind: 'idle',
      seconds: idleSeconds,
      cpu_percent: round(cpuPct, 2),
      rss_mb: round(b.rssMb, 1),
    })
    note(`idle: ${cpuPct.toFixed(2)} % CPU over ${idleSeconds} s, RSS ${b.rssMb.toFixed(0)} MB`)
  }

  const results: Array<{ hz: number; pass: boolean }> = []
  let failedAt = 0
  if (repeat > 1) {
    // Rounds over all rates (interleaved, so slow drifts of the machine hit every rate alike).
    for (let r = 0; r < repeat; r++) {
      for (const hz of rates) {
        results.push({ hz, pass: await step(hz, sender, data, image, service) })
      }
    }
    emitMedians()
  } else {
    for (const hz of rates) {
      const pass = await step(hz, sender, data, image, service)
      results.push({ hz, pass })
      if (!pass && failedAt === 0) failedAt = hz
      if (!pass && !keepGoing) break
    }
  }
  // Bisect between the best pass below the first failure and that failure, to ~50 Hz.
  if (refine && failedAt > 0 && repeat === 1) {
    let lo = Math.max(0, ...results.filter((x) => x.pass && x.hz < failedAt).map((x) => x.hz))
    let hi = failedAt
    while (lo > 0 && hi - lo >= 50) {
      const mid = Math.round((lo + hi) / 2 / 10) * 10
      const pass = await step(mid, sender, data, image, service)
      results.push({ hz: mid, pass })
      if (pass) lo = mid
      else hi = mid
    }
  }

  // With --repeat a rate counts only when it passed every time.
  const passed = results
    .filter((x) => x.pass && results.every((y) => y.hz !== x.hz || y.pass))
    .map((x) => x.hz)
  const lat = rows.find((r) => r.kind === (repeat > 1 ? 'median' : 'step') && r.rate_hz === 100)
  const floor = rows.find((r) => r.kind === 'floor')
  const floorForward = rows.find((r) => r.kind === 'floor_forward')
  const summary: Row = {
    kind: 'summary',
    floor_cpu_ms_frame: floor ? (floor.cpu_ms_frame as number) : NaN,
    floor_forward_cpu_ms_frame: floorForward ? (floorForward.cpu_ms_frame as number) : NaN,
    max_zero_loss_hz: passed.length > 0 ? Math.max(...passed) : 0,
    step_seconds: seconds,
  }
  if (lat) {
    summary.cpu_100hz_ms_frame = lat.cpu_ms_frame as number
    summary.main_gc_100hz_pct = lat.main_gc_pct as number
    summary.ingest_gc_100hz_pct = lat.ingest_gc_pct as number
    summary.latency_100hz_p50_ms = lat.p50_ms as number
    summary.latency_100hz_p99_ms = lat.p99_ms as number
    summary.latency_100hz_max_ms = lat.max_ms as number
  }
  emit(summary)

  await data.exit()
  await image?.exit()
  await sender.exit()
  if (service) {
    await service.stop()
    if (cpuProf) {
      const dir = join(runDir, 'prof')
      for (const f of readdirSync(dir).filter((x) => x.endsWith('.cpuprofile'))) {
        const s = summariseProfile(join(dir, f), 25)
        if (json) {
          console.log(JSON.stringify({ kind: 'profile', file: join(dir, f), ...s }))
        } else {
          note(`\n${join(dir, f)}`)
          note(formatProfile(s))
        }
      }
    }
  }

  if (!json) {
    const show = (kind: string) =>
      rows.filter((r) => r.kind === kind).map(({ kind: _k, ...r }) => r)
    console.log(
      `\n${info.date}  ${info.nproc} × ${info.cpu}  Node ${info.node}  ` +
        `commit ${info.commit}  load average ${info.load1} at the start`,
    )
    console.log(
      `frame 2560x2160 uint16 bitshuffle_lz4, ${mb.toFixed(2)} MB; ROIs signal ` +
        `${JSON.stringify(ROI_SIGNAL)}, background ${JSON.stringify(ROI_BACKGROUND)}` +
        (baseline ? '; BASELINE (no service)' : '') +
        (extraArgs.length ? `; ${extraArgs.join(' ')}` : ''),
    )
    console.log(table([...show('floor'), ...show('floor_forward')]))
    console.log()
    console.log(table(show('idle')))
    console.log()
    console.log(table(show('step')))
    console.log()
    if (repeat > 1) {
      console.log(`medians over ${repeat} rounds:`)
      console.log(table(show('median')))
      console.log()
    }
    console.log(table(show('summary')))
  }
}

/** One row per rate with the median of every numeric column over the repeated steps. */
function emitMedians(): void {
  for (const hz of rates) {
    const same = rows.filter((r) => r.kind === 'step' && r.rate_hz === hz)
    const out: Row = {
      kind: 'median',
      rate_hz: hz,
      runs: same.length,
      passes: same.filter((r) => r.pass === 'yes').length,
    }
    for (const key of Object.keys(same[0] ?? {})) {
      if (key in out || key === 'pass') continue
      const vals = same
        .map((r) => r[key])
        .filter((v): v is number => typeof v === 'number' && !Number.isNaN(v))
      out[key] = vals.length > 0 ? median(vals) : NaN
    }
    emit(out)
  }
}

/** Waits until every pulse in [first, last] arrived, or no progress for 2 s (max 15 s). */
async function drain(c: ConsumerProc, first: number, last: number): Promise<void> {
  const want = last - first + 1
  const end = nowMs() + 15_000
  let seen = -1
  let since = nowMs()
  while (nowMs() < end) {
    await sleep(250)
    const n = c.countIn(first, last)
    if (n >= want) return
    if (n !== seen) {
      seen = n
      since = nowMs()
    } else if (nowMs() - since > 2000) {
      return
    }
  }
}

async function step(
  hz: number,
  sender: SenderProc,
  data: ConsumerProc,
  image: ConsumerProc | undefined,
  service: ServiceProc | undefined,
): Promise<boolean> {
  await sleep(1000)
  const drops0 = service ? dropCounters(await service.statistics()) : new Map<string, number>()
  const gc0 = service ? await service.gcSeconds() : undefined
  const s0: ProcSample | undefined = service?.sample()
  const t0 = service ? sampleThreads(service.pid) : undefined
  const m0 = sampleMachine()
  const helpers = [sender.child.pid, data.child.pid, image?.child.pid].filter(
    (p): p is number => p !== undefined,
  )
  const h0 = helpers.reduce((a, p) => a + sampleProc(p).cpuMs, 0)
  const polls = service ? pollStatus(service) : undefined
  const done = await sender.run(hz, seconds, nextPulse)
  const statusMs = await polls?.stop()
  // Machine and helper load over the sending itself (not the drain that follows).
  const m1 = sampleMachine()
  const h1 = helpers.reduce((a, p) => a + sampleProc(p).cpuMs, 0)
  nextPulse = done.lastPulse + 1
  await drain(data, done.firstPulse, done.lastPulse)
  // The image stream may lag a little behind the data stream.
  if (image) await drain(image, done.firstPulse, done.lastPulse)
  const s1 = service?.sample()
  const t1 = service ? sampleThreads(service.pid) : undefined
  const gc1 = service ? await service.gcSeconds() : undefined
  const drops = service ? counterDelta(drops0, dropCounters(await service.statistics())) : {}
  // Without an image consumer every image is dropped by design: not a failure.
  if (!image) for (const k of Object.keys(drops)) if (/image/i.test(k)) delete drops[k]

  const lat: number[] = []
  let received = 0
  for (let p = done.firstPulse; p <= done.lastPulse; p++) {
    const r = data.recvAt.get(p)
    if (r === undefined) continue
    received++
    const s = sender.sentAt.get(p)
    if (s !== undefined) lat.push(r - s)
  }
  lat.sort((a, b) => a - b)
  const achieved = (done.sent * 1000) / done.elapsedMs
  const lost = done.sent - received
  const dropTotal = Object.values(drops).reduce((a, b) => a + b, 0)
  const pass = done.failed === 0 && lost === 0 && dropTotal === 0 && achieved >= 0.98 * hz
  const processed = received
  const row: Row = {
    kind: 'step',
    rate_hz: hz,
    achieved_hz: round(achieved, 1),
    sent: done.sent,
    send_failed: done.failed,
    received,
    lost,
    image_rx: image ? image.countIn(done.firstPulse, done.lastPulse) : NaN,
    svc_drops: dropTotal,
    p50_ms: round(quantile(lat, 0.5), 2),
    p99_ms: round(quantile(lat, 0.99), 2),
    max_ms: round(quantile(lat, 1), 2),
    cpu_ms_frame: s0 && s1 && processed > 0 ? round((s1.cpuMs - s0.cpuMs) / processed, 2) : NaN,
    cpu_pct: s0 && s1 ? round((100 * (s1.cpuMs - s0.cpuMs)) / (s1.at - s0.at), 0) : NaN,
    sys_ms_frame: s0 && s1 && processed > 0 ? round((s1.sysMs - s0.sysMs) / processed, 2) : NaN,
    faults_frame:
      s0 && s1 && processed > 0 ? Math.round((s1.minorFaults - s0.minorFaults) / processed) : NaN,
    status_p99_ms: statusMs ? round(quantile(statusMs, 0.99), 1) : NaN,
    main_ms_frame: t0 && t1 && processed > 0 ? round((t1.main - t0.main) / processed, 2) : NaN,
    main_gc_pct:
      t0 && t1 && gc0 && gc1 && t1.main > t0.main
        ? round((100 * 1000 * (gc1.main - gc0.main)) / (t1.main - t0.main), 1)
        : NaN,
    ingest_gc_pct:
      t0 && t1 && gc0 && gc1 && busiestDelta(t0, t1) > 0
        ? round((100 * 1000 * (gc1.ingest - gc0.ingest)) / busiestDelta(t0, t1), 1)
        : NaN,
    ingest_ms_frame: t0 && t1 && processed > 0 ? round(busiestDelta(t0, t1) / processed, 2) : NaN,
    zmq_ms_frame: t0 && t1 && processed > 0 ? round((t1.zmq - t0.zmq) / processed, 2) : NaN,
    helpers_pct: round((100 * (h1 - h0)) / done.elapsedMs, 0),
    machine_pct: round((100 * (m1.busy - m0.busy)) / (m1.total - m0.total), 0),
    rss_start_mb: s0 ? round(s0.rssMb, 0) : NaN,
    rss_end_mb: s1 ? round(s1.rssMb, 0) : NaN,
    pass: pass ? 'yes' : 'NO',
  }
  emit(row)
  const why = [
    done.failed > 0 ? `${done.failed} sends failed` : '',
    achieved < 0.98 * hz ? `sender reached only ${achieved.toFixed(0)} Hz` : '',
    lost > 0 ? `${lost} frames missing on the data stream` : '',
    dropTotal > 0 ? `service counted ${JSON.stringify(drops)}` : '',
    data.bad.length > 0 ? `bad data messages: ${data.bad.slice(0, 3).join('; ')}` : '',
  ]
    .filter(Boolean)
    .join(', ')
  note(
    `${hz} Hz: ${pass ? 'pass' : 'FAIL'}  p50 ${row.p50_ms} ms  p99 ${row.p99_ms} ms  ` +
      `${row.cpu_ms_frame} ms CPU/frame${why ? `  (${why})` : ''}`,
  )
  return pass
}

/**
 * The floors, each alone at `floorHz` for one step: a bare zeromq.js receiver (the image
 * consumer, which reads only the pulse id), then a bare receiver that forwards every frame on a
 * PUSH to an image consumer (bench/service/forwarder.ts). Their CPU per frame is what receiving,
 * and receiving plus the image stream, cost on this machine before any processing.
 */
async function floorStep(sender: SenderProc): Promise<void> {
  const camera = `tcp://127.0.0.1:${sender.port}`
  const rx = await ConsumerProc.start(camera, 'image')
  await floorRow('floor', rx, rx.child.pid as number, 'bare zeromq.js receiver')
  await rx.exit()
  const [port] = (await freePorts(1)) as [number]
  const fwd = await ForwarderProc.start(camera, port)
  const sink = await ConsumerProc.start(`tcp://127.0.0.1:${port}`, 'image')
  await floorRow('floor_forward', sink, fwd.child.pid as number, 'receive + forward')
  await sink.exit()
  await fwd.exit()

  async function floorRow(kind: string, rx: ConsumerProc, pid: number, what: string) {
    const warm = await sender.run(50, 1, nextPulse)
    nextPulse = warm.lastPulse + 1
    await drain(rx, warm.firstPulse, warm.lastPulse)
    await sleep(1000)
    const a = sampleProc(pid)
    const done = await sender.run(floorHz, seconds, nextPulse)
    nextPulse = done.lastPulse + 1
    await drain(rx, done.firstPulse, done.lastPulse)
    const b = sampleProc(pid)
    const received = rx.countIn(done.firstPulse, done.lastPulse)
    const row: Row = {
      kind,
      rate_hz: floorHz,
      achieved_hz: round((done.sent * 1000) / done.elapsedMs, 1),
      received,
      cpu_ms_frame: received > 0 ? round((b.cpuMs - a.cpuMs) / received, 2) : NaN,
      sys_ms_frame: received > 0 ? round((b.sysMs - a.sysMs) / received, 2) : NaN,
      faults_frame: received > 0 ? Math.round((b.minorFaults - a.minorFaults) / received) : NaN,
    }
    emit(row)
    note(`${kind} (${what}, ${floorHz} Hz): ${row.cpu_ms_frame} ms CPU/frame`)
  }
}

/** GET /status every 100 ms until stopped: the answer times in ms, sorted (HTTP under load). */
function pollStatus(service: ServiceProc): { stop(): Promise<number[]> } {
  const times: number[] = []
  let running = true
  const loop = (async () => {
    while (running) {
      const t = nowMs()
      await service.get('/status').catch(() => undefined)
      times.push(nowMs() - t)
      await sleep(100)
    }
  })()
  return {
    async stop() {
      running = false
      await loop
      return times.sort((a, b) => a - b)
    },
  }
}

/** CPU ms of the busiest thread besides main and ZeroMQ's (the ingest worker) over a step. */
function busiestDelta(a: ThreadSample, b: ThreadSample): number {
  let best = 0
  for (const [tid, ms] of b.byTid) best = Math.max(best, ms - (a.byTid.get(tid) ?? 0))
  return best
}

function round(v: number, digits: number): number {
  if (!Number.isFinite(v)) return NaN
  const f = 10 ** digits
  return Math.round(v * f) / f
}

main()
  .catch((err: unknown) => {
    console.error(err instanceof Error ? (err.stack ?? err.message) : err)
    process.exitCode = 1
  })
  .finally(() => killAll())
