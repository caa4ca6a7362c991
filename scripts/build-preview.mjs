#!/usr/bin/env node
// Builds the browser preview into dist/preview/static/: the page script bundled by esbuild into
// one ES module (no CDN, nothing fetched at run time), the stylesheet and the HTML copied as they
// are. The page loads build/kernel.wasm, which the service serves as /kernel.wasm.
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises'
import { gzipSync } from 'node:zlib'
import { build } from 'esbuild'

const src = new URL('../src/preview/web/', import.meta.url)
const out = new URL('../dist/preview/static/', import.meta.url)
await mkdir(out, { recursive: true })

await build({
  entryPoints: [new URL('main.ts', src).pathname],
  outfile: new URL('app.js', out).pathname,
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['es2022'],
  sourcemap: true,
  minify: true,
  legalComments: 'none',
  logLevel: 'warning',
})
await copyFile(new URL('index.html', src), new URL('index.html', out))
await copyFile(new URL('style.css', src), new URL('app.css', out))
// Precompressed copies: the bundle carries zod (the service's parameter schema), ~0.5 MB that
// gzip brings to about a fifth; the service sends these to browsers that accept gzip.
for (const name of ['app.js', 'app.css', 'index.html']) {
  const url = new URL(name, out)
  await writeFile(new URL(`${name}.gz`, out), gzipSync(await readFile(url), { level: 9 }))
}
