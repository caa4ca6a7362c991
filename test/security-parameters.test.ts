// Parameter strings and lists are bounded: a request cannot make the service keep (and compare
// every frame against) megabytes of event values or a channel name of any length. The HTTP body
// limit (64 KiB) bounds a request; these bounds hold for every value it may carry.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { defaultParameters, parseParameterUpdate } from '../src/processing/parameters.js'

const event = (patch: Record<string, unknown>) =>
  parseParameterUpdate(defaultParameters(), {
    reference: { mode: 'event_channel', channel: 'SAR:EVT', ...patch },
  })

test('event-channel names, values and value lists have upper bounds', () => {
  assert.ok(event({ xray_values: Array.from({ length: 64 }, (_, i) => i) }).ok, '64 values')
  assert.ok(event({ channel: 'C'.repeat(256) }).ok)
  const refused: Array<[string, Record<string, unknown>]> = [
    ['a long channel name', { channel: 'C'.repeat(257) }],
    ['65 X-ray values', { xray_values: Array.from({ length: 65 }, (_, i) => i) }],
    ['65 reference values', { reference_values: Array.from({ length: 65 }, (_, i) => i) }],
    ['a long string value', { xray_values: ['v'.repeat(257)] }],
  ]
  for (const [what, patch] of refused) {
    const r = event(patch)
    assert.not.ok(r.ok, what)
    if (!r.ok) assert.match(r.errors.join('; '), /reference\./, what)
  }
})

test.run()
