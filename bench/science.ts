/**
 * `npm run bench:science`: edge accuracy of the service's EdgeFinder on the simulator's scene
 * (bench/science-scene.ts) over step depth x pixel noise, beside the matched-filter limit.
 *
 * Per cell and pipeline, over the X-ray shots (an edge not reported counts as an infinite
 * error): median |error|, 95th percentile, the share within 5 px and the share of shots with
 * no edge (miss). For a pipeline with a confidence: the share flagged low_confidence and the
 * share within 5 px among the confident and among the flagged shots (calibration: a useful
 * confidence keeps the good shots and flags the bad ones). Rows with depth 0 are X-ray shots
 * without an edge: "ok" there is a false alarm.
 *
 *   npm run bench:science [-- --shots 300 --depth 1,35 --sigma 0,100 --compare '{json}']
 * @module
 */
import { parseArgs } from 'node:util'
import os from 'node:os'
import { Kernel } from '../src/kernel/kernel.js'
import { EdgeFinder, type EdgeResult } from '../src/processing/edge-finder.js'
import {
  EdgeStatus,
  defaultParameters,
  parseParameterUpdate,
  type ProcessingParameters,
} from '../src/processing/parameters.js'
import { SCENE, cramerRao, shots, type Cell } from './science-scene.js'

const { values: args } = parseArgs({
  options: {
    shots: { type: 'string', default: '300' },
    depth: { type: 'string', default: '35,10,3,1,0.5,0' },
    sigma: { type: 'string', default: '0,20,50,100,150' },
    seed: { type: 'string', default: '1' },
    /** More pipelines: a parameter update as JSON, e.g. '{"step_length": 100}'. */
    compare: { type: 'string', multiple: true, default: [] },
  },
})
const XRAY_SHOTS = Number(args.shots)
const DEPTHS = args.depth.split(',').map(Number)
const SIGMAS = args.sigma.split(',').map(Number)

function params(update: Record<string, unknown>): ProcessingParameters {
  const r = parseParameterUpdate(defaultParameters(), update)
  if (!r.ok) throw new Error(r.errors.join('; '))
  return r.parameters
}

/** The pipelines compared: the contract's step defaults, any --compare, the current defaults. */
const PIPELINES: Array<{ name: string; parameters: ProcessingParameters }> = [
  {
    name: 'step (old default)',
    parameters: params({ edge_method: 'step', minimum_confidence: null }),
  },
  ...args.compare.map((json) => ({ name: json, parameters: params(JSON.parse(json)) })),
  { name: 'default', parameters: defaultParameters() },
]

interface Tally {
  errors: number[]
  confident: number[]
  flagged: number[]
  confidence: number[]
  ok: number
  micros: number
}

function tally(): Tally {
  return { errors: [], confident: [], flagged: [], confidence: [], ok: 0, micros: 0 }
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!
}

function share(values: number[], within: number): number {
  if (values.length === 0) return NaN
  return values.filter((e) => e <= within).length / values.length
}

function fmt(v: number, digits = 2): string {
  if (Number.isNaN(v)) return '–'
  if (!Number.isFinite(v)) return '∞'
  return v >= 100 ? v.toFixed(0) : v.toFixed(digits)
}

function pct(v: number): string {
  return Number.isNaN(v) ? '–' : `${(100 * v).toFixed(0)}`
}

function record(t: Tally, r: EdgeResult, truth: number, micros: number): void {
  t.micros += micros
  const reported = Number.isFinite(r.edge_position)
  const err = reported ? Math.abs(r.edge_position - truth) : Infinity
  const conf = r.edge_confidence
  t.confidence.push(conf)
  if (r.edge_status === EdgeStatus.ok) t.ok++
  if (!Number.isNaN(truth)) {
    t.errors.push(err)
    // Calibration: the confident shots against the flagged ones (other statuses are neither).
    if (r.edge_status === EdgeStatus.ok) t.confident.push(err)
    else if (r.edge_status === EdgeStatus.low_confidence) t.flagged.push(err)
  }
}

async function main(): Promise<void> {
  const kernel = await Kernel.load()
  const header = ['depth %', 'σ']
  for (const p of PIPELINES) {
    header.push(`${p.name}: median`, 'p95', '≤5 px %', 'none %')
  }
  header.push('default: conf median', 'flagged %', '≤5 px % of ok', '≤5 px % of flagged', 'ok %')
  header.push('limit: median', 'p95', '≤5 px %', 'CRB σ')
  console.log(
    `# science bench: ${XRAY_SHOTS} X-ray shots per cell, scene ${SCENE.width} x ` +
      `${SCENE.rows} rows, X-ray shot every ${SCENE.period}th pulse; ${os.cpus()[0]?.model}, ` +
      `${new Date().toISOString()}`,
  )
  console.log(`| ${header.join(' | ')} |`)
  console.log(`|${header.map(() => '---').join('|')}|`)
  const started = performance.now()
  const micros = PIPELINES.map(() => ({ sum: 0, shots: 0 }))
  for (const depth of DEPTHS) {
    for (const sigma of SIGMAS) {
      const cell: Cell = { depth: depth / 100, sigma }
      const finders = PIPELINES.map((p) => new EdgeFinder(kernel, p.parameters))
      const tallies = PIPELINES.map(tally)
      const limit: number[] = []
      let xrays = 0
      let truthSum = 0
      for (const shot of shots(cell, XRAY_SHOTS, 1000 * Number(args.seed) + depth * 10 + sigma)) {
        const input = { pulseId: shot.pulseId, signal: shot.profile, signalRoi: [0, 1024, 5, 84] }
        for (let k = 0; k < finders.length; k++) {
          const t0 = performance.now()
          const r = finders[k]!.process(input)
          const dt = (performance.now() - t0) * 1000
          if (shot.xray) record(tallies[k]!, r, shot.truth, dt)
          else if (Number.isFinite(r.edge_position)) throw new Error('edge on a reference shot')
        }
        if (shot.xray) {
          xrays++
          if (!Number.isNaN(shot.truth)) {
            limit.push(Math.abs(shot.limit - shot.truth))
            truthSum += shot.truth
          }
        }
      }
      tallies.forEach((t, k) => {
        micros[k]!.sum += t.micros
        micros[k]!.shots += xrays
      })
      const row = [String(depth), String(sigma)]
      for (const t of tallies) {
        const e = [...t.errors].sort((a, b) => a - b)
        const none = e.filter((v) => !Number.isFinite(v)).length / Math.max(1, e.length)
        row.push(
          fmt(quantile(e, 0.5)),
          fmt(quantile(e, 0.95)),
          pct(share(e, 5)),
          pct(e.length ? none : NaN),
        )
      }
      const d = tallies[tallies.length - 1]!
      const conf = [...d.confidence].sort((a, b) => a - b)
      const flagged = d.flagged.length / Math.max(1, d.errors.length)
      row.push(
        fmt(quantile(conf, 0.5), 1),
        pct(d.errors.length ? flagged : NaN),
        pct(share(d.confident, 5)),
        pct(share(d.flagged, 5)),
        pct(d.ok / xrays),
      )
      const l = limit.sort((a, b) => a - b)
      row.push(
        fmt(quantile(l, 0.5)),
        fmt(quantile(l, 0.95)),
        pct(share(l, 5)),
        fmt(l.length ? cramerRao(cell, truthSum / l.length) : NaN),
      )
      console.log(`| ${row.join(' | ')} |`)
    }
  }
  const perShot = PIPELINES.map(
    (p, k) => `${p.name} ${(micros[k]!.sum / micros[k]!.shots).toFixed(0)} µs`,
  ).join(', ')
  console.log(
    `\n${((performance.now() - started) / 1000).toFixed(0)} s in all; per X-ray shot ` +
      `(the finder only, ${SCENE.width} columns): ${perShot}`,
  )
}

await main()
