/** Reads Prometheus text exposition (what GET /metrics answers) for assertions. */

export interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

export interface ParsedMetrics {
  samples: Sample[]
  /** `# TYPE` of each metric family. */
  types: Map<string, string>
  help: Map<string, string>
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\d+)?$/
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g

/** Parses the text format; throws on a line it cannot read (the format must be valid). */
export function parseMetrics(text: string): ParsedMetrics {
  const out: ParsedMetrics = { samples: [], types: new Map(), help: new Map() }
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue
    if (line.startsWith('# TYPE ')) {
      const [, , name, type] = line.split(' ')
      out.types.set(name!, type!)
      continue
    }
    if (line.startsWith('# HELP ')) {
      const rest = line.slice(7)
      const i = rest.indexOf(' ')
      out.help.set(rest.slice(0, i), rest.slice(i + 1))
      continue
    }
    if (line.startsWith('#')) continue
    const m = LINE.exec(line)
    if (!m) throw new Error(`not a metrics line: ${line}`)
    const labels: Record<string, string> = {}
    for (const l of (m[3] ?? '').matchAll(LABEL)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, '$1')
    const raw = m[4]!
    const value = raw === '+Inf' ? Infinity : raw === '-Inf' ? -Infinity : Number(raw)
    out.samples.push({ name: m[1]!, labels, value })
  }
  return out
}

/** The value of the one sample with this name whose labels include `labels`; 0 when absent. */
export function metricValue(
  m: ParsedMetrics,
  name: string,
  labels: Record<string, string> = {},
): number {
  const found = m.samples.filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  )
  if (found.length > 1) {
    throw new Error(`${name} ${JSON.stringify(labels)} matches ${found.length} samples`)
  }
  return found[0]?.value ?? 0
}

/** Fetches and parses GET /metrics of a running service. */
export async function scrape(base: string): Promise<ParsedMetrics> {
  const r = await fetch(`${base}/metrics`)
  if (r.status !== 200) throw new Error(`/metrics answered ${r.status}`)
  return parseMetrics(await r.text())
}
