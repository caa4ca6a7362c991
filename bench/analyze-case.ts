/**
 * The analyze case of bench/kernel.ts: `psen-processing analyze`'s loop (src/cli/analyze.ts
 * analyzeRecording: read a record, check its CRC, decode the bsread message, FramePipeline with
 * the ROI decode path on one thread, FinderStage, the data message decoded) over a recording on
 * disk of 2560 x 2160 uint16 bitshuffle_lz4 frames, like the camera's: X-ray shots
 * (pulse_id % 4 == 0) with an edge, reference shots without. Frames per second of whole passes
 * over the file (it stays in the page cache: this measures the program, not the disk).
 *
 *   analyze_roi            with the per-record CRC check (the default of `analyze`)
 *   analyze_roi_no_verify  `analyze --no_verify`
 *   analyze_roi_files      with the CRC check and OUT.jsonl, OUT.h5 and OUT.csv written
 * @module
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { BsreadEncoder, preEncoded, type EncodeChannel } from '../src/bsread/encoder.js'
import { analyzeRecording } from '../src/cli/analyze.js'
import { ResultFiles } from '../src/cli/analyze-output.js'
import type { Codec } from '../src/kernel/codec.js'
import type { Kernel } from '../src/kernel/kernel.js'
import { parameterModel } from '../src/processing/parameters.js'
import { makeSnapshot } from '../src/processing/settings.js'
import { RecordingReader } from '../src/recording/reader.js'
import { RecordingWriter } from '../src/recording/writer.js'
import { generateFrame } from '../src/sim/frame.js'

const WIDTH = 2560
const HEIGHT = 2160
const PREFIX = 'BENCH-PSEN'

export interface AnalyzeCaseResult {
  name: string
  fps: number
  ms_per_frame: number
  /** Fastest pass. */
  ms_min: number
  /** Median CPU time of this process per frame (see bench/kernel.ts). */
  cpu_ms: number
  frames: number
  runs: number
  recording_mb: number
  note: string
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

/** Writes `frames` messages (8 distinct images, compressed once) to a recording. */
export async function makeRecording(path: string, codec: Codec, frames: number): Promise<number> {
  const pixels = new Uint16Array(WIDTH * HEIGHT)
  const images: Uint8Array[] = []
  for (let k = 0; k < 8; k++) {
    // Images 0-3 are X-ray shots (edges 1100..1400), 4-7 references.
    generateFrame(pixels, {
      width: WIDTH,
      height: HEIGHT,
      seed: k + 1,
      ...(k < 4 ? { edgeX: 1100 + 100 * k + 0.4 } : {}),
    })
    images.push(codec.compress(new Uint8Array(pixels.buffer), 'bitshuffle_lz4', 2).slice())
  }
  const encoder = new BsreadEncoder({ codec })
  const image: EncodeChannel = {
    info: {
      name: `${PREFIX}:FPICTURE`,
      type: 'uint16',
      shape: [WIDTH, HEIGHT],
      encoding: 'little',
      compression: 'bitshuffle_lz4',
    },
    value: null,
  }
  const writer = await RecordingWriter.create(path, {
    recorder: 'bench/analyze-case.ts',
    version: '0',
    input: 'generated',
    mode: 'pull',
    started: new Date().toISOString(),
  })
  for (let i = 0; i < frames; i++) {
    const pulseId = 10_000n + BigInt(i)
    const xray = pulseId % 4n === 0n
    image.value = preEncoded(images[xray ? (i >> 2) % 4 : 4 + (i % 4)]!)
    writer.append(
      encoder.encode({
        pulseId,
        globalTimestamp: { sec: 1_800_000_000, ns: i },
        channels: [image],
      }),
      Date.now(),
    )
    // One message at a time: the writer's queue would drop the rest (it never grows).
    await writer.flush()
  }
  await writer.close()
  return writer.stats.bytes
}

/** Runs the three analyze variants; `frames` messages per pass, `runs` passes each. */
export async function analyzeCase(
  kernel: Kernel,
  codec: Codec,
  opts: { frames?: number; runs?: number } = {},
): Promise<AnalyzeCaseResult[]> {
  const frames = opts.frames ?? 100
  const runs = Math.max(3, opts.runs ?? 5)
  const dir = mkdtempSync(join(tmpdir(), 'psen-bench-analyze-'))
  try {
    const path = join(dir, 'bench.rec')
    const bytes = await makeRecording(path, codec, frames)
    const snapshot = makeSnapshot(
      parameterModel,
      1,
      [0, WIDTH, 1150, 400],
      [0, WIDTH, 500, 400],
      parameterModel.defaults(),
    )
    const pass = async (verify: boolean, files: boolean): Promise<[number, number]> => {
      const reader = RecordingReader.open(path, { verify, reuseBuffer: true })
      const out = files ? await ResultFiles.create(join(dir, 'out'), {}) : undefined
      const c0 = process.cpuUsage()
      const t0 = performance.now()
      const s = await analyzeRecording({
        reader,
        kernel,
        prefix: PREFIX,
        naming: 'full',
        maxFrameBytes: 256 * 1024 * 1024,
        snapshot,
        onResult: out ? (r) => out.add(r) : () => undefined,
      })
      out?.close()
      const ms = performance.now() - t0
      const c = process.cpuUsage(c0)
      reader.close()
      if (s.pulses !== frames || s.damage) throw new Error(`analyze pass: ${JSON.stringify(s)}`)
      if (s.frameErrors && Object.keys(s.frameErrors).length > 0) {
        throw new Error(`frame errors: ${JSON.stringify(s.frameErrors)}`)
      }
      return [ms / frames, (c.user + c.system) / 1000 / frames]
    }
    const variants: Array<[string, boolean, boolean, string]> = [
      ['analyze_roi', true, false, 'CRC checked; results decoded, not written'],
      ['analyze_roi_no_verify', false, false, 'analyze --no_verify; results not written'],
      ['analyze_roi_files', true, true, 'CRC checked; OUT.jsonl, OUT.h5, OUT.csv written'],
    ]
    const times = variants.map(() => [] as number[])
    const cpu = variants.map(() => [] as number[])
    // Warm-up pass each, then the variants interleaved (A/B/C, A/B/C, ...): the machine's
    // neighbours weigh on all of them alike.
    for (const [, verify, files] of variants) await pass(verify, files)
    for (let r = 0; r < runs; r++) {
      for (let v = 0; v < variants.length; v++) {
        const [, verify, files] = variants[v]!
        const [ms, cpuMs] = await pass(verify, files)
        times[v]!.push(ms)
        cpu[v]!.push(cpuMs)
      }
    }
    return variants.map(([name, , , note], v) => {
      const ms = median(times[v]!)
      return {
        name,
        fps: Math.round(10_000 / ms) / 10,
        ms_per_frame: Math.round(ms * 1e4) / 1e4,
        ms_min: Math.round(Math.min(...times[v]!) * 1e4) / 1e4,
        cpu_ms: Math.round(median(cpu[v]!) * 1e4) / 1e4,
        frames,
        runs,
        recording_mb: Math.round(bytes / 1e5) / 10,
        note: `${note}; ${(bytes / frames / 1e6).toFixed(2)} MB per message`,
      }
    })
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
