/**
 * Command line of the service: the Python psen_processing's arguments (same names, same
 * defaults, except the REST port: 10000, the port of the old service's published API
 * description, where its code said 11000 and production always passed it) plus what the new
 * service adds.
 * @module
 */
import {
  LOG_LEVELS,
  type ChannelNaming,
  type InputMode,
  type LogLevelName,
  type OutputMode,
  type ServiceConfig,
} from '../config.js'
import { resolveStateFile } from '../state/location.js'
import {
  checkStreamAddress,
  choice,
  decimal,
  integer,
  nearest,
  parseStrict,
  UsageError,
} from './usage.js'

export { checkStreamAddress, UsageError }

/** Defaults of every option (the contract's where it names one). */
export const DEFAULTS = {
  dataPort: 8888,
  imagePort: 8889,
  restPort: 10000,
  restInterface: '0.0.0.0',
  streamInterface: '*',
  logLevel: 'INFO' as LogLevelName,
  inputMode: 'pull' as InputMode,
  outputMode: 'push' as OutputMode,
  channelNaming: 'full' as ChannelNaming,
  dataSendTimeoutMs: 1,
  dataQueue: 100,
  imageQueue: 100,
  inputQueue: 100,
  // 93 images of 5.5 MB (2560x2160 uint16, bitshuffle_lz4) each: docs/limits.md.
  imageQueueMb: 512,
  inputQueueMb: 512,
  maxFrameBytes: 256 * 1024 * 1024,
  previewRate: 5,
  readyTimeoutS: 10,
  threads: 1,
}

const D = DEFAULTS

/** The service's --help text. */
export const USAGE = `Usage:
  psen-processing INPUT_STREAM PREFIX [options]   run the service
  psen-processing                                 demo: simulated camera + service
  psen-processing dump [options]                  print a bsread stream (dump --help)
  psen-processing simulate [options]              simulated camera (simulate --help)
  psen-processing record INPUT FILE [options]     record a bsread stream (record --help)
  psen-processing replay FILE [options]           send a recording like a camera (replay --help)
  psen-processing analyze FILE PREFIX [options]   edge finding over a recording (analyze --help)

Arguments:
  INPUT_STREAM   bsread stream to process, tcp://host:port (PULL, connect)
  PREFIX         camera name; the image channel is PREFIX:FPICTURE

Options (both --opt value and --opt=value; defaults in brackets):
  -o, --data_output_stream_port PORT   processed-data stream, bound [${D.dataPort}]
  -i, --image_output_stream_port PORT  image stream, bound [${D.imagePort}]
  -r, --rest_api_port PORT             HTTP API port, 0: any free port [${D.restPort}]
      --rest_api_interface ADDR        interface of the HTTP API [${D.restInterface}]
      --stream_interface ADDR          interface of the output streams [${D.streamInterface}]
      --log_level LEVEL                CRITICAL ERROR WARNING INFO DEBUG [${D.logLevel}]
      --auto_start                     start processing as soon as the service is up
      --input_mode pull|sub            PULL or SUB (broadcast) input [${D.inputMode}]
      --output_mode push|pub           data and image streams: PUSH (each message to one
                                       consumer) or PUB (every consumer gets every
                                       message) [${D.outputMode}]
      --channel_naming full|short      outputs PREFIX:FPICTURE.x or PREFIX.x [${D.channelNaming}]
      --data_send_timeout_ms MS        longest wait per data message when its queue is
                                       full; then it is dropped and counted [${D.dataSendTimeoutMs}]
      --data_queue N                   data stream queue, messages [${D.dataQueue}]
      --image_queue N                  image stream queue, messages; full: drop [${D.imageQueue}]
      --input_queue N                  input receive queue, messages [${D.inputQueue}]
      --image_queue_mb MB              image stream queue, MiB; full: drop [${D.imageQueueMb}]
      --input_queue_mb MB              input receive queue, MiB [${D.inputQueueMb}]
      --max_frame_bytes N              largest image, decompressed [${D.maxFrameBytes}]
      --state_file PATH|none           where ROIs and parameters survive restarts; none:
                                       memory only [env PSEN_STATE_FILE; unset: one file
                                       per PREFIX and port in $XDG_STATE_HOME/psen-processing
                                       or ~/.local/state/psen-processing; demo: none]
      --api_token TOKEN                POST endpoints and the preview WebSocket need the
                                       token [env PSEN_API_TOKEN; unset: open]
      --allowed_origins URL[,URL...]   web pages of these origins (besides the service's
                                       own) may change settings [none]
      --preview_rate HZ                frames/s for the browser preview, 0: off [${D.previewRate}]
      --ready_timeout_s S              GET /ready fails after S s without input [${D.readyTimeoutS}]
      --threads N                      threads that decode and sum each frame together
                                       (main + N-1 workers) [${D.threads}]
  -h, --help                           this text
  -v, --version                        the version

Signals: SIGTERM and SIGINT stop the service cleanly (sockets closed, state written).
`

export type ParsedCommand =
  | { kind: 'help' }
  | { kind: 'version' }
  | { kind: 'demo'; config: Omit<ServiceConfig, 'inputStream' | 'prefix'> }
  | { kind: 'service'; config: ServiceConfig }

/** The subcommands (src/cli/main.ts dispatches them). */
export const SUBCOMMANDS = ['dump', 'simulate'] as const

const OPTIONS = {
  data_output_stream_port: { type: 'string', short: 'o' },
  // The old code's name for the same thing (before the image stream existed).
  output_stream_port: { type: 'string' },
  image_output_stream_port: { type: 'string', short: 'i' },
  rest_api_port: { type: 'string', short: 'r' },
  rest_api_interface: { type: 'string' },
  stream_interface: { type: 'string' },
  log_level: { type: 'string' },
  auto_start: { type: 'boolean' },
  input_mode: { type: 'string' },
  output_mode: { type: 'string' },
  channel_naming: { type: 'string' },
  data_send_timeout_ms: { type: 'string' },
  data_queue: { type: 'string' },
  image_queue: { type: 'string' },
  input_queue: { type: 'string' },
  image_queue_mb: { type: 'string' },
  input_queue_mb: { type: 'string' },
  max_frame_bytes: { type: 'string' },
  threads: { type: 'string' },
  state_file: { type: 'string' },
  api_token: { type: 'string' },
  allowed_origins: { type: 'string' },
  preview_rate: { type: 'string' },
  ready_timeout_s: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'v' },
} as const

/** `--allowed_origins`: comma-separated http(s) origins, each normalised as browsers send it. */
function origins(raw: string | undefined): string[] {
  if (raw === undefined) return []
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((s) => {
      let url: URL | undefined
      try {
        url = new URL(s)
      } catch {
        // reported below
      }
      if (
        !url ||
        (url.protocol !== 'http:' && url.protocol !== 'https:') ||
        (url.pathname !== '/' && url.pathname !== '') ||
        url.search ||
        url.hash ||
        url.username
      ) {
        throw new UsageError(`--allowed_origins: '${s}' is not an origin like http://host:port`)
      }
      return url.origin
    })
}

/**
 * Parses the service's command line (without a subcommand). Throws UsageError with a message
 * meant for the user on anything it cannot run.
 */
export function parseServiceArgs(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
): ParsedCommand {
  // A mistyped subcommand ('dunp') would otherwise be taken for INPUT_STREAM.
  const first = argv[0]
  if (first !== undefined && !first.startsWith('-') && !first.includes('://')) {
    const guess = nearest(first, SUBCOMMANDS)
    if (guess) throw new UsageError(`unknown command '${first}': did you mean ${guess}?`)
  }
  const { values: v, positionals } = parseStrict(argv, OPTIONS, true)
  if (v.help) return { kind: 'help' }
  if (v.version) return { kind: 'version' }
  if (positionals.length > 2) {
    throw new UsageError(`unexpected argument '${positionals[2]}' (INPUT_STREAM PREFIX expected)`)
  }
  if (positionals.length === 1) {
    if (!positionals[0]!.includes('://')) {
      throw new UsageError(
        `'${positionals[0]}' is neither a command (${SUBCOMMANDS.join(', ')}) ` +
          'nor INPUT_STREAM PREFIX',
      )
    }
    throw new UsageError('PREFIX is missing (INPUT_STREAM PREFIX expected)')
  }
  if (v.data_output_stream_port !== undefined && v.output_stream_port !== undefined) {
    throw new UsageError('give --data_output_stream_port or --output_stream_port, not both')
  }

  const token = v.api_token ?? env.PSEN_API_TOKEN
  const common = {
    dataPort: integer(
      'data_output_stream_port',
      v.data_output_stream_port ?? v.output_stream_port,
      DEFAULTS.dataPort,
      1,
      65535,
    ),
    imagePort: integer(
      'image_output_stream_port',
      v.image_output_stream_port,
      DEFAULTS.imagePort,
      1,
      65535,
    ),
    restPort: integer('rest_api_port', v.rest_api_port, DEFAULTS.restPort, 0, 65535),
    restInterface: v.rest_api_interface ?? DEFAULTS.restInterface,
    streamInterface: v.stream_interface ?? DEFAULTS.streamInterface,
    logLevel: choice('log_level', v.log_level, DEFAULTS.logLevel, LOG_LEVELS),
    autoStart: v.auto_start ?? false,
    inputMode: choice('input_mode', v.input_mode, DEFAULTS.inputMode, ['pull', 'sub'] as const),
    outputMode: choice('output_mode', v.output_mode, DEFAULTS.outputMode, ['push', 'pub'] as const),
    channelNaming: choice('channel_naming', v.channel_naming, DEFAULTS.channelNaming, [
      'full',
      'short',
    ] as const),
    dataSendTimeoutMs: decimal(
      'data_send_timeout_ms',
      v.data_send_timeout_ms,
      DEFAULTS.dataSendTimeoutMs,
      0,
      60_000,
    ),
    dataQueue: integer('data_queue', v.data_queue, DEFAULTS.dataQueue, 1, 1_000_000),
    imageQueue: integer('image_queue', v.image_queue, DEFAULTS.imageQueue, 1, 1_000_000),
    inputQueue: integer('input_queue', v.input_queue, DEFAULTS.inputQueue, 1, 1_000_000),
    imageQueueMb: integer('image_queue_mb', v.image_queue_mb, DEFAULTS.imageQueueMb, 1, 65_536),
    inputQueueMb: integer('input_queue_mb', v.input_queue_mb, DEFAULTS.inputQueueMb, 1, 65_536),
    maxFrameBytes: integer(
      'max_frame_bytes',
      v.max_frame_bytes,
      DEFAULTS.maxFrameBytes,
      1024,
      2 ** 31,
    ),
    // Given explicitly (PSEN_STATE_FILE: what older images set); the default needs the prefix.
    stateFile: resolveStateFile(v.state_file ?? (env.PSEN_STATE_FILE || undefined), undefined),
    apiToken: token === undefined || token === '' ? undefined : token,
    allowedOrigins: origins(v.allowed_origins),
    previewRate: decimal('preview_rate', v.preview_rate, DEFAULTS.previewRate, 0, 1000),
    readyTimeoutS: decimal(
      'ready_timeout_s',
      v.ready_timeout_s,
      DEFAULTS.readyTimeoutS,
      0.1,
      86_400,
    ),
    threads: integer('threads', v.threads, DEFAULTS.threads, 1, 64),
  }
  if (common.dataPort === common.imagePort) {
    throw new UsageError(
      `the data and image streams need different ports (both ${common.dataPort})`,
    )
  }
  if (positionals.length === 0) return { kind: 'demo', config: common }

  const [inputStream = '', prefix = ''] = positionals
  checkStreamAddress(inputStream)
  if (prefix.trim() === '' || /\s/.test(prefix)) {
    throw new UsageError(`PREFIX must be a camera name without spaces, got '${prefix}'`)
  }
  const stateFile = resolveStateFile(
    v.state_file ?? (env.PSEN_STATE_FILE || undefined),
    { prefix, restPort: common.restPort },
    env,
  )
  return { kind: 'service', config: { ...common, inputStream, prefix, stateFile } }
}
