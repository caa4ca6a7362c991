/**
 * Test helpers for the service: the real CLI as a child process on free ports, real PULL
 * readers of its output streams, a real bsread PUSH feeder, and polling with a deadline.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as zmq from 'zeromq'
import { BsreadDecoder, type BsreadMessage } from '../../src/bsread/decoder.js'
import { BsreadEncoder } from '../../src/bsread/encoder.js'
import { BsreadSender } from '../../src/bsread/sender.js'
import { PsenProcessingClient } from '../../src/client/client.js'
import { Codec } from '../../src/kernel/codec.js'
import { Kernel } from '../../src/kernel/kernel.js'
import { freePorts } from './ports.js'
import { handshake, waitFor } from './wait.js'

export const ROOT = fileURLToPath(new URL('../../', import.meta.url))
export const BIN = fileURLToPath(new URL('../../bin/psen-processing.js', import.meta.url))

export { handshake, sleep, waitFor } from './wait.js'

export interface CliProcess {
  child: ChildProcess
  restPort: number
  dataPort: number
  imagePort: number
  base: string
  output(): string
  /** Resolves with the exit code (or the signal name) when the process ends. */
  exited: Promise<number | string>
  /** SIGTERM, then SIGKILL after 5 s; resolves when gone. */
  stop(): Promise<number | string>
}

/**
 * Runs `node bin/psen-processing.js` with the given arguments (no port options added). Unless
 * `env` names XDG_STATE_HOME, the service keeps its default state file in a fresh directory of
 * its own (removed when it exits): never the user's, never another test's.
 */
export function runCli(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): {
  child: ChildProcess
  output(): string
  exited: Promise<number | string>
} {
  const stateHome =
    'XDG_STATE_HOME' in env ? undefined : mkdtempSync(join(tmpdir(), 'psen-state-home-'))
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...(stateHome ? { XDG_STATE_HOME: stateHome } : {}), ...env },
  })
  let out = ''
  child.stdout?.on('data', (b: Buffer) => {
    out += b.toString()
  })
  child.stderr?.on('data', (b: Buffer) => {
    out += b.toString()
  })
  const exited = new Promise<number | string>((resolve) => {
    child.on('exit', (code, signal) => {
      if (stateHome) rmSync(stateHome, { recursive: true, force: true })
      resolve(code ?? signal ?? -1)
    })
  })
  return { child, output: () => out, exited }
}

/**
 * Starts the demo (no INPUT_STREAM PREFIX: simulated camera + service) on free ports, its HTTP
 * API on 127.0.0.1; does not wait for it.
 */
export async function runDemo(): Promise<{
  demo: ReturnType<typeof runCli>
  base: string
  data: number
  image: number
}> {
  const [rest, data, image] = (await freePorts(3)) as [number, number, number]
  const demo = runCli([
    '-r',
    String(rest),
    '-o',
    String(data),
    '-i',
    String(image),
    '--rest_api_interface',
    '127.0.0.1',
  ])
  return { demo, base: `http://127.0.0.1:${rest}`, data, image }
}

/** Starts the service CLI on free ports and waits until its HTTP API answers. */
export async function startCli(
  input: string,
  prefix: string,
  extra: string[] = [],
  env: NodeJS.ProcessEnv = {},
): Promise<CliProcess> {
  const [restPort, dataPort, imagePort] = (await freePorts(3)) as [number, number, number]
  const args = [
    input,
    prefix,
    '-r',
    String(restPort),
    '-o',
    String(dataPort),
    '-i',
    String(imagePort),
    '--rest_api_interface',
    '127.0.0.1',
    '--stream_interface',
    '127.0.0.1',
    '--log_level',
    'WARNING',
    ...extra,
  ]
  const p = runCli(args, env)
  const base = `http://127.0.0.1:${restPort}`
  let exitedEarly: number | string | undefined
  void p.exited.then((c) => {
    exitedEarly = c
  })
  await waitFor(
    'the service HTTP API',
    async () => {
      if (exitedEarly !== undefined) throw new Error(`exited with ${exitedEarly}: ${p.output()}`)
      const r = await fetch(`${base}/health`)
      return r.ok
    },
    20_000,
  )
  return {
    ...p,
    restPort,
    dataPort,
    imagePort,
    base,
    async stop() {
      if (p.child.exitCode === null && p.child.signalCode === null) {
        p.child.kill('SIGTERM')
        const t = setTimeout(() => p.child.kill('SIGKILL'), 5000)
        const code = await p.exited
        clearTimeout(t)
        return code
      }
      return p.exited
    },
  }
}

/** A PULL reader of a bsread stream that keeps every decoded message. */
export class StreamReader {
  readonly messages: BsreadMessage[] = []
  /** Resolves once the reader's connection is up (ZMTP handshake done): await before sending. */
  readonly connected: Promise<void>
  readonly #socket: zmq.Pull
  readonly #decoder = new BsreadDecoder()
  #loop: Promise<void>

  constructor(address: string) {
    this.#socket = new zmq.Pull({ linger: 0, receiveHighWaterMark: 10_000 })
    this.connected = handshake(this.#socket)
    this.#socket.connect(address)
    this.#loop = this.#run()
  }

  async #run(): Promise<void> {
    try {
      for await (const parts of this.#socket) this.messages.push(this.#decoder.decode(parts))
    } catch {
      // closed
    }
  }

  /** Waits until at least n messages arrived. */
  async take(n: number, ms = 15_000): Promise<BsreadMessage[]> {
    await waitFor(
      `${n} messages (have ${this.messages.length})`,
      () => this.messages.length >= n,
      ms,
    )
    return this.messages.splice(0, n)
  }

  async close(): Promise<void> {
    this.#socket.close()
    await this.#loop
  }
}

/** Raw JSON call of the HTTP API. */
export async function api(
  base: string,
  method: string,
  path: string,
  init: RequestInit = {},
): Promise<{
  status: number
  headers: Headers
  body: Record<string, unknown>
}> {
  const r = await fetch(base + path, { method, ...init })
  const text = await r.text()
  let body: Record<string, unknown>
  try {
    body = JSON.parse(text) as Record<string, unknown>
  } catch {
    body = { raw: text }
  }
  return { status: r.status, headers: r.headers, body }
}

/** The real CLI fed by a real bsread PUSH sender, with PULL readers of both output streams. */
export interface StreamHarness {
  codec: Codec
  encoder: BsreadEncoder
  sender: BsreadSender
  cli: CliProcess
  client: PsenProcessingClient
  data: StreamReader
  image: StreamReader
}

/** Starts sender, CLI (with `extra` options) and readers; their connections are settled. */
export async function startStreamHarness(
  prefix: string,
  extra: string[] = [],
): Promise<StreamHarness> {
  const codec = new Codec(await Kernel.load())
  const encoder = new BsreadEncoder({ codec })
  const sender = await BsreadSender.bind({
    address: 'tcp://127.0.0.1:*',
    sendTimeoutMs: 5000,
    sendHighWaterMark: 1000,
  })
  const cli = await startCli(sender.endpoint, prefix, extra)
  const h: StreamHarness = {
    codec,
    encoder,
    sender,
    cli,
    client: new PsenProcessingClient(cli.base),
    data: new StreamReader(`tcp://127.0.0.1:${cli.dataPort}`),
    image: new StreamReader(`tcp://127.0.0.1:${cli.imagePort}`),
  }
  await Promise.all([h.data.connected, h.image.connected])
  return h
}

/** Closes what startStreamHarness started; resolves with the CLI's exit code. */
export async function stopStreamHarness(
  h: Partial<StreamHarness>,
): Promise<number | string | undefined> {
  await h.data?.close()
  await h.image?.close()
  const code = await h.cli?.stop()
  h.sender?.close()
  return code
}
