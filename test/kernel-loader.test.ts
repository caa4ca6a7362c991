import { readFile } from 'node:fs/promises'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { KERNEL_FUNCTIONS } from '../src/kernel/abi.js'
import { Kernel } from '../src/kernel/kernel.js'
import {
  DEBUG_KERNEL_URL,
  DEFAULT_KERNEL_URL,
  SHARED_KERNEL_URL,
  compileKernel,
} from '../src/kernel/loader.js'

test('release, shared and debug modules import nothing and export the whole ABI', async () => {
  for (const url of [DEFAULT_KERNEL_URL, SHARED_KERNEL_URL, DEBUG_KERNEL_URL]) {
    const module = await compileKernel(url)
    assert.equal(WebAssembly.Module.imports(module), [], `${url} imports`)
    const names = WebAssembly.Module.exports(module).map((e) => e.name)
    for (const fn of KERNEL_FUNCTIONS)
      assert.ok(names.includes(fn), `${url.pathname} exports ${fn}`)
    assert.ok(names.includes('memory'))
  }
})

test('the shared build (--threads workers) has a shared memory; the others do not', async () => {
  for (const url of [DEFAULT_KERNEL_URL, SHARED_KERNEL_URL, DEBUG_KERNEL_URL]) {
    const k = await Kernel.load(url)
    const shared = k.exports.memory.buffer instanceof SharedArrayBuffer
    assert.is(shared, url === SHARED_KERNEL_URL, url.pathname)
    assert.is(k.exports.dtype_size(2), 2)
  }
})

test('loads from a URL, from bytes and from a compiled module', async () => {
  const fromUrl = await Kernel.load()
  const bytes = await readFile(DEFAULT_KERNEL_URL)
  const fromBytes = await Kernel.load(bytes)
  const fromModule = Kernel.fromModule(fromBytes.module)
  for (const k of [fromUrl, fromBytes, fromModule]) {
    assert.is(k.exports.dtype_size(2), 2)
    assert.ok(k.memoryBytes >= 512 * 65536)
  }
})

test('regions are reused and grow only for bigger requests', async () => {
  const k = await Kernel.load()
  const r = k.region()
  const p1 = r.ensure(1000)
  assert.is(p1 % 16, 0)
  assert.is(r.ensure(500), p1)
  assert.is(r.ensure(1000), p1)
  const p2 = r.ensure(5_000_000)
  assert.ok(p2 > 0)
  assert.is(r.ensure(4_000_000), p2)
})

test('a trap becomes a KernelError and leaves a working fresh instance', async () => {
  const k = await Kernel.load(DEBUG_KERNEL_URL)
  const before = k.generation
  try {
    k.run((e) => e.alloc(0x7fff_fff0))
    assert.unreachable('should trap')
  } catch (err) {
    assert.instance(err, Error)
    assert.match((err as Error).message, /kernel trap/)
  }
  assert.is(k.generation, before + 1)
  assert.is(k.resets, 1)
  assert.is(k.exports.dtype_size(9), 8)
})

test.run()
