import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { File as H5File, ready as h5ready, type Dataset } from 'h5wasm/node'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as zmq from 'zeromq'

import {
  BsreadDecoder,
  decodeValue,
  type BsreadMessage,
  type DecodedValue,
} from '../src/bsread/decoder.js'
import { runAnalyze } from '../src/cli/analyze.js'
import { ResultFiles } from '../src/cli/analyze-output.js'
import { runRecord } from '../src/cli/record.js'
import { RECORD_HEADER_BYTES } from '../src/recording/format.js'
import { RecordingReader } from '../src/recording/reader.js'
import { startSimulator } from '../src/sim/simulator.js'
import { startReplay } from './helpers/replay.js'
import { api, startCli, type CliProcess } from './helpers/service.js'

zmq.context.blocky = false
const test = suite('analyze')
const dir = mkdtempSync(join(tmpdir(), 'psen-analyze-'))
const REC = join(dir, 'camera.rec')
const N = 48
const PREFIX = 'SIMULATED-PSEN'
const SIGNAL = [0, 256, 68, 24]
const BACKGROUND = [0, 256, 0, 32]
// Not the defaults: the parameters must reach the edge finder in both runs.
const PARAMETERS = {
  refinement_step: 0.5,
  smoothing: 3,
  averaging: { mode: 'exponential', alpha: 0.5 },
  calibration: [10, 2],
}

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

function analyzeArgs(file: string, out: string, extra: string[] = []): string[] {
  return [
    file,
    PREFIX,
    '--roi_signal',
    JSON.stringify(SIGNAL),
    '--roi_background',
    JSON.stringify(BACKGROUND),
    '--parameters',
    JSON.stringify(PARAMETERS),
    '--output',
    out,
    ...extra,
  ]
}

/** A decoded value as analyze's JSONL writes it (JSON.parse of it). */
function asJson(v: DecodedValue): unknown {
  const num = (x: number | bigint | boolean): unknown =>
    typeof x === 'number' ? (Number.isFinite(x) ? x : null) : typeof x === 'bigint' ? Number(x) : x
  if (typeof v === 'string') return v
  if (typeof v !== 'object') return num(v)
  return Array.from(v as ArrayLike<number | bigint | boolean>, num)
}

/** Byte offsets of a recording's message records. */
function recordOffsets(path: string): number[] {
  const reader = RecordingReader.open(path)
  const offsets: number[] = []
  for (let m = reader.next(); m; m = reader.next()) offsets.push(m.offset)
  reader.close()
  return offsets
}

function jsonl(path: string): Array<Record<string, unknown>> {
  return readFileSync(path, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l))
}

test.before(async () => {
  const sim = await startSimulator({
    width: 256,
    height: 128,
    rate: 0,
    seed: 5,
    edge: { amplitude: 40, period: 0.2 },
  })
  try {
    assert.is(await runRecord([sim.address, REC, '--count', String(N)], capture()), 0)
  } finally {
    await sim.close()
  }
  // The offline results every test below reads.
  const c = capture()
  assert.is(await runAnalyze(analyzeArgs(REC, join(dir, 'offline')), c), 0, c.lines.join('\n'))
  assert.match(c.lines.join('\n'), new RegExp(`${N} pulses from ${N} messages`))
})

test('analyze gives what the live service sends for the same recording and settings', async () => {
  // The live service, reading the recording through replay (unpaced: it loses nothing).
  const replay = startReplay([REC])
  let cli: CliProcess | undefined
  const data = new zmq.Pull({ linger: 0, receiveHighWaterMark: 10_000, receiveTimeout: 60_000 })
  const live: BsreadMessage[] = []
  try {
    cli = await startCli(await replay.address, PREFIX, [
      '--data_send_timeout_ms',
      '10000',
      '--data_queue',
      '1000',
      '--state_file',
      'none',
    ])
    const post = async (path: string, body: unknown): Promise<void> => {
      const r = await api(cli!.base, 'POST', path, {
        body: JSON.stringify(body),
        headers: { 'content-type': 'application/json' },
      })
      assert.is(r.body.state, 'ok', `${path}: ${JSON.stringify(r.body)}`)
    }
    await post('/roi_signal', SIGNAL)
    await post('/roi_background', BACKGROUND)
    await post('/parameters', PARAMETERS)
    // Connected before processing starts: data sent to no reader would be lost.
    const connected = (async () => {
      for await (const e of data.events) if (e.type === 'connect') return
    })()
    data.connect(`tcp://127.0.0.1:${cli.dataPort}`)
    await connected
    await post('/start', {})
    const decoder = new BsreadDecoder()
    try {
      while (live.length < N) live.push(decoder.decode(await data.receive()))
    } catch (err) {
      // Say where it stopped: the replay's lines, the service's statistics and output.
      const stats = await api(cli.base, 'GET', '/statistics').catch(() => undefined)
      throw new Error(
        `${live.length} of ${N} data messages (${(err as Error).message}); ` +
          `replay: ${replay.lines.join(' | ')}; statistics: ${JSON.stringify(stats?.body)}; ` +
          `service: ${cli.output().slice(-2000)}`,
      )
    }
    assert.is(await replay.done, 0)
  } finally {
    data.close()
    await cli?.stop()
  }
  assert.match(replay.lines.join('\n'), new RegExp(`${N} messages sent, 0 dropped`))

  const rows = jsonl(join(dir, 'offline.jsonl'))
  assert.is(rows.length, N)
  let edges = 0
  live.forEach((m, i) => {
    const row = rows[i] as Record<string, unknown>
    assert.is(row.pulse_id, Number(m.pulseId))
    assert.equal(row.global_timestamp, m.globalTimestamp)
    const names = m.channels.map((ch) => ch.name)
    assert.equal(Object.keys(row).slice(2), names, `channels of pulse ${m.pulseId}`)
    m.channels.forEach((ch, k) => {
      const raw = m.valueAt(k)
      assert.ok(raw)
      assert.equal(row[ch.name], asJson(decodeValue(raw)), `${ch.name} of pulse ${m.pulseId}`)
    })
    if (row[`${PREFIX}:FPICTURE.edge_status`] === 0) edges++
  })
  // The comparison covered found edges, not only reference shots.
  assert.ok(edges >= N / 4 - 2, `${edges} edges found`)
  const params = JSON.parse(rows[0]?.[`${PREFIX}:FPICTURE.processing_parameters`] as string)
  assert.is(params.refinement_step, 0.5)
})

test('OUT.h5 has one dataset per channel, a row per pulse; OUT.csv the scalars', async () => {
  const base = join(dir, 'offline')
  const rows = jsonl(`${base}.jsonl`)
  await h5ready
  const f = new H5File(`${base}.h5`, 'r')
  try {
    const get = (name: string): Dataset => f.get(name) as Dataset
    assert.equal(
      Array.from(get('pulse_id').value as BigUint64Array, Number),
      rows.map((r) => r.pulse_id),
    )
    assert.equal(
      Array.from(get('global_timestamp_ns').value as BigInt64Array, Number),
      rows.map((r) => (r.global_timestamp as { ns: number }).ns),
    )
    const edge = get(`${PREFIX}:FPICTURE.edge_position`)
    assert.equal(edge.shape, [N])
    const want = rows.map((r) => r[`${PREFIX}:FPICTURE.edge_position`] ?? NaN)
    assert.equal(
      Array.from(edge.value as Float64Array, (x) => (Number.isNaN(x) ? NaN : x)),
      want.map((x) => (x === null ? NaN : x)),
    )
    const profile = get(`${PREFIX}:FPICTURE.roi_signal_x_profile`)
    assert.equal(profile.shape, [N, SIGNAL[1]])
    assert.is(profile.dtype, '<Q')
    const last = profile.slice([[N - 1, N], []]) as BigUint64Array
    assert.equal(Array.from(last, Number), rows[N - 1]?.[`${PREFIX}:FPICTURE.roi_signal_x_profile`])
    assert.match(String(f.attrs.processing_parameters?.value), /"refinement_step":0.5/)
  } finally {
    f.close()
  }
  const csv = readFileSync(`${base}.csv`, 'utf8').trim().split('\n')
  assert.is(csv.length, N + 1)
  const header = csv[0]?.split(',') ?? []
  assert.equal(header.slice(0, 3), [
    'pulse_id',
    'global_timestamp',
    `${PREFIX}:FPICTURE.edge_position`,
  ])
  assert.ok(!header.some((h) => h.endsWith('_x_profile') || h.endsWith('processing_parameters')))
  const first = csv[1]?.split(',') ?? []
  assert.is(first[0], String(rows[0]?.pulse_id))
})

test('OUT.jsonl writes 64-bit integers exactly, at any size and sign', async () => {
  const u = [0n, 7n, 10n, 2n ** 31n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 53n + 1n, 2n ** 64n - 1n]
  const i = [-1n, -(2n ** 63n), 2n ** 63n - 1n, 999_999_999n, 1_000_000_000n]
  const base = join(dir, 'ints')
  const files = await ResultFiles.create(base, {})
  const channel = (name: string, type: 'uint64' | 'int64', n: number) => ({
    name,
    type,
    shape: [n],
    encoding: 'little' as const,
    compression: 'none' as const,
  })
  files.add({
    pulseId: 5n,
    timestamp: { sec: 1, ns: 2 },
    channels: [
      { info: channel('u', 'uint64', u.length), value: BigUint64Array.from(u) },
      { info: channel('i', 'int64', i.length), value: BigInt64Array.from(i) },
    ],
  })
  files.close()
  assert.is(
    readFileSync(`${base}.jsonl`, 'utf8'),
    `{"pulse_id":5,"global_timestamp":{"sec":1,"ns":2},"u":[${u.join(',')}],` +
      `"i":[${i.join(',')}]}\n`,
  )
})

test('h5py reads OUT.h5 (when python3 has h5py)', () => {
  const script =
    'import h5py, sys\n' +
    'f = h5py.File(sys.argv[1], "r")\n' +
    `print(f["pulse_id"].shape[0], f["${PREFIX}:FPICTURE.roi_signal_x_profile"].shape[1], ` +
    `int(f["pulse_id"][-1]))`
  const python = ['python3', '/usr/bin/python3'].find(
    (p) => spawnSync(p, ['-c', 'import h5py']).status === 0,
  )
  if (python === undefined) {
    // Not installed here: the h5wasm read-back above is the check.
    assert.ok(true)
    return
  }
  const r = spawnSync(python, ['-c', script, join(dir, 'offline.h5')], { encoding: 'utf8' })
  assert.is(r.status, 0, r.stderr)
  const rows = jsonl(join(dir, 'offline.jsonl'))
  assert.is(r.stdout.trim(), `${N} ${SIGNAL[1]} ${rows[N - 1]?.pulse_id}`)
})

test('a truncated recording: clear error, exit 1, every result up to the damage kept', async () => {
  const offsets = recordOffsets(REC)
  const cut = join(dir, 'cut.rec')
  // Cut in the middle of message 30.
  writeFileSync(cut, readFileSync(REC).subarray(0, (offsets[30] as number) + 100))
  const c = capture()
  const base = join(dir, 'cut')
  assert.is(await runAnalyze(analyzeArgs(cut, base), c), 1)
  const text = c.lines.join('\n')
  assert.match(text, /analyze: .*cut\.rec: unreadable from byte \d+ of \d+: incomplete record: /)
  assert.match(text, /the 30 message\(s\) before it were read; the results up to there are written/)
  const rows = jsonl(`${base}.jsonl`)
  const whole = jsonl(join(dir, 'offline.jsonl'))
  assert.is(rows.length, 30)
  assert.equal(rows, whole.slice(0, 30))
  assert.is(readFileSync(`${base}.csv`, 'utf8').trim().split('\n').length, 31)
  await h5ready
  const f = new H5File(`${base}.h5`, 'r')
  assert.equal((f.get('pulse_id') as Dataset).shape, [30])
  f.close()
})

test('a damaged record mid-file: exit 1, every result before it written', async () => {
  const offsets = recordOffsets(REC)
  const bytes = readFileSync(REC)
  // A flipped bit in message 20's image: found by the read-ahead thread's CRC check.
  const at = (offsets[20] as number) + RECORD_HEADER_BYTES + 2000
  bytes[at] = (bytes[at] as number) ^ 4
  const flipped = join(dir, 'flipped.rec')
  writeFileSync(flipped, bytes)
  const c = capture()
  const base = join(dir, 'flipped')
  assert.is(await runAnalyze(analyzeArgs(flipped, base), c), 1)
  assert.match(
    c.lines.join('\n'),
    new RegExp(
      `flipped\\.rec: unreadable from byte ${offsets[20]} of \\d+: checksum mismatch .*` +
        'the 20 message\\(s\\) before it were read; the results up to there are written',
    ),
  )
  assert.equal(jsonl(`${base}.jsonl`), jsonl(join(dir, 'offline.jsonl')).slice(0, 20))
  await h5ready
  const f = new H5File(`${base}.h5`, 'r')
  assert.equal((f.get('pulse_id') as Dataset).shape, [20])
  f.close()
})

test('not a recording, bad ROIs, bad parameters: clear errors, nothing written', async () => {
  const notRec = join(dir, 'data.json')
  writeFileSync(notRec, JSON.stringify({ pulse_id: 1 }))
  const c = capture()
  assert.is(await runAnalyze(analyzeArgs(notRec, join(dir, 'none')), c), 1)
  assert.match(c.lines.join('\n'), /analyze: .*data\.json is not a psen-processing recording/)
  assert.not.ok(existsSync(join(dir, 'none.jsonl')))

  // The words of the HTTP API's answers (POST /roi_signal, POST /parameters).
  const bad: Array<[string[], RegExp]> = [
    [['--roi_signal', '[0, 256, 68]'], /--roi_signal: ROI must have exactly 4 elements/],
    [['--roi_background', '[0, 0, 1, 1]'], /--roi_background: ROI sizes/],
    [['--roi_signal', 'oops'], /--roi_signal: not JSON/],
    [['--parameters', '{"step_length": 1}'], /--parameters: Invalid parameters: step_length: /],
    [['--parameters', '@/nonexistent/p.json'], /--parameters: cannot read/],
    [['--channel_naming', 'long'], /--channel_naming/],
  ]
  for (const [extra, message] of bad) {
    const e = capture()
    assert.is(await runAnalyze(analyzeArgs(REC, join(dir, 'none'), extra), e), 2, extra.join(' '))
    assert.match(e.lines.join('\n'), message)
  }
  assert.not.ok(existsSync(join(dir, 'none.jsonl')))
  // Parameters from a file, as @FILE.
  const pfile = join(dir, 'p.json')
  writeFileSync(pfile, JSON.stringify({ ...PARAMETERS, edge_type: 'rising' }))
  const ok = capture()
  assert.is(
    await runAnalyze(analyzeArgs(REC, join(dir, 'rising'), ['--parameters', `@${pfile}`]), ok),
    0,
  )
  assert.ok(statSync(join(dir, 'rising.h5')).size > 0)
  const p = JSON.parse(
    jsonl(join(dir, 'rising.jsonl'))[0]?.[`${PREFIX}:FPICTURE.processing_parameters`] as string,
  )
  assert.is(p.edge_type, 'rising')
})

test.after(() => rmSync(dir, { recursive: true, force: true }))

test.run()
