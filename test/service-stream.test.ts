// The real CLI as a child process, fed by a real bsread PUSH sender with simulated camera frames,
// read back on real PULL sockets: every profile bit for bit against the TS reference, the image
// stream byte for byte, ROI changes mid-stream, each pixel type and compression.
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { decodeValue, type BsreadMessage } from '../src/bsread/decoder.js'
import { preEncoded } from '../src/bsread/encoder.js'
import type { ChannelInfo, Compression } from '../src/bsread/types.js'
import { DTYPE_SIZE, sumKind, type DTypeName } from '../src/kernel/dtype.js'
import { generateFrame } from '../src/sim/frame.js'
import { elementBytes } from './helpers/bsread.js'
import { startStreamHarness, stopStreamHarness, type StreamHarness } from './helpers/service.js'
import { xProfileRef, type Roi } from './reference/profile.js'

const PREFIX = 'TEST-PSEN'
const IMAGE = `${PREFIX}:FPICTURE`
const W = 256
const H = 96

type Ctx = StreamHarness & { pulse: bigint }

const test = suite<Ctx>('service-stream')

/** Pixels of one frame of any type: the simulated spectrum, scaled/offset to exercise the type. */
function pixels(dtype: DTypeName, seed: number, edgeX?: number): Uint8Array {
  const base = generateFrame(new Uint16Array(W * H), { width: W, height: H, seed, edgeX })
  const n = W * H
  let arr: ArrayBufferView & { length: number }
  switch (dtype) {
    case 'uint16':
      arr = base
      break
    case 'uint8':
      arr = Uint8Array.from(base, (v) => v >> 4)
      break
    case 'int8':
      arr = Int8Array.from(base, (v) => (v >> 4) - 128)
      break
    case 'int16':
      arr = Int16Array.from(base, (v) => v - 2000)
      break
    case 'uint32':
      arr = Uint32Array.from(base, (v) => v * 65537)
      break
    case 'int32':
      arr = Int32Array.from(base, (v) => (v - 2000) * 60000)
      break
    case 'uint64':
      arr = BigUint64Array.from(base, (v) => BigInt(v) * 2n ** 40n)
      break
    case 'int64':
      arr = BigInt64Array.from(base, (v) => BigInt(v - 2000) * 2n ** 40n)
      break
    case 'float32':
      arr = Float32Array.from(base, (v) => v * 0.37 + 0.1)
      break
    case 'float64':
      arr = Float64Array.from(base, (v) => v * 1.0e-3 - 0.5)
      break
  }
  assert.is(arr.length, n)
  return new Uint8Array(arr.buffer, arr.byteOffset, n * DTYPE_SIZE[dtype])
}

function imageInfo(dtype: DTypeName, compression: Compression): ChannelInfo {
  return { name: IMAGE, type: dtype, shape: [W, H], encoding: 'little', compression }
}

const EXTRA: ChannelInfo = {
  name: `${PREFIX}:OTHER`,
  type: 'float64',
  shape: [1],
  encoding: 'little',
  compression: 'none',
}

async function send(
  ctx: Ctx,
  dtype: DTypeName,
  compression: Compression,
  frame: Uint8Array,
): Promise<bigint> {
  const pulseId = ctx.pulse++
  const parts = ctx.encoder.encode({
    pulseId,
    globalTimestamp: { sec: 1_700_000_000 + Number(pulseId), ns: 1234 },
    channels: [
      { info: EXTRA, value: 3.5 },
      {
        info: imageInfo(dtype, compression),
        value: preEncoded(
          compression === 'none'
            ? frame
            : ctx.codec.compress(frame, compression, DTYPE_SIZE[dtype]),
        ),
      },
    ],
  })
  assert.ok(await ctx.sender.send(parts), 'input frame accepted')
  return pulseId
}

function channel(m: BsreadMessage, q: string) {
  return m.value(`${IMAGE}.${q}`)
}

function checkData(
  m: BsreadMessage,
  pulseId: bigint,
  dtype: DTypeName,
  frame: Uint8Array,
  sig: Roi | [],
  bg: Roi | [],
): void {
  assert.is(m.pulseId, pulseId)
  assert.equal(m.globalTimestamp, { sec: 1_700_000_000 + Number(pulseId), ns: 1234 })
  const params = channel(m, 'processing_parameters')
  assert.ok(params, 'processing_parameters present')
  const p = JSON.parse(decodeValue(params!) as string) as Record<string, unknown>
  assert.equal(p.roi_signal, sig)
  assert.equal(p.roi_background, bg)
  assert.ok('step_length' in p, 'edge parameters reported')
  for (const [name, roi] of [
    ['roi_signal', sig],
    ['roi_background', bg],
  ] as const) {
    const raw = channel(m, `${name}_x_profile`)
    if (roi.length === 0) {
      assert.is(raw, undefined, `${name} profile absent without a ROI`)
      continue
    }
    assert.ok(raw, `${name} profile present`)
    assert.is(raw!.info.type, sumKind(dtype), `${name} profile type for ${dtype}`)
    assert.equal(raw!.info.shape, [roi[1]])
    const want = xProfileRef(frame, W, dtype, false, roi)
    let got = decodeValue(raw!)
    // A one-column profile decodes as a scalar.
    if (typeof got === 'bigint') {
      got = raw!.info.type === 'uint64' ? BigUint64Array.of(got) : BigInt64Array.of(got)
    }
    if (typeof got === 'number') got = Float64Array.of(got)
    assert.equal(
      [...elementBytes(got)],
      [...new Uint8Array(want.buffer)],
      `${name} profile of ${dtype} bit for bit (pulse ${pulseId})`,
    )
  }
  for (const q of ['edge_position', 'cross_correlation_amplitude', 'edge_fwhm']) {
    const raw = channel(m, q)
    if (sig.length === 0) {
      assert.is(raw, undefined)
    } else {
      assert.is(raw?.info.type, 'float64', q)
      assert.is(typeof decodeValue(raw!), 'number')
    }
  }
  // Every channel's own timestamp is the message's.
  for (let i = 0; i < m.channels.length; i++) {
    const v = m.valueAt(i)
    if (v?.timestamp) assert.equal(v.timestamp, m.globalTimestamp)
  }
}

test.before(async (ctx) => {
  Object.assign(ctx, await startStreamHarness(PREFIX))
  ctx.pulse = 1000n
})

test.after(async (ctx) => {
  const code = await stopStreamHarness(ctx)
  assert.is(code, 0, `clean exit: ${ctx.cli?.output().slice(-2000)}`)
})

test('uint16 bitshuffle_lz4: profiles, edge channels, image stream as received', async (ctx) => {
  const sig: Roi = [10, 200, 50, 22]
  const bg: Roi = [0, 64, 0, 10]
  assert.equal(await ctx.client.set_roi_signal([...sig]), [...sig])
  assert.equal(await ctx.client.set_roi_background([...bg]), [...bg])
  assert.is(await ctx.client.start(), 'processing')
  const frames: Array<[bigint, Uint8Array, Uint8Array]> = []
  for (let i = 0; i < 12; i++) {
    // The edge on X-ray shots only (the reference shots are the spectrum without it).
    const frame = pixels('uint16', i + 1, ctx.pulse % 4n === 0n ? 120.5 : undefined)
    const pid = await send(ctx, 'uint16', 'bitshuffle_lz4', frame)
    const wire = ctx.codec.compress(frame, 'bitshuffle_lz4', 2)
    frames.push([pid, frame, wire])
  }
  const data = await ctx.data.take(12)
  const images = await ctx.image.take(12)
  for (let i = 0; i < 12; i++) {
    const [pid, frame, wire] = frames[i]!
    checkData(data[i]!, pid, 'uint16', frame, sig, bg)
    const img = images[i]!
    assert.is(img.pulseId, pid)
    const raw = img.value(IMAGE)!
    assert.is(raw.info.compression, 'bitshuffle_lz4')
    assert.equal(raw.info.shape, [W, H])
    assert.ok(Buffer.from(wire).equals(raw.bytes), 'image bytes forwarded unchanged')
  }
  // X-ray shots (pulse % 4 == 0) after references: the edge is found near where it was put.
  const xray = data.filter((m) => m.pulseId % 4n === 0n && m.pulseId > 1003n)
  assert.ok(xray.length >= 2)
  for (const m of xray) {
    assert.is(decodeValue(channel(m, 'edge_status')!), 0, 'edge ok')
    // 120.5 in the frame = 110.5 in the ROI, + 0.5 for the pixel convention (docs/science.md).
    const edge = decodeValue(channel(m, 'edge_position')!) as number
    assert.ok(Math.abs(edge - 111) <= 1, `edge ${edge}`)
    assert.ok((decodeValue(channel(m, 'edge_confidence')!) as number) > 6, 'confident')
  }
})

test('ROI changes mid-stream apply from the next frame', async (ctx) => {
  const rois: Array<Roi | []> = [[0, 256, 0, 96], [100, 1, 95, 1], [], [3, 17, 40, 30]]
  for (const sig of rois) {
    await ctx.client.set_roi_signal(sig.length ? [...sig] : null)
    const bg: Roi | [] = sig.length ? [5, 5, 5, 5] : []
    await ctx.client.set_roi_background(bg.length ? [...bg] : [])
    const sent: Array<[bigint, Uint8Array]> = []
    for (let i = 0; i < 3; i++) {
      const frame = pixels('uint16', 50 + i)
      sent.push([await send(ctx, 'uint16', 'bitshuffle_lz4', frame), frame])
    }
    const got = await ctx.data.take(3)
    await ctx.image.take(3)
    for (let i = 0; i < 3; i++) checkData(got[i]!, sent[i]![0], 'uint16', sent[i]![1], sig, bg)
  }
})

test('every pixel type and compression: exact u64 / i64 / f64 profiles', async (ctx) => {
  const sig: Roi = [7, 101, 33, 40]
  const bg: Roi = [200, 56, 80, 16]
  await ctx.client.set_roi_signal([...sig])
  await ctx.client.set_roi_background([...bg])
  const types: DTypeName[] = [
    'uint8',
    'int8',
    'uint16',
    'int16',
    'uint32',
    'int32',
    'uint64',
    'int64',
    'float32',
    'float64',
  ]
  const comps: Compression[] = ['bitshuffle_lz4', 'lz4', 'none']
  const sent: Array<[bigint, DTypeName, Uint8Array]> = []
  let seed = 100
  for (const t of types) {
    for (const c of comps) {
      const frame = pixels(t, seed++)
      sent.push([await send(ctx, t, c, frame), t, frame])
    }
  }
  const got = await ctx.data.take(sent.length)
  await ctx.image.take(sent.length)
  for (let i = 0; i < sent.length; i++) {
    const [pid, t, frame] = sent[i]!
    checkData(got[i]!, pid, t, frame, sig, bg)
  }
  const stats = await ctx.client.get_statistics()
  assert.is(stats.n_frame_errors && Object.keys(stats.n_frame_errors as object).length, 0)
})

test('statistics keep the old fields and formats', async (ctx) => {
  const s = await ctx.client.get_statistics()
  assert.match(String(s.processing_start_time), /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{6})?$/)
  assert.match(String(s.last_sent_time), /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{6})?$/)
  assert.is(s.last_sent_pulse_id, Number(ctx.pulse - 1n))
  assert.is(s.n_processed_images, Number(ctx.pulse - 1000n))
  assert.is(await ctx.client.stop(), 'stopped')
})

test.run()
