import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as zmq from 'zeromq'
import { BsreadDecoder, decodeValue } from '../src/bsread/decoder.js'
import { parseEdge, runSimulate } from '../src/cli/simulate.js'
import { Codec } from '../src/kernel/codec.js'
import { Kernel } from '../src/kernel/kernel.js'
import { freePort } from './helpers/ports.js'
import { waitFor } from './helpers/wait.js'

const test = suite('simulate command')
const codec = new Codec(await Kernel.load())

function capture() {
  const lines: string[] = []
  return {
    lines,
    out: (l: string) => {
      lines.push(l)
    },
    err: (l: string) => {
      lines.push(l)
    },
  }
}

function memoryLogger() {
  const records: Array<Record<string, unknown>> = []
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l) records.push(JSON.parse(l))
      cb()
    },
  })
  return { records, logger: pino({ level: 'info' }, stream) }
}

test('--help lists every option and exits 0', async () => {
  const c = capture()
  assert.is(await runSimulate(['--help'], c), 0)
  const text = c.lines.join('\n')
  for (const o of [
    '--port',
    '--width',
    '--height',
    '--dtype',
    '--compression',
    '--rate',
    '--edge',
    '--prefix',
    '--mode',
    '--interface',
    '--duration',
  ]) {
    assert.ok(text.includes(o), o)
  }
})

test('bad values exit non-zero with a message', async () => {
  const bad = [
    ['--rate', '-1'],
    ['--rate', 'fast'],
    ['--dtype', 'int64'],
    ['--width', '1.5'],
    ['--compression', 'zip'],
    ['--edge', 'speed=3'],
    ['--edge', 'center=x'],
    ['--bogus'],
    ['--start_pulse_id', '-5'],
    ['--port', '70000'],
    ['--mode', 'req'],
    ['--log_level', 'LOUD'],
    ['positional'],
    ['--edge', 'depth=2'],
  ]
  for (const argv of bad) {
    const c = capture()
    const code = await runSimulate(argv, c)
    assert.is(code, 2, argv.join(' '))
    assert.match(c.lines.join('\n'), /^psen-processing simulate: /)
    assert.match(c.lines.join('\n'), /Run 'psen-processing simulate --help' for usage\.$/)
  }
  const c = capture()
  assert.is(await runSimulate(['--prot', '9010'], c), 2)
  assert.match(c.lines.join('\n'), /unknown option '--prot': did you mean --port\?/)
})

test('--edge forms', () => {
  assert.is(parseEdge('off'), false)
  assert.equal(parseEdge('512.5'), { center: 512.5, amplitude: 0 })
  assert.equal(parseEdge('center=600,amplitude=100,period=20'), {
    center: 600,
    amplitude: 100,
    period: 20,
  })
})

test('streams on the given port until stopped, then frees it', async () => {
  const port = await freePort()
  const stop = new AbortController()
  const { records, logger } = memoryLogger()
  const done = runSimulate(
    [
      '--port',
      String(port),
      '--width',
      '80',
      '--height',
      '40',
      '--dtype',
      'int16',
      '--compression',
      'lz4',
      '--rate',
      '200',
      '--prefix',
      'CLI-SIM',
      '--edge',
      'center=40,amplitude=10',
      '--start_pulse_id',
      '4000',
    ],
    { ...capture(), signal: stop.signal, logger },
  )
  const pull = new zmq.Pull({ linger: 0, receiveTimeout: 10_000 })
  pull.connect(`tcp://127.0.0.1:${port}`)
  const dec = new BsreadDecoder({ codec })
  try {
    for (let i = 0; i < 8; i++) {
      const m = dec.decode(await pull.receive())
      assert.ok(m.pulseId >= 4000n)
      const raw = m.value('CLI-SIM:FPICTURE')
      assert.ok(raw)
      assert.is(raw.info.type, 'int16')
      assert.is(raw.info.compression, 'lz4')
      assert.is((decodeValue(raw, codec) as Int16Array).length, 80 * 40)
    }
  } finally {
    pull.close()
  }
  stop.abort()
  assert.is(await done, 0)
  const started = records.find((r) => r.msg === 'simulated camera streaming')
  assert.is(started?.address, `tcp://127.0.0.1:${port}`)
  assert.ok(records.some((r) => r.msg === 'simulator stopped'))
  // The port is free again (zeromq releases it in its I/O thread, shortly after close).
  const again = new zmq.Push({ linger: 0 })
  try {
    await waitFor(
      'the port to be free again',
      async () => {
        await again.bind(`tcp://127.0.0.1:${port}`)
        return true
      },
      2000,
      20,
    )
  } finally {
    again.close()
  }
})

test('a port in use is an error, not a crash', async () => {
  const port = await freePort()
  const holder = new zmq.Push({ linger: 0 })
  await holder.bind(`tcp://127.0.0.1:${port}`)
  try {
    const c = capture()
    const code = await runSimulate(['--port', String(port), '--width', '16', '--height', '8'], {
      ...c,
      logger: memoryLogger().logger,
    })
    assert.is(code, 1)
    assert.match(c.lines.join('\n'), /cannot start/)
  } finally {
    holder.close()
  }
})

const main = fileURLToPath(new URL('./helpers/simulate-main.ts', import.meta.url))

test('as a process: Ctrl-C (SIGINT) stops it cleanly with exit code 0', async () => {
  const port = await freePort()
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      main,
      '--port',
      String(port),
      '--width',
      '32',
      '--height',
      '16',
      '--rate',
      '100',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
  let out = ''
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString()
  })
  child.stderr.on('data', (d: Buffer) => {
    out += d.toString()
  })
  const exited = new Promise<number | null>((res) => child.on('exit', (c) => res(c)))
  const pull = new zmq.Pull({ linger: 0, receiveTimeout: 20_000 })
  pull.connect(`tcp://127.0.0.1:${port}`)
  try {
    await pull.receive()
  } finally {
    pull.close()
  }
  child.kill('SIGINT')
  assert.is(await exited, 0, out)
  assert.match(out, /simulator stopped/)
})

test('--duration stops by itself', async () => {
  const c = capture()
  const code = await runSimulate(
    ['--port', '0', '--width', '16', '--height', '8', '--duration', '0.3'],
    { ...c, logger: memoryLogger().logger },
  )
  assert.is(code, 0)
})

test.run()
