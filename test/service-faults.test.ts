// An exception inside a frame never ends processing: an edge stage that fails on chosen pulses
// (fault injection around the real FinderStage) runs inside the real service, in process, on
// real sockets; the failing frames are counted and logged and still produce a data message.
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { decodeValue } from '../src/bsread/decoder.js'
import { BsreadEncoder } from '../src/bsread/encoder.js'
import { BsreadSender } from '../src/bsread/sender.js'
import type { ChannelInfo } from '../src/bsread/types.js'
import { DEFAULTS } from '../src/cli/args.js'
import type { ServiceConfig } from '../src/config.js'
import { Codec } from '../src/kernel/codec.js'
import { Kernel } from '../src/kernel/kernel.js'
import { silentLogger } from '../src/log.js'
import { Metrics } from '../src/metrics.js'
import { FinderStage } from '../src/processing/edge-stage.js'
import { parameterModel, type ProcessingParameters } from '../src/processing/parameters.js'
import type { EdgeOutputs, EdgeStageInput } from '../src/processing/edge-stage-contract.js'
import { PsenService } from '../src/processing/service.js'
import { StateStore } from '../src/state/store.js'
import { freePorts } from './helpers/ports.js'
import { StreamReader, waitFor } from './helpers/service.js'

/** The real edge stage, failing with a plain Error on pulse ids divisible by 5. */
class FailingStage extends FinderStage {
  override process(input: EdgeStageInput<ProcessingParameters>): EdgeOutputs {
    if (input.pulseId % 5n === 0n) throw new Error(`injected failure at pulse ${input.pulseId}`)
    return super.process(input)
  }
}

const test = suite('service-faults')

test('a throwing frame is counted, logged and answered; the loop goes on', async () => {
  const sender = await BsreadSender.bind({ address: 'tcp://127.0.0.1:*', sendTimeoutMs: 5000 })
  const [dataPort, imagePort] = (await freePorts(2)) as [number, number]
  const config: ServiceConfig = {
    ...DEFAULTS,
    inputStream: sender.endpoint,
    prefix: 'FAIL',
    dataPort,
    imagePort,
    restPort: 0,
    streamInterface: '127.0.0.1',
    autoStart: false,
    stateFile: undefined,
    apiToken: undefined,
  }
  const kernel = await Kernel.load()
  const metrics = new Metrics({ defaultMetrics: false })
  const codec = new Codec(kernel)
  const service = await PsenService.create({
    config,
    log: silentLogger(),
    metrics,
    store: await StateStore.open(),
    kernel,
    codec,
    parameters: parameterModel,
    edge: new FailingStage(kernel, { codec }),
  })
  const data = new StreamReader(`tcp://127.0.0.1:${dataPort}`)
  const enc = new BsreadEncoder()
  const img: ChannelInfo = {
    name: 'FAIL:FPICTURE',
    type: 'uint8',
    shape: [4, 2],
    encoding: 'little',
    compression: 'none',
  }
  try {
    await service.setRoi('roi_signal', [0, 4, 0, 2])
    await service.start()
    await data.connected
    for (let pid = 1n; pid <= 12n; pid++) {
      assert.ok(
        await sender.send(
          enc.encode({
            pulseId: pid,
            globalTimestamp: { sec: 1, ns: 0 },
            channels: [{ info: img, value: new Uint8Array(8).fill(1) }],
          }),
        ),
      )
    }
    const got = await data.take(12)
    assert.equal(
      got.map((m) => m.pulseId),
      Array.from({ length: 12 }, (_, i) => BigInt(i + 1)),
    )
    for (const m of got) {
      assert.ok(m.value('FAIL:FPICTURE.processing_parameters'), `pulse ${m.pulseId} answered`)
      const failed = m.pulseId % 5n === 0n
      assert.is(m.value('FAIL:FPICTURE.roi_signal_x_profile') === undefined, failed)
      if (!failed) {
        const prof = decodeValue(m.value('FAIL:FPICTURE.roi_signal_x_profile')!) as BigUint64Array
        assert.equal([...prof], [2n, 2n, 2n, 2n])
      }
    }
    const s = await service.statistics()
    assert.equal(s.n_frame_errors, { exception: 2 })
    assert.is(s.n_processed_images, 12)
    assert.is(service.status(), 'processing')
    assert.match(service.lastError()?.message ?? '', 'injected failure at pulse 10')
    assert.match(await metrics.registry.metrics(), /psen_frame_errors_total\{cause="exception"\} 2/)
    await waitFor('last sent', async () => (await service.statistics()).last_sent_pulse_id === 12n)
  } finally {
    await data.close()
    await service.close()
    sender.close()
  }
})

test.run()
