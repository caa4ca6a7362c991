/**
 * Starts a worker thread on a module next to the caller: from dist/ the compiled `.js`; from
 * TypeScript sources (tests, benchmarks under `node --import tsx`) the `.ts`, with tsx
 * registered inside the worker first, because Node 20 workers do not inherit `--import tsx`
 * (tsx is a dev dependency, used only from sources).
 * @module
 */
import { Worker, type WorkerOptions } from 'node:worker_threads'

/**
 * `caller` is the caller's `import.meta.url`, `name` the worker module's file name without its
 * extension (a sibling of the caller).
 */
export function startWorker(caller: string, name: string, options: WorkerOptions): Worker {
  if (!caller.endsWith('.ts')) return new Worker(new URL(`./${name}.js`, caller), options)
  const url = new URL(`./${name}.ts`, caller).href
  const code =
    `import('tsx/esm/api')` +
    `.then((m) => { m.register(); return import(${JSON.stringify(url)}) })`
  return new Worker(code, { ...options, eval: true })
}
