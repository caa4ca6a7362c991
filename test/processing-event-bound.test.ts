// The event channel (reference mode event_channel) is decoded with a small bound: a message
// whose event value is an array of a million elements is not an event, and decoding it must
// not build a million-element JS array per frame.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { ChannelInfo } from '../src/bsread/types.js'
import { Kernel } from '../src/kernel/kernel.js'
import { FinderStage } from '../src/processing/edge-stage.js'
import { EdgeStatus, parameterModel } from '../src/processing/parameters.js'
import { makeSnapshot } from '../src/processing/settings.js'

const N = 64

async function stage() {
  const kernel = await Kernel.load()
  const edge = new FinderStage(kernel)
  const params = parameterModel.merge(parameterModel.defaults(), {
    reference: { mode: 'event_channel', channel: 'EVT', xray_values: [true] },
  })
  const snapshot = makeSnapshot(parameterModel, 1, [0, N, 0, 1], [], params)
  // A signal profile in kernel memory, as the pipeline hands it over.
  const region = kernel.region()
  const ptr = region.ensure(N * 8)
  new BigUint64Array(kernel.exports.memory.buffer, ptr, N).fill(1000n)
  const signal = { ptr, length: N, kind: 'uint64' as const }
  return (event: { info: ChannelInfo; bytes: Buffer }) =>
    edge.process({
      pulseId: 1n,
      snapshot,
      signal,
      background: undefined,
      reference: undefined,
      event,
      problem: undefined,
    }).edge_status
}

const bool = (n: number): ChannelInfo => ({
  name: 'EVT',
  type: 'bool',
  shape: [n],
  encoding: 'little',
  compression: 'none',
})

test('a scalar or small event value decides the shot type', async () => {
  const run = await stage()
  // X-ray shot without references yet: not a missing event.
  assert.is(run({ info: bool(1), bytes: Buffer.from([1]) }), EdgeStatus.no_reference_yet)
  assert.is(run({ info: bool(16), bytes: Buffer.alloc(16, 1) }), EdgeStatus.no_reference_yet)
})

test('an event value of 1 MiB is no event value (bounded decode)', async () => {
  const run = await stage()
  const n = 1 << 20
  assert.is(run({ info: bool(n), bytes: Buffer.alloc(n, 1) }), EdgeStatus.no_event_value)
  const f64: ChannelInfo = { ...bool(n), type: 'float64' }
  assert.is(run({ info: f64, bytes: Buffer.alloc(8 * n) }), EdgeStatus.no_event_value)
})

test.run()
