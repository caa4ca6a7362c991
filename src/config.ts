/**
 * The service's configuration: what the command line (src/cli/args.ts) produces and every layer
 * reads. It lives here, below all of them, so that no layer imports the command line.
 * @module
 */

/** Log levels by the contract's (Python logging) names. */
export const LOG_LEVELS = ['CRITICAL', 'ERROR', 'WARNING', 'INFO', 'DEBUG'] as const
export type LogLevelName = (typeof LOG_LEVELS)[number]

export type InputMode = 'pull' | 'sub'
/** How the data and image streams send: PUSH (one consumer gets each message) or PUB (all do). */
export type OutputMode = 'push' | 'pub'
export type ChannelNaming = 'full' | 'short'

/** Everything the service needs from its command line, validated. */
export interface ServiceConfig {
  /** bsread input, tcp://host:port (PULL connect, or SUB with input_mode sub). */
  inputStream: string
  /** Camera name; the image channel is PREFIX + ':FPICTURE'. */
  prefix: string
  dataPort: number
  imagePort: number
  restPort: number
  restInterface: string
  /** Interface the two output streams bind to ('*' = all, as the old service). */
  streamInterface: string
  logLevel: LogLevelName
  autoStart: boolean
  inputMode: InputMode
  outputMode: OutputMode
  channelNaming: ChannelNaming
  /** Longest wait per data message when the data queue is full, then drop (ms). */
  dataSendTimeoutMs: number
  dataQueue: number
  imageQueue: number
  inputQueue: number
  /** Bytes (MiB) the image stream queue and the input receive queue hold at most. */
  imageQueueMb: number
  inputQueueMb: number
  /** Largest accepted (decompressed) image in bytes; bigger frames are counted and skipped. */
  maxFrameBytes: number
  /** Where ROIs and parameters persist across restarts (undefined: in memory only). */
  stateFile: string | undefined
  /** When set, mutating HTTP endpoints require `Authorization: Bearer <token>`. */
  apiToken: string | undefined
  /** Web origins besides the service's own whose pages may change settings (`http://host:port`). */
  allowedOrigins?: string[]
  /** Highest rate (Hz) at which frames are offered to the browser preview (0 = off). */
  previewRate: number
  /** GET /ready fails when no input frame arrived for this long (seconds). */
  readyTimeoutS: number
  /** Threads that decode and sum one frame together (1: the main thread alone). */
  threads: number
}
