/**
 * The systemd units in deploy/systemd/ parse as unit files, run the image like the old units did
 * (Restart=always, host networking, a named container stopped by ExecStop), hardened (pinned
 * image, read-only, no capabilities, a memory limit, the token from an environment file), and
 * pass the service only options its command line knows, with ports that do not clash.
 */
import { execFile } from 'node:child_process'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'

const run = promisify(execFile)
const repo = fileURLToPath(new URL('..', import.meta.url))
const dir = join(repo, 'deploy', 'systemd')
const test = suite('systemd units')

type Unit = Map<string, Array<[string, string]>>

/** systemd's unit syntax: [Section], Key=Value, '#'/';' comments, backslash continuations. */
function parseUnit(text: string, file: string): Unit {
  const unit: Unit = new Map()
  let section: Array<[string, string]> | undefined
  let pending = ''
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i] as string
    if (pending === '' && /^\s*([#;]|$)/.test(raw)) continue
    const line = pending + raw.trim()
    if (line.endsWith('\\')) {
      pending = line.slice(0, -1) + ' '
      continue
    }
    pending = ''
    const sec = /^\[([A-Za-z]+)\]$/.exec(line)
    if (sec) {
      section = []
      unit.set(sec[1] as string, section)
      continue
    }
    const kv = /^([A-Za-z][A-Za-z0-9]*)=(.*)$/.exec(line)
    assert.ok(kv, `${file}:${i + 1}: not Key=Value: '${line}'`)
    assert.ok(section, `${file}:${i + 1}: key outside a section`)
    section.push([kv[1] as string, (kv[2] as string).trim()])
  }
  assert.is(pending, '', `${file}: ends inside a continued line`)
  return unit
}

function values(unit: Unit, section: string, key: string): string[] {
  return (unit.get(section) ?? []).filter(([k]) => k === key).map(([, v]) => v)
}

/** An Exec line as systemd runs it: prefix chars off, ${VAR} from Environment=, words split. */
function execWords(line: string, env: Record<string, string>): string[] {
  const cmd = line.replace(/^[-@:+!]+/, '')
  const expanded = cmd.replace(/\$\{(\w+)\}/g, (_m, k: string) => {
    assert.ok(k in env, `\${${k}} is not set by Environment=`)
    return env[k] as string
  })
  assert.not.match(expanded, /["'$]/, 'no quoting or unexpanded variables to go wrong')
  return expanded.split(/\s+/).filter((w) => w !== '')
}

let helpText = ''

/** `--opt=value` or `--opt value` of a docker option list, every occurrence. */
function opt(opts: string[], name: string): string[] {
  const out: string[] = []
  for (let k = 0; k < opts.length; k++) {
    const w = opts[k] as string
    if (w === name) out.push(opts[++k] as string)
    else if (w.startsWith(`${name}=`)) out.push(w.slice(name.length + 1))
  }
  return out
}

function bytes(size: string): number {
  const m = /^(\d+)([kmg]?)b?$/i.exec(size)
  assert.ok(m, `a docker size: ${size}`)
  return Number(m[1]) * 1024 ** ' kmg'.indexOf((m[2] || ' ').toLowerCase())
}

/**
 * The hardening of issue 17: a pinned image, a read-only root with /data the only volume, no
 * capabilities, no privilege gain, a memory limit with room for the queue budgets (2560x2160
 * at 100 Hz: 1 GiB of queued frames by default), and the API token from an EnvironmentFile by
 * name only, never on a command line.
 */
function hardened(
  file: string,
  unit: Unit,
  opts: string[],
  env: Record<string, string>,
  args: string[],
): void {
  const image = env.IMAGE as string
  assert.match(
    image,
    /:(\d+\.\d+\.\d+[\w.-]*|[\w.-]*@sha256:[0-9a-f]{64})$/,
    `${file}: pinned image, not ${image}`,
  )
  assert.ok(opts.includes('--read-only'), `${file}: --read-only`)
  assert.is(opt(opts, '-v').length + opt(opts, '--volume').length, 1, `${file}: one volume`)
  assert.match(opt(opts, '-v')[0] ?? '', /:\/data$/)
  for (const t of opt(opts, '--tmpfs')) assert.match(t, /^\/tmp(:|$)/, `${file}: tmpfs ${t}`)
  assert.not.ok(opts.includes('--privileged'))
  assert.equal(opt(opts, '--cap-drop'), ['ALL'], `${file}: --cap-drop=ALL`)
  assert.is(opt(opts, '--cap-add').length, 0)
  assert.ok(opt(opts, '--security-opt').includes('no-new-privileges'), `${file}: no-new-priv`)
  const memory = opt(opts, '--memory')
  assert.is(memory.length, 1, `${file}: a memory limit`)
  const limit = bytes(memory[0] as string)
  const frame = 2560 * 2160 * 2
  assert.ok(limit >= 2 ** 30 + 100 * frame, `${file}: room for the queues (${memory[0]})`)
  assert.ok(limit <= 8 * 2 ** 30, `${file}: a limit, not a formality (${memory[0]})`)
  assert.equal(opt(opts, '--memory-swap'), memory, `${file}: no swap beyond the limit`)
  // The token: by name from the unit's environment file, never a value in the unit.
  const envFiles = values(unit, 'Service', 'EnvironmentFile')
  assert.equal(envFiles.length, 1, `${file}: an EnvironmentFile for PSEN_API_TOKEN`)
  assert.match(envFiles[0] as string, /^-\/etc\/psen-processing\/.+\.env$/)
  assert.ok(opt(opts, '-e').includes('PSEN_API_TOKEN'), `${file}: -e PSEN_API_TOKEN`)
  assert.not.ok(opt(opts, '-e').some((e) => e.startsWith('PSEN_API_TOKEN=')))
  assert.not.ok(
    args.some((a) => a.startsWith('--api_token')),
    `${file}: no token in argv`,
  )
  assert.not.ok('PSEN_API_TOKEN' in env, `${file}: no token in the unit`)
}

test.before(async () => {
  // The options the CLI documents; needs the build (npm run build) like every CLI test.
  const r = await run(process.execPath, [join(repo, 'bin', 'psen-processing.js'), '--help'])
  helpText = r.stdout + r.stderr
})

test('two camera units, each like the old ones and matching the CLI', async () => {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.service')).sort()
  assert.ok(files.length >= 2, 'one unit per production camera')
  assert.ok(files.includes('psen_SARES11-SPEC125-M2.service'), 'the contract camera')
  const ports = new Map<number, string>()
  const names = new Set<string>()
  for (const file of files) {
    const unit = parseUnit(await readFile(join(dir, file), 'utf8'), file)
    for (const s of ['Unit', 'Service', 'Install']) assert.ok(unit.has(s), `${file}: [${s}]`)
    assert.equal(values(unit, 'Unit', 'Requires'), ['docker.service'])
    assert.ok(values(unit, 'Unit', 'After')[0]?.includes('docker.service'))
    assert.equal(values(unit, 'Service', 'Restart'), ['always'])
    assert.ok(values(unit, 'Install', 'WantedBy').length === 1)

    const env: Record<string, string> = {}
    for (const e of values(unit, 'Service', 'Environment')) {
      const [k = '', ...v] = e.split('=')
      env[k] = v.join('=')
    }
    const start = values(unit, 'Service', 'ExecStart')
    assert.is(start.length, 1, `${file}: one ExecStart`)
    const words = execWords(start[0] as string, env)
    assert.equal(words.slice(0, 2), ['/usr/bin/docker', 'run'])
    // docker options up to the image, then the service's own arguments.
    let i = 2
    const dockerOpts: string[] = []
    while ((words[i] as string).startsWith('-')) {
      const w = words[i++] as string
      dockerOpts.push(w)
      const takesValue = [
        '--name',
        '-v',
        '--volume',
        '-e',
        '--env',
        '--tmpfs',
        '--memory',
        '--memory-swap',
        '--security-opt',
        '--cap-drop',
        '--pids-limit',
      ].includes(w)
      if (takesValue) dockerOpts.push(words[i++] as string)
    }
    const image = words[i++] as string
    assert.is(image, env.IMAGE)
    const args = words.slice(i)
    assert.ok(dockerOpts.includes('--net=host'), `${file}: host networking`)
    assert.ok(dockerOpts.includes('--rm'))
    const name = dockerOpts[dockerOpts.indexOf('--name') + 1] as string
    assert.is(name, file.replace(/\.service$/, ''), 'container named like the unit')
    assert.not.ok(names.has(name))
    names.add(name)
    const volume = dockerOpts[dockerOpts.indexOf('-v') + 1] as string
    assert.match(volume, /^\/var\/lib\/psen-processing\/[^:]+:\/data$/)
    hardened(file, unit, dockerOpts, env, args)

    // Stop, kill, rm and pull address the same container and image.
    assert.equal(execWords(values(unit, 'Service', 'ExecStop')[0] as string, env).slice(0, 2), [
      '/usr/bin/docker',
      'stop',
    ])
    assert.ok(execWords(values(unit, 'Service', 'ExecStop')[0] as string, env).includes(name))
    const pre = values(unit, 'Service', 'ExecStartPre').map((l) => execWords(l, env))
    assert.ok(pre.some((w) => w[1] === 'rm' && w[2] === name))
    assert.ok(pre.some((w) => w[1] === 'pull' && w[2] === env.IMAGE))

    // The service arguments: INPUT_STREAM PREFIX, then options the CLI documents.
    assert.match(args[0] as string, /^tcp:\/\/[\w.-]+:\d+$/)
    const prefix = args[1] as string
    assert.ok(file.includes(prefix), `${file}: camera ${prefix}`)
    for (let k = 2; k < args.length; k++) {
      const a = args[k] as string
      assert.ok(a.startsWith('--'), `${file}: unexpected word '${a}'`)
      const opt = a.split('=')[0] as string
      assert.ok(new RegExp(`${opt}\\b`).test(helpText), `${file}: ${opt} is not a CLI option`)
      const port = /^--(data_output_stream_port|image_output_stream_port|rest_api_port)$/.test(opt)
      if (port && !a.includes('=')) {
        const p = Number(args[++k])
        assert.ok(Number.isInteger(p) && p > 0 && p < 65536, `${file}: ${opt} ${args[k]}`)
        assert.not.ok(ports.has(p), `${file}: port ${p} also used by ${ports.get(p)}`)
        ports.set(p, file)
      } else if (!a.includes('=') && !['--auto_start'].includes(a)) {
        k++
      }
    }
    assert.ok(args.includes('--auto_start'))
  }
  // M2 exactly as the contract's production command line.
  const m2 = await readFile(join(dir, 'psen_SARES11-SPEC125-M2.service'), 'utf8')
  assert.match(m2, /tcp:\/\/cam-host:9010 SARES11-SPEC125-M2/)
  for (const p of [8895, 8896, 11002]) assert.is(ports.get(p), 'psen_SARES11-SPEC125-M2.service')
})

test('systemd-analyze accepts the units (where systemd is installed)', async () => {
  const has = await run('systemd-analyze', ['--version']).then(
    () => true,
    () => false,
  )
  if (!has) return
  const files = (await readdir(dir)).filter((f) => f.endsWith('.service')).map((f) => join(dir, f))
  // Missing /usr/bin/docker on a build machine is reported but is not a syntax error.
  const r = await run('systemd-analyze', ['verify', ...files]).catch(
    (e: { stdout?: string; stderr?: string }) => ({
      stdout: e.stdout ?? '',
      stderr: e.stderr ?? '',
    }),
  )
  const problems = (r.stdout + r.stderr)
    .split('\n')
    .filter((l) => l.trim() !== '' && !/docker|Command .* is not executable|not found/i.test(l))
  assert.equal(problems, [])
})

test.run()
