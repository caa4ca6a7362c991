/**
 * docs/migration.md's Python example, run as written (only the port changed) with python3
 * against the demo (bin/psen-processing.js without INPUT_STREAM PREFIX). It uses the facility's
 * psen_processing package when python3 can import it, else the stand-in in
 * test/fixtures/python/ (written from the contract; the facility's channel is out of reach).
 */
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { api, ROOT, runDemo, waitFor } from './helpers/service.js'

const PYTHON = process.env.PYTHON ?? 'python3'

/** The first ```python block of docs/migration.md. */
function example(): string {
  const doc = readFileSync(join(ROOT, 'docs', 'migration.md'), 'utf8')
  const block = /```python\n([\s\S]*?)```/.exec(doc)?.[1]
  assert.ok(block, 'docs/migration.md has a python example')
  return block
}

test("the migration guide's Python example steers the demo", async () => {
  const code = example()
  assert.match(code, 'http://localhost:10000/')
  const { demo, base } = await runDemo()
  try {
    await waitFor(
      'the demo processing',
      async () => (await api(base, 'GET', '/status')).body.status === 'processing',
      30_000,
    )
    const real = spawnSync(PYTHON, ['-c', 'import psen_processing'], { encoding: 'utf8' })
    const env = {
      ...process.env,
      PYTHONDONTWRITEBYTECODE: '1',
      ...(real.status === 0 ? {} : { PYTHONPATH: join(ROOT, 'test', 'fixtures', 'python') }),
    }
    const run = spawnSync(PYTHON, ['-c', code.replace('http://localhost:10000/', `${base}/`)], {
      encoding: 'utf8',
      env,
      timeout: 60_000,
    })
    assert.is(run.status, 0, `${run.stderr}\n${run.stdout}`)
    const lines = run.stdout.trim().split('\n')
    assert.is(lines[0], 'processing')
    assert.is(lines[1], '[0, 1024, 280, 80]')
    assert.match(lines[2] ?? '', /^\d+ (\d+|None)$/)
    assert.match(lines[3] ?? '', /^refused: ROI must have exactly 4 elements/)
    assert.equal((await api(base, 'GET', '/roi_signal')).body.roi_signal, [0, 1024, 280, 80])
    assert.equal((await api(base, 'GET', '/roi_background')).body.roi_background, [0, 1024, 0, 32])
    assert.is((await api(base, 'GET', '/status')).body.status, 'processing')
  } finally {
    demo.child.kill('SIGTERM')
    await demo.exited
  }
})

test.run()
