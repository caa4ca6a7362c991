#!/usr/bin/env node
// Runs the uvu suites (through tsx, so test files are TypeScript with top-level await), one
// test file per process, and ends the output with the one line CI reads: "N passed, N failed"
// (", N skipped" when any). uvu prints no failed count and an open socket can keep its process
// alive after the summary, so every run is bounded: a hang is killed and counted as a failure.
//
// One process per file, because libzmq 4.3.5 (inside zeromq.js 6.8.0) can abort a whole
// process with an assertion in session_base.cpp (clean_pipes, "Resource temporarily
// unavailable") when a peer drops a connection while a multipart message is in flight: an
// upstream race the socket and fault tests provoke on purpose. It hit one clean-clone run twice
// (two different files); with all suites in one process each abort took every suite down. Now
// a file whose process dies by SIGABRT with no failed test (before its summary, or after one
// where every test passed: the race also hits while sockets close at exit) is said so loudly
// and run again, at most twice; a third abort counts as a failure. The line before the summary
// says how many reruns there were (and of which files), so a run that needed them does not look
// clean.
import { spawn } from 'node:child_process'
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const timeoutMs = Number(process.env.TEST_TIMEOUT_MS ?? 40 * 60 * 1000)
const pattern = new RegExp(process.argv[2] ?? '\\.test\\.ts$')
const files = readdirSync('test')
  .filter((f) => pattern.test(f))
  .sort()
const deadline = Date.now() + timeoutMs
const ABORT_RETRIES = 2
const stateHome = mkdtempSync(join(tmpdir(), 'psen-test-state-'))
process.on('exit', () => rmSync(stateHome, { recursive: true, force: true }))

function escapeRegExp(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

function runFile(file) {
  const args = [
    '--import',
    'tsx',
    'node_modules/uvu/bin.js',
    '--no-color',
    'test',
    `^${escapeRegExp(file)}$`,
  ]
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, {
      stdio: ['ignore', 'pipe', 'inherit'],
      // Services a test starts keep their default state files in this run's own directory.
      env: { ...process.env, FORCE_COLOR: '0', NODE_ENV: 'test', XDG_STATE_HOME: stateHome },
    })

    let out = ''
    child.stdout.on('data', (chunk) => {
      process.stdout.write(chunk)
      out += chunk.toString()
      if (out.length > 1 << 20) out = out.slice(-(1 << 19))
    })

    let timedOut = false
    const timer = setTimeout(
      () => {
        timedOut = true
        process.stdout.write(`\nrun-tests: ${file} ran past the time budget; killed\n`)
        child.kill('SIGKILL')
      },
      Math.max(0, deadline - Date.now()),
    )

    // After uvu's summary the process should exit at once; give it a moment, then it is a hang.
    const hangCheck = setInterval(() => {
      if (/Duration:/.test(out) && child.exitCode === null) {
        clearInterval(hangCheck)
        setTimeout(() => {
          if (child.exitCode === null) {
            timedOut = true
            process.stdout.write(
              `\nrun-tests: ${file} did not exit after its summary ` + '(open handle); killed\n',
            )
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

/** uvu's summary counts; `total` is NaN when the process printed no summary. */
function summaryOf(out) {
  return {
    total: Number(/Total:\s+(\d+)/.exec(out)?.[1] ?? NaN),
    ok: Number(/Passed:\s+(\d+)/.exec(out)?.[1] ?? 0),
    skipped: Number(/Skipped:\s+(\d+)/.exec(out)?.[1] ?? 0),
  }
}

/** Whether the summary, if printed, counts a failed test (an abort then is not the cause). */
function failedBefore(out) {
  const { total, ok } = summaryOf(out)
  return ok < total
}

let passed = 0
let failed = 0
let skipped = 0
const reruns = [] // one entry per rerun after a libzmq abort, so the summary can say how many
for (const file of files) {
  let run = await runFile(file)
  for (
    let retry = 1;
    retry <= ABORT_RETRIES && run.signal === 'SIGABRT' && !run.timedOut && !failedBefore(run.out);
    retry++
  ) {
    process.stdout.write(
      `\nrun-tests: ${file}: the test process aborted (SIGABRT, native ` +
        `assertion) with no test failed; running it again (${retry} of ${ABORT_RETRIES})\n\n`,
    )
    reruns.push(file)
    run = await runFile(file)
  }
  const { out, code, timedOut } = run
  const { total, ok, skipped: skippedHere } = summaryOf(out)
  let bad = Number.isNaN(total) ? 1 : total - ok
  if (timedOut) bad += 1
  if (!Number.isNaN(total) && code !== 0 && bad === 0 && !timedOut) {
    bad = 1
    process.stdout.write(
      `\nrun-tests: ${file}: every test passed, but the process ended with ` +
        `${run.signal ? `signal ${run.signal}` : `exit code ${code}`}; counted as one failure\n`,
    )
  }
  passed += ok
  failed += bad
  skipped += skippedHere
}
if (files.length === 0) failed = 1
const tail = skipped > 0 ? `, ${skipped} skipped` : ''
const rerunFiles = [...new Set(reruns)].join(', ')
process.stdout.write(
  `\nreruns after libzmq abort: ${reruns.length}` +
    (reruns.length > 0 ? ` (${rerunFiles})` : '') +
    '\n',
)
process.stdout.write(`${passed} passed, ${failed} failed${tail}\n`)
process.exit(failed > 0 ? 1 : 0)
