#!/usr/bin/env node
// `npm run build`: the AssemblyScript kernels (build/*.wasm), tsc (dist/) and the preview bundle
// (dist/preview/static/), each step skipped when its inputs are unchanged since it last ran and
// its outputs are all there. So `prepare` right after `npm ci` (or npm's reinstall of a clone)
// costs a hash of the sources instead of a ~15 s rebuild, and `npm test`'s pretest still
// guarantees a build of exactly the current sources.
//
// "Unchanged" is a SHA-256 over the step's input files (content, not mtime: a git checkout or a
// copy sets mtimes arbitrarily) and package-lock.json (the compilers' and bundled libraries'
// versions). The hashes live in node_modules/.cache/psen-build/, so a fresh `npm ci` builds
// afresh. `node scripts/build.mjs --force` rebuilds everything.
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const stampDir = join(root, 'node_modules', '.cache', 'psen-build')
const force = process.argv.includes('--force')

/** Every file under `dir` (relative to the repository), sorted. */
function filesUnder(dir) {
  const out = []
  const walk = (d) => {
    for (const e of readdirSync(join(root, d), { withFileTypes: true })) {
      const p = join(d, e.name)
      if (e.isDirectory()) walk(p)
      else if (e.isFile()) out.push(p)
    }
  }
  walk(dir)
  return out.sort()
}

function hashOf(inputs) {
  const h = createHash('sha256')
  for (const f of inputs) {
    h.update(f + '\0')
    h.update(readFileSync(join(root, f)))
  }
  return h.digest('hex')
}

function run(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' })
  if (r.error) throw r.error
  if (r.status !== 0) process.exit(r.status ?? 1)
}

const bin = (name) => join(root, 'node_modules', '.bin', name)
const srcTs = filesUnder('src').filter((f) => f.endsWith('.ts'))

const steps = [
  {
    name: 'kernel',
    inputs: [...filesUnder('assembly'), 'asconfig.json'],
    outputs: ['build/kernel.wasm', 'build/kernel.shared.wasm', 'build/kernel.debug.wasm'],
    build: () => {
      for (const target of ['release', 'shared', 'debug']) run(bin('asc'), ['--target', target])
    },
  },
  {
    name: 'tsc',
    inputs: [...srcTs, 'tsconfig.json'],
    // One output per source: a deleted or missing file in dist/ means a rebuild.
    outputs: srcTs.map((f) => join('dist', relative('src', f)).replace(/\.ts$/, '.js')),
    build: () => run(bin('tsc'), ['-p', 'tsconfig.json']),
  },
  {
    name: 'preview',
    // The bundle takes modules from all of src/ (the parameter schema, the kernel loader).
    inputs: [...filesUnder('src'), 'scripts/build-preview.mjs'],
    outputs: ['app.js', 'app.js.gz', 'app.css', 'app.css.gz', 'index.html', 'index.html.gz'].map(
      (f) => join('dist', 'preview', 'static', f),
    ),
    build: () => run(process.execPath, [join(root, 'scripts', 'build-preview.mjs')]),
  },
]

mkdirSync(stampDir, { recursive: true })
for (const step of steps) {
  const stamp = join(stampDir, `${step.name}.sha256`)
  const hash = hashOf([...step.inputs, 'package-lock.json'])
  const fresh =
    !force &&
    existsSync(stamp) &&
    readFileSync(stamp, 'utf8') === hash &&
    step.outputs.every((f) => existsSync(join(root, f)))
  if (fresh) {
    console.log(`build: ${step.name} up to date`)
    continue
  }
  const t0 = performance.now()
  step.build()
  writeFileSync(stamp, hash)
  console.log(`build: ${step.name} built in ${((performance.now() - t0) / 1000).toFixed(1)} s`)
}
