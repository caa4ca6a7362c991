// Settings under stress: 1,000 concurrent ROI and parameter updates while frames stream (every
// frame is processed with one set that really existed, in order, bit-exact), and SIGKILL in the
// middle of a burst of updates (after a restart the state file holds the last acknowledged
// state, or the one whose answer the kill cut off).
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { decodeValue, type BsreadMessage } from '../src/bsread/decoder.js'
import { PsenProcessingClient } from '../src/client/client.js'
import { startSimulator } from '../src/sim/simulator.js'
import { loadCodec } from './helpers/bsread.js'
import { StreamReader, api, sleep, startCli, waitFor, type CliProcess } from './helpers/service.js'
import { xProfileRef } from './reference/profile.js'

const test = suite('faults-settings')

type Json = Record<string, unknown>

/** JSON with sorted keys, to compare parameter sets whatever their key order. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`
  if (v !== null && typeof v === 'object') {
    const o = v as Json
    const keys = Object.keys(o).sort()
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`).join(',')}}`
  }
  return JSON.stringify(v)
}

const post = (base: string, path: string, body: unknown): Promise<Response> =>
  fetch(base + path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  })

test('1,000 concurrent ROI and parameter updates while streaming: one set per frame', async () => {
  const sim = await startSimulator({ rate: 200, width: 256, height: 128 })
  const cli = await startCli(sim.address, sim.prefix, ['--auto_start'])
  const data = new StreamReader(`tcp://127.0.0.1:${cli.dataPort}`)
  const images = new StreamReader(`tcp://127.0.0.1:${cli.imagePort}`)
  const codec = await loadCodec()
  const N = (q: string): string => `${sim.prefix}:FPICTURE.${q}`
  const paramsOf = (m: BsreadMessage): string =>
    canonical(JSON.parse(decodeValue(m.value(N('processing_parameters'))!) as string))
  try {
    const client = new PsenProcessingClient(cli.base)
    await client.set_roi_signal([0, 256, 0, 128])
    await client.set_roi_background([0, 256, 0, 10])
    const start: Json = {
      roi_signal: await client.get_roi_signal(),
      roi_background: await client.get_roi_background(),
      ...(await client.get_parameters()),
    }
    // Frames still in flight from before the two ROIs would be in no state below: wait for the
    // first frame computed with both (frames come in order), then drop everything before.
    await waitFor('frames with the start settings', () =>
      data.messages.some((m) => paramsOf(m) === canonical(start)),
    )
    data.messages.splice(0)
    images.messages.splice(0)

    // 600 signal ROIs, 100 background ROIs, 300 parameter sets, all in flight at once.
    const jobs: Array<Promise<Response>> = []
    for (let i = 0; i < 1000; i++) {
      const j = Math.floor(i / 10)
      if (i % 10 < 6) {
        jobs.push(post(cli.base, '/roi_signal', [i % 100, 1 + (i % 150), i % 60, 1 + (i % 60)]))
      } else if (i % 10 === 6) {
        jobs.push(post(cli.base, '/roi_background', [0, 256, j % 50, 1 + (j % 20)]))
      } else {
        jobs.push(
          post(cli.base, '/parameters', {
            step_length: 2 + (i % 40),
            edge_type: i % 20 < 10 ? 'falling' : 'rising',
          }),
        )
      }
    }
    const answers = await Promise.all(jobs)
    for (const r of answers) {
      assert.is(r.status, 200)
      assert.is(((await r.json()) as Json).state, 'ok')
    }
    const n = data.messages.length
    await waitFor('frames after the burst', () => data.messages.length > n + 20)

    // Every state the service went through, in the order it applied the changes.
    const history = ((await client.get_history()) as Array<{ endpoint: string; new: unknown }>)
      .slice(0, 1000)
      .reverse()
    assert.is(history.length, 1000, 'every change recorded')
    const states: string[] = [canonical(start)]
    let cur: Json = { ...start }
    for (const h of history) {
      if (h.endpoint === 'POST /roi_signal') cur = { ...cur, roi_signal: h.new }
      else if (h.endpoint === 'POST /roi_background') cur = { ...cur, roi_background: h.new }
      else if (h.endpoint === 'POST /parameters') cur = { ...cur, ...(h.new as Json) }
      else assert.unreachable(`unexpected change ${h.endpoint}`)
      states.push(canonical(cur))
    }
    assert.is(
      canonical({
        roi_signal: await client.get_roi_signal(),
        roi_background: await client.get_roi_background(),
        ...(await client.get_parameters()),
      }),
      states[states.length - 1],
      'the last change applied is the one in force',
    )

    // Each frame: parameters equal to one of those states, never older than its predecessor's,
    // and profiles computed with exactly those ROIs (checked against the forwarded image).
    // First wait until a frame with the last state is out on both streams.
    await waitFor('a frame with the last settings on both streams', () => {
      const m = data.messages.findLast((x) => paramsOf(x) === states[states.length - 1])
      return m !== undefined && images.messages.some((i) => i.pulseId >= m.pulseId)
    })
    const imageOf = new Map<bigint, BsreadMessage>(images.messages.map((m) => [m.pulseId, m]))
    let at = 0
    let distinct = 0
    let last = ''
    let checked = 0
    for (const m of data.messages) {
      const text = decodeValue(m.value(N('processing_parameters'))!) as string
      const p = JSON.parse(text) as Json
      const c = canonical(p)
      let k = at
      while (k < states.length && states[k] !== c) k++
      assert.ok(
        k < states.length,
        `pulse ${m.pulseId}: parameters ${text} were never in force ` + '(or went back in time)',
      )
      at = k
      if (c !== last) distinct++
      last = c
      const img = imageOf.get(m.pulseId)
      // The image stream may drop (it never waits); those frames are checked by order only.
      if (!img) continue
      checked++
      const pixels = decodeValue(img!.value(`${sim.prefix}:FPICTURE`)!, codec) as Uint16Array
      const bytes = new Uint8Array(pixels.buffer, pixels.byteOffset, pixels.byteLength)
      for (const which of ['roi_signal', 'roi_background'] as const) {
        const roi = p[which] as [number, number, number, number]
        // A one-column profile decodes as a scalar (shape [1]).
        const got = decodeValue(m.value(N(`${which}_x_profile`))!) as bigint | BigUint64Array
        const want = xProfileRef(bytes, 256, 'uint16', false, roi) as BigUint64Array
        assert.equal(
          typeof got === 'bigint' ? [got] : [...got],
          [...want],
          `${which} of ${m.pulseId}`,
        )
      }
    }
    assert.ok(checked > data.messages.length / 2, `${checked} frames checked bit-exact`)
    console.log(
      `  faults-settings: 1000 concurrent updates; ${data.messages.length} frames saw ` +
        `${distinct} distinct settings, all consistent and in order (${checked} bit-exact)`,
    )
  } finally {
    await data.close()
    await images.close()
    assert.is(await cli.stop(), 0)
    await sim.close()
  }
})

test('SIGKILL during update bursts: the state file holds the last acknowledged state', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'psen-faults-'))
  const file = join(dir, 'state.json')
  const sim = await startSimulator({ rate: 100, width: 128, height: 64 })
  let cli: CliProcess | undefined
  // Last acknowledged change of each kind, and the one whose answer the kill may have cut off.
  let ackRoi: unknown
  let ackStep: unknown
  let flightRoi: unknown
  let flightStep: unknown
  const check = (where: string, roi: unknown, step: unknown): void => {
    assert.ok(
      canonical(roi) === canonical(ackRoi) || canonical(roi) === canonical(flightRoi),
      `${where}: roi ${JSON.stringify(roi)}; acknowledged ${JSON.stringify(ackRoi)}, in flight ` +
        JSON.stringify(flightRoi),
    )
    assert.ok(
      step === ackStep || step === flightStep,
      `${where}: step_length ${String(step)}; ` +
        `acknowledged ${String(ackStep)}, in flight ${String(flightStep)}`,
    )
  }
  const current = async (base: string): Promise<[unknown, unknown]> => [
    (await api(base, 'GET', '/roi_signal')).body.roi_signal,
    ((await api(base, 'GET', '/parameters')).body.parameters as Json).step_length,
  ]
  let acked = 0
  try {
    let i = 0
    for (let round = 0; round < 4; round++) {
      cli = await startCli(sim.address, sim.prefix, ['--auto_start', '--state_file', file])
      const base = cli.base
      const [roi0, step0] = await current(base)
      if (round > 0) check(`after restart ${round}`, roi0, step0)
      ackRoi = roi0
      ackStep = step0
      flightRoi = undefined
      flightStep = undefined
      let stop = false
      // Two writers, back to back, each waiting for its answer, while frames stream.
      const roiWriter = (async () => {
        while (!stop) {
          const roi = [i % 100, 1 + (i % 27), 0, 1 + (i % 60)]
          i++
          flightRoi = roi
          try {
            const r = await post(base, '/roi_signal', roi)
            if (((await r.json()) as Json).state !== 'ok') throw new Error('refused')
            ackRoi = roi
            acked++
          } catch {
            return
          }
        }
      })()
      const stepWriter = (async () => {
        while (!stop) {
          const step = 2 + (i++ % 1000)
          flightStep = step
          try {
            const r = await post(base, '/parameters', { step_length: step })
            if (((await r.json()) as Json).state !== 'ok') throw new Error('refused')
            ackStep = step
            acked++
          } catch {
            return
          }
        }
      })()
      await sleep(300 + Math.random() * 500) // the scenario: SIGKILL at a random moment
      cli.child.kill('SIGKILL')
      assert.is(await cli.exited, 'SIGKILL')
      stop = true
      await Promise.all([roiWriter, stepWriter])
      // The file itself is whole, valid JSON with one of the allowed states.
      const saved = JSON.parse(await readFile(file, 'utf8')) as Json
      check(
        `state file after kill ${round}`,
        saved.roi_signal,
        (saved.parameters as Json).step_length,
      )
    }
    cli = await startCli(sim.address, sim.prefix, ['--state_file', file])
    const [roi, step] = await current(cli.base)
    check('after the last restart', roi, step)
    assert.equal(
      (await readdir(dir)).filter((f) => f.includes('tmp')),
      [],
      'no temp files left',
    )
    console.log(
      `  faults-settings: 4 SIGKILLs during ${acked} acknowledged updates; ` +
        'every restart came back with the last acknowledged (or in-flight) state',
    )
  } finally {
    if (cli) await cli.stop()
    await sim.close()
    await rm(dir, { recursive: true, force: true })
  }
})

test.run()
