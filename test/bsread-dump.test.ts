import { spawn } from 'node:child_process'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as zmq from 'zeromq'

import { BsreadEncoder } from '../src/bsread/encoder.js'
import { BsreadSender } from '../src/bsread/sender.js'
import type { ChannelInfo } from '../src/bsread/types.js'
import { runDump } from '../src/cli/dump.js'
import { loadCodec } from './helpers/bsread.js'
import { freePort } from './helpers/ports.js'
import { BIN } from './helpers/service.js'
import { sleep, waitFor } from './helpers/wait.js'

zmq.context.blocky = false
const codec = await loadCodec()

const dump = suite('dump command')

const gain: ChannelInfo = {
  name: 'CAM:GAIN',
  type: 'float64',
  shape: [1],
  encoding: 'little',
  compression: 'none',
}

dump('prints pulse ids, channels and values of a live stream, stops after -n', async () => {
  const sender = await BsreadSender.bind({ address: 'tcp://127.0.0.1:*', sendTimeoutMs: 10 })
  const lines: string[] = []
  const errs: string[] = []
  const img: ChannelInfo = {
    name: 'CAM:FPICTURE',
    type: 'uint16',
    shape: [8, 4],
    encoding: 'little',
    compression: 'bitshuffle_lz4',
  }
  const enc = new BsreadEncoder({ codec })
  const done = runDump([sender.endpoint, '-n', '3', '--values'], {
    out: (l) => lines.push(l),
    err: (l) => errs.push(l),
    codec,
  })
  let finished = false
  void done.then(() => {
    finished = true
  })
  let pulse = 1000n
  await waitFor(
    'dump to print 3 messages and stop',
    async () => {
      await sender.send(
        enc.encode({
          pulseId: ++pulse,
          globalTimestamp: { sec: 1700000000, ns: 5 },
          channels: [
            { info: img, value: new Uint16Array(32).fill(7) },
            { info: gain, value: 2.5 },
          ],
        }),
      )
      return finished
    },
    10_000,
    5,
  )
  assert.is(await done, 0)
  sender.close()
  const text = lines.join('\n')
  assert.match(text, /pulse_id 100\d {2}2023-11-14T22:13:20\.000000005Z {2}2 channels/)
  assert.match(text, /CAM:FPICTURE {2}uint16 \[8, 4\] little bitshuffle_lz4/)
  assert.match(text, /CAM:GAIN {2}float64 \[1\] little none {2}8 B {2}= 2\.5/)
  assert.is(lines.filter((l) => l.startsWith('pulse_id')).length, 3)
  assert.match(lines[lines.length - 1] ?? '', /^3 messages, 0 malformed$/)
  // PULL (no --sub): it says, on stderr, what it takes from a PUSH stream's other consumers.
  assert.is(errs.length, 1)
  assert.match(errs[0]!, /^dump: connected PULL to tcp:\/\/127\.0\.0\.1:\d+\. /)
  assert.match(errs[0]!, /each message goes to one of you/)
  assert.match(errs[0]!, /use --sub/)
})

dump('--help and bad arguments', async () => {
  const out: string[] = []
  const err: string[] = []
  const io = { out: (l: string) => out.push(l), err: (l: string) => err.push(l) }
  assert.is(await runDump(['--help'], io), 0)
  assert.match(out.join(), /usage: psen-processing dump/)
  assert.is(await runDump([], io), 2)
  assert.is(await runDump(['localhost:9999'], io), 2)
  assert.is(await runDump(['tcp://127.0.0.1:1', '-n', 'x'], io), 2)
  assert.is(await runDump(['tcp://127.0.0.1:1', '--bogus'], io), 2)
  // The service's error format, with the nearest option and the port range named.
  err.length = 0
  assert.is(await runDump(['tcp://127.0.0.1:1', '--sbu'], io), 2)
  assert.is(
    err.join('\n'),
    "psen-processing dump: unknown option '--sbu': did you mean --sub?\n" +
      "Run 'psen-processing dump --help' for usage.",
  )
  err.length = 0
  assert.is(await runDump(['tcp://127.0.0.1:99999'], io), 2)
  assert.match(err.join(), /^psen-processing dump: .*port 99999 is out of range \[1, 65535\]/)
  assert.match(out.join(), /--sub/)
  assert.match(out.join(), /takes every other message away/)
})

dump('stops on abort while idle, in SUB mode', async () => {
  const port = await freePort()
  const ac = new AbortController()
  const out: string[] = []
  const done = runDump([`tcp://127.0.0.1:${port}`, '--sub'], {
    out: (l) => out.push(l),
    err: () => {},
    signal: ac.signal,
    codec,
  })
  await sleep(30) // idle for a moment first: no event says "dump is waiting"
  ac.abort()
  assert.is(await done, 0)
  assert.match(out[out.length - 1] ?? '', /^0 messages/)
})

dump('ends with exit 0 when its reader goes away (dump | head)', async () => {
  const sender = await BsreadSender.bind({ address: 'tcp://127.0.0.1:*', sendTimeoutMs: 10 })
  const child = spawn(process.execPath, [BIN, 'dump', sender.endpoint], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stderr = ''
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString()
  })
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))
  const enc = new BsreadEncoder({ codec })
  let firstLine = false
  child.stdout.once('data', () => {
    firstLine = true
    // What `head -n 1` does once it has its line.
    child.stdout.destroy()
  })
  let pulse = 0n
  let code: number | null | undefined
  void exited.then((c) => {
    code = c
  })
  try {
    await waitFor('dump to exit after its reader left', async () => {
      await sender.send(
        enc.encode({
          pulseId: ++pulse,
          globalTimestamp: { sec: 1, ns: 0 },
          channels: [{ info: gain, value: 1.5 }],
        }),
      )
      return code !== undefined
    })
  } finally {
    child.kill('SIGKILL')
    sender.close()
  }
  assert.ok(firstLine)
  assert.is(code, 0, stderr)
  assert.not.match(stderr, /EPIPE|Error/)
})

dump.run()
