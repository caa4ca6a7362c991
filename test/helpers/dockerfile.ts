/**
 * A small Dockerfile reader for test/docker-steps.test.ts: enough of the format to replay the
 * build of this project's Dockerfile without a Docker engine (instructions, line continuations,
 * comments, stages, ARG substitution, JSON/exec form) and .dockerignore matching.
 */

export interface Instruction {
  /** Upper-case keyword: FROM, RUN, COPY… */
  op: string
  /** The rest of the line, continuations joined. */
  args: string
  line: number
}

export interface Stage {
  name: string
  from: string
  instructions: Instruction[]
}

export interface Dockerfile {
  /** ARGs declared before the first FROM, with their defaults. */
  globalArgs: Record<string, string>
  stages: Stage[]
}

export function parseDockerfile(text: string): Dockerfile {
  const instructions: Instruction[] = []
  const lines = text.split('\n')
  let current: Instruction | undefined
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i] ?? ''
    const trimmed = raw.trim()
    if (current === undefined && (trimmed === '' || trimmed.startsWith('#'))) continue
    // Comment lines inside a continued instruction are dropped, as Docker does.
    if (current !== undefined && trimmed.startsWith('#')) continue
    const continued = /\\\s*$/.test(raw)
    const body = continued ? raw.replace(/\\\s*$/, '') : raw
    if (current === undefined) {
      const m = /^\s*([A-Za-z]+)\s*(.*)$/.exec(body)
      if (!m) throw new Error(`Dockerfile line ${i + 1}: cannot parse '${raw}'`)
      current = { op: (m[1] ?? '').toUpperCase(), args: m[2] ?? '', line: i + 1 }
    } else {
      current.args += ' ' + body.trim()
    }
    if (!continued) {
      current.args = current.args.trim()
      instructions.push(current)
      current = undefined
    }
  }
  if (current !== undefined) throw new Error('Dockerfile ends inside a continued line')

  const globalArgs: Record<string, string> = {}
  const stages: Stage[] = []
  for (const ins of instructions) {
    if (ins.op === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args)
      if (!m) throw new Error(`Dockerfile line ${ins.line}: bad FROM '${ins.args}'`)
      stages.push({ from: m[1] ?? '', name: m[2] ?? String(stages.length), instructions: [] })
    } else if (stages.length === 0) {
      if (ins.op !== 'ARG') throw new Error(`Dockerfile line ${ins.line}: ${ins.op} before FROM`)
      const [k = '', v = ''] = ins.args.split('=', 2)
      globalArgs[k.trim()] = v.trim()
    } else {
      stages[stages.length - 1]?.instructions.push(ins)
    }
  }
  return { globalArgs, stages }
}

/** Substitutes `${NAME}` and `$NAME` from `vars` (unknown names are left as they are). */
export function substitute(text: string, vars: Record<string, string>): string {
  return text.replace(/\$\{(\w+)\}|\$(\w+)/g, (whole, a?: string, b?: string) => {
    const v = vars[(a ?? b) as string]
    return v === undefined ? whole : v
  })
}

/** Splits `--flag=value` options off the front of COPY/HEALTHCHECK arguments. */
export function splitFlags(args: string): { flags: Record<string, string>; rest: string } {
  const flags: Record<string, string> = {}
  let rest = args.trim()
  for (;;) {
    const m = /^--([\w-]+)=(\S+)\s+/.exec(rest)
    if (!m) break
    flags[m[1] as string] = m[2] as string
    rest = rest.slice(m[0].length)
  }
  return { flags, rest }
}

/** The exec (JSON array) form of CMD/ENTRYPOINT/RUN, or undefined for the shell form. */
export function execForm(args: string): string[] | undefined {
  if (!args.trim().startsWith('[')) return undefined
  const parsed: unknown = JSON.parse(args)
  if (!Array.isArray(parsed) || !parsed.every((s) => typeof s === 'string')) {
    throw new Error(`not an exec form: ${args}`)
  }
  return parsed as string[]
}

/** `ENV a=b c=d` (and the legacy `ENV a b`). */
export function parseEnv(args: string): Record<string, string> {
  const out: Record<string, string> = {}
  if (!args.includes('=')) {
    const [k = '', ...v] = args.split(/\s+/)
    out[k] = v.join(' ')
    return out
  }
  for (const m of args.matchAll(/(\w+)=("(?:[^"\\]|\\.)*"|\S*)/g)) {
    const v = m[2] ?? ''
    out[m[1] as string] = v.startsWith('"') ? (JSON.parse(v) as string) : v
  }
  return out
}

function globToRegExp(pattern: string): RegExp {
  let re = ''
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] as string
    if (c === '*' && pattern[i + 1] === '*') {
      re += '.*'
      i++
      if (pattern[i + 1] === '/') i++
    } else if (c === '*') re += '[^/]*'
    else if (c === '?') re += '[^/]'
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&')
  }
  return new RegExp(`^${re}$`)
}

/** A .dockerignore as a predicate over context-relative paths (`a/b/c`). */
export function dockerignore(text: string): (path: string) => boolean {
  const rules = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const negate = l.startsWith('!')
      const p = (negate ? l.slice(1) : l).replace(/^\/+/, '').replace(/\/+$/, '')
      return { negate, re: globToRegExp(p) }
    })
  return (path: string) => {
    const parts = path.split('/')
    let ignored = false
    for (const rule of rules) {
      // A rule matching a parent directory excludes everything below it.
      for (let n = 1; n <= parts.length; n++) {
        if (rule.re.test(parts.slice(0, n).join('/'))) {
          ignored = !rule.negate
          break
        }
      }
    }
    return ignored
  }
}
