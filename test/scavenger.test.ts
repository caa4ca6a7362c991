// The ingest thread's young-generation collections (src/processing/scavenger.ts): a scavenge
// after every so many received bytes, run through V8's own gc function.
import { constants, PerformanceObserver } from 'node:perf_hooks'
import vm from 'node:vm'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { FrameScavenger, minorCollector, SCAVENGE_BYTES } from '../src/processing/scavenger.js'
import { waitFor } from './helpers/wait.js'

const test = suite('scavenger')

test('one collection after every SCAVENGE_BYTES received, not before', () => {
  let runs = 0
  const s = new FrameScavenger(() => runs++)
  const frame = 5.5e6
  assert.ok(2 * frame < SCAVENGE_BYTES && SCAVENGE_BYTES <= 3 * frame, 'every third camera frame')
  for (let i = 0; i < 2; i++) s.frameDone(frame)
  assert.is(runs, 0, 'two 5.5 MB frames stay below 12 MiB')
  s.frameDone(frame)
  assert.is(runs, 1, 'the third crosses it')
  for (let i = 0; i < 30; i++) s.frameDone(frame)
  // A collection resets the count: every third 5.5 MB frame.
  assert.is(s.count, 11)
  assert.is(runs, 11)
  const small = new FrameScavenger(() => runs++, 1000)
  small.frameDone(999)
  assert.is(small.count, 0)
  small.frameDone(1)
  assert.is(small.count, 1)
})

test('minorCollector runs a real scavenge and leaves --expose-gc off', async () => {
  const collect = minorCollector()
  assert.ok(collect, "V8's gc function is available")
  const kinds: number[] = []
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      kinds.push((e as { detail?: { kind?: number } }).detail?.kind ?? -1)
    }
  })
  observer.observe({ entryTypes: ['gc'] })
  try {
    collect()
    await waitFor('a minor GC entry', () => kinds.includes(constants.NODE_PERFORMANCE_GC_MINOR))
  } finally {
    observer.disconnect()
  }
  assert.not.ok(kinds.includes(constants.NODE_PERFORMANCE_GC_MAJOR), 'no mark-compact asked for')
  assert.is(vm.runInNewContext('typeof gc'), 'undefined', 'later contexts get no gc global')
})

test.run()
