/**
 * A PULL consumer of one of the service's output streams, run as its own process by the
 * benchmark and the soak harness: it stamps each message's receipt on the monotonic clock and
 * reports (pulse id, time) batches to the orchestrator over IPC.
 *
 * Usage (forked with an IPC channel): consumer.ts ENDPOINT data|image
 * @module
 */
import { Pull, context } from 'zeromq'
import { nowMs, type ConsumerEvent } from './common.js'

const [endpoint, kind] = process.argv.slice(2)
if (!endpoint || (kind !== 'data' && kind !== 'image') || !process.send) {
  console.error('usage: consumer.ts ENDPOINT data|image (forked with IPC)')
  process.exit(2)
}
const send = (ev: ConsumerEvent) => process.send?.(ev)

context.blocky = false
// A generous queue: the consumer must never be the reason a frame is lost.
const pull = new Pull({ linger: 0, receiveHighWaterMark: 1000 })
pull.connect(endpoint)

let pulses: number[] = []
let times: number[] = []
let bad: string[] = []

// Batches keep the IPC traffic at a few messages per second whatever the frame rate.
const flush = setInterval(() => {
  if (pulses.length === 0 && bad.length === 0) return
  send({ type: 'recv', pulses, times, bad })
  pulses = []
  times = []
  bad = []
}, 200)

const PULSE_RE = /"pulse_id"\s*:\s*(\d+)/

async function main(): Promise<void> {
  send({ type: 'ready' })
  for await (const parts of pull) {
    const t = nowMs()
    const head = parts[0]
    // The bench's pulse ids stay far below 2^53, so a number is exact; a regex avoids parsing
    // the whole header on the hot path of the image consumer.
    const m = head ? PULSE_RE.exec(head.toString('latin1', 0, Math.min(head.length, 400))) : null
    if (!m) {
      if (bad.length < 20) bad.push(`no pulse_id in a ${parts.length}-part message`)
      continue
    }
    if (kind === 'data') {
      let problem: string | undefined
      try {
        problem = checkData(parts)
      } catch (err) {
        problem = `unreadable: ${err instanceof Error ? err.message : String(err)}`
      }
      if (problem && bad.length < 20) bad.push(`pulse ${m[1]}: ${problem}`)
    }
    pulses.push(Number(m[1]))
    times.push(t)
  }
}

/**
 * Cheap structural check of a data message: the channel list of the data header (cached by its
 * hash) matches the number of parts, and the signal profile's length agrees with the ROI in the
 * same message's processing_parameters (a torn parameter set would show up here).
 */
let lastHash = ''
let compressedHeader = false
let channels: Array<{ name: string; compression?: string }> = []
function checkData(parts: Buffer[]): string | undefined {
  const head = JSON.parse((parts[0] as Buffer).toString()) as {
    hash?: string
    dh_compression?: string
  }
  if (head.hash !== lastHash) {
    lastHash = head.hash ?? ''
    // A compressed data header is not worth decoding here: skip the checks for that stream.
    compressedHeader = Boolean(head.dh_compression && head.dh_compression !== 'none')
    if (!compressedHeader) {
      channels = (JSON.parse((parts[1] as Buffer).toString()) as { channels: typeof channels })
        .channels
    }
  }
  if (compressedHeader) return undefined
  if (parts.length < 2 + 2 * channels.length - 1) return `only ${parts.length} parts`
  const idx = (suffix: string) => channels.findIndex((c) => c.name.endsWith(suffix))
  const iParams = idx('processing_parameters')
  const iSignal = idx('roi_signal_x_profile')
  if (iParams < 0) return 'no processing_parameters channel'
  if (iSignal < 0) return undefined
  // A compressed profile's size says nothing about its length.
  const compression = channels[iSignal]?.compression
  if (compression && compression !== 'none') return undefined
  const params = JSON.parse((parts[2 + 2 * iParams] as Buffer).toString()) as {
    roi_signal?: number[]
  }
  const bytes = (parts[2 + 2 * iSignal] as Buffer).length
  const want = (params.roi_signal?.[1] ?? 0) * 8
  if (bytes !== want) {
    return `signal profile ${bytes} bytes, roi_signal ${JSON.stringify(params.roi_signal)}`
  }
  return undefined
}

const stop = () => {
  clearInterval(flush)
  if (pulses.length > 0 || bad.length > 0) send({ type: 'recv', pulses, times, bad })
  pull.close()
  // Leave the IPC channel open long enough for the last batch to go out.
  setTimeout(() => process.exit(0), 50)
}
process.on('message', (msg: { cmd?: string }) => {
  if (msg.cmd === 'exit') stop()
})
process.on('disconnect', () => {
  pull.close()
  process.exit(0)
})
main().catch((err: unknown) => {
  if (!pull.closed) {
    console.error('consumer:', err)
    process.exit(1)
  }
})
