// Small pieces of the service on their own: ROI validation order and messages, the Python
// timestamp format, exact 64-bit JSON, settings snapshots and run statistics.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { stringifyJson } from '../src/api/json.js'
import { parameterModel } from '../src/processing/parameters.js'
import { roiFits } from '../src/kernel/profiles.js'
import { RoiError, validateRoi } from '../src/processing/roi.js'
import { makeSnapshot } from '../src/processing/settings.js'
import { pythonTimestamp, RunStatistics } from '../src/processing/statistics.js'

test('validateRoi: valid forms, normalisation and the old messages in order', () => {
  assert.equal(validateRoi(null), [])
  assert.equal(validateRoi(undefined), [])
  assert.equal(validateRoi([]), [])
  assert.equal(validateRoi([0, 1, 0, 1]), [0, 1, 0, 1])
  assert.equal(validateRoi([-0, 5, 3, 2]), [0, 5, 3, 2])
  const cases: Array<[unknown, string]> = [
    [{}, 'ROI must be an instance of a list, but {} was given as a object.'],
    ['x', "ROI must be an instance of a list, but 'x' was given as a string."],
    [[1, 2, 3], 'ROI must have exactly 4 elements, but [1, 2, 3] was given.'],
    // Length is checked before the values, offsets before sizes, as the old service did.
    [[-1, 0, 'a'], 'ROI must have exactly 4 elements'],
    [
      [-1, 0, 0, 0],
      'ROI offsets (first and third elements) must be positive, ' + 'but [-1, 0, 0, 0] was given.',
    ],
    [
      [0, 0, 0, 1],
      'ROI sizes (second and fourth elements) must be at least 1, ' + 'but [0, 0, 0, 1] was given.',
    ],
    [[0, 1, 0, 0.5], 'ROI values must be integers'],
    [[0, 2 ** 25, 0, 1], 'ROI offset + size must be at most'],
  ]
  for (const [value, message] of cases) {
    try {
      validateRoi(value)
      assert.unreachable(JSON.stringify(value))
    } catch (err) {
      assert.instance(err, RoiError)
      assert.ok((err as Error).message.startsWith(message), (err as Error).message)
    }
  }
  assert.ok(roiFits([0, 10, 0, 5], 10, 5))
  assert.not.ok(roiFits([1, 10, 0, 5], 10, 5))
  // One rule, the kernel's: an empty ROI selects nothing, so it never "fits".
  assert.not.ok(roiFits([], 1, 1))
})

test('pythonTimestamp: str(datetime.now()) format, fraction left out when zero', () => {
  const d = new Date(2026, 10, 25, 9, 8, 7, 123)
  assert.is(pythonTimestamp(d), '2026-11-25 09:08:07.123000')
  assert.is(pythonTimestamp(new Date(2026, 0, 2, 3, 4, 5, 0)), '2026-01-02 03:04:05')
})

test('stringifyJson: exact 64-bit integers, NaN as null', () => {
  const big = 2n ** 63n - 1n
  assert.is(
    stringifyJson({ a: big, b: [1n, -5n], c: NaN, d: 'x' }),
    `{"a":${big},"b":[1,-5],"c":null,"d":"x"}`,
  )
  assert.is(stringifyJson({ plain: 1 }), '{"plain":1}')
})

test('snapshots: immutable, one JSON per change, ROIs first', () => {
  const p = parameterModel.defaults()
  const s = makeSnapshot(parameterModel, 7, [1, 2, 3, 4], [], p)
  assert.is(s.version, 7)
  assert.ok(Object.isFrozen(s) && Object.isFrozen(s.roiSignal) && Object.isFrozen(s.parameters))
  const json = JSON.parse(s.json) as Record<string, unknown>
  assert.equal(Object.keys(json).slice(0, 2), ['roi_signal', 'roi_background'])
  assert.equal(json.roi_signal, [1, 2, 3, 4])
  assert.is(json.step_length, 50)
})

test('run statistics: gaps, percentiles, input rate', () => {
  const r = new RunStatistics()
  assert.is(r.inputRate(0), 0)
  assert.ok(Number.isNaN(r.percentile(50)))
  for (let i = 0; i < 100; i++) r.received(BigInt(i === 50 ? 1000 : i), i * 10)
  assert.is(r.nReceived, 100)
  assert.is(r.nPulseIdGaps, 2, 'into and out of the jump')
  assert.ok(Math.abs(r.inputRate(990) - 100) < 1e-9, String(r.inputRate(990)))
  assert.is(r.inputRate(990 + 2001), 0, 'quiet input')
  for (let i = 1; i <= 100; i++) r.processed(i)
  assert.is(r.percentile(50), 50)
  assert.is(r.percentile(99), 99)
  r.error('missing_image', 'no image')
  assert.is(r.errors.missing_image, 1)
  assert.is(r.lastError?.cause, 'missing_image')
})

test.run()

test('parameterModel.upgradeSaved: parameters saved before edge_method keep the step method', () => {
  const old = { step_length: 40, reference: { mode: 'pulse_modulo', period: 4, phase: 0 } }
  const upgraded = parameterModel.merge(parameterModel.defaults(), parameterModel.upgradeSaved(old))
  assert.is(upgraded.edge_method, 'step')
  assert.is(upgraded.minimum_confidence, null)
  assert.is(upgraded.step_length, 40)
  // New installations (nothing saved) and states saved by this version are left as they are.
  assert.equal(parameterModel.upgradeSaved({}), {})
  const current = parameterModel.toJson(parameterModel.defaults())
  assert.equal(parameterModel.upgradeSaved(current), current)
  assert.is(parameterModel.defaults().edge_method, 'learned')
})
