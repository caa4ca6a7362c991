/** The measuring pieces of the service benchmark: /proc sampling, quantiles, profile summary. */
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'

import {
  nowMs,
  parseOptions,
  quantile,
  sampleMachine,
  sampleProc,
  sampleThreads,
  table,
} from '../bench/service/common.js'
import { summariseProfile } from '../bench/service/profile-top.js'
import { sleep } from './helpers/wait.js'

test('sampleProc reads CPU time and RSS of a live process', () => {
  const a = sampleProc(process.pid)
  // Burn a little CPU so the counter can only have grown.
  let x = 0
  const end = Date.now() + 50
  while (Date.now() < end) x += Math.sqrt(x + 1)
  const b = sampleProc(process.pid)
  assert.ok(x > 0)
  assert.ok(a.rssMb > 1 && a.rssMb < 64 * 1024, `rss ${a.rssMb}`)
  assert.ok(b.cpuMs >= a.cpuMs)
  assert.ok(b.at >= a.at)
})

test('sampleThreads puts the JS thread in main and adds up to the process total', () => {
  const t = sampleThreads(process.pid)
  const p = sampleProc(process.pid)
  assert.ok(t.main > 0)
  // Threads that already ended are in the process total only.
  assert.ok(t.main + t.zmq + t.other <= p.cpuMs + 20)
  assert.equal(sampleThreads(2 ** 22 + 12345), { main: 0, zmq: 0, other: 0, byTid: new Map() })
})

test('sampleMachine: busy never exceeds total', () => {
  const m = sampleMachine()
  assert.ok(m.total > 0 && m.busy >= 0 && m.busy <= m.total)
})

test('nowMs is monotonic and in milliseconds', async () => {
  const a = nowMs()
  await sleep(20) // the time being measured
  const d = nowMs() - a
  assert.ok(d >= 15 && d < 5000, `${d}`)
})

test('quantile: nearest rank on sorted data', () => {
  const v = Array.from({ length: 100 }, (_, i) => i + 1)
  assert.is(quantile(v, 0.5), 50)
  assert.is(quantile(v, 0.99), 99)
  assert.is(quantile(v, 1), 100)
  assert.is(quantile(v, 0), 1)
  assert.is(quantile([7], 0.99), 7)
  assert.ok(Number.isNaN(quantile([], 0.5)))
})

test('parseOptions: --k v, --k=v, flags', () => {
  const o = parseOptions(['--seconds', '3', '--rates=100,200', '--json', '--node-flags=--trace-gc'])
  assert.is(o.get('seconds'), '3')
  assert.is(o.get('rates'), '100,200')
  assert.is(o.get('json'), 'true')
  assert.is(o.get('node-flags'), '--trace-gc')
  assert.throws(() => parseOptions(['stray']))
})

test('table aligns columns and shows NaN as -', () => {
  const out = table([
    { a: 1, b: 'x' },
    { a: 22.5, b: Number.NaN },
  ]).split('\n')
  assert.is(out.length, 4)
  assert.is(out[0], '   a  b')
  assert.is(out[2], '   1  x')
  assert.is(out[3], '22.5  -')
})

test('summariseProfile: self time per function, idle/GC/WASM totals', () => {
  const dir = mkdtempSync(join(tmpdir(), 'prof-'))
  const file = join(dir, 'x.cpuprofile')
  const node = (id: number, functionName: string, url = '', children: number[] = []) => ({
    id,
    callFrame: { functionName, url, lineNumber: 9, columnNumber: 0 },
    children,
  })
  writeFileSync(
    file,
    JSON.stringify({
      nodes: [
        node(1, '(root)', '', [2, 3, 4, 5]),
        node(2, '(idle)'),
        node(3, '(garbage collector)'),
        node(4, 'decode', 'file:///x/codec.js'),
        node(5, 'wasm-function[7]', 'wasm://wasm/abc'),
      ],
      samples: [2, 2, 4, 4, 4, 5, 3, 2],
      timeDeltas: [1000, 1000, 1000, 1000, 1000, 2000, 1000, 1000],
      startTime: 0,
      endTime: 9000,
    }),
  )
  const s = summariseProfile(file, 10)
  assert.is(s.totalMs, 9)
  assert.is(s.idleMs, 3)
  assert.is(s.gcMs, 1)
  assert.is(s.wasmMs, 2)
  assert.is(s.top[0]?.name, 'decode codec.js:10')
  assert.is(s.top[0]?.selfMs, 3)
  assert.is(s.top[0]?.percent, 50)
  assert.ok(!s.top.some((e) => e.name.startsWith('(idle)')))
})

test.run()
