// SIGTERM (systemd, docker stop) and SIGINT (Ctrl-C) in the middle of a stream end the process
// within the contract's 2 s with exit code 0: full output queues, a slow consumer, an open HTTP
// keep-alive connection and a settings change in flight do not hold it up, and the state file
// is whole afterwards.
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { Agent, request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as zmq from 'zeromq'
import { PsenProcessingClient } from '../src/client/client.js'
import { startSimulator } from '../src/sim/simulator.js'
import { startCli, waitFor } from './helpers/service.js'

const test = suite('faults-signals')

/** The contract: a stop signal ends the service within 2 s. */
const LIMIT_MS = 2000

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  test(`${signal} mid-stream under load: exit 0 within 2 s, state file whole`, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'psen-signal-'))
    const file = join(dir, 'state.json')
    const sim = await startSimulator({ rate: 300, width: 512, height: 256 })
    const cli = await startCli(sim.address, sim.prefix, [
      '--auto_start',
      '--state_file',
      file,
      '--data_send_timeout_ms',
      '100',
    ])
    // A data consumer that never reads (its queue fills) and no image consumer at all.
    const stuck = new zmq.Pull({ linger: 0, receiveHighWaterMark: 1 })
    stuck.connect(`tcp://127.0.0.1:${cli.dataPort}`)
    // An idle keep-alive HTTP connection, as a browser or a client session leaves behind.
    const agent = new Agent({ keepAlive: true })
    await new Promise<void>((resolve, reject) => {
      const req = request(`${cli.base}/status`, { agent })
      req.on('response', (r) => {
        r.resume()
        r.on('end', () => resolve())
      })
      req.on('error', reject)
      req.end()
    })
    try {
      const client = new PsenProcessingClient(cli.base)
      await client.set_roi_signal([0, 512, 0, 256])
      await waitFor('frames and drops', async () => {
        const s = await client.get_statistics()
        return (s.n_processed_images as number) > 200 && (s.n_dropped_data as number) > 0
      })
      // A settings change in flight when the signal arrives.
      const inFlight = client.set_roi_background([0, 512, 0, 16]).catch(() => undefined)
      const t0 = performance.now()
      cli.child.kill(signal)
      const code = await cli.exited
      const ms = performance.now() - t0
      await inFlight
      assert.is(code, 0, `exit code (output: ${cli.output().slice(-500)})`)
      assert.ok(ms < LIMIT_MS, `${signal}: the process took ${ms.toFixed(0)} ms to exit`)
      const saved = JSON.parse(await readFile(file, 'utf8')) as { roi_signal: number[] }
      assert.equal(saved.roi_signal, [0, 512, 0, 256])
      console.log(
        `  faults-signals: ${signal} mid-stream -> exit ${code} after ` + `${ms.toFixed(0)} ms`,
      )
    } finally {
      stuck.close()
      agent.destroy()
      await cli.stop()
      await sim.close()
      await rm(dir, { recursive: true, force: true })
    }
  })
}

test.run()
