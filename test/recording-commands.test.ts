import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as zmq from 'zeromq'

import { BsreadDecoder } from '../src/bsread/decoder.js'
import { BsreadReceiver } from '../src/bsread/receiver.js'
import { runRecord } from '../src/cli/record.js'
import { runReplay } from '../src/cli/replay.js'
import { RecordingReader } from '../src/recording/reader.js'
import { startSimulator, type Simulator } from '../src/sim/simulator.js'
import { startReplay } from './helpers/replay.js'
import { BIN, ROOT, waitFor } from './helpers/service.js'

zmq.context.blocky = false
const test = suite('record and replay commands')
const dir = mkdtempSync(join(tmpdir(), 'psen-record-'))

function capture() {
  const lines: string[] = []
  return {
    lines,
    out: (l: string) => {
      lines.push(l)
    },
    err: (l: string) => {
      lines.push(l)
    },
  }
}

async function withSim<T>(fn: (sim: Simulator) => Promise<T>, rate = 0): Promise<T> {
  const sim = await startSimulator({ width: 64, height: 32, rate, seed: 3 })
  try {
    return await fn(sim)
  } finally {
    await sim.close()
  }
}

test('the service itself loads neither the recording commands nor h5wasm', () => {
  // The static import graph of the compiled CLI entry: what `psen-processing INPUT PREFIX`
  // loads. record, replay and analyze are imported when their command runs.
  const seen = new Set<string>()
  const packages = new Set<string>()
  const walk = (file: string): void => {
    if (seen.has(file)) return
    seen.add(file)
    const text = readFileSync(file, 'utf8')
    for (const m of text.matchAll(
      /^(?:import|export)\s[^;]*?from\s+'([^']+)'|^import\s+'([^']+)'/gm,
    )) {
      const spec = (m[1] ?? m[2]) as string
      if (spec.startsWith('.')) walk(join(file, '..', spec))
      else packages.add(spec)
    }
  }
  walk(join(ROOT, 'dist', 'cli', 'main.js'))
  assert.ok(seen.size > 20, `${seen.size} modules`)
  assert.ok(
    [...packages].some((p) => p.startsWith('hono')),
    'the walk reaches the HTTP server',
  )
  assert.not.ok(
    [...packages].some((p) => p.startsWith('h5wasm')),
    [...packages].join(' '),
  )
  const recording = [...seen].filter((f) =>
    /[/\\](recording[/\\]|cli[/\\](record|replay|analyze))/.test(f),
  )
  assert.equal(recording, [])
})

test('usage errors exit 2 with the reason; an existing FILE is never overwritten', async () => {
  const bad: string[][] = [
    [],
    ['tcp://127.0.0.1:1'],
    ['nohost', 'x.rec'],
    ['tcp://127.0.0.1:1', 'x.rec', '--count', '0'],
    ['tcp://127.0.0.1:1', 'x.rec', '--bogus'],
    ['tcp://127.0.0.1:1', 'x.rec', '--duration', 'soon'],
  ]
  for (const argv of bad) {
    const c = capture()
    assert.is(await runRecord(argv, c), 2, argv.join(' '))
    assert.match(
      c.lines.join('\n'),
      /^psen-processing record: .*\nRun 'psen-processing record --help'/,
    )
  }
  const badReplay: string[][] = [
    [],
    ['a', 'b'],
    ['x.rec', '--rate', '0'],
    ['x.rec', '--rate', '5', '--as_recorded'],
    ['x.rec', '--mode', 'req'],
    ['x.rec', '--port', '-1'],
  ]
  for (const argv of badReplay) {
    const c = capture()
    assert.is(await runReplay(argv, c), 2, argv.join(' '))
    assert.match(c.lines.join('\n'), /^psen-processing replay: /)
  }
  const path = join(dir, 'taken.rec')
  writeFileSync(path, 'precious')
  const c = capture()
  assert.is(await runRecord(['tcp://127.0.0.1:1', path], c), 1)
  assert.match(c.lines.join('\n'), /it exists \(a recording is never overwritten\)/)
  assert.is(readFileSync(path, 'utf8'), 'precious')
  const r = capture()
  assert.is(await runReplay([path, '--port', '0'], r), 1)
  assert.match(r.lines.join('\n'), /is not a psen-processing recording/)
})

test('record keeps every message as received; replay sends it back byte for byte', async () => {
  const path = join(dir, 'sim.rec')
  const sent = await withSim(async (sim) => {
    const c = capture()
    assert.is(await runRecord([sim.address, path, '--count', '40'], c), 0)
    assert.match(c.lines.join('\n'), /40 messages, [\d.]+ MB; 0 dropped/)
    return sim.channels
  })
  const reader = RecordingReader.open(path)
  assert.is(reader.info?.input.startsWith('tcp://127.0.0.1:'), true)
  assert.is(reader.info?.mode, 'pull')
  const recorded: Buffer[][] = []
  const decoder = new BsreadDecoder()
  let lastTime = 0
  for (let m = reader.next(); m; m = reader.next()) {
    recorded.push(m.parts)
    assert.ok(m.receivedAt >= lastTime && m.receivedAt > 1.7e12)
    lastTime = m.receivedAt
  }
  assert.is(reader.damage, undefined)
  reader.close()
  assert.is(recorded.length, 40)
  const ids = recorded.map((p) => decoder.decode(p).pulseId)
  ids.forEach((id, i) => {
    if (i > 0) assert.is(id, (ids[i - 1] as bigint) + 1n)
  })
  assert.ok(decoder.decode(recorded[0] as Buffer[]).channels.some((c) => c.name === sent.image))

  // Replay (unpaced: as fast as this reader takes them) into a plain bsread receiver.
  const replay = startReplay([path])
  const rx = new BsreadReceiver({ address: await replay.address })
  const got: Buffer[][] = []
  while (got.length < 40) got.push((await rx.receiveRaw()) as Buffer[])
  assert.is(await replay.done, 0)
  rx.close()
  got.forEach((parts, i) => {
    const want = recorded[i] as Buffer[]
    assert.is(parts.length, want.length)
    parts.forEach((p, k) => {
      assert.ok(p.equals(want[k] as Buffer), `message ${i} part ${k}`)
    })
  })
  assert.match(replay.lines.join('\n'), /40 messages sent, 0 dropped/)
})

test('replay --rate paces and --loop starts again; Ctrl-C (abort) stops it', async () => {
  const path = join(dir, 'sim.rec')
  const stop = new AbortController()
  const replay = startReplay([path, '--rate', '200', '--loop'], stop.signal)
  const rx = new BsreadReceiver({ address: await replay.address })
  const t0 = performance.now()
  const ids: bigint[] = []
  while (ids.length < 60) {
    const m = rx.decode((await rx.receiveRaw()) as Buffer[])
    if (m) ids.push(m.pulseId)
  }
  const ms = performance.now() - t0
  stop.abort()
  assert.is(await replay.done, 0)
  rx.close()
  // 60 messages at 200 Hz: at least 59 periods of 5 ms (never a burst).
  assert.ok(ms >= 59 * 5 * 0.9, `${ms.toFixed(0)} ms`)
  // The 41st message is the first again.
  assert.is(ids[40], ids[0])
  assert.is(ids[41], (ids[0] as bigint) + 1n)
  assert.match(replay.lines.join('\n'), /messages sent, \d+ dropped .*, \d passes/)
})

test('kill -9 of the recorder leaves every complete message readable', async () => {
  const path = join(dir, 'killed.rec')
  await withSim(async (sim) => {
    const child = spawn(process.execPath, [BIN, 'record', sim.address, path], {
      cwd: ROOT,
      stdio: 'ignore',
    })
    const exited = new Promise((resolve) => child.on('exit', resolve))
    // Messages are flowing into the file when it dies.
    await waitFor(
      'the recording to grow',
      () => existsSync(path) && statSync(path).size > 2e6,
      20_000,
    )
    child.kill('SIGKILL')
    await exited
  })
  const reader = RecordingReader.open(path)
  const decoder = new BsreadDecoder()
  let n = 0
  for (let m = reader.next(); m; m = reader.next()) {
    decoder.decode(m.parts)
    n++
  }
  assert.ok(n > 10, `${n} messages`)
  // Either the kill fell between records, or the tail is torn and said so.
  if (reader.damage) {
    assert.match(reader.damage.reason, /incomplete record/)
    assert.is(reader.damage.offset, reader.position)
  } else assert.is(reader.position, reader.size)
  reader.close()
})

test('record stops by itself after --duration and closes the file cleanly', async () => {
  const path = join(dir, 'duration.rec')
  await withSim(async (sim) => {
    const c = capture()
    assert.is(await runRecord([sim.address, path, '--duration', '0.5'], { ...c, tty: true }), 0)
    // A rate line every second only on a terminal: in 0.5 s none yet, but the summary line.
    assert.match(c.lines.at(-1) ?? '', /messages, [\d.]+ MB; 0 dropped/)
  }, 100)
  const { size } = statSync(path)
  const reader = RecordingReader.open(path)
  let n = 0
  while (reader.next()) n++
  assert.is(reader.damage, undefined)
  assert.is(reader.position, size)
  assert.ok(n >= 10 && n <= 80, `${n} messages in 0.5 s at 100 Hz`)
  reader.close()
})

test.after(() => rmSync(dir, { recursive: true, force: true }))

test.run()
