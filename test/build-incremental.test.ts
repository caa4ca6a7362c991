/**
 * `npm run build` (scripts/build.mjs) after a build of the same sources rebuilds nothing: npm's
 * `prepare` runs it again whenever npm reinstalls the clone (a first `npx psen-processing`),
 * and that must neither take ~30 s nor rewrite build/ and dist/. The documented way to run the
 * command in a clone, `node bin/psen-processing.js`, starts without npm at all.
 * (npm test's pretest built these sources just before this test runs.)
 */
import { spawnSync } from 'node:child_process'
import { statSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { BIN, ROOT } from './helpers/service.js'

const OUTPUTS = [
  'build/kernel.wasm',
  'build/kernel.shared.wasm',
  'dist/cli/main.js',
  'dist/index.js',
  'dist/preview/static/app.js',
]

function mtimes(): number[] {
  return OUTPUTS.map((f) => statSync(join(ROOT, f)).mtimeMs)
}

test('a second build of unchanged sources skips every step and rewrites nothing', () => {
  const first = spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: ROOT, encoding: 'utf8' })
  assert.is(first.status, 0, first.stderr)
  const before = mtimes()
  const again = spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: ROOT, encoding: 'utf8' })
  assert.is(again.status, 0, again.stderr)
  assert.equal(again.stdout.trim().split('\n'), [
    'build: kernel up to date',
    'build: tsc up to date',
    'build: preview up to date',
  ])
  assert.equal(mtimes(), before)
})

test('the command in a clone: node bin/psen-processing.js answers at once', () => {
  const r = spawnSync(process.execPath, [BIN, '--version'], { cwd: ROOT, encoding: 'utf8' })
  assert.is(r.status, 0, r.stderr)
  assert.match(r.stdout, /^psen-processing \d+\.\d+\.\d+\n$/)
})

test.run()
