// What the image installs: package-lock.json records where every package came from and its
// hash (so `npm ci` verifies each tarball), terminal-only packages (pino-pretty) are development
// dependencies (pruned from the image), and the logger falls back to JSON lines when the pretty
// printer is not installed, even on a terminal (`docker run -it`).
import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { test } from 'uvu'
import * as assert from 'uvu/assert'

const run = promisify(execFile)
const repo = fileURLToPath(new URL('..', import.meta.url))

interface LockEntry {
  version?: string
  resolved?: string
  integrity?: string
  dev?: boolean
  link?: boolean
}

test('package-lock.json: resolved and integrity for every package', async () => {
  const lock = JSON.parse(await readFile(`${repo}package-lock.json`, 'utf8')) as {
    lockfileVersion: number
    packages: Record<string, LockEntry>
  }
  assert.ok(lock.lockfileVersion >= 2)
  const entries = Object.entries(lock.packages).filter(([k, v]) => k !== '' && !v.link)
  assert.ok(entries.length > 10)
  const bad = entries.filter(
    ([, v]) =>
      !/^https:\/\/registry\.npmjs\.org\/.+\.tgz$/.test(v.resolved ?? '') ||
      !/^sha(512|384|256)-[A-Za-z0-9+/]+=*$/.test(v.integrity ?? ''),
  )
  assert.equal(
    bad.map(([k]) => k),
    [],
    'entries without resolved/integrity (see .npmrc)',
  )
  const npmrc = await readFile(`${repo}.npmrc`, 'utf8')
  assert.match(
    npmrc,
    /^omit-lockfile-registry-resolved=false$/m,
    'the project keeps resolved even when a user config omits it',
  )
})

test('pino-pretty is a development dependency only', async () => {
  const pkg = JSON.parse(await readFile(`${repo}package.json`, 'utf8')) as {
    dependencies: Record<string, string>
    devDependencies: Record<string, string>
  }
  assert.not.ok('pino-pretty' in pkg.dependencies)
  assert.ok('pino-pretty' in pkg.devDependencies)
  const lock = JSON.parse(await readFile(`${repo}package-lock.json`, 'utf8')) as {
    packages: Record<string, LockEntry>
  }
  assert.is(lock.packages['node_modules/pino-pretty']?.dev, true, 'pruned by --omit=dev')
})

test('without pino-pretty, a terminal gets JSON lines', async () => {
  const script = `
    import { createLogger } from './src/log.ts'
    const log = await createLogger({ pretty: true, prettyModule: 'psen-no-such-pretty-printer' })
    log.info({ answer: 42 }, 'hello')
  `
  const r = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: repo,
  })
  const line = JSON.parse(r.stdout.trim()) as { msg: string; answer: number; level: number }
  assert.equal([line.msg, line.answer, line.level], ['hello', 42, 30])
  // And the pretty printer itself, where installed (development), still works.
  const pretty = await run(
    process.execPath,
    [
      '--import',
      'tsx',
      '--input-type=module',
      '-e',
      script.replace(", prettyModule: 'psen-no-such-pretty-printer'", ''),
    ],
    { cwd: repo },
  )
  assert.match(pretty.stdout, /INFO.*hello/)
  assert.throws(() => JSON.parse(pretty.stdout.trim()))
})

test.run()
