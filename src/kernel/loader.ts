/**
 * Compiles the kernel module from bytes, in Node and in the browser alike: in Node a file: URL
 * (the default, build/kernel.wasm beside this package) is read from disk; anywhere else a URL is
 * fetched and compiled while streaming. The module imports nothing, so instantiation needs no glue.
 * @module
 */

/** Where the .wasm bytes come from: the bytes themselves, a compiled module, or a URL. */
export type KernelSource = WebAssembly.Module | ArrayBuffer | ArrayBufferView | URL | string

/** The release module, resolved next to this file (src/kernel or dist/kernel -> build/). */
export const DEFAULT_KERNEL_URL = new URL('../../build/kernel.wasm', import.meta.url)

/**
 * The same sources built with a shared memory (`asc --target shared`): the --threads workers'
 * module, whose memory the main thread writes each worker's share into. Only Node loads it (a
 * browser gives shared memory to cross-origin isolated pages only).
 */
export const SHARED_KERNEL_URL = new URL('../../build/kernel.shared.wasm', import.meta.url)

/** The debug module (assertions with names and lines), used by tests. */
export const DEBUG_KERNEL_URL = new URL('../../build/kernel.debug.wasm', import.meta.url)

const isNode = typeof process !== 'undefined' && typeof process.versions?.node === 'string'

async function readUrl(url: URL): Promise<WebAssembly.Module> {
  if (url.protocol === 'file:' && isNode) {
    // Hidden from bundlers: the browser build never reaches this branch.
    const fsName = 'node:fs/promises'
    const fs = (await import(/* @vite-ignore */ fsName)) as typeof import('node:fs/promises')
    const bytes = await fs.readFile(url)
    return WebAssembly.compile(bytes)
  }
  const response = await fetch(url)
  if (!response.ok) throw new Error(`cannot load kernel from ${url.href}: HTTP ${response.status}`)
  if (
    typeof WebAssembly.compileStreaming === 'function' &&
    response.headers.get('content-type')?.startsWith('application/wasm')
  ) {
    return WebAssembly.compileStreaming(response)
  }
  return WebAssembly.compile(await response.arrayBuffer())
}

/** Compiles the kernel module from any source. */
export async function compileKernel(
  source: KernelSource = DEFAULT_KERNEL_URL,
): Promise<WebAssembly.Module> {
  if (source instanceof WebAssembly.Module) return source
  if (source instanceof ArrayBuffer) return WebAssembly.compile(source)
  if (ArrayBuffer.isView(source)) {
    // Copy into a fresh buffer: a view may sit on a SharedArrayBuffer or a Node Buffer pool.
    const bytes = new Uint8Array(source.byteLength)
    bytes.set(new Uint8Array(source.buffer, source.byteOffset, source.byteLength))
    return WebAssembly.compile(bytes)
  }
  const base = typeof location !== 'undefined' ? location.href : undefined
  return readUrl(typeof source === 'string' ? new URL(source, base) : source)
}
