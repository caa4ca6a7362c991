// The upstream camera process is killed (SIGKILL) and restarted on the same port: the service
// reconnects by itself and processing resumes with no REST call, for PULL and SUB inputs.
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { PsenProcessingClient } from '../src/client/client.js'
import { metricValue, scrape } from './helpers/metrics.js'
import { freePort } from './helpers/ports.js'
import { StreamReader, runCli, sleep, startCli, waitFor } from './helpers/service.js'

const test = suite('faults-upstream')

/** `psen-processing simulate` as its own process on a fixed port. */
function camera(
  port: number,
  startPulseId: bigint,
  mode: 'push' | 'pub',
): ReturnType<typeof runCli> {
  return runCli([
    'simulate',
    '--port',
    String(port),
    '--interface',
    '127.0.0.1',
    '--mode',
    mode,
    '--prefix',
    'UPCAM',
    '--width',
    '256',
    '--height',
    '128',
    '--rate',
    '100',
    '--start_pulse_id',
    String(startPulseId),
    '--log_level',
    'WARNING',
  ])
}

for (const mode of ['push', 'pub'] as const) {
  test(`upstream (${mode}) SIGKILLed and restarted on its port: processing resumes`, async () => {
    const port = await freePort()
    let cam = camera(port, 1_000_000n, mode)
    const cli = await startCli(`tcp://127.0.0.1:${port}`, 'UPCAM', [
      '--auto_start',
      '--input_mode',
      mode === 'push' ? 'pull' : 'sub',
    ])
    const data = new StreamReader(`tcp://127.0.0.1:${cli.dataPort}`)
    const client = new PsenProcessingClient(cli.base)
    try {
      await client.set_roi_signal([0, 256, 40, 40])
      await waitFor(
        'frames from the first camera',
        () => data.messages.some((m) => m.pulseId >= 1_000_010n),
        20_000,
      )
      cam.child.kill('SIGKILL')
      assert.is(await cam.exited, 'SIGKILL')
      const killedAt = Date.now()
      await sleep(1000) // the scenario: the camera stays down for 1 s before it comes back
      const quiet = await client.get_statistics()
      data.messages.splice(0)
      // Same port, new pulse ids: only frames of the new process count as resumed.
      cam = camera(port, 5_000_000n, mode)
      const resumed = await waitFor(
        'frames from the restarted camera',
        () => data.messages.find((m) => m.pulseId >= 5_000_000n),
        20_000,
      )
      const ms = Date.now() - killedAt
      assert.ok(resumed.value('UPCAM:FPICTURE.roi_signal_x_profile'), 'processed with the ROI')
      assert.is(await client.get_status(), 'processing', 'never stopped')
      const s = await client.get_statistics()
      assert.ok((s.n_processed_images as number) > (quiet.n_processed_images as number))
      assert.is(s.loop_restarts, 0, 'reconnecting is not a failure')
      assert.ok((s.n_pulse_id_gaps as number) >= 1, 'the jump in pulse ids is counted as a gap')
      const m = await scrape(cli.base)
      assert.ok(metricValue(m, 'psen_input_disconnects_total') >= 1, 'the lost connection counted')
      console.log(
        `  faults-upstream (${mode}): processing resumed ${ms} ms after the kill ` +
          '(1 s of it the camera was down)',
      )
    } finally {
      cam.child.kill('SIGKILL')
      await cam.exited
      await data.close()
      assert.is(await cli.stop(), 0)
    }
  })
}

test.run()
