/**
 * `psen-processing analyze FILE PREFIX --roi_signal JSON --roi_background JSON
 * [--parameters JSON|@FILE] --output OUT`: runs the service's own frame pipeline (FramePipeline
 * with the FinderStage, the same kernels, ROI validation and parameter model as the HTTP API)
 * over a recording as fast as the machine allows, and writes one result per pulse
 * (src/cli/analyze-output.ts). Each result is the data message the service would send, decoded:
 * the live service and `analyze` give the same numbers for the same messages and settings.
 * @module
 */
import { readFileSync } from 'node:fs'

import { BsreadDecoder, decodeValue } from '../bsread/decoder.js'
import { BsreadError } from '../bsread/errors.js'
import { Codec } from '../kernel/codec.js'
import { Kernel } from '../kernel/kernel.js'
import { FinderStage } from '../processing/edge-stage.js'
import { parameterModel, type ProcessingParameters } from '../processing/parameters.js'
import { inputDecoderOptions } from '../processing/input.js'
import { FramePipeline } from '../processing/pipeline.js'
import { validateRoi, type Roi } from '../processing/roi.js'
import { makeSnapshot, type Snapshot } from '../processing/settings.js'
import { RunStatistics } from '../processing/statistics.js'
import { ReadAheadReader } from '../recording/read-ahead.js'
import { describeDamage, type MessageSource } from '../recording/reader.js'
import { ResultFiles, type PulseResult } from './analyze-output.js'
import type { ChannelNaming } from '../config.js'
import { DEFAULTS } from './args.js'
import { lines, onStop, openRecording, parseCommand, type CommandIO } from './command.js'
import { parseStrict, UsageError } from './usage.js'

export const ANALYZE_USAGE = `usage: psen-processing analyze FILE PREFIX --roi_signal JSON \\
         --roi_background JSON [--parameters JSON|@FILE] --output OUT

Runs the service's edge finding over a recording (psen-processing record) with the given ROIs
and parameters (validated as POST /roi_signal and POST /parameters do) and writes one row per
pulse, channels named as on the data stream (PREFIX:FPICTURE.edge_position, ...):
OUT.jsonl (every channel), OUT.h5 (HDF5: a dataset per channel, plus pulse_id and
global_timestamp_sec/_ns) and OUT.csv (the scalar channels).

  --roi_signal JSON          e.g. '[0, 2560, 1150, 400]' ([offset_x, size_x, offset_y, size_y])
  --roi_background JSON      e.g. '[0, 2560, 500, 400]' or '[]'
  --parameters JSON|@FILE    processing parameters, as for POST /parameters [defaults]
  --output OUT               output path without extension
  --channel_naming full|short  PREFIX:FPICTURE.x or PREFIX.x, as the service
                             [${DEFAULTS.channelNaming}]
  --max_frame_bytes N        largest image, decompressed, as the service [${DEFAULTS.maxFrameBytes}]
  --no_verify                skip the records' CRC check (faster; a truncated file is still found)
  -h, --help                 this text

Exit code 1 when the recording is damaged or truncated: the results up to the damage are kept.`

interface Parsed {
  file: string
  prefix: string
  roiSignal: Roi
  roiBackground: Roi
  parameters: ProcessingParameters
  output: string
  naming: ChannelNaming
  maxFrameBytes: number
  verify: boolean
}

function json(name: string, text: string): unknown {
  try {
    return JSON.parse(text)
  } catch (e) {
    throw new UsageError(`${name}: not JSON (${(e as Error).message})`)
  }
}

function parse(argv: string[]): Parsed | 'help' {
  const args = parseStrict(
    argv,
    {
      roi_signal: { type: 'string' },
      roi_background: { type: 'string' },
      parameters: { type: 'string' },
      output: { type: 'string', short: 'o' },
      channel_naming: { type: 'string' },
      max_frame_bytes: { type: 'string' },
      no_verify: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    true,
  )
  const v = args.values
  if (v.help) return 'help'
  const [file, prefix, ...extra] = args.positionals
  if (file === undefined || prefix === undefined || extra.length > 0) {
    throw new UsageError('expected FILE and PREFIX')
  }
  if (v.roi_signal === undefined) throw new UsageError('--roi_signal is required')
  if (v.roi_background === undefined) throw new UsageError('--roi_background is required')
  if (v.output === undefined || v.output === '') throw new UsageError('--output is required')
  const roi = (name: string, text: string): Roi => {
    try {
      return validateRoi(json(name, text))
    } catch (e) {
      throw new UsageError(`${name}: ${(e as Error).message}`)
    }
  }
  let partial: unknown = {}
  if (v.parameters !== undefined) {
    let text = v.parameters
    if (text.startsWith('@')) {
      try {
        text = readFileSync(text.slice(1), 'utf8')
      } catch (e) {
        throw new UsageError(`--parameters: cannot read ${text.slice(1)}: ${(e as Error).message}`)
      }
    }
    partial = json('--parameters', text)
  }
  let parameters: ProcessingParameters
  try {
    parameters = parameterModel.merge(parameterModel.defaults(), partial)
  } catch (e) {
    // The words of POST /parameters' answer.
    throw new UsageError(`--parameters: Invalid parameters: ${(e as Error).message}`)
  }
  const naming = v.channel_naming ?? DEFAULTS.channelNaming
  if (naming !== 'full' && naming !== 'short') {
    throw new UsageError(`--channel_naming: '${naming}' is not one of full, short`)
  }
  const maxFrameBytes =
    v.max_frame_bytes === undefined ? DEFAULTS.maxFrameBytes : Number(v.max_frame_bytes)
  if (!Number.isSafeInteger(maxFrameBytes) || maxFrameBytes < 1) {
    throw new UsageError(
      `--max_frame_bytes: expected a positive integer, got ` + `'${v.max_frame_bytes}'`,
    )
  }
  return {
    file,
    prefix,
    output: v.output,
    naming,
    maxFrameBytes,
    parameters,
    verify: !v.no_verify,
    roiSignal: roi('--roi_signal', v.roi_signal),
    roiBackground: roi('--roi_background', v.roi_background),
  }
}

/** What an analysis did. */
export interface AnalyzeSummary {
  /** Messages read from the recording. */
  messages: number
  /** Pulses written (one per well-formed message). */
  pulses: number
  /** Messages the bsread decoder refused, by reason (the service counts them the same way). */
  malformed: Record<string, number>
  /** Frame problems by cause (as /statistics n_frame_errors). */
  frameErrors: Record<string, number>
  damage: string | undefined
  stopped: boolean
}

/** The analysis loop: recording in, decoded data messages out (no files; see runAnalyze). */
export async function analyzeRecording(opts: {
  /** A ReadAheadReader (what `analyze` uses) or a RecordingReader (one thread). */
  reader: MessageSource
  kernel: Kernel
  prefix: string
  naming: ChannelNaming
  maxFrameBytes: number
  snapshot: Snapshot<ProcessingParameters>
  onResult: (r: PulseResult) => void
  /** Called about every 100 ms with the bytes read so far; may stop the loop by returning false. */
  onProgress?: (position: number) => boolean
}): Promise<AnalyzeSummary> {
  const { reader, kernel } = opts
  // One codec over the kernel's memory for everything, as the service (src/cli/main.ts).
  const codec = new Codec(kernel, { maxBytes: opts.maxFrameBytes })
  const pipeline = new FramePipeline<ProcessingParameters>({
    kernel,
    codec,
    prefix: opts.prefix,
    naming: opts.naming,
    maxFrameBytes: opts.maxFrameBytes,
    edge: new FinderStage(kernel, { codec }),
  })
  const input = new BsreadDecoder(inputDecoderOptions(opts.maxFrameBytes, codec))
  const output = new BsreadDecoder()
  const stats = new RunStatistics()
  const malformed: Record<string, number> = {}
  let messages = 0
  let pulses = 0
  let stopped = false
  let lastTick = performance.now()
  for (let m = await reader.next(); m !== undefined; m = await reader.next()) {
    messages++
    let msg
    try {
      msg = input.decode(m.parts)
    } catch (err) {
      if (!(err instanceof BsreadError)) throw err
      malformed[err.reason] = (malformed[err.reason] ?? 0) + 1
      continue
    }
    let parts: Buffer[]
    try {
      parts = pipeline.process(msg, opts.snapshot, stats)
    } catch (err) {
      // As the service: counted, and the pulse keeps its processing_parameters.
      stats.error('exception', `pulse ${msg.pulseId}: ${(err as Error).message}`)
      parts = pipeline.parametersOnly(msg, opts.snapshot)
    }
    const data = output.decode(parts)
    opts.onResult({
      pulseId: data.pulseId,
      timestamp: data.globalTimestamp,
      channels: data.channels.map((info, i) => {
        const raw = data.valueAt(i)
        return { info, value: raw === undefined ? NaN : decodeValue(raw) }
      }),
    })
    pulses++
    const now = performance.now()
    if (now - lastTick >= 100) {
      lastTick = now
      // Let signals and timers run.
      await new Promise((resolve) => setImmediate(resolve))
      if (opts.onProgress && !opts.onProgress(reader.position)) {
        stopped = true
        break
      }
    }
  }
  const frameErrors: Record<string, number> = {}
  for (const [cause, n] of Object.entries(stats.errors)) if (n > 0) frameErrors[cause] = n
  return {
    messages,
    pulses,
    malformed,
    frameErrors,
    stopped,
    damage: reader.damage ? describeDamage(reader) : undefined,
  }
}

function bar(fraction: number, width = 30): string {
  const full = Math.round(Math.min(1, Math.max(0, fraction)) * width)
  return `[${'#'.repeat(full)}${'.'.repeat(width - full)}]`
}

/** Runs the analyze command; resolves to the exit code. */
export async function runAnalyze(argv: string[], io: CommandIO = {}): Promise<number> {
  const l = lines(io)
  const { out, err, tty } = l
  const p = parseCommand('analyze', argv, ANALYZE_USAGE, l, parse)
  if (typeof p === 'number') return p
  const file = openRecording('analyze', p.file, { verify: p.verify }, l)
  if (file === undefined) return 1
  let reader: ReadAheadReader
  try {
    reader = await ReadAheadReader.start(file)
  } catch (e) {
    err(`analyze: cannot start reading ${p.file}: ${(e as Error).message}`)
    return 1
  }
  const snapshot = makeSnapshot(parameterModel, 1, p.roiSignal, p.roiBackground, p.parameters)
  let files: ResultFiles
  try {
    files = await ResultFiles.create(p.output, {
      recording: p.file,
      processing_parameters: snapshot.json,
      recording_info: JSON.stringify(reader.info ?? {}),
    })
  } catch (e) {
    await reader.close()
    err(`analyze: cannot create ${p.output}.*: ${(e as Error).message}`)
    return 1
  }
  let aborted = false
  // Stops early; what was analysed so far is written.
  const unwatch = onStop(io, () => {
    aborted = true
  })
  const t0 = performance.now()
  let summary: AnalyzeSummary
  try {
    summary = await analyzeRecording({
      reader,
      kernel: await Kernel.load(),
      prefix: p.prefix,
      naming: p.naming,
      maxFrameBytes: p.maxFrameBytes,
      snapshot,
      onResult: (r) => files.add(r),
      onProgress: (position) => {
        if (tty) {
          const s = (performance.now() - t0) / 1000
          process.stderr.write(
            `\r${bar(position / reader.size)} ` +
              `${((100 * position) / reader.size).toFixed(0)} %  ${files.rows} pulses  ` +
              `${(files.rows / s).toFixed(0)}/s `,
          )
        }
        return !aborted
      },
    })
  } finally {
    if (tty) process.stderr.write('\n')
    unwatch()
    files.close()
    await reader.close()
  }
  const s = (performance.now() - t0) / 1000
  const list = (r: Record<string, number>): string =>
    Object.entries(r)
      .map(([k, n]) => `${k} ${n}`)
      .join(', ') || 'none'
  out(
    `${summary.pulses} pulses from ${summary.messages} messages in ${s.toFixed(1)} s ` +
      `(${(summary.pulses / s).toFixed(0)}/s) -> ${files.paths.jsonl}, ${files.paths.h5}, ` +
      files.paths.csv,
  )
  out(
    `malformed messages: ${list(summary.malformed)}; frame problems: ` + list(summary.frameErrors),
  )
  for (const [name, n] of files.mismatched) {
    err(`analyze: ${name}: ${n} row(s) changed type or length; left at the fill value in HDF5`)
  }
  if (files.lateScalars.size > 0) {
    err(`analyze: not in the CSV (first seen after its header): ${[...files.lateScalars]}`)
  }
  if (summary.stopped) err('analyze: stopped early; the results so far are written')
  if (summary.damage) {
    err(`analyze: ${summary.damage}; the results up to there are written`)
    return 1
  }
  return summary.stopped ? 130 : 0
}
