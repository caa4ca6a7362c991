#!/usr/bin/env node
// Runs the uvu suites (through tsx, so test files are TypeScript with top-level await) and ends
// the output with the one line CI reads: "N passed, N failed" (", N skipped" when any).
// uvu prints no failed count and an open socket can keep its process alive after the summary,
// so the run is bounded: a hang is killed and counted as a failure.
//
// libzmq 4.3.5 (inside zeromq.js 6.8.0) can abort the whole process with an assertion in
// session_base.cpp (clean_pipes, "Resource temporarily unavailable") when a peer drops a
// connection while a multipart message is in flight: an upstream race, seen once in several
// clean-clone runs of the socket tests. One abort would take every suite down with it, so a run
// that dies by SIGABRT before its summary is said so loudly and run once more; a second abort fails.
import { spawn } from 'node:child_process'

const timeoutMs = Number(process.env.TEST_TIMEOUT_MS ?? 40 * 60 * 1000)
const pattern = process.argv[2] ?? '\\.test\\.ts$'
const args = ['--import', 'tsx', 'node_modules/uvu/bin.js', '--no-color', 'test', pattern]

function runOnce() {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, FORCE_COLOR: '0', NODE_ENV: 'test' },
    })

    let out = ''
    child.stdout.on('data', (chunk) => {
      process.stdout.write(chunk)
      out += chunk.toString()
      if (out.length > 1 << 20) out = out.slice(-(1 << 19))
    })

    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      child.kill('SIGKILL')
    }, timeoutMs)

    // After uvu's summary the process should exit at once; give it a moment, then it is a hang.
    const hangCheck = setInterval(() => {
      if (/Duration:/.test(out) && child.exitCode === null) {
        clearInterval(hangCheck)
        setTimeout(() => {
          if (child.exitCode === null) {
            timedOut = true
            process.stdout.write('\nrun-tests: the test process did not exit after its summary ' +
              '(open handle); killed\n')
            child.kill('SIGKILL')
          }
        }, 10_000)
      }
    }, 500)

    child.on('exit', (code, signal) => {
      clearTimeout(timer)
      clearInterval(hangCheck)
      resolve({ out, code, signal, timedOut })
    })
  })
}

let run = await runOnce()
if (run.signal === 'SIGABRT' && !run.timedOut && !/Total:/.test(run.out)) {
  process.stdout.write('\nrun-tests: the test process aborted (SIGABRT, native assertion) before ' +
    'its summary; running the suites once more\n\n')
  run = await runOnce()
}

const { out, code, timedOut } = run
const total = Number(/Total:\s+(\d+)/.exec(out)?.[1] ?? NaN)
const passed = Number(/Passed:\s+(\d+)/.exec(out)?.[1] ?? 0)
const skipped = Number(/Skipped:\s+(\d+)/.exec(out)?.[1] ?? 0)
let failed = Number.isNaN(total) ? 1 : total - passed
if (timedOut) failed += 1
if (!Number.isNaN(total) && code !== 0 && failed === 0 && !timedOut) failed = 1
const tail = skipped > 0 ? `, ${skipped} skipped` : ''
process.stdout.write(`\n${passed} passed, ${failed} failed${tail}\n`)
process.exit(failed > 0 ? 1 : 0)
