/**
 * An idle service costs nothing: with its input connected but silent, the real CLI process
 * must not wake up on a short timer (the old Python service polled every millisecond; a 10 ms
 * event-loop-lag monitor would wake it 100 times a second). Counts the context switches of all
 * its threads from /proc over a few seconds; no timing of the code itself.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync, readdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { Push, context } from 'zeromq'

import { freePorts } from './helpers/ports.js'
import { handshake, sleep, waitFor } from './helpers/wait.js'

const ROOT = fileURLToPath(new URL('../', import.meta.url))
context.blocky = false

function switches(pid: number): number {
  let n = 0
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const s = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8')
      n += Number(/\nvoluntary_ctxt_switches:\s+(\d+)/.exec(s)?.[1] ?? 0)
    } catch {
      /* the thread ended */
    }
  }
  return n
}

test('an idle service (input connected, no frames) wakes up < 10 times a second', async () => {
  const push = new Push({ linger: 0 })
  const inputConnected = handshake(push)
  await push.bind('tcp://127.0.0.1:*')
  const [data, image, rest] = (await freePorts(3)) as [number, number, number]
  let child: ChildProcess | undefined
  try {
    child = spawn(
      process.execPath,
      [
        'bin/psen-processing.js',
        push.lastEndpoint as string,
        'IDLE-CAM',
        '-o',
        String(data),
        '-i',
        String(image),
        '-r',
        String(rest),
        '--rest_api_interface',
        '127.0.0.1',
        '--stream_interface',
        '127.0.0.1',
        '--log_level',
        'ERROR',
        '--auto_start',
      ],
      { cwd: ROOT, stdio: 'ignore' },
    )
    const pid = child.pid as number
    await waitFor(
      'the service to come up and process',
      async () => {
        const res = await fetch(`http://127.0.0.1:${rest}/status`)
        return ((await res.json()) as { status?: string }).status === 'processing'
      },
      10_000,
      100,
    )
    await inputConnected
    // Let start-up work (module loading, first GC) settle, then count: no event marks its end.
    await sleep(2000)
    const a = switches(pid)
    const seconds = 3
    await sleep(seconds * 1000) // the measurement window
    const perSecond = (switches(pid) - a) / seconds
    assert.ok(perSecond < 10, `${perSecond.toFixed(1)} wake-ups per second while idle`)
  } finally {
    if (child && child.exitCode === null) {
      const gone = new Promise((r) => child?.once('exit', r))
      child.kill('SIGTERM')
      const t = setTimeout(() => child?.kill('SIGKILL'), 5000)
      await gone
      clearTimeout(t)
    }
    push.close()
  }
})

test.run()
