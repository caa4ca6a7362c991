/**
 * The ingest worker thread: owns the ZeroMQ input and both output streams and runs the frame
 * loop (headers, kernels, edge, forwarding) on a heap of its own. Every received message part
 * is reported to V8 as external memory, which makes V8 run full mark-compacts of the heap of
 * the thread that received it (docs/performance.md); here that heap holds little besides the
 * frame path, while the main thread's (HTTP, settings, logging, metrics) sees no frame bytes.
 * Started by src/processing/ingest-client.ts; the messages are in ingest-protocol.ts.
 * @module
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads'
import type { ChannelInfo, Timestamp } from '../bsread/types.js'
import { Codec } from '../kernel/codec.js'
import { Kernel } from '../kernel/kernel.js'
import { ParallelProfiler } from '../kernel/parallel-profiler.js'
import { createLogger } from '../log.js'
import { Metrics } from '../metrics.js'
import { ControlError } from './control.js'
import { FinderStage } from './edge-stage.js'
import { FAULT_ENV, FaultInjection } from './faults.js'
import { FrameLoop } from './frame-loop.js'
import type { FrameObserver } from './frame-observer.js'
import {
  TICK_MS,
  type IngestEvent,
  type IngestInit,
  type IngestRequest,
  type IngestState,
  type PreviewImage,
  type WantFrames,
} from './ingest-protocol.js'
import type { ProcessingParameters } from './parameters.js'
import { FrameScavenger, minorCollector } from './scavenger.js'
import type { Snapshot } from './settings.js'

/** Edge results kept between two ticks (the preview's trend); older ones are dropped. */
const RESULT_CAPACITY = 1024

/**
 * The preview's side in this thread: keeps the edge results and, while the main thread wants
 * images, the newest one, which goes over (copied) at most at the preview rate.
 */
class PreviewBridge implements FrameObserver {
  wanted = false
  readonly #periodMs: number
  readonly #pulseIds = new BigInt64Array(RESULT_CAPACITY)
  readonly #edges = new Float64Array(RESULT_CAPACITY)
  readonly #amplitudes = new Float64Array(RESULT_CAPACITY)
  #results = 0
  #image: PreviewImage | undefined
  #imageSentAt = -Infinity

  constructor(rateHz: number) {
    this.#periodMs = 1000 / rateHz
  }

  offer(pulseId: bigint, globalTimestamp: Timestamp, channel: ChannelInfo, data: Uint8Array): void {
    if (!this.wanted) return
    // A reference only: the copy is made when (and if) it goes to the main thread.
    this.#image = { pulseId, globalTimestamp, channel, data }
  }

  clear(): void {
    this.#image = undefined
  }

  offerResult(pulseId: bigint, edgePosition: number, amplitude: number): void {
    if (this.#results === RESULT_CAPACITY) return
    const i = this.#results++
    this.#pulseIds[i] = BigInt.asIntN(64, pulseId)
    this.#edges[i] = edgePosition
    this.#amplitudes[i] = amplitude
  }

  /** What goes out with a tick: the results since the last one, maybe a copied image. */
  take(event: Extract<IngestEvent, { t: 'tick' }>, transfer: ArrayBuffer[]): void {
    const n = this.#results
    if (n > 0) {
      event.results = {
        pulseIds: this.#pulseIds.slice(0, n),
        edges: this.#edges.slice(0, n),
        amplitudes: this.#amplitudes.slice(0, n),
      }
      this.#results = 0
    }
    const image = this.#image
    const now = performance.now()
    if (image === undefined || !this.wanted || now - this.#imageSentAt < this.#periodMs) return
    const data = new Uint8Array(image.data)
    event.image = { ...image, data }
    transfer.push(data.buffer)
    this.#image = undefined
    this.#imageSentAt = now
  }
}

/** Sends the state (and the preview's share) at most every TICK_MS, the last change always. */
class Ticker {
  #timer: ReturnType<typeof setTimeout> | undefined
  #last = -Infinity

  constructor(private readonly send: () => void) {}

  activity(): void {
    if (this.#timer !== undefined) return
    const wait = this.#last + TICK_MS - performance.now()
    if (wait <= 0) {
      this.#tick()
      return
    }
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      this.#tick()
    }, wait)
  }

  #tick(): void {
    this.#last = performance.now()
    this.send()
  }
}

async function run(port: MessagePort, init: IngestInit): Promise<void> {
  const { config } = init
  const post = (event: IngestEvent, transfer: ArrayBuffer[] = []): void =>
    port.postMessage(event, transfer)
  const log = await createLogger({ level: config.logLevel, pretty: init.prettyLogs })
  const metrics = new Metrics({ defaultMetrics: false })
  const stopGcWatch = metrics.watchFrameGc()
  let parallel: ParallelProfiler | undefined
  let loop: FrameLoop<ProcessingParameters>
  const bridge = config.previewRate > 0 ? new PreviewBridge(config.previewRate) : undefined
  const state = (): IngestState => ({
    lastError: loop.lastError(),
    lastReceivedAt: loop.lastReceivedAt(),
  })
  const ticker = new Ticker(() => {
    const event: Extract<IngestEvent, { t: 'tick' }> = { t: 'tick', state: state() }
    const transfer: ArrayBuffer[] = []
    bridge?.take(event, transfer)
    post(event, transfer)
  })
  try {
    const kernel = await Kernel.load()
    const codec = new Codec(kernel, { maxBytes: config.maxFrameBytes })
    parallel =
      config.threads > 1
        ? await ParallelProfiler.create(kernel, codec, {
            threads: config.threads,
            onBroken: (reason) =>
              log.error(
                { reason },
                'decode threads stopped; frames are decoded on the ingest thread alone from now on',
              ),
          })
        : undefined
    const collect = minorCollector()
    if (!collect) log.warn('no young-generation collection available: full GCs will be frequent')
    const faults = FaultInjection.parse(process.env[FAULT_ENV])
    if (faults) log.warn({ [FAULT_ENV]: process.env[FAULT_ENV] }, 'test-only fault injection is on')
    loop = await FrameLoop.create<ProcessingParameters>({
      config,
      log: log.child({ module: 'service' }),
      metrics,
      kernel,
      codec,
      edge: new FinderStage(kernel, { codec }),
      observer: bridge,
      faults,
      parallel,
      onActivity: () => ticker.activity(),
      scavenger: collect ? new FrameScavenger(collect) : undefined,
    })
  } catch (err) {
    await parallel?.close()
    stopGcWatch()
    post({ t: 'failed', message: (err as Error).message, control: err instanceof ControlError })
    return
  }
  loop.onEnded((err) => post({ t: 'ended', message: err.message }))
  port.on('message', (m: IngestRequest | WantFrames) => {
    if (m.op === 'want') {
      if (bridge) bridge.wanted = m.frames
      return
    }
    void answer(m)
      .then(
        (value) => post({ t: 'reply', id: m.id, state: state(), value }),
        (err: unknown) =>
          post({
            t: 'reply',
            id: m.id,
            state: state(),
            error: { message: (err as Error).message, control: err instanceof ControlError },
          }),
      )
      .then(() => {
        // Closed: nothing keeps this thread alive any more, so it ends.
        if (m.op === 'close') {
          stopGcWatch()
          port.close()
        }
      })
  })
  post({ t: 'ready' })

  async function answer(m: IngestRequest): Promise<unknown> {
    switch (m.op) {
      case 'start':
        return loop.start(m.snapshot as Snapshot<ProcessingParameters>)
      case 'stop':
        return loop.stop()
      case 'snapshot':
        return loop.setSnapshot(m.snapshot as Snapshot<ProcessingParameters>)
      case 'statistics':
        return loop.statistics()
      case 'metrics':
        return metrics.frameText()
      case 'outputs':
        return loop.outputs()
      case 'close':
        return loop.close()
      case 'abort':
        return loop.abort()
    }
  }
}

if (parentPort) {
  void run(parentPort, workerData as IngestInit)
}
