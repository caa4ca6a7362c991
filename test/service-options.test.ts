// Options beyond the old command line, end to end: SUB input from a PUB stream, short output
// channel names, a state file that survives a restart, and /metrics counting real frames.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { decodeValue } from '../src/bsread/decoder.js'
import { BsreadEncoder } from '../src/bsread/encoder.js'
import { BsreadSender } from '../src/bsread/sender.js'
import type { ChannelInfo } from '../src/bsread/types.js'
import { PsenProcessingClient } from '../src/client/client.js'
import { StreamReader, startCli, waitFor } from './helpers/service.js'

const IMG: ChannelInfo = {
  name: 'OPT:FPICTURE',
  type: 'int16',
  shape: [8, 4],
  encoding: 'big',
  compression: 'none',
}

test('SUB input, short channel names, big-endian signed pixels', async () => {
  const pub = await BsreadSender.bind({ address: 'tcp://127.0.0.1:*', mode: 'pub' })
  const cli = await startCli(pub.endpoint, 'OPT', [
    '--input_mode',
    'sub',
    '--channel_naming',
    'short',
    '--auto_start',
  ])
  const data = new StreamReader(`tcp://127.0.0.1:${cli.dataPort}`)
  const enc = new BsreadEncoder()
  try {
    const client = new PsenProcessingClient(cli.base)
    await client.set_roi_signal([1, 3, 0, 4])
    const pixels = Int16Array.from({ length: 32 }, (_, i) => i - 20)
    // PUB drops everything until the subscription has arrived: send until frames come out.
    let pid = 1n
    await waitFor(
      'frames through SUB',
      async () => {
        await pub.send(
          enc.encode({
            pulseId: pid++,
            globalTimestamp: { sec: 5, ns: 6 },
            channels: [{ info: IMG, value: pixels }],
          }),
        )
        return data.messages.length > 0
      },
      10_000,
      50,
    )
    const m = data.messages[0]!
    assert.is(m.value('OPT:FPICTURE.roi_signal_x_profile'), undefined, 'no full names')
    const prof = m.value('OPT.roi_signal_x_profile')
    assert.ok(prof, 'short name')
    assert.is(prof!.info.type, 'int64')
    // Column x of rows 0..3: sum of (y * 8 + x - 20).
    const want = [1, 2, 3].map((x) => BigInt([0, 1, 2, 3].reduce((s, y) => s + y * 8 + x - 20, 0)))
    assert.equal([...(decodeValue(prof!) as BigInt64Array)], want)
    assert.ok(m.value('OPT.processing_parameters'))
    assert.ok(m.value('OPT.edge_position'))
    const metrics = await fetch(`${cli.base}/metrics`).then((r) => r.text())
    assert.match(metrics, /psen_frames_processed_total [1-9]/)
    assert.match(metrics, /psen_roi_size_pixels\{roi="signal",dim="x"\} 3/)
  } finally {
    await data.close()
    assert.is(await cli.stop(), 0)
    pub.close()
  }
})

test('--state_file: ROIs and parameters survive a restart; history is kept', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'psen-state-'))
  const file = join(dir, 'state.json')
  try {
    let cli = await startCli('tcp://127.0.0.1:9', 'STATE', ['--state_file', file])
    let client = new PsenProcessingClient(cli.base)
    await client.set_roi_signal([1, 2, 3, 4])
    await client.set_roi_background([5, 6, 7, 8])
    await client.set_parameters({ step_length: 33 })
    assert.is(await cli.stop(), 0)
    const saved = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>
    assert.equal(saved.roi_signal, [1, 2, 3, 4])
    cli = await startCli('tcp://127.0.0.1:9', 'STATE', [`--state_file=${file}`])
    client = new PsenProcessingClient(cli.base)
    assert.equal(await client.get_roi_signal(), [1, 2, 3, 4])
    assert.equal(await client.get_roi_background(), [5, 6, 7, 8])
    assert.is((await client.get_parameters()).step_length, 33)
    const h = (await client.get_history()) as Array<{ endpoint: string }>
    assert.equal(
      h.slice(0, 3).map((e) => e.endpoint),
      ['POST /parameters', 'POST /roi_background', 'POST /roi_signal'],
    )
    assert.is(await cli.stop(), 0)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test.run()
