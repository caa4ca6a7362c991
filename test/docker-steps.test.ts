/**
 * Proves the Dockerfile without a Docker engine: its build stage's commands run in a clean copy
 * of the repository (tracked files only, filtered by .dockerignore), the runtime stage's COPY
 * sources exist, and the runtime tree alone (what the image holds) runs the CLI, starts the
 * service and passes the HEALTHCHECK.
 * Slow by nature (npm ci + build): one test, generous limits.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { cp, mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, isAbsolute, join, posix } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import {
  dockerignore,
  execForm,
  parseDockerfile,
  parseEnv,
  splitFlags,
  substitute,
  type Stage,
} from './helpers/dockerfile.js'
import { freePorts } from './helpers/ports.js'
import { waitFor } from './helpers/wait.js'
import { healthUrl } from '../deploy/docker/healthcheck.mjs'

const run = promisify(execFile)
const repo = fileURLToPath(new URL('..', import.meta.url))
const test = suite('docker steps')

test('the healthcheck finds the HTTP port on the command line', () => {
  const u = (s: string) => healthUrl(s === '' ? [] : s.split(' '))
  assert.is(u(''), 'http://127.0.0.1:10000/health')
  assert.is(
    u('tcp://cam:9010 CAM -o 8895 -i 8896 -r 11002 --auto_start'),
    'http://127.0.0.1:11002/health',
  )
  assert.is(u('tcp://cam:9010 CAM --rest_api_port=11002'), 'http://127.0.0.1:11002/health')
  assert.is(
    u('tcp://cam:9010 CAM --rest_api_port 11003 --rest_api_interface 0.0.0.0'),
    'http://127.0.0.1:11003/health',
  )
  assert.is(
    u('tcp://cam:9010 CAM -r=11004 --rest_api_interface=10.0.0.5'),
    'http://10.0.0.5:11004/health',
  )
  assert.is(u('tcp://cam:9010 CAM -r11005 --rest_api_interface ::1'), 'http://[::1]:11005/health')
  assert.is(u('psen_processing tcp://cam:9010 CAM -r 11006'), 'http://127.0.0.1:11006/health')
  assert.is(u('simulate --rate 10'), undefined)
})

interface Ctx {
  /** the copied build context */
  context: string
  /** stage name → root directory standing in for that stage's file system */
  roots: Map<string, string>
  logs: string[]
}

/** Maps a path inside a stage to the directory standing in for it. */
function inStage(root: string, workdir: string, p: string): string {
  const abs = posix.isAbsolute(p) ? p : posix.join(workdir, p)
  return join(root, abs)
}

async function copyInto(src: string, dest: string, destIsDir: boolean): Promise<void> {
  const s = await stat(src)
  if (s.isDirectory()) {
    // COPY dir dest copies the directory's contents.
    await mkdir(dest, { recursive: true })
    await cp(src, dest, { recursive: true, verbatimSymlinks: true })
  } else {
    const target = destIsDir ? join(dest, posix.basename(src)) : dest
    await mkdir(dirname(target), { recursive: true })
    await cp(src, target)
  }
}

async function replayStage(ctx: Ctx, stage: Stage, args: Record<string, string>, execute: boolean) {
  const root = join(dirname(ctx.context), `stage-${stage.name}`)
  ctx.roots.set(stage.name, root)
  await mkdir(root, { recursive: true })
  let workdir = '/'
  const env: Record<string, string> = {}
  const info = {
    workdir,
    env,
    entrypoint: undefined as string[] | undefined,
    healthcheck: undefined as string[] | undefined,
    user: 'root',
    volumes: [] as string[],
  }
  for (const ins of stage.instructions) {
    const text = substitute(ins.args, { ...args, ...env })
    switch (ins.op) {
      case 'ARG': {
        const [k = '', v] = text.split('=', 2)
        if (v !== undefined) args[k.trim()] = v.trim()
        break
      }
      case 'ENV':
        Object.assign(env, parseEnv(text))
        break
      case 'WORKDIR':
        workdir = posix.isAbsolute(text) ? text : posix.join(workdir, text)
        await mkdir(join(root, workdir), { recursive: true })
        break
      case 'COPY': {
        const { flags, rest } = splitFlags(text)
        const parts = execForm(rest) ?? rest.split(/\s+/)
        const dest = parts.pop() as string
        const from = flags.from === undefined ? ctx.context : ctx.roots.get(flags.from)
        assert.ok(from, `line ${ins.line}: unknown stage ${flags.from}`)
        const destIsDir = dest.endsWith('/') || dest === '.' || parts.length > 1
        for (const p of parts) {
          const src = flags.from === undefined ? join(from as string, p) : join(from as string, p)
          try {
            await stat(src)
          } catch {
            assert.unreachable(`Dockerfile line ${ins.line}: COPY source '${p}' does not exist`)
          }
          await copyInto(src, inStage(root, workdir, dest), destIsDir)
        }
        break
      }
      case 'RUN': {
        const cmd = execForm(text)
        if (!execute) {
          // Runtime-stage commands touch absolute paths as root: check their syntax only.
          await run('sh', ['-n', '-c', cmd ? cmd.join(' ') : text])
          break
        }
        const started = Date.now()
        try {
          const r = await run(cmd ? (cmd[0] as string) : 'sh', cmd ? cmd.slice(1) : ['-c', text], {
            cwd: join(root, workdir),
            // The local npm cache stands in for the registry where it can.
            env: { ...process.env, ...env, npm_config_prefer_offline: 'true', NODE_ENV: '' },
            maxBuffer: 64 << 20,
          })
          ctx.logs.push(`RUN ${text} (${Date.now() - started} ms)\n${r.stdout}${r.stderr}`)
        } catch (err) {
          const e = err as { stdout?: string; stderr?: string; message: string }
          assert.unreachable(
            `Dockerfile line ${ins.line}: RUN ${text} failed: ${e.message}\n` +
              `${e.stdout ?? ''}${e.stderr ?? ''}`,
          )
        }
        break
      }
      case 'ENTRYPOINT':
        info.entrypoint = execForm(text)
        assert.ok(info.entrypoint, 'ENTRYPOINT in exec form, so node receives the signals')
        break
      case 'HEALTHCHECK': {
        const { rest } = splitFlags(text)
        const m = /^CMD\s+(.*)$/.exec(rest)
        assert.ok(m, `line ${ins.line}: HEALTHCHECK CMD expected`)
        info.healthcheck = execForm(m[1] as string) ?? ['sh', '-c', m[1] as string]
        break
      }
      case 'USER':
        info.user = text
        break
      case 'VOLUME':
        info.volumes.push(...(execForm(text) ?? text.split(/\s+/)))
        break
      case 'EXPOSE':
      case 'LABEL':
      case 'CMD':
      case 'SHELL':
      case 'STOPSIGNAL':
        break
      default:
        assert.unreachable(`Dockerfile line ${ins.line}: instruction ${ins.op} not replayed`)
    }
  }
  info.workdir = workdir
  return { root, ...info }
}

async function waitForHealth(url: string, child: ChildProcess, output: () => string) {
  const state = await waitFor(
    'the service to become healthy',
    async () => {
      if (child.exitCode !== null) return 'exited'
      const r = await fetch(url, { signal: AbortSignal.timeout(2000) })
      return r.ok && 'healthy'
    },
    60_000,
    100,
  ).catch(() => 'not healthy in time')
  assert.is(state, 'healthy', `service did not become healthy at ${url}\n${output()}`)
}

test('the Dockerfile builds in a clean copy and its runtime tree runs', async () => {
  const tmp = await mkdtemp(join(tmpdir(), 'psen-docker-'))
  const ctx: Ctx = { context: join(tmp, 'context'), roots: new Map(), logs: [] }
  let service: ChildProcess | undefined
  try {
    // 1. The build context: tracked files (a clean clone), minus .dockerignore.
    const ignore = dockerignore(await readFile(join(repo, '.dockerignore'), 'utf8'))
    const lsArgs =
      process.env.PSEN_DOCKER_CONTEXT === 'worktree'
        ? ['ls-files', '-z', '--cached', '--others', '--exclude-standard']
        : ['ls-files', '-z']
    const { stdout } = await run('git', lsArgs, { cwd: repo, maxBuffer: 16 << 20 })
    const files = stdout.split('\0').filter((f) => f !== '' && !ignore(f))
    assert.ok(files.includes('package-lock.json'))
    assert.not.ok(files.some((f) => f.startsWith('node_modules/') || f.startsWith('.git/')))
    for (const f of files) {
      try {
        await copyInto(join(repo, f), join(ctx.context, f), false)
      } catch {
        // Tracked but deleted in the working tree: not part of the context.
      }
    }

    // 2. Replay the stages.
    const df = parseDockerfile(await readFile(join(repo, 'Dockerfile'), 'utf8'))
    assert.match(df.globalArgs.NODE_IMAGE ?? '', /^node:22-bookworm-slim$/)
    assert.is(df.stages.length, 2)
    const [buildStage, runtimeStage] = df.stages as [Stage, Stage]
    assert.is(substitute(buildStage.from, df.globalArgs), 'node:22-bookworm-slim')
    assert.is(runtimeStage.from, buildStage.from, 'both stages on the same base')
    const runs = buildStage.instructions.filter((i) => i.op === 'RUN').map((i) => i.args)
    assert.ok(
      runs.some((r) => /^npm ci\b/.test(r)),
      'npm ci',
    )
    assert.ok(
      runs.some((r) => /npm run build/.test(r)),
      'npm run build',
    )
    assert.ok(
      runs.some((r) => /npm prune --omit=dev/.test(r)),
      'dev dependencies pruned',
    )
    await replayStage(ctx, buildStage, { ...df.globalArgs }, true)
    const rt = await replayStage(ctx, runtimeStage, { ...df.globalArgs }, false)

    // 3. What the runtime image holds.
    const app = join(rt.root, rt.workdir)
    for (const f of [
      'package.json',
      'bin/psen-processing.js',
      'dist/cli/main.js',
      'build/kernel.wasm',
      'build/kernel.shared.wasm',
      'node_modules/zeromq/package.json',
      'node_modules/hono/package.json',
    ]) {
      await stat(join(app, f)).catch(() => assert.unreachable(`runtime image lacks ${f}`))
    }
    for (const dev of ['typescript', 'assemblyscript', 'uvu', 'tsx', 'pino-pretty']) {
      const there = await stat(join(app, 'node_modules', dev)).then(
        () => true,
        () => false,
      )
      assert.not.ok(there, `dev dependency ${dev} pruned`)
    }
    assert.is(rt.user, 'node', 'runs as the non-root user of the official image')
    assert.equal(rt.volumes, ['/data'])
    // Each instance's default state file lands in the volume.
    assert.is(rt.env.XDG_STATE_HOME, '/data')
    assert.is(rt.env.PSEN_STATE_FILE, undefined)
    const entry = rt.entrypoint as string[]
    assert.equal(entry, ['node', '/app/bin/psen-processing.js'])
    const health = rt.healthcheck as string[]
    assert.is(health[0], 'node')
    const mapped = (args: string[]) =>
      args.map((a) => (isAbsolute(a) && a.startsWith('/app/') ? join(rt.root, a) : a))

    const nodeEnv: NodeJS.ProcessEnv = {
      ...process.env,
      ...rt.env,
      XDG_STATE_HOME: join(tmp, 'data'),
    }
    delete nodeEnv.PSEN_STATE_FILE
    delete nodeEnv.NODE_OPTIONS
    const help = await run(process.execPath, mapped(entry).slice(1).concat('--help'), {
      cwd: app,
      env: nodeEnv,
    })
    assert.match(help.stdout, /rest_api_port/)

    // 4. `docker run IMAGE INPUT PREFIX -o … -i … -r …` from the runtime tree; the check
    // finds the port on the service's command line (PSEN_HEALTH_PID: this machine runs other
    // services, a container only its own).
    await mkdir(join(tmp, 'data'), { recursive: true })
    const [input, o, i, r] = await freePorts(4)
    const args = [
      `tcp://127.0.0.1:${input}`,
      'DOCKER-TEST',
      '-o',
      String(o),
      '-i',
      String(i),
      '-r',
      String(r),
      '--rest_api_interface',
      '127.0.0.1',
      '--auto_start',
    ]
    const base = `http://127.0.0.1:${r}`
    let out = ''
    const start = async (extra: string[] = []): Promise<ChildProcess> => {
      const child = spawn(process.execPath, mapped(entry).slice(1).concat(args, extra), {
        cwd: app,
        env: nodeEnv,
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      child.stdout?.on('data', (d: Buffer) => {
        out += d.toString()
      })
      child.stderr?.on('data', (d: Buffer) => {
        out += d.toString()
      })
      await waitForHealth(`${base}/health`, child, () => out)
      return child
    }
    const stop = async (child: ChildProcess): Promise<void> => {
      const exited = new Promise<number | null>((res) => child.on('exit', (c) => res(c)))
      child.kill('SIGTERM')
      assert.is(await exited, 0, `clean exit on SIGTERM (docker stop)\n${out}`)
    }
    service = await start()
    const hc = await run(process.execPath, mapped(health).slice(1), {
      cwd: app,
      env: { ...nodeEnv, PSEN_HEALTH_PID: String(service.pid) },
    }).then(
      () => 0,
      (e: { code?: number }) => e.code ?? 1,
    )
    assert.is(hc, 0, 'HEALTHCHECK passes against the running service')

    // A ROI set through the API lands in the state file (the volume) and survives a restart.
    const roi = [0, 16, 2, 8]
    const set = await fetch(`${base}/roi_signal`, {
      method: 'POST',
      body: JSON.stringify(roi),
      headers: { 'content-type': 'application/json' },
    })
    assert.is(((await set.json()) as { state: string }).state, 'ok')
    const stateFile = join(tmp, 'data', 'psen-processing', `DOCKER-TEST-${r}.json`)
    const saved = JSON.parse(await readFile(stateFile, 'utf8')) as { roi_signal: number[] }
    assert.equal(saved.roi_signal, roi)
    await stop(service)
    // Restarted with a decode worker: the image holds the worker and its kernel build.
    service = await start(['--threads', '2'])
    const back = (await (await fetch(`${base}/roi_signal`)).json()) as { roi_signal: number[] }
    assert.equal(back.roi_signal, roi)
    await stop(service)
    service = undefined

    // Once stopped, the healthcheck reports unhealthy.
    const down = await run(process.execPath, mapped(health).slice(1), {
      cwd: app,
      env: { ...nodeEnv, PSEN_HEALTH_URL: `${base}/health` },
    }).then(
      () => 0,
      (e: { code?: number }) => e.code ?? 1,
    )
    assert.is(down, 1)
  } finally {
    service?.kill('SIGKILL')
    if (process.env.PSEN_KEEP_DOCKER_TMP) console.log(`kept ${tmp}\n${ctx.logs.join('\n')}`)
    else await rm(tmp, { recursive: true, force: true })
  }
})

test.run()
