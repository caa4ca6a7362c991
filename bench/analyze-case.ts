/**
 * The analyze case of bench/kernel.ts: `psen-processing analyze`'s loop (src/cli/analyze.ts
 * analyzeRecording: the read-ahead thread reads a record and checks its CRC while the main
 * thread decodes the bsread message before it, runs FramePipeline with the ROI decode path and
 * one kernel thread, FinderStage, and decodes the data message; the main thread sums the end of
 * each CRC when it would otherwise wait) over a recording on disk of
 * 2560 x 2160 uint16 bitshuffle_lz4 frames, like the camera's: X-ray shots (pulse_id % 4 == 0)
 * with an edge, reference shots without. Frames per second of whole passes over the file (it
 * stays in the page cache: this measures the program, not the disk); CPU time is the whole
 * process's (both threads). The read-ahead thread starts before a pass is timed (its start-up
 * is in the note).
 *
 *   analyze_roi             read-ahead thread, CRC checked (what `analyze` does)
 *   analyze_roi_files       the same, OUT.jsonl, OUT.h5 and OUT.csv written
 *   analyze_roi_no_verify   `analyze --no_verify`
 *   analyze_roi_one_thread  CRC checked, records read on the main thread (RecordingReader),
 *                           for comparison: the design before the read-ahead thread
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
import { ReadAheadReader } from '../src/recording/read-ahead.js'
import { RecordingReader, type MessageSource } from '../src/recording/reader.js'
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

/** One timed pass, per frame: wall, CPU of the process, the main thread's wait for reading. */
interface Pass {
  ms: number
  cpuMs: number
  waitMs: number
  /** The share of each CRC-32 the main thread summed at the end (ReadAheadReader.crcShare). */
  share: number
}

interface Variant {
  name: string
  /** Records read on the read-ahead thread (ReadAheadReader), or on the main thread. */
  readAhead: boolean
  verify: boolean
  files: boolean
  note: string
}

const VARIANTS: Variant[] = [
  {
    name: 'analyze_roi',
    readAhead: true,
    verify: true,
    files: false,
    note: 'read-ahead thread, CRC checked; results decoded, not written',
  },
  {
    name: 'analyze_roi_files',
    readAhead: true,
    verify: true,
    files: true,
    note: 'read-ahead thread, CRC checked; OUT.jsonl, OUT.h5, OUT.csv written',
  },
  {
    name: 'analyze_roi_no_verify',
    readAhead: true,
    verify: false,
    files: false,
    note: 'analyze --no_verify; results not written',
  },
  {
    name: 'analyze_roi_one_thread',
    readAhead: false,
    verify: true,
    files: false,
    note: 'records read and CRC checked on the main thread (before the read-ahead thread)',
  },
]

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
  opts: { frames?: number; runs?: number; only?: (name: string) => boolean } = {},
): Promise<AnalyzeCaseResult[]> {
  const variants = VARIANTS.filter((v) => opts.only?.(v.name) ?? true)
  if (variants.length === 0) return []
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
    const startMs: number[] = []
    const pass = async (v: Variant): Promise<Pass> => {
      const out = v.files ? await ResultFiles.create(join(dir, 'out'), {}) : undefined
      const file = RecordingReader.open(path, { verify: v.verify, reuseBuffer: true })
      const s0 = performance.now()
      const ahead = v.readAhead ? await ReadAheadReader.start(file) : undefined
      const reader: MessageSource & { close(): unknown } = ahead ?? file
      if (ahead) startMs.push(performance.now() - s0)
      // Timed from here: the thread has had no time to read ahead yet.
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
      const share = ahead?.crcShare ?? 0
      await reader.close()
      if (s.pulses !== frames || s.damage) throw new Error(`analyze pass: ${JSON.stringify(s)}`)
      if (s.frameErrors && Object.keys(s.frameErrors).length > 0) {
        throw new Error(`frame errors: ${JSON.stringify(s.frameErrors)}`)
      }
      return {
        ms: ms / frames,
        cpuMs: (c.user + c.system) / 1000 / frames,
        waitMs: (ahead?.waitedMs ?? 0) / frames,
        share,
      }
    }
    const passes = variants.map(() => [] as Pass[])
    // Warm-up pass each, then the variants interleaved (A/B/C, A/B/C, ...): the machine's
    // neighbours weigh on all of them alike.
    for (const v of variants) await pass(v)
    for (let r = 0; r < runs; r++) {
      for (let v = 0; v < variants.length; v++) passes[v]!.push(await pass(variants[v]!))
    }
    const start = `read-ahead thread start ${median(startMs).toFixed(0)} ms (not timed)`
    return variants.map(({ name, note, readAhead }, v) => {
      const times = passes[v]!.map((p) => p.ms)
      const ms = median(times)
      const wait = median(passes[v]!.map((p) => p.waitMs))
      const share = median(passes[v]!.map((p) => p.share))
      return {
        name,
        fps: Math.round(10_000 / ms) / 10,
        ms_per_frame: Math.round(ms * 1e4) / 1e4,
        ms_min: Math.round(Math.min(...times) * 1e4) / 1e4,
        cpu_ms: Math.round(median(passes[v]!.map((p) => p.cpuMs)) * 1e4) / 1e4,
        frames,
        runs,
        recording_mb: Math.round(bytes / 1e5) / 10,
        note:
          `${note}; ${(bytes / frames / 1e6).toFixed(2)} MB per message` +
          (readAhead
            ? `; the main thread waited ${wait.toFixed(3)} ms/frame for the read-ahead ` +
              `thread and summed ${(100 * share).toFixed(0)} % of each CRC at the end; ${start}`
            : ''),
      }
    })
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
