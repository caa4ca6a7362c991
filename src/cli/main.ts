/**
 * The `psen-processing` command: `dump`, `simulate`, `record`, `replay`, `analyze`, the
 * service (`INPUT_STREAM PREFIX`), or, without arguments, a demo (simulated camera + service,
 * auto-started).
 * @module
 */
import { createApp } from '../api/app.js'
import { listen, type HttpServer } from '../api/server.js'
import { createLogger, type Logger } from '../log.js'
import { Metrics } from '../metrics.js'
import { PreviewFeed } from '../preview/feed.js'
import { previewRoutes, previewWebSocket } from '../preview/routes.js'
import { IngestWorker } from '../processing/ingest-client.js'
import { EDGE_STATUS, parameterModel, type ProcessingParameters } from '../processing/parameters.js'
import { PsenService } from '../processing/service.js'
import type { Roi } from '../processing/roi.js'
import { startSimulator, type Simulator } from '../sim/simulator.js'
import { StateStore } from '../state/store.js'
import { runDump } from './dump.js'
import { runSimulate } from './simulate.js'
import { packageVersion } from './version.js'
import type { ServiceConfig } from '../config.js'
import { parseServiceArgs, USAGE, UsageError } from './args.js'
import { USAGE_EXIT, usageFailure } from './usage.js'

/** Longest a clean shutdown may take before the process exits anyway (SIGTERM: within 2 s). */
const SHUTDOWN_LIMIT_MS = 1700

/** Runs the command line; resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  // Unit files written for the old image name the command first (`IMAGE psen_processing …`).
  if (argv[0] === 'psen_processing' || argv[0] === 'psen-processing') argv = argv.slice(1)
  const [first, ...rest] = argv
  if (first === 'dump') return runDump(rest)
  if (first === 'simulate') {
    return runSimulate(rest)
  }
  // Loaded on use: the service process need not carry the recording code and h5wasm's
  // WebAssembly instance (it instantiates on import).
  if (first === 'record') return (await import('./record.js')).runRecord(rest)
  if (first === 'replay') return (await import('./replay.js')).runReplay(rest)
  if (first === 'analyze') return (await import('./analyze.js')).runAnalyze(rest)
  let cmd
  try {
    cmd = parseServiceArgs(argv)
  } catch (err) {
    if (!(err instanceof UsageError)) throw err
    process.stderr.write(usageFailure('', err.message))
    return USAGE_EXIT
  }
  if (cmd.kind === 'help') {
    process.stdout.write(USAGE)
    return 0
  }
  if (cmd.kind === 'version') {
    process.stdout.write(`psen-processing ${packageVersion()}\n`)
    return 0
  }
  if (cmd.kind === 'demo') return runDemo(cmd.config)
  return runService(cmd.config)
}

export interface RunningService {
  service: PsenService<ProcessingParameters>
  http: HttpServer
  log: Logger
  /** Stops everything (idempotent). */
  shutdown(reason: string): Promise<void>
}

/** Builds and starts the whole service (kernel, state, streams, HTTP). */
export async function startService(
  config: ServiceConfig,
  opts: { defaultRois?: { signal: Roi; background: Roi } } = {},
): Promise<RunningService> {
  const log = await createLogger({ level: config.logLevel })
  const store = await StateStore.open({
    path: config.stateFile,
    logger: log.child({ module: 'state' }),
  })
  const metrics = new Metrics()
  const feed = config.previewRate > 0 ? new PreviewFeed({ rateHz: config.previewRate }) : undefined
  // The frames run in the ingest worker thread: their bytes never reach this thread's heap
  // (docs/performance.md). It binds the output streams now, so a taken port fails the start.
  const engine = await IngestWorker.start<ProcessingParameters>({
    config,
    log: log.child({ module: 'ingest' }),
    metrics,
    observer: feed,
  })
  let service: PsenService<ProcessingParameters>
  try {
    service = await PsenService.create({
      config,
      log: log.child({ module: 'service' }),
      metrics,
      store,
      parameters: parameterModel,
      parameterInfo: { edge_status: EDGE_STATUS },
      engine,
    })
  } catch (err) {
    await engine.close()
    throw err
  }
  let http: HttpServer
  try {
    const app = createApp({
      control: service,
      log: log.child({ module: 'http' }),
      metrics,
      ...(config.apiToken !== undefined ? { apiToken: config.apiToken } : {}),
      allowedOrigins: config.allowedOrigins ?? [],
      stateFile: () => ({ persistent: store.path !== undefined, error: store.problem ?? null }),
    })
    if (feed) app.route('/', previewRoutes({ feed, tokenRequired: config.apiToken !== undefined }))
    http = await listen(app, {
      port: config.restPort,
      host: config.restInterface,
      ...(feed ? { websocket: previewWebSocket() } : {}),
    })
  } catch (err) {
    await service.close()
    throw new Error(
      `cannot serve HTTP on ${config.restInterface}:${config.restPort}: ` +
        `${(err as Error).message}`,
    )
  }
  if (
    opts.defaultRois &&
    service.getRoi('roi_signal').length === 0 &&
    service.getRoi('roi_background').length === 0
  ) {
    const who = { endpoint: 'demo defaults', client: 'local' }
    await service.setRoi('roi_signal', opts.defaultRois.signal, who)
    await service.setRoi('roi_background', opts.defaultRois.background, who)
  }
  log.info(
    {
      input: config.inputStream,
      prefix: config.prefix,
      data_port: config.dataPort,
      image_port: config.imagePort,
      output_mode: config.outputMode,
      rest: `http://${config.restInterface}:${http.port}/`,
      auto_start: config.autoStart,
      state_file: store.path ?? 'none (settings kept in memory)',
      allowed_origins: config.allowedOrigins ?? [],
      api_token: config.apiToken !== undefined,
      threads: config.threads,
    },
    'psen-processing is up',
  )
  if (store.problem) {
    log.error({ state_file: store.path }, `settings changes are refused: ${store.problem}`)
  }
  if (config.autoStart) {
    try {
      await service.start()
    } catch (err) {
      log.error({ err }, 'auto start failed; start it with POST /start')
    }
  }
  let closing: Promise<void> | undefined
  const shutdown = (reason: string): Promise<void> => {
    closing ??= (async () => {
      log.info({ reason }, 'shutting down')
      const closed = await Promise.allSettled([http.close(300), service.close()])
      feed?.close()
      // A close that failed is reported (and makes the exit code non-zero), never swallowed.
      const failed = closed.flatMap((r, i) => (r.status === 'rejected' ? [[i, r.reason]] : []))
      for (const [i, err] of failed) {
        log.error({ err }, `closing the ${i === 0 ? 'HTTP server' : 'service'} failed`)
      }
      if (failed.length > 0) throw new Error('shutdown: a close failed (see the log)')
      log.info('stopped')
    })()
    return closing
  }
  return { service, http, log, shutdown }
}

/** Runs until SIGTERM/SIGINT; resolves to the exit code. */
async function runUntilSignal(
  running: RunningService,
  extra?: () => Promise<void>,
): Promise<number> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      process.off('SIGTERM', onSignal)
      process.off('SIGINT', onSignal)
      // Whatever hangs, the process ends in time (systemd and docker wait for it), and says
      // so: an exit that was forced is a failure.
      setTimeout(() => {
        running.log.error(
          { limit_ms: SHUTDOWN_LIMIT_MS },
          'shutdown did not finish in time; exiting anyway',
        )
        // The ingest thread's sockets first: a thread torn down with open zeromq sockets
        // aborts the process (SIGABRT instead of this exit code).
        void running.service.abort().finally(() => process.exit(1))
      }, SHUTDOWN_LIMIT_MS).unref()
      void running
        .shutdown(signal)
        .then(() => extra?.())
        .then(
          () => resolve(0),
          (err: unknown) => {
            running.log.error({ err }, 'shutdown failed')
            resolve(1)
          },
        )
    }
    process.on('SIGTERM', onSignal)
    process.on('SIGINT', onSignal)
  })
}

async function runService(config: ServiceConfig): Promise<number> {
  let running: RunningService
  try {
    running = await startService(config)
  } catch (err) {
    process.stderr.write(`psen-processing: ${(err as Error).message}\n`)
    return 1
  }
  return runUntilSignal(running)
}

/** No arguments: a simulated camera and the service on it, started, with ROIs on its band. */
async function runDemo(base: Omit<ServiceConfig, 'inputStream' | 'prefix'>): Promise<number> {
  let sim: Simulator
  try {
    sim = await startSimulator({})
  } catch (err) {
    process.stderr.write(
      `psen-processing: cannot start the simulated camera: ${(err as Error).message}\n`,
    )
    return 1
  }
  const config: ServiceConfig = {
    ...base,
    inputStream: sim.address,
    prefix: sim.prefix,
    autoStart: true,
  }
  // The simulator's spectrum band sits at the facility's rows 1150..1550 scaled to its height.
  const y0 = Math.round((1150 / 2160) * sim.height)
  const y1 = Math.round((1550 / 2160) * sim.height)
  let running: RunningService
  try {
    running = await startService(config, {
      defaultRois: {
        signal: [0, sim.width, y0, Math.max(1, y1 - y0)],
        background: [0, sim.width, 0, Math.max(1, Math.min(y0, 32))],
      },
    })
  } catch (err) {
    await sim.close()
    process.stderr.write(`psen-processing: ${(err as Error).message}\n`)
    return 1
  }
  const host = config.restInterface === '0.0.0.0' ? 'localhost' : config.restInterface
  process.stdout.write(
    [
      '',
      'psen-processing demo: a simulated camera streams into the service.',
      `  preview:      http://${host}:${running.http.port}/`,
      `  HTTP API:     http://${host}:${running.http.port}/status  (/statistics, /roi_signal, ...)`,
      `  camera:       ${sim.address} (${sim.width}x${sim.height}, ${sim.prefix}:FPICTURE)`,
      `  data stream:  tcp://${host}:${config.dataPort} (${config.outputMode.toUpperCase()})`,
      `  image stream: tcp://${host}:${config.imagePort} (${config.outputMode.toUpperCase()})`,
      '  Nobody reads the streams yet, so their messages are dropped (the page says so); watch',
      `  one with: node bin/psen-processing.js dump tcp://${host}:${config.dataPort}` +
        (config.outputMode === 'pub' ? ' --sub' : ''),
      '  Ctrl-C stops.',
      '',
    ].join('\n') + '\n',
  )
  return runUntilSignal(running, () => sim.close())
}
