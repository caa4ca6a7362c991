// The real CLI with --threads 2: big frames are decoded and summed by the main thread and a
// worker together; every profile must still equal the TS reference bit for bit, a corrupt frame
// is counted and skipped, and /metrics shows which path the frames took.
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { decodeValue } from '../src/bsread/decoder.js'
import { preEncoded } from '../src/bsread/encoder.js'
import type { ChannelInfo, Compression } from '../src/bsread/types.js'
import { DTYPE_SIZE, type DTypeName } from '../src/kernel/dtype.js'
import { generateFrame } from '../src/sim/frame.js'
import { elementBytes } from './helpers/bsread.js'
import { startStreamHarness, stopStreamHarness, type StreamHarness } from './helpers/service.js'
import { xProfileRef, type Roi } from './reference/profile.js'

const PREFIX = 'THREADS-PSEN'
const IMAGE = `${PREFIX}:FPICTURE`
const W = 1280
const H = 720
const SIG: Roi = [0, W, 400, 200]
const BG: Roi = [3, W - 10, 100, 150]

type Ctx = StreamHarness & { pulse: bigint }

const test = suite<Ctx>('service-threads')

function pixels(dtype: DTypeName, seed: number): Uint8Array {
  const base = generateFrame(new Uint16Array(W * H), { width: W, height: H, seed, edgeX: 600 })
  const arr = dtype === 'int32' ? Int32Array.from(base, (v) => (v - 2000) * 60000) : base
  return new Uint8Array(arr.buffer, arr.byteOffset, W * H * DTYPE_SIZE[dtype])
}

async function send(
  ctx: Ctx,
  dtype: DTypeName,
  compression: Compression,
  value: Uint8Array,
): Promise<bigint> {
  const pulseId = ctx.pulse++
  const info: ChannelInfo = {
    name: IMAGE,
    type: dtype,
    shape: [W, H],
    encoding: 'little',
    compression,
  }
  const parts = ctx.encoder.encode({
    pulseId,
    globalTimestamp: { sec: 1_700_000_000, ns: Number(pulseId) },
    channels: [{ info, value: preEncoded(value) }],
  })
  assert.ok(await ctx.sender.send(parts), 'input frame accepted')
  return pulseId
}

/**
 * Fills the body of the block at `fraction` of the value with 0xff (an LZ4 literal length that
 * never ends: the decode fails), keeping the block table intact so the frame is still split.
 */
function corruptBlockAt(wire: Uint8Array, fraction: number): Uint8Array {
  const dv = new DataView(wire.buffer, wire.byteOffset, wire.byteLength)
  let pos = 12
  while (pos + 4 < wire.length * fraction) pos += 4 + dv.getUint32(pos)
  wire.fill(0xff, pos + 4, pos + 4 + dv.getUint32(pos))
  return wire
}

test.before(async (ctx) => {
  Object.assign(ctx, await startStreamHarness(PREFIX, ['--threads', '2']))
  ctx.pulse = 5000n
})

test.after(async (ctx) => {
  const code = await stopStreamHarness(ctx)
  assert.is(code, 0, `clean exit: ${ctx.cli?.output().slice(-2000)}`)
})

test('split frames: exact profiles; a corrupt frame is counted, the next ones are fine', async (ctx) => {
  await ctx.client.set_roi_signal([...SIG])
  await ctx.client.set_roi_background([...BG])
  assert.is(await ctx.client.start(), 'processing')
  const sent: Array<{ pid: bigint; dtype: DTypeName; frame: Uint8Array | undefined }> = []
  let seed = 1
  for (const [dtype, compression] of [
    ['uint16', 'bitshuffle_lz4'],
    ['int32', 'bitshuffle_lz4'],
    ['uint16', 'lz4'],
    ['uint16', 'bitshuffle_lz4'],
    ['corrupt', ''],
    ['uint16', 'bitshuffle_lz4'],
    ['int32', 'bitshuffle_lz4'],
  ] as const) {
    if (dtype === 'corrupt') {
      const wire = corruptBlockAt(
        ctx.codec.compress(pixels('uint16', 99), 'bitshuffle_lz4', 2),
        0.8,
      )
      sent.push({
        pid: await send(ctx, 'uint16', 'bitshuffle_lz4', wire),
        dtype: 'uint16',
        frame: undefined,
      })
      continue
    }
    const frame = pixels(dtype, seed++)
    const value = ctx.codec.compress(frame, compression, DTYPE_SIZE[dtype])
    sent.push({ pid: await send(ctx, dtype, compression, value), dtype, frame })
  }
  const data = await ctx.data.take(sent.length)
  await ctx.image.take(sent.length)
  for (let i = 0; i < sent.length; i++) {
    const { pid, dtype, frame } = sent[i]!
    const m = data[i]!
    assert.is(m.pulseId, pid, 'pulse-id order kept')
    for (const [name, roi] of [
      ['roi_signal', SIG],
      ['roi_background', BG],
    ] as const) {
      const raw = m.value(`${IMAGE}.${name}_x_profile`)
      if (frame === undefined) {
        assert.is(raw, undefined, 'no profile for the corrupt frame')
        continue
      }
      const want = xProfileRef(frame, W, dtype, false, roi)
      const got = decodeValue(raw!) as BigUint64Array | BigInt64Array
      assert.equal(
        [...elementBytes(got)],
        [...new Uint8Array(want.buffer)],
        `${name} of ${dtype} pulse ${pid}`,
      )
    }
  }
  const stats = await ctx.client.get_statistics()
  assert.equal(stats.n_frame_errors, { decode_error: 1 })
  const metrics = await (await fetch(`${ctx.cli.base}/metrics`)).text()
  assert.match(metrics, /^psen_decode_threads 2$/m)
  // 5 good bitshuffle frames + the corrupt one went through the split path; lz4 never reaches it.
  assert.match(metrics, /^psen_frames_decoded_total\{path="split"\} 5$/m)
  assert.is(await ctx.client.stop(), 'stopped')
})

test.run()
