// State survives by default: with no state option the real CLI keeps one file per instance
// (prefix, REST port) under $XDG_STATE_HOME/psen-processing and gets its ROIs back after a
// kill -9; `--state_file none` keeps memory only; a state file that exists but cannot be read
// is never overwritten (changes refused, /status and the log say why); temp files are created
// exclusively, never through a link someone put in their place.
import { mkdir, mkdtemp, readFile, readlink, rm, stat, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { parseServiceArgs } from '../src/cli/args.js'
import { defaultStateFile } from '../src/state/location.js'
import { StateStore } from '../src/state/store.js'
import { freePorts } from './helpers/ports.js'
import { api, runCli, waitFor } from './helpers/service.js'

const test = suite('state-default')
let dir = ''

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'psen-state-default-'))
})

test.after(async () => {
  await rm(dir, { recursive: true, force: true })
})

test('the default file: per prefix and REST port, XDG_STATE_HOME or ~/.local/state', () => {
  assert.is(
    defaultStateFile('SARES11-SPEC125-M2', 11002, { XDG_STATE_HOME: '/var/st' }),
    '/var/st/psen-processing/SARES11-SPEC125-M2-11002.json',
  )
  assert.is(
    defaultStateFile('CAM', 10000, { HOME: '/home/op' }),
    '/home/op/.local/state/psen-processing/CAM-10000.json',
  )
  // A relative XDG_STATE_HOME is invalid (the XDG spec): ignored.
  assert.is(
    defaultStateFile('CAM', 1, { XDG_STATE_HOME: 'rel', HOME: '/h' }),
    '/h/.local/state/psen-processing/CAM-1.json',
  )
  assert.is(
    defaultStateFile('../A/B:C', 1, { XDG_STATE_HOME: '/s' }),
    '/s/psen-processing/__A_B_C-1.json',
  )
  const env = { XDG_STATE_HOME: '/s' }
  const cfg = (argv: string[], e: NodeJS.ProcessEnv = env) => {
    const c = parseServiceArgs(argv, e)
    return c.kind === 'service' || c.kind === 'demo' ? c.config.stateFile : 'not a command'
  }
  assert.is(cfg(['tcp://h:1', 'CAM', '-r', '12003']), '/s/psen-processing/CAM-12003.json')
  assert.is(cfg(['tcp://h:1', 'CAM', '--state_file', 'none']), undefined)
  assert.is(cfg(['tcp://h:1', 'CAM', '--state_file=']), undefined)
  assert.is(cfg(['tcp://h:1', 'CAM', '--state_file', '/x/s.json']), '/x/s.json')
  assert.is(cfg(['tcp://h:1', 'CAM'], { ...env, PSEN_STATE_FILE: '/y.json' }), '/y.json')
  assert.is(
    cfg(['tcp://h:1', 'CAM', '--state_file', 'none'], { ...env, PSEN_STATE_FILE: '/y' }),
    undefined,
  )
  // The demo keeps its settings in memory unless given a file.
  assert.is(cfg([]), undefined)
  assert.is(cfg(['--state_file', '/d.json']), '/d.json')
})

/** The CLI on fixed ports (a restart must find the same default file). */
async function service(ports: number[], stateHome: string, extra: string[] = []) {
  const [r, o, i] = ports as [number, number, number]
  const env: NodeJS.ProcessEnv = { XDG_STATE_HOME: stateHome, PSEN_STATE_FILE: '' }
  const p = runCli(
    [
      'tcp://127.0.0.1:9',
      'KILL-9',
      '-r',
      String(r),
      '-o',
      String(o),
      '-i',
      String(i),
      '--rest_api_interface',
      '127.0.0.1',
      '--stream_interface',
      '127.0.0.1',
      '--log_level',
      'INFO',
      ...extra,
    ],
    env,
  )
  const base = `http://127.0.0.1:${r}`
  await waitFor(
    'the service HTTP API',
    async () => {
      if (p.child.exitCode !== null) throw new Error(`exited: ${p.output()}`)
      return (await fetch(`${base}/health`)).ok
    },
    20_000,
  )
  return { ...p, base }
}

const JSON_TYPE = { 'Content-Type': 'application/json' }

test('kill -9 with no state option: the ROIs and parameters are back', async () => {
  const home = join(dir, 'xdg')
  const ports = await freePorts(3)
  const file = join(home, 'psen-processing', `KILL-9-${ports[0]}.json`)
  let svc = await service(ports, home)
  assert.match(svc.output(), file, 'the path is logged at start')
  const post = (path: string, body: unknown) =>
    api(svc.base, 'POST', path, { headers: JSON_TYPE, body: JSON.stringify(body) })
  assert.is((await post('/roi_signal', [1, 2, 3, 4])).body.state, 'ok')
  assert.is((await post('/roi_background', [5, 6, 7, 8])).body.state, 'ok')
  assert.is((await post('/parameters', { step_length: 31 })).body.state, 'ok')
  // Acknowledged means durable: no clean shutdown gets to write anything.
  svc.child.kill('SIGKILL')
  assert.is(await svc.exited, 'SIGKILL')
  svc = await service(ports, home)
  try {
    assert.equal((await api(svc.base, 'GET', '/roi_signal')).body.roi_signal, [1, 2, 3, 4])
    assert.equal((await api(svc.base, 'GET', '/roi_background')).body.roi_background, [5, 6, 7, 8])
    const p = (await api(svc.base, 'GET', '/parameters')).body.parameters as { step_length: number }
    assert.is(p.step_length, 31)
    const status = await api(svc.base, 'GET', '/status')
    assert.equal(status.body.state_file, { persistent: true, error: null })
    assert.ok((await stat(file)).isFile())
  } finally {
    svc.child.kill('SIGKILL')
    await svc.exited
  }
})

test('--state_file none: memory only, nothing written', async () => {
  const home = join(dir, 'none')
  const ports = await freePorts(3)
  let svc = await service(ports, home, ['--state_file', 'none'])
  const r = await api(svc.base, 'POST', '/roi_signal', { headers: JSON_TYPE, body: '[1,2,3,4]' })
  assert.is(r.body.state, 'ok')
  svc.child.kill('SIGKILL')
  await svc.exited
  svc = await service(ports, home, ['--state_file', 'none'])
  try {
    assert.equal((await api(svc.base, 'GET', '/roi_signal')).body.roi_signal, [])
    assert.equal((await api(svc.base, 'GET', '/status')).body.state_file, {
      persistent: false,
      error: null,
    })
    const there = await stat(join(home, 'psen-processing')).then(
      () => true,
      () => false,
    )
    assert.not.ok(there)
  } finally {
    svc.child.kill('SIGKILL')
    await svc.exited
  }
})

test('a state file that cannot be read is never overwritten; changes refused', async () => {
  const home = join(dir, 'unreadable')
  const ports = await freePorts(3)
  const file = join(home, 'psen-processing', `KILL-9-${ports[0]}.json`)
  await mkdir(join(home, 'psen-processing'), { recursive: true })
  // Unreadable even for root: a link to itself (ELOOP). rename() would replace the link.
  await symlink(file, file)
  const svc = await service(ports, home)
  try {
    const status = await api(svc.base, 'GET', '/status')
    const sf = status.body.state_file as { persistent: boolean; error: string }
    assert.match(sf.error, /cannot be read \(ELOOP\)/)
    assert.not.match(sf.error, /\//, 'no path in an answer')
    const r = await api(svc.base, 'POST', '/roi_signal', { headers: JSON_TYPE, body: '[1,2,3,4]' })
    assert.is(r.body.state, 'error')
    assert.match(String(r.body.status), /could not be saved.*ELOOP.*nothing was changed/)
    assert.equal((await api(svc.base, 'GET', '/roi_signal')).body.roi_signal, [])
    assert.is(await readlink(file), file, 'the unreadable file is untouched')
    assert.match(svc.output(), /changes are refused/)
  } finally {
    svc.child.kill('SIGKILL')
    await svc.exited
  }
  if (process.getuid?.() !== 0) {
    // Without root, a file without read permission is the everyday case.
    const path = join(dir, 'noperm.json')
    await writeFile(path, '{"roi_signal": [1, 2, 3, 4]}', { mode: 0o000 })
    const store = await StateStore.open({ path })
    assert.match(store.problem ?? '', /EACCES/)
    try {
      await store.update(
        { roi_signal: [9, 9, 9, 9] },
        { endpoint: 't', client: 't', old: 0, new: 1 },
      )
      assert.unreachable('refused')
    } catch (err) {
      assert.match((err as Error).message, /refused/)
    }
  }
})

test('temp files are created exclusively: a planted link is never written through', async () => {
  const path = join(dir, 'planted', 'state.json')
  const store = await StateStore.open({ path })
  const target = join(dir, 'precious.txt')
  await writeFile(target, 'precious')
  // The name the next save would use, planted after the stale-temp sweep of open().
  await symlink(target, `${path}.tmp-${process.pid}-1`)
  await store.update(
    { roi_signal: [1, 2, 3, 4] },
    { endpoint: 't', client: 't', old: [], new: [1, 2, 3, 4] },
  )
  assert.is(await readFile(target, 'utf8'), 'precious')
  const saved = JSON.parse(await readFile(path, 'utf8')) as { roi_signal: number[] }
  assert.equal(saved.roi_signal, [1, 2, 3, 4])
})

test.run()
