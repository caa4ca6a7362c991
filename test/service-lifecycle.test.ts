// Lifecycle and faults against the real CLI: start/stop cycles without leaking descriptors,
// running with no consumers, bad frames counted per cause while the loop goes on, an upstream
// restart, and SIGTERM mid-stream.
import { readdirSync } from 'node:fs'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { decodeValue, type BsreadMessage } from '../src/bsread/decoder.js'
import { BsreadEncoder, preEncoded } from '../src/bsread/encoder.js'
import { BsreadSender } from '../src/bsread/sender.js'
import type { ChannelInfo } from '../src/bsread/types.js'
import { PsenProcessingClient } from '../src/client/client.js'
import { startSimulator, type Simulator } from '../src/sim/simulator.js'
import { StreamReader, sleep, startCli, waitFor, type CliProcess } from './helpers/service.js'

const test = suite('service-lifecycle')

function openFds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length
}

async function stats(client: PsenProcessingClient): Promise<Record<string, unknown>> {
  return client.get_statistics()
}

test('20 start/stop cycles while frames stream in, without leaking descriptors', async () => {
  const sim: Simulator = await startSimulator({ rate: 200, width: 128, height: 64 })
  const cli = await startCli(sim.address, sim.prefix)
  try {
    const client = new PsenProcessingClient(cli.base)
    await client.set_roi_signal([0, 128, 20, 20])
    const pid = cli.child.pid!
    // One cycle first: lazily created resources (kernel regions, zmq I/O threads) exist after it.
    await client.start()
    await waitFor('frames', async () => ((await stats(client)).n_received_images as number) > 0)
    await client.stop()
    const before = openFds(pid)
    for (let i = 0; i < 20; i++) {
      assert.is(await client.start(), 'processing')
      if (i % 5 === 0) {
        await waitFor(
          'frames in this run',
          async () => ((await stats(client)).n_received_images as number) > 0,
        )
      }
      assert.is(await client.stop(), 'stopped')
    }
    // A leak costs at least one descriptor per cycle (a zmq socket takes several): 20 or more.
    // A few come and go with HTTP keep-alive connections and libzmq's I/O threads, so allow 8;
    // on a loaded machine those transient ones take a moment to close (seen: +12 after 300 ms
    // in a CI run, +2..+8 after 60 cycles otherwise), so the count may settle for up to 3 s.
    const after = await waitFor(
      'descriptors to settle',
      () => {
        const n = openFds(pid)
        return n <= before + 8 && n
      },
      3000,
      100,
    ).catch(() => openFds(pid))
    assert.ok(after <= before + 8, `descriptors: ${before} before, ${after} after 20 cycles`)
    assert.is(await client.get_status(), 'stopped')
  } finally {
    assert.is(await cli.stop(), 0)
    await sim.close()
  }
})

test('no consumers: processing goes on, 100 messages wait, the rest are dropped', async () => {
  const sim = await startSimulator({ rate: 500, width: 256, height: 128 })
  const cli = await startCli(sim.address, sim.prefix, ['--auto_start'])
  try {
    const client = new PsenProcessingClient(cli.base)
    await client.set_roi_signal([0, 256, 60, 20])
    await waitFor(
      'frames processed with no consumer',
      async () => ((await stats(client)).n_processed_images as number) > 200,
    )
    assert.is(await client.stop(), 'stopped', 'stop is prompt with nobody reading')
    const s = await stats(client)
    assert.ok((s.n_dropped_data as number) > 0, 'data drops counted')
    assert.ok((s.n_dropped_images as number) > 0, 'image drops counted')
    assert.is(s.last_sent_pulse_id, null, 'nothing reached a socket')
    assert.is((s.n_processed_images as number) - (s.n_dropped_data as number), 100)
    // A consumer that connects later gets the queued messages (the first 100 processed), in order.
    const data = new StreamReader(`tcp://127.0.0.1:${cli.dataPort}`)
    const image = new StreamReader(`tcp://127.0.0.1:${cli.imagePort}`)
    const got = await data.take(100)
    const imgs = await image.take(100)
    for (let i = 1; i < got.length; i++) assert.ok(got[i]!.pulseId > got[i - 1]!.pulseId)
    assert.ok(got[99]!.pulseId <= BigInt(s.last_received_pulse_id as number))
    assert.equal(
      imgs.map((m) => m.pulseId),
      got.map((m) => m.pulseId),
    )
    const after = await stats(client)
    assert.is(after.last_sent_pulse_id, Number(got[99]!.pulseId))
    await sleep(300) // a quiet period: nothing more may arrive
    assert.is(data.messages.length, 0, 'no more than the queue held')
    await data.close()
    await image.close()
  } finally {
    assert.is(await cli.stop(), 0)
    await sim.close()
  }
})

test('bad frames are counted per cause and still get processing_parameters', async () => {
  const sender = await BsreadSender.bind({ address: 'tcp://127.0.0.1:*', sendTimeoutMs: 5000 })
  const cli = await startCli(sender.endpoint, 'FAULT', ['--auto_start'])
  const data = new StreamReader(`tcp://127.0.0.1:${cli.dataPort}`)
  const enc = new BsreadEncoder()
  const info = (name: string, type: ChannelInfo['type'], shape: number[]): ChannelInfo => ({
    name,
    type,
    shape,
    encoding: 'little',
    compression: 'none',
  })
  try {
    const client = new PsenProcessingClient(cli.base)
    await client.set_roi_signal([0, 8, 0, 4])
    await client.set_roi_background([4, 4, 2, 2])
    await data.connected
    let pid = 1n
    const put = async (channels: Array<{ info: ChannelInfo; value: unknown }>): Promise<void> => {
      const parts = enc.encode({
        pulseId: pid++,
        globalTimestamp: { sec: 1, ns: 2 },
        channels: channels.map((c) => ({ info: c.info, value: c.value as never })),
      })
      assert.ok(await sender.send(parts))
    }
    const img = new Uint16Array(16 * 8).fill(3)
    await put([{ info: info('OTHER:X', 'float64', [1]), value: 1 }]) // no image
    await put([{ info: info('FAULT:FPICTURE', 'string', [1]), value: 'not a picture' }]) // type
    await put([{ info: info('FAULT:FPICTURE', 'uint16', [16 * 8]), value: img }]) // 1-D
    // ROIs outside the frame
    const small = info('FAULT:FPICTURE', 'uint16', [6, 2])
    await put([{ info: small, value: preEncoded(new Uint8Array(24)) }])
    await put([{ info: info('FAULT:FPICTURE', 'uint16', [16, 8]), value: img }]) // fine
    assert.ok(await sender.send([Buffer.from('garbage')]))
    assert.ok(await sender.send([Buffer.from('{"htype": "bsr_m-1.1"}'), Buffer.from('x')]))
    await put([{ info: info('FAULT:FPICTURE', 'uint16', [16, 8]), value: img }]) // fine again
    const got = await data.take(6)
    for (const m of got) {
      const p = m.value('FAULT:FPICTURE.processing_parameters')
      assert.ok(p, `pulse ${m.pulseId} has processing_parameters`)
      assert.equal(JSON.parse(decodeValue(p!) as string).roi_signal, [0, 8, 0, 4])
    }
    const last = got[5]!
    const lastProfile = decodeValue(
      last.value('FAULT:FPICTURE.roi_signal_x_profile')!,
    ) as BigUint64Array
    assert.equal([...lastProfile], new Array(8).fill(12n))
    const outside = got[3]!
    assert.is(outside.value('FAULT:FPICTURE.roi_signal_x_profile'), undefined)
    const status4 = decodeValue(outside.value('FAULT:FPICTURE.edge_status')!)
    assert.is(status4, 4, 'status roi_outside_frame')
    const s = await stats(client)
    const errors = s.n_frame_errors as Record<string, number>
    assert.is(errors.missing_image, 1)
    assert.is(errors.unsupported_type, 1)
    assert.is(errors.bad_shape, 1)
    assert.is(errors.roi_signal_outside_frame, 1)
    assert.is(errors.roi_background_outside_frame, 1)
    assert.is(s.n_malformed, 2)
    assert.is(s.n_processed_images, 6)
    const le = s.last_error as { message: string; time: string; cause: string }
    assert.ok(le?.time && le.cause, 'last error with time and cause')
    const status = (await fetch(`${cli.base}/status`).then((r) => r.json())) as Record<
      string,
      unknown
    >
    assert.ok(status.last_error, '/status shows the last error')
    await client.stop()
    const kept = await stats(client)
    assert.is(kept.n_malformed, 2, 'statistics of the last run stay after a stop')
    assert.equal(kept.n_frame_errors, s.n_frame_errors)
  } finally {
    await data.close()
    assert.is(await cli.stop(), 0)
    sender.close()
  }
})

test('the upstream restarts on the same port: processing resumes without a REST call', async () => {
  let sender = await BsreadSender.bind({ address: 'tcp://127.0.0.1:*', sendTimeoutMs: 5000 })
  const endpoint = sender.endpoint
  const cli = await startCli(endpoint, 'UP', ['--auto_start'])
  const data = new StreamReader(`tcp://127.0.0.1:${cli.dataPort}`)
  const enc = new BsreadEncoder()
  const img: ChannelInfo = {
    name: 'UP:FPICTURE',
    type: 'uint8',
    shape: [4, 4],
    encoding: 'little',
    compression: 'none',
  }
  try {
    await data.connected
    const put = async (pulseId: bigint): Promise<void> => {
      assert.ok(
        await sender.send(
          enc.encode({
            pulseId,
            globalTimestamp: { sec: 1, ns: 0 },
            channels: [{ info: img, value: new Uint8Array(16) }],
          }),
        ),
      )
    }
    await put(1n)
    await data.take(1)
    sender.close()
    // zeromq frees the port in its I/O thread, shortly after close.
    sender = await waitFor(
      'the port to be free again',
      () => BsreadSender.bind({ address: endpoint, sendTimeoutMs: 5000 }),
      5000,
      20,
    )
    await put(2n)
    const [m] = await data.take(1)
    assert.is(m!.pulseId, 2n)
  } finally {
    await data.close()
    assert.is(await cli.stop(), 0)
    sender.close()
  }
})

test('hundreds of concurrent ROI/parameter updates while streaming: nothing torn', async () => {
  const sim = await startSimulator({ rate: 300, width: 128, height: 64 })
  // In memory: this is about torn snapshots, not about 630 fsyncs on a shared disk.
  const cli = await startCli(sim.address, sim.prefix, ['--auto_start', '--state_file', 'none'])
  const data = new StreamReader(`tcp://127.0.0.1:${cli.dataPort}`)
  try {
    const client = new PsenProcessingClient(cli.base)
    await waitFor('frames', async () => ((await stats(client)).n_processed_images as number) > 10)
    const jobs: Array<Promise<unknown>> = []
    for (let i = 0; i < 300; i++) {
      // Signal and background ROI always change together by value i: a frame must never see
      // a mix that no request asked for within one ROI, and step_length always stays valid.
      jobs.push(client.set_roi_signal([i % 100, 1 + (i % 27), 0, 1 + (i % 60)]))
      jobs.push(client.set_parameters({ step_length: 2 + (i % 40) }))
      if (i % 10 === 0) jobs.push(client.set_roi_background(i % 20 === 0 ? null : [0, 128, 0, 64]))
    }
    await Promise.all(jobs)
    // Wait until the settings in force after the last request reach the data stream.
    const params = (m: BsreadMessage) =>
      JSON.parse(
        decodeValue(m.value(`${sim.prefix}:FPICTURE.processing_parameters`)!) as string,
      ) as { roi_signal: number[]; roi_background: number[]; step_length: number }
    const finalRoi = (await client.get_roi_signal()).join()
    const finalStep = (await client.get_parameters()).step_length
    await waitFor('a frame with the final settings', () =>
      data.messages.some(
        (m) => params(m).roi_signal.join() === finalRoi && params(m).step_length === finalStep,
      ),
    )
    const frames = data.messages.splice(0)
    assert.ok(frames.length > 0, 'frames arrived during the updates')
    for (const m of frames) {
      const p = params(m)
      if (p.roi_signal.length > 0) {
        const [ox, sx, oy, sy] = p.roi_signal as [number, number, number, number]
        // Some request i sent exactly this ROI.
        const asked = [ox, ox + 100, ox + 200].some(
          (i) => sx === 1 + (i % 27) && sy === 1 + (i % 60),
        )
        assert.ok(asked && oy === 0, `signal ROI ${p.roi_signal} was never asked for`)
        const prof = m.value(`${sim.prefix}:FPICTURE.roi_signal_x_profile`)
        assert.equal(prof?.info.shape, [sx], 'profile computed with the ROI reported')
      }
      const bg = p.roi_background
      assert.ok(bg.length === 0 || bg.join() === '0,128,0,64', `bg ${bg}`)
      const step = p.step_length
      assert.ok(step === 50 || (step >= 2 && step <= 41), `step ${step}`)
    }
    // The last change applied (newest in the history) is the one in force.
    const history = (await client.get_history()) as Array<{ endpoint: string; new: unknown }>
    const lastRoi = history.find((h) => h.endpoint === 'POST /roi_signal')
    const lastParams = history.find((h) => h.endpoint === 'POST /parameters')
    assert.equal(await client.get_roi_signal(), lastRoi?.new)
    assert.is(
      (await client.get_parameters()).step_length,
      (lastParams?.new as { step_length: number } | undefined)?.step_length,
    )
  } finally {
    await data.close()
    assert.is(await cli.stop(), 0)
    await sim.close()
  }
})

test('SIGTERM mid-stream ends the process cleanly', async () => {
  const sim = await startSimulator({ rate: 200, width: 256, height: 128 })
  const cli: CliProcess = await startCli(sim.address, sim.prefix, ['--auto_start'])
  try {
    const client = new PsenProcessingClient(cli.base)
    await client.set_roi_signal([0, 256, 0, 128])
    await waitFor('frames', async () => ((await stats(client)).n_processed_images as number) > 20)
    const t0 = Date.now()
    cli.child.kill('SIGTERM')
    const code = await cli.exited
    const ms = Date.now() - t0
    assert.is(code, 0)
    // Loose bound (the contract says 2 s; the machine is shared, so no tight timing here).
    assert.ok(ms < 5000, `exit took ${ms} ms`)
  } finally {
    await cli.stop()
    await sim.close()
  }
})

test.run()
