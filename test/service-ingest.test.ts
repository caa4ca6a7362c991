// The ingest worker thread (src/processing/ingest-client.ts + ingest-worker.ts) on real sockets:
// frames go in and out through the worker, and the main thread sees what the HTTP API needs:
// the state (last error, last frame), statistics and the frame-path metrics read from the
// worker, the edge results, and images only while the observer wants them.
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { BsreadEncoder } from '../src/bsread/encoder.js'
import { BsreadSender } from '../src/bsread/sender.js'
import type { ChannelInfo, Timestamp } from '../src/bsread/types.js'
import { DEFAULTS } from '../src/cli/args.js'
import type { ServiceConfig } from '../src/config.js'
import { silentLogger } from '../src/log.js'
import { Metrics } from '../src/metrics.js'
import type { FrameObserver } from '../src/processing/frame-observer.js'
import { IngestWorker } from '../src/processing/ingest-client.js'
import { parameterModel, type ProcessingParameters } from '../src/processing/parameters.js'
import { makeSnapshot } from '../src/processing/settings.js'
import { metricValue, parseMetrics } from './helpers/metrics.js'
import { freePorts } from './helpers/ports.js'
import { StreamReader, waitFor } from './helpers/service.js'

const test = suite('service-ingest')

class Recorder implements FrameObserver {
  want = false
  images: Array<{ pulseId: bigint; data: Uint8Array }> = []
  results: bigint[] = []
  offer(pulseId: bigint, _ts: Timestamp, _channel: ChannelInfo, data: Uint8Array): void {
    this.images.push({ pulseId, data })
  }

  offerResult(pulseId: bigint): void {
    this.results.push(pulseId)
  }

  wantsFrames(): boolean {
    return this.want
  }

  clear(): void {
    this.images = []
  }
}

function ingestConfig(input: string, dataPort: number, imagePort: number): ServiceConfig {
  return {
    ...DEFAULTS,
    inputStream: input,
    prefix: 'INGEST',
    dataPort,
    imagePort,
    restPort: 0,
    streamInterface: '127.0.0.1',
    stateFile: undefined,
    apiToken: undefined,
    previewRate: 50,
    logLevel: 'CRITICAL',
    autoStart: false,
  }
}

interface Rig {
  sender: BsreadSender
  engine: IngestWorker<ProcessingParameters>
  metrics: Metrics
  data: StreamReader
  image: StreamReader
  close(): Promise<void>
}

/** An ingest worker fed by a real sender, with readers on both of its output streams. */
async function startRig(observer?: FrameObserver, previewRate = 50): Promise<Rig> {
  const sender = await BsreadSender.bind({ address: 'tcp://127.0.0.1:*', sendTimeoutMs: 5000 })
  const [dataPort, imagePort] = (await freePorts(2)) as [number, number]
  const metrics = new Metrics({ defaultMetrics: false })
  const engine = await IngestWorker.start<ProcessingParameters>({
    config: { ...ingestConfig(sender.endpoint, dataPort, imagePort), previewRate },
    log: silentLogger(),
    metrics,
    observer,
    prettyLogs: false,
  })
  const data = new StreamReader(`tcp://127.0.0.1:${dataPort}`)
  const image = new StreamReader(`tcp://127.0.0.1:${imagePort}`)
  return {
    sender,
    engine,
    metrics,
    data,
    image,
    async close() {
      await data.close()
      await image.close()
      await engine.close()
      sender.close()
    },
  }
}

/** The camera's image channel, uint8, uncompressed. */
function imageChannel(shape: number[]): ChannelInfo {
  return { name: 'INGEST:FPICTURE', type: 'uint8', shape, encoding: 'little', compression: 'none' }
}

test('frames run in the worker; state, statistics, metrics and images reach this thread', async () => {
  const observer = new Recorder()
  const rig = await startRig(observer)
  const { sender, engine, metrics, data, image } = rig
  const enc = new BsreadEncoder()
  const img = imageChannel([4, 2])
  let pid = 0n
  const send = async (n: number, withImage = true): Promise<void> => {
    for (let i = 0; i < n; i++) {
      pid++
      const channels = withImage
        ? [{ info: img, value: new Uint8Array(8).fill(Number(pid % 200n)) }]
        : [{ info: { ...img, name: 'OTHER' }, value: new Uint8Array(8) }]
      assert.ok(
        await sender.send(
          enc.encode({
            pulseId: pid,
            globalTimestamp: { sec: 1, ns: 0 },
            channels,
          }),
        ),
      )
    }
  }
  try {
    const snap = makeSnapshot(parameterModel, 1, [0, 4, 0, 2], [], parameterModel.defaults())
    await engine.start(snap)
    assert.is(engine.lastReceivedAt(), 0)
    await send(10)
    const got = await data.take(10)
    assert.equal(
      got.map((m) => m.pulseId),
      Array.from({ length: 10 }, (_, i) => BigInt(i + 1)),
    )
    assert.is((await image.take(10)).length, 10, 'images forwarded by the worker')
    await waitFor('the state tick', () => engine.lastReceivedAt() > 0)
    await waitFor('the edge results', () => observer.results.length === 10)
    assert.is(observer.images.length, 0, 'no image copied while none is wanted')

    const s = await engine.statistics()
    assert.is(s.n_processed_images, 10)
    assert.is(s.last_received_pulse_id, 10n)
    const text = await metrics.registry.metrics()
    assert.match(text, /psen_frames_processed_total 10\b/, "the worker's frame metrics")

    // A new snapshot applies to the frames after it; the observer starts wanting images.
    await engine.setSnapshot(
      makeSnapshot(parameterModel, 2, [0, 4, 0, 1], [], parameterModel.defaults()),
    )
    observer.want = true
    await send(5)
    const after = await data.take(5)
    const params = after.map((m) =>
      JSON.parse(Buffer.from(m.value('INGEST:FPICTURE.processing_parameters')!.bytes).toString()),
    )
    assert.equal(
      params.map((p) => p.roi_signal),
      Array(5).fill([0, 4, 0, 1]),
    )
    // The worker hears of the wish with the next state tick; images follow from then on.
    await waitFor('an image for the observer', async () => {
      await send(1)
      await data.take(1)
      return observer.images.length > 0
    })
    const last = observer.images.at(-1)!
    assert.is(last.data.length, 8)
    assert.is(last.data[0], Number(last.pulseId % 200n), 'the image bytes as received')

    // A frame error reaches lastError() through the state tick.
    await send(1, false)
    await waitFor(
      'the missing image as last error',
      () => engine.lastError()?.cause === 'missing_image',
    )
    assert.is(await engine.stop(), Number(pid))
    assert.is(observer.images.length, 0, 'the observer forgot its image at the stop')
  } finally {
    await rig.close()
  }
})

test('large frames die young in the worker: scavenges, no mark-compact per frame', async () => {
  const rig = await startRig(undefined, 0)
  const { sender, engine, metrics, data, image } = rig
  const enc = new BsreadEncoder()
  const img = imageChannel([2048, 2048])
  const pixels = new Uint8Array(2048 * 2048).fill(7)
  const gcCount = async (kind: string): Promise<number> =>
    metricValue(
      parseMetrics(await metrics.registry.metrics()),
      'psen_ingest_gc_duration_seconds_count',
      {
        kind,
      },
    )
  const frames = 48
  try {
    await Promise.all([data.connected, image.connected])
    const snap = makeSnapshot(parameterModel, 1, [0, 2048, 0, 64], [], parameterModel.defaults())
    await engine.start(snap)
    const major0 = await gcCount('major')
    const minor0 = await gcCount('minor')
    // One at a time, each through the worker before the next: 192 MiB received in all, which
    // would start a mark-compact at least every 64 MB if the parts were left to one.
    for (let pid = 1n; pid <= BigInt(frames); pid++) {
      const channels = [{ info: img, value: pixels }]
      assert.ok(
        await sender.send(
          enc.encode({ pulseId: pid, globalTimestamp: { sec: 1, ns: 0 }, channels }),
        ),
      )
      await data.take(1)
      await image.take(1)
    }
    const minor = (await gcCount('minor')) - minor0
    const major = (await gcCount('major')) - major0
    assert.ok(major <= 2, `${major} mark-compacts for ${frames} frames of 4 MiB`)
    assert.ok(minor >= Math.floor((frames * 4) / 12) - 1, `${minor} scavenges for ${frames} frames`)
  } finally {
    await rig.close()
  }
})

test.run()
