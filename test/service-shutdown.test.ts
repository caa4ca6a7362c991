// A shutdown that cannot finish within the grace period ends the process anyway, with a
// non-zero exit code and a log line saying why (systemd and docker then see a failure).
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { PsenProcessingClient } from '../src/client/client.js'
import { startSimulator } from '../src/sim/simulator.js'
import { startCli, waitFor } from './helpers/service.js'

test('a forced exit after the shutdown grace period exits non-zero and says so', async () => {
  const sim = await startSimulator({ rate: 200, width: 128, height: 64 })
  // No data consumer, a queue of one and a one-minute wait for room: the processing loop sits
  // in that wait, and stopping it has to wait too, longer than the grace period.
  const cli = await startCli(sim.address, sim.prefix, [
    '--auto_start',
    '--data_queue',
    '1',
    '--data_send_timeout_ms',
    '60000',
    '--log_level',
    'INFO',
  ])
  try {
    const client = new PsenProcessingClient(cli.base)
    await client.set_roi_signal([0, 128, 20, 20])
    await waitFor(
      'the loop waiting for room in the data queue',
      async () => ((await client.get_statistics()).n_received_images as number) >= 2,
    )
  } finally {
    const code = await cli.stop()
    await sim.close()
    assert.is(code, 1, `exit code ${code}`)
    assert.match(cli.output(), /shutdown did not finish in time; exiting anyway/)
  }
})

test.run()
