/**
 * Where the time goes in a V8 CPU profile (`node --cpu-prof`): self time per function, top N,
 * plus totals for idle, GC and WebAssembly.
 *
 * Usage: node --import tsx bench/service/profile-top.ts FILE.cpuprofile [N]
 * @module
 */
import { readFileSync } from 'node:fs'
import { basename } from 'node:path'
import { fileURLToPath } from 'node:url'

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
  children?: number[]
}

interface CpuProfile {
  nodes: ProfileNode[]
  samples: number[]
  timeDeltas: number[]
  startTime: number
  endTime: number
}

export interface ProfileEntry {
  name: string
  selfMs: number
  percent: number
}

export interface ProfileSummary {
  totalMs: number
  idleMs: number
  gcMs: number
  wasmMs: number
  top: ProfileEntry[]
}

/** Self time by function (name + file + line), sorted, with idle/GC/WASM totals. */
export function summariseProfile(file: string, n = 20): ProfileSummary {
  const prof = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile
  const byId = new Map<number, ProfileNode>()
  for (const node of prof.nodes) byId.set(node.id, node)
  const selfUs = new Map<number, number>()
  for (let i = 0; i < prof.samples.length; i++) {
    const id = prof.samples[i] as number
    selfUs.set(id, (selfUs.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0))
  }
  const byName = new Map<string, number>()
  let total = 0
  let idle = 0
  let gc = 0
  let wasm = 0
  for (const [id, us] of selfUs) {
    const cf = (byId.get(id) as ProfileNode).callFrame
    total += us
    if (cf.functionName === '(idle)') idle += us
    if (cf.functionName === '(garbage collector)') gc += us
    if (cf.url.startsWith('wasm://')) wasm += us
    const where = cf.url ? ` ${basename(cf.url)}:${cf.lineNumber + 1}` : ''
    const key = `${cf.functionName || '(anonymous)'}${where}`
    byName.set(key, (byName.get(key) ?? 0) + us)
  }
  const busy = total - idle
  const top = [...byName.entries()]
    .filter(([name]) => !name.startsWith('(idle)'))
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([name, us]) => ({ name, selfMs: us / 1000, percent: busy > 0 ? (100 * us) / busy : 0 }))
  return { totalMs: total / 1000, idleMs: idle / 1000, gcMs: gc / 1000, wasmMs: wasm / 1000, top }
}

/** Text report: percentages are of the non-idle time. */
export function formatProfile(s: ProfileSummary): string {
  const busy = s.totalMs - s.idleMs
  const lines = [
    `profile: ${s.totalMs.toFixed(0)} ms sampled, ${busy.toFixed(0)} ms busy ` +
      `(GC ${((100 * s.gcMs) / busy).toFixed(1)} %, ` +
      `WebAssembly ${((100 * s.wasmMs) / busy).toFixed(1)} %)`,
    '  self ms   % busy  function',
  ]
  for (const e of s.top) {
    lines.push(`${e.selfMs.toFixed(0).padStart(9)}  ${e.percent.toFixed(1).padStart(7)}  ${e.name}`)
  }
  return lines.join('\n')
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const [file, n] = process.argv.slice(2)
  if (!file) {
    console.error('usage: profile-top.ts FILE.cpuprofile [N]')
    process.exit(2)
  }
  console.log(formatProfile(summariseProfile(file, Number(n ?? 25))))
}
