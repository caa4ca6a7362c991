/**
 * `npm run soak -- --minutes N` (not in CI): the service under a steady 100 Hz stream of
 * realistic 2560×2160 frames for N minutes, with the faults of a long unattended run repeated
 * every period (default 60 s):
 *   +10 s  malformed messages interleaved between frames (garbage, truncated, bad JSON, lying
 *          sizes, a decompression bomb, unknown type, wrong part count, empty parts)
 *   +20 s  a ROI change (signal and background alternate between two settings)
 *   +30 s  the data consumer goes away for 5 s and comes back
 *   +45 s  the upstream sender is killed and restarted on the same port
 * Every minute it prints RSS, CPU, latency (send → data consumer) and losses; at the end a
 * summary with the RSS trend. Frames sent while the data consumer was away may be lost (the
 * service counts them as dropped), so may frames still queued in the camera process when it is
 * killed; any other missing frame is an unexpected loss.
 *
 * Options: --minutes N (10)  --hz R (100)  --period S (60; the offsets above scale with it)
 *          --json  --threads N
 * @module
 */
import { freePorts } from '../test/helpers/ports.js'
import {
  ROI_BACKGROUND,
  ROI_SIGNAL,
  nowMs,
  parseOptions,
  quantile,
  sleep,
  table,
} from '../bench/service/common.js'
import {
  ConsumerProc,
  SenderProc,
  ServiceProc,
  counterDelta,
  dropCounters,
  killAll,
  runDir,
  type SenderDone,
} from '../bench/service/harness.js'

const opts = parseOptions(process.argv.slice(2))
const minutes = Number(opts.get('minutes') ?? 10)
const hz = Number(opts.get('hz') ?? 100)
const period = Number(opts.get('period') ?? 60) * 1000
const json = opts.has('json')
const extraArgs = opts.has('threads') ? ['--threads', opts.get('threads') as string] : []

const ROIS_B: [number[], number[]] = [
  [200, 2000, 1100, 500],
  [100, 2300, 400, 300],
]

type Row = Record<string, string | number>
const log = (msg: string) => {
  if (!json) console.error(msg)
}

async function main(): Promise<void> {
  log(`soak: ${minutes} min at ${hz} Hz, faults every ${period / 1000} s; logs in ${runDir}`)
  const sentAt = new Map<number, number>()
  const recvAt = new Map<number, number>()
  const imageAt = new Map<number, number>()
  let sender = await SenderProc.start({ sentAt })
  const inputPort = sender.port
  const [dataPort, imagePort, restPort] = (await freePorts(3)) as [number, number, number]
  const service = await ServiceProc.start({
    inputPort,
    dataPort,
    imagePort,
    restPort,
    extraArgs,
    logLevel: 'WARNING',
  })
  await service.setRois(ROI_SIGNAL, ROI_BACKGROUND)
  const dataEp = `tcp://127.0.0.1:${dataPort}`
  let data = await ConsumerProc.start(dataEp, 'data', recvAt)
  const image = await ConsumerProc.start(`tcp://127.0.0.1:${imagePort}`, 'image', imageAt)
  const bad: string[] = []

  let nextPulse = 4_000_000
  let streaming: Promise<SenderDone | undefined> = sender.stream(hz, nextPulse)
  const t0 = nowMs()
  const end = t0 + minutes * 60_000
  /** Monotonic-time windows in which the data consumer was away. */
  const away: Array<[number, number, number]> = []
  /** Kill times of the sender with the latency then: what it still held went down with it. */
  const kills: Array<[number, number]> = []
  let injected = 0
  let roiChanges = 0
  let senderRestarts = 0
  const resumeMs: number[] = []
  let consumerRestarts = 0
  const faultLog: string[] = []

  const drops0 = dropCounters(await service.statistics())
  let dropsPrev = drops0
  let samplePrev = service.sample()
  const rssFirst = samplePrev.rssMb
  const minuteRows: Row[] = []
  const allLat: number[] = []
  const allSteady: number[] = []
  let unexpectedTotal = 0
  let expectedTotal = 0
  let killedTotal = 0
  let sentTotal = 0
  let lastReportEdge = t0

  /** The report for pulses sent in [from, to) (monotonic ms). */
  const report = async (minute: number, from: number, to: number) => {
    let sent = 0
    let got = 0
    let expectedLoss = 0
    let killedLoss = 0
    let unexpected = 0
    let img = 0
    const lat: number[] = []
    const steady: number[] = []
    for (const [p, s] of sentAt) {
      if (s < from || s >= to) continue
      sent++
      const r = recvAt.get(p)
      if (imageAt.has(p)) img++
      if (r !== undefined) {
        got++
        lat.push(r - s)
        // Latency away from the consumer and camera restarts (their recovery has its own cost).
        if (
          !away.some(([a, b, lag]) => s >= a - lag - 1000 && s <= b + 3000) &&
          !kills.some(([k]) => s >= k - 1000 && s <= k + 10_000)
        )
          steady.push(r - s)
      } else if (away.some(([a, b, lag]) => s >= a - lag - 1000 && s <= b + 1000)) {
        // A frame in flight when the consumer left, or queued towards it, is lost with it.
        expectedLoss++
      } else if (kills.some(([k, lag]) => s >= k - lag - 1000 && s <= k)) {
        // Queued in the camera process when it was killed: it never reached the service.
        killedLoss++
      } else {
        unexpected++
      }
    }
    lat.sort((a, b) => a - b)
    steady.sort((a, b) => a - b)
    for (const v of lat) allLat.push(v)
    for (const v of steady) allSteady.push(v)
    const smp = service.sample()
    const drops = dropCounters(await service.statistics())
    const delta = counterDelta(dropsPrev, drops)
    dropsPrev = drops
    const cpuPct = (100 * (smp.cpuMs - samplePrev.cpuMs)) / (smp.at - samplePrev.at)
    samplePrev = smp
    sentTotal += sent
    unexpectedTotal += unexpected
    expectedTotal += expectedLoss
    killedTotal += killedLoss
    const row: Row = {
      minute,
      sent,
      received: got,
      lost_unexpected: unexpected,
      lost_consumer_away: expectedLoss,
      lost_sender_killed: killedLoss,
      image_rx: img,
      p50_ms: r2(quantile(lat, 0.5)),
      p99_ms: r2(quantile(lat, 0.99)),
      max_ms: r2(quantile(lat, 1)),
      steady_p99_ms: r2(quantile(steady, 0.99)),
      cpu_pct: Math.round(cpuPct),
      rss_mb: Math.round(smp.rssMb),
      // Top-level counters only (the per-reason breakdown is in the summary).
      svc_counted:
        Object.entries(delta)
          .filter(([k]) => !k.includes('.'))
          .map(([k, v]) => `${k.replace(/^n_/, '')}+${v}`)
          .join(' ') || '-',
    }
    minuteRows.push(row)
    if (json) console.log(JSON.stringify({ kind: 'minute', ...row }))
    else
      log(
        table([row])
          .split('\n')
          .slice(minute === 1 ? 0 : 2)
          .join('\n'),
      )
  }

  // Each fault fires once per period at its offset (given for a 60 s period, scaled to the
  // actual one); the loop ticks every 250 ms.
  const at = (ms: number) => (ms * period) / 60_000
  const fired = new Set<string>()
  const due = (name: string, offset: number, now: number) => {
    const k = Math.floor((now - t0) / period)
    const key = `${name}:${k}`
    if (now - t0 - k * period >= offset && !fired.has(key) && now + 10_000 < end) {
      fired.add(key)
      return true
    }
    return false
  }

  while (nowMs() < end) {
    await sleep(250)
    const now = nowMs()
    if (service.child.exitCode !== null) throw new Error(`service exited:\n${service.logTail()}`)
    if (due('garbage', at(10_000), now)) {
      sender.garbage(48)
      faultLog.push(`${s(now - t0)} 48 malformed messages`)
    }
    if (due('roi', at(20_000), now)) {
      roiChanges++
      const [sig, bg] = roiChanges % 2 === 1 ? ROIS_B : [ROI_SIGNAL, ROI_BACKGROUND]
      await service.setRois(sig, bg)
      faultLog.push(`${s(now - t0)} ROIs -> ${JSON.stringify(sig)} ${JSON.stringify(bg)}`)
    }
    if (due('consumer', at(30_000), now)) {
      const a = nowMs()
      // Frames sent up to the current latency before the consumer left were still on their
      // way to it: they go down with it.
      const lag = recentLatency(sentAt, recvAt, 200)
      for (const b of data.bad) bad.push(b)
      await data.exit()
      await sleep(Math.min(5000, at(5000)))
      data = await ConsumerProc.start(dataEp, 'data', recvAt)
      away.push([a, nowMs(), lag])
      consumerRestarts++
      faultLog.push(`${s(a - t0)} data consumer away ${((nowMs() - a) / 1000).toFixed(1)} s`)
    }
    if (due('sender', at(45_000), now)) {
      const a = nowMs()
      injected += sender.garbageSent
      kills.push([nowMs(), recentLatency(sentAt, recvAt, 200)])
      await sender.kill()
      let last = nextPulse - 1
      for (const p of sentAt.keys()) if (p > last) last = p
      // Sends of the last ~200 ms may not have been reported before the kill: skip a second
      // of pulse ids so that no id is ever sent twice.
      nextPulse = last + 1 + Math.ceil(hz / 4) * 4
      sender = await SenderProc.start({ port: inputPort, sentAt, ring: 4 })
      streaming = sender.stream(hz, nextPulse)
      const first = nextPulse
      // Time until a frame of the new sender comes out of the service (its very first sends
      // may fail while the service is still reconnecting).
      const b = nowMs()
      const resumed = () => {
        for (let p = first; p < first + hz * 30; p++) if (recvAt.has(p)) return true
        return false
      }
      while (!resumed() && nowMs() - b < 20_000) await sleep(50)
      resumeMs.push(resumed() ? nowMs() - b : NaN)
      senderRestarts++
      const down = ((b - a) / 1000).toFixed(1)
      faultLog.push(
        `${s(a - t0)} sender killed and restarted (down ${down} s, ` +
          `service resumed ${r2(resumeMs.at(-1) ?? NaN)} ms after the new sender was up)`,
      )
    }
    // Minute reports cover pulses sent up to 2 s before the boundary (they had time to arrive).
    const boundary = lastReportEdge + 60_000
    if (now >= boundary + 2000) {
      await report(minuteRows.length + 1, lastReportEdge - 2000, boundary - 2000)
      lastReportEdge = boundary
    }
  }
  sender.halt()
  await streaming
  injected += sender.garbageSent
  await sleep(3000)
  if (lastReportEdge < nowMs() - 3000) {
    await report(minuteRows.length + 1, lastReportEdge - 2000, nowMs())
  }
  for (const b of data.bad) bad.push(b)

  const stats = await service.statistics()
  const totalDrops = counterDelta(drops0, dropCounters(stats))
  const rss = minuteRows.map((r) => r.rss_mb as number)
  allLat.sort((a, b) => a - b)
  allSteady.sort((a, b) => a - b)
  const summary: Row = {
    minutes,
    hz,
    sent: sentTotal,
    lost_unexpected: unexpectedTotal,
    lost_consumer_away: expectedTotal,
    lost_sender_killed: killedTotal,
    latency_p50_ms: r2(quantile(allLat, 0.5)),
    latency_p99_ms: r2(quantile(allLat, 0.99)),
    latency_max_ms: r2(quantile(allLat, 1)),
    steady_latency_p50_ms: r2(quantile(allSteady, 0.5)),
    steady_latency_p99_ms: r2(quantile(allSteady, 0.99)),
    rss_start_mb: Math.round(rssFirst),
    rss_first_min_mb: rss[0] ?? NaN,
    rss_last_min_mb: rss.at(-1) ?? NaN,
    rss_max_mb: Math.max(...rss),
    rss_slope_mb_per_min: r2(slope(rss)),
    malformed_injected: injected,
    roi_changes: roiChanges,
    consumer_restarts: consumerRestarts,
    sender_restarts: senderRestarts,
    resume_ms_max: resumeMs.length ? r2(Math.max(...resumeMs)) : NaN,
    bad_data_messages: bad.length + data.bad.length,
    service_alive: service.child.exitCode === null ? 'yes' : 'NO',
  }
  await data.exit()
  await image.exit()
  await sender.exit()
  const code = await service.stop()
  if (json) {
    console.log(
      JSON.stringify({
        kind: 'summary',
        ...summary,
        service_counted: totalDrops,
        service_exit: code,
        faults: faultLog,
        bad: bad.slice(0, 10),
      }),
    )
  } else {
    console.log(`\nfaults:\n  ${faultLog.join('\n  ')}`)
    console.log(`\nper minute:\n${table(minuteRows)}`)
    console.log(`\nservice counted over the run: ${JSON.stringify(totalDrops)}`)
    if (bad.length) console.log(`bad data messages: ${bad.slice(0, 10).join('; ')}`)
    console.log(`service exit code after SIGTERM: ${code}`)
    console.log(
      `\nsummary:\n${Object.entries(summary)
        .map(([k, v]) => `  ${k}: ${v}`)
        .join('\n')}`,
    )
  }
}

/** The largest latency among the last `n` pulses received. */
function recentLatency(
  sentAt: Map<number, number>,
  recvAt: Map<number, number>,
  n: number,
): number {
  let max = 0
  let k = 0
  const keys = [...recvAt.keys()]
  for (let i = keys.length - 1; i >= 0 && k < n; i--, k++) {
    const p = keys[i] as number
    const d = (recvAt.get(p) as number) - (sentAt.get(p) ?? Infinity)
    if (Number.isFinite(d) && d > max) max = d
  }
  return max
}

function r2(v: number): number {
  return Number.isFinite(v) ? Math.round(v * 100) / 100 : NaN
}

function s(ms: number): string {
  return `${(ms / 1000).toFixed(0).padStart(5)} s`
}

/** Least-squares slope per sample (MB per minute for the per-minute RSS). */
function slope(ys: number[]): number {
  const n = ys.length
  if (n < 2) return NaN
  const mx = (n - 1) / 2
  const my = ys.reduce((a, b) => a + b, 0) / n
  let num = 0
  let den = 0
  ys.forEach((y, x) => {
    num += (x - mx) * (y - my)
    den += (x - mx) ** 2
  })
  return num / den
}

main()
  .catch((err: unknown) => {
    console.error(err instanceof Error ? (err.stack ?? err.message) : err)
    process.exitCode = 1
  })
  .finally(() => killAll())
