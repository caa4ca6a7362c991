// Logs: JSON lines (pino) on a pipe, human-readable on a terminal, --log_level with the
// contract's Python names, and per-frame errors rate-limited with a count of the suppressed ones
// (in the CLI under a burst of bad input, and RateLimitedLog itself on a short interval).
import { spawnSync } from 'node:child_process'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { BsreadSender } from '../src/bsread/sender.js'
import { RateLimitedLog } from '../src/log.js'
import { freePorts } from './helpers/ports.js'
import { BIN, ROOT, sleep, startCli, waitFor } from './helpers/service.js'

const test = suite('observability-logs')

interface Line {
  level: number
  time: number
  msg: string
  [key: string]: unknown
}

function jsonLines(text: string): Line[] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      try {
        return JSON.parse(l) as Line
      } catch {
        throw new Error(`not a JSON log line: ${l}`)
      }
    })
}

function memoryLogger(): { log: pino.Logger; lines: Line[] } {
  const lines: Line[] = []
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as Line)
      done()
    },
  })
  return { log: pino({ level: 'info' }, stream), lines }
}

test('RateLimitedLog: one line per key and interval, suppressed counts never lost', async () => {
  const { log, lines } = memoryLogger()
  const rl = new RateLimitedLog(log, 300)
  for (let i = 0; i < 100; i++) rl.warn('a', { i }, `problem a ${i}`)
  for (let i = 0; i < 10; i++) rl.error('b', { i }, `problem b ${i}`)
  await waitFor('the first line of each key', () => lines.length >= 2, 1000)
  assert.equal(
    lines.map((l) => l.msg),
    ['problem a 0', 'problem b 0'],
  )
  assert.equal(
    lines.map((l) => l.level),
    [40, 50],
  )
  // The interval ends: one summary per key with the number suppressed and the last occurrence.
  await waitFor('summaries', () => lines.length >= 4, 3000)
  const a = lines.find((l) => l.key === 'a')!
  assert.is(a.suppressed, 99)
  assert.is(a.i, 99)
  assert.match(a.msg, /problem a 99 \(and 99 more like it suppressed\)/)
  assert.is(lines.find((l) => l.key === 'b')!.suppressed, 9)
  await sleep(400) // a quiet period longer than the interval: nothing more may be logged
  assert.is(lines.length, 4, 'nothing more while quiet')
  // After a quiet interval the next occurrence is logged at once again.
  rl.warn('a', {}, 'again')
  rl.warn('a', {}, 'again 2')
  rl.flush()
  assert.equal(
    lines.slice(4).map((l) => [l.msg, l.suppressed]),
    [
      ['again', undefined],
      ['again 2 (and 1 more like it suppressed)', 1],
    ],
  )
})

test('JSON lines on a pipe; --log_level uses the Python names', async () => {
  const sender = await BsreadSender.bind({ address: 'tcp://127.0.0.1:*' })
  try {
    for (const [level, expectInfo, expectDebug] of [
      ['DEBUG', true, true],
      ['INFO', true, false],
      ['WARNING', false, false],
      ['ERROR', false, false],
      ['CRITICAL', false, false],
    ] as const) {
      const cli = await startCli(sender.endpoint, 'LOG', ['--log_level', level, '--auto_start'])
      await fetch(`${cli.base}/status`)
      assert.is(await cli.stop(), 0)
      const lines = jsonLines(cli.output())
      for (const l of lines) {
        assert.type(l.time, 'number')
        assert.type(l.msg, 'string')
        assert.is(l.name, 'psen-processing')
      }
      const levels = new Set(lines.map((l) => l.level))
      assert.is(levels.has(30), expectInfo, `${level}: info lines`)
      assert.is(levels.has(20), expectDebug, `${level}: debug lines`)
      if (level === 'ERROR' || level === 'CRITICAL') assert.is(lines.length, 0, level)
      if (expectInfo) assert.ok(lines.some((l) => l.msg === 'psen-processing is up'))
    }
  } finally {
    sender.close()
  }
  const [r, o, i] = await freePorts(3)
  const bad = spawnSync(
    process.execPath,
    [
      BIN,
      'tcp://127.0.0.1:9',
      'LOG',
      '--log_level',
      'TRACE',
      '-r',
      String(r),
      '-o',
      String(o),
      '-i',
      String(i),
    ],
    { cwd: ROOT, encoding: 'utf8' },
  )
  assert.is(bad.status, 2)
  assert.match(
    bad.stderr,
    /--log_level: 'TRACE' is not one of CRITICAL, ERROR, WARNING, INFO, DEBUG/,
  )
})

test('human-readable on a terminal', async () => {
  const [r, o, i] = await freePorts(3)
  // util-linux `script` gives the service a pseudo-terminal as stdout.
  const cmd =
    `${process.execPath} ${BIN} tcp://127.0.0.1:9 TTY -r ${r} -o ${o} -i ${i} ` +
    '--rest_api_interface 127.0.0.1 --stream_interface 127.0.0.1'
  const child = spawnSync('script', ['-qec', `timeout -s TERM 3 ${cmd}`, '/dev/null'], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 20_000,
  })
  if (child.error) {
    console.log(`  (no 'script' command here: ${child.error.message}; skipped)`)
    return
  }
  const out = child.stdout
  assert.match(out, /INFO.*psen-processing is up/)
  assert.not.match(out, /^\{"level"/m, 'not JSON')
})

test('a burst of bad input: one line per cause and interval, then the count', async () => {
  const sender = await BsreadSender.bind({ address: 'tcp://127.0.0.1:*', sendTimeoutMs: 10_000 })
  const cli = await startCli(sender.endpoint, 'LOG', ['--auto_start'])
  try {
    await waitFor(
      'processing',
      async () =>
        ((await (await fetch(`${cli.base}/status`)).json()) as { status?: string }).status ===
        'processing',
    )
    for (let k = 0; k < 300; k++) assert.ok(await sender.send([Buffer.from(`garbage ${k}`)]))
    await waitFor('all counted', async () => {
      const s = (await (await fetch(`${cli.base}/statistics`)).json()) as {
        statistics: { n_malformed?: number }
      }
      return s.statistics.n_malformed === 300
    })
    const malformed = (): Line[] =>
      jsonLines(cli.output()).filter((l) => /malformed input/.test(l.msg))
    const first = malformed()[0]!
    assert.is(first.level, 40)
    assert.is(first.reason, 'not_multipart')
    assert.is(first.suppressed, undefined)
    // The count of the others comes in a summary line when the 5 s interval ends.
    await waitFor('the summary line', () => malformed().some((l) => l.key !== undefined), 10_000)
    const lines = malformed()
    // Every occurrence accounted for: lines of their own (no key) plus the suppressed counts.
    const total =
      lines.filter((l) => l.key === undefined).length +
      lines.reduce((n, l) => n + ((l.suppressed as number | undefined) ?? 0), 0)
    assert.is(total, 300)
    assert.ok(lines.length <= 3, `${lines.length} lines for 300 bad messages`)
    const summary = lines.find((l) => l.key !== undefined)!
    assert.match(summary.msg, /malformed input.*\(and \d+ more like it suppressed\)/)
    console.log(
      `  observability-logs: 300 bad messages -> ${lines.length} log lines ` +
        `(summary: suppressed ${String(summary.suppressed)})`,
    )
  } finally {
    assert.is(await cli.stop(), 0)
    sender.close()
  }
})

test.run()
