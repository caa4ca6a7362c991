/**
 * Why the service's GC runs full mark-compacts: receives N messages of one camera frame's size
 * over zeromq (PUSH → PULL, one process) or allocates N Buffers of that size, and prints what
 * V8's `--trace-gc` saw. zeromq.js reports every received part above 128 bytes to V8 as
 * external memory *on top of* the external buffer's own accounting, which drives V8 into a
 * mark-compact every few frames; plain Buffers of the same size die in cheap scavenges.
 *
 * Usage: node --import tsx bench/service/gc-external.ts [N] [BYTES]
 * @module
 */
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

import { Pull, Push, context } from 'zeromq'

const isChild = process.argv[2] === 'zmq' || process.argv[2] === 'alloc'
const args = process.argv.slice(isChild ? 3 : 2)
const n = Number(args[0] ?? 300)
const size = Number(args[1] ?? 5_500_000)

async function child(mode: string): Promise<void> {
  context.blocky = false
  const payload = Buffer.alloc(size, 7)
  let sum = 0
  if (mode === 'zmq') {
    const push = new Push({ linger: 0, sendHighWaterMark: 4 })
    await push.bind('tcp://127.0.0.1:*')
    const pull = new Pull({ linger: 0, receiveHighWaterMark: 4 })
    pull.connect(push.lastEndpoint as string)
    const sending = (async () => {
      for (let i = 0; i < n; i++) await push.send(payload)
    })()
    for (let i = 0; i < n; i++) {
      const [m] = await pull.receive()
      sum += (m as Buffer)[12345] as number
    }
    await sending
    push.close()
    pull.close()
  } else {
    for (let i = 0; i < n; i++) {
      const b = Buffer.allocUnsafeSlow(size)
      b[12345] = 7
      sum += b[12345] as number
      await new Promise((r) => setImmediate(r))
    }
  }
  if (sum !== 7 * n) throw new Error('lost data')
}

if (isChild) {
  await child(process.argv[2] as string)
} else {
  const self = fileURLToPath(import.meta.url)
  for (const mode of ['zmq', 'alloc']) {
    const r = spawnSync(
      process.execPath,
      ['--trace-gc', '--import', 'tsx', self, mode, String(n), String(size)],
      { encoding: 'utf8' },
    )
    const out = r.stdout + r.stderr
    const mc = out.match(/Mark-Compact/g)?.length ?? 0
    const sc = out.match(/Scavenge/g)?.length ?? 0
    const ms = [...out.matchAll(/(?:Mark-Compact|Scavenge)[^,]*, ([\d.]+) \//g)].reduce(
      (a, m) => a + Number(m[1]),
      0,
    )
    console.log(
      `${mode.padEnd(5)} ${n} × ${(size / 1e6).toFixed(1)} MB: ${mc} mark-compacts, ` +
        `${sc} scavenges, ${ms.toFixed(0)} ms in GC pauses`,
    )
  }
}
