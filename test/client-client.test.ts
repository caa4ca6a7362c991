// The typed client (exported from the package) against the real CLI: every Python method name,
// the camelCase aliases, return values as the Python client returned them, and errors raised
// with the service's status message.
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { PsenClientError, PsenProcessingClient } from '../src/index.js'
import { freePort } from './helpers/ports.js'
import { startCli, type CliProcess } from './helpers/service.js'

interface Ctx {
  cli: CliProcess
  client: PsenProcessingClient
}
const test = suite<Ctx>('client')

test.before(async (ctx) => {
  ctx.cli = await startCli('tcp://127.0.0.1:9', 'CLIENT-TEST', ['--api_token', 'tkn'])
  ctx.client = new PsenProcessingClient(`${ctx.cli.base}/`, { apiToken: 'tkn' })
})

test.after(async (ctx) => {
  assert.is(await ctx.cli?.stop(), 0)
})

test('the Python client classic interaction', async ({ client }) => {
  assert.is(await client.get_status(), 'stopped')
  assert.equal(await client.get_roi_signal(), [])
  assert.equal(await client.get_roi_background(), [])
  assert.equal(await client.set_roi_signal(null), [])
  assert.equal(await client.get_roi_signal(), [])
  try {
    await client.set_roi_signal([-1, -1, -1, -1])
    assert.unreachable('negative offsets accepted')
  } catch (err) {
    assert.instance(err, PsenClientError)
    assert.match((err as Error).message, /^ROI offsets/)
    assert.is((err as PsenClientError).httpStatus, 200)
  }
  assert.equal(await client.set_roi_signal([0, 1024, 0, 1024]), [0, 1024, 0, 1024])
  assert.equal(await client.get_roi_signal(), [0, 1024, 0, 1024])
  assert.equal(await client.set_roi_background([0, 100, 0, 100]), [0, 100, 0, 100])
  assert.equal(await client.get_roi_background(), [0, 100, 0, 100])
  assert.equal(await client.get_statistics(), {})
  assert.is(await client.start(), 'processing')
  assert.is(await client.get_status(), 'processing')
  const s = await client.get_statistics()
  assert.ok('processing_start_time' in s)
  assert.is(s.n_processed_images, 0)
  assert.is(await client.stop(), 'stopped')
  assert.is(await client.start(), 'processing')
  assert.is(await client.stop(), 'stopped')
  assert.is(client.get_address(), client.address)
})

test('every ROI error case raises with the service message', async ({ client }) => {
  const cases: Array<[unknown, RegExp]> = [
    [{ x: 1 }, /^ROI must be an instance of a list/],
    ['abc', /^ROI must be an instance of a list/],
    [[1, 2], /^ROI must have exactly 4 elements/],
    [[0, 1, -5, 1], /^ROI offsets/],
    [[0, 1, 0, 0], /^ROI sizes/],
    [[0, 1.5, 0, 1], /^ROI values must be integers/],
  ]
  await client.set_roi_background([1, 1, 1, 1])
  for (const [roi, why] of cases) {
    try {
      await client.set_roi_background(roi as number[])
      assert.unreachable(JSON.stringify(roi))
    } catch (err) {
      assert.instance(err, PsenClientError)
      assert.match((err as Error).message, why)
    }
    assert.equal(await client.getRoiBackground(), [1, 1, 1, 1])
  }
  assert.equal(await client.set_roi_background([]), [])
})

test('camelCase aliases, parameters and history', async ({ client }) => {
  assert.is(await client.getStatus(), 'stopped')
  assert.equal(await client.setRoiSignal([1, 2, 3, 4]), [1, 2, 3, 4])
  assert.equal(await client.getRoiSignal(), [1, 2, 3, 4])
  assert.equal(await client.setRoiBackground(null), [])
  const p = await client.getParameters()
  assert.is(p.edge_type, 'falling')
  const q = await client.setParameters({ edge_type: 'rising', refinement_step: 0.5 })
  assert.is(q.edge_type, 'rising')
  assert.is(q.refinement_step, 0.5)
  try {
    await client.set_parameters({ edge_type: 'sideways' })
    assert.unreachable()
  } catch (err) {
    assert.match((err as Error).message, /^Invalid parameters: edge_type/)
  }
  const h = (await client.getHistory()) as Array<{ endpoint: string }>
  assert.is(h[0]!.endpoint, 'POST /parameters')
  assert.is(typeof (await client.getStatistics()), 'object')
})

test('errors: wrong token, nothing listening', async ({ cli }) => {
  const anon = new PsenProcessingClient(cli.base)
  assert.is(await anon.get_status(), 'stopped', 'reads need no token')
  try {
    await anon.start()
    assert.unreachable()
  } catch (err) {
    assert.instance(err, PsenClientError)
    assert.is((err as PsenClientError).httpStatus, 401)
    assert.match((err as Error).message, /Unauthorized/)
  }
  const gone = new PsenProcessingClient(`http://127.0.0.1:${await freePort()}`, { timeoutMs: 2000 })
  try {
    await gone.get_status()
    assert.unreachable()
  } catch (err) {
    assert.instance(err, PsenClientError)
    assert.is((err as PsenClientError).httpStatus, 0)
    assert.match((err as Error).message, /cannot reach/)
  }
})

test.run()
