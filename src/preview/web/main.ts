/**
 * The preview page: frames arrive still compressed (WebSocket, HTTP polling as a fallback), are
 * decoded and profiled by the service's own kernel module in the browser, and drawn with the
 * ROIs, which the user edits here. Service state comes from the contract's HTTP endpoints.
 *
 * This module only wires the parts: transport.ts (frames in), frame-presenter.ts (a message to
 * the screen), viewer.ts (image, view, ROI overlay), roi-sync.ts (ROIs with the service),
 * result-charts.ts (profiles, edge, trend), parameters-form.ts, service-status.ts.
 * @module
 */
import { Kernel } from '../../kernel/kernel.js'
import { createDebug } from './debug.js'
import { EdgeView } from './edge.js'
import { FramePresenter } from './frame-presenter.js'
import { FrameWork } from './frame.js'
import { el, MessageLine, setConn } from './page.js'
import { ParametersForm } from './parameters-form.js'
import { ResultCharts } from './result-charts.js'
import { RoiSync } from './roi-sync.js'
import { bindStartStop, pollStatus } from './service-status.js'
import { askToken } from './token.js'
import { Transport } from './transport.js'
import { Viewer } from './viewer.js'

const debug = createDebug()
window.__psenPreview = debug

const messages = new MessageLine(debug)
// A ROI dragged on the image is saved like a typed one (`rois` exists before any drag ends).
const viewer = new Viewer((kind, roi) => void rois.save(kind, roi))
const rois = new RoiSync(viewer.overlay, debug, messages)
const edgeView = new EdgeView()
const charts = new ResultCharts(edgeView)
const presenter = new FramePresenter(viewer, edgeView, charts, debug, messages)
const transport = new Transport(debug, (buf) => presenter.offer(buf))
const parametersForm = new ParametersForm(edgeView, messages)
bindStartStop(messages)
el('token').addEventListener('click', () => {
  if (
    askToken(
      'Changes (and the preview, when the service was started with --api_token) ' +
        'need its API token.',
    )
  )
    messages.show('token kept for this tab', false)
})

async function main(): Promise<void> {
  setConn('loading kernel', false)
  const kernel = await Kernel.load(new URL('/kernel.wasm', location.href))
  viewer.work = new FrameWork(kernel)
  await Promise.all([rois.poll(), pollStatus(), parametersForm.load()])
  charts.drawProfiles(undefined, undefined)
  charts.drawEdge()
  transport.connect()
  setInterval(() => void pollStatus(), 1000)
  setInterval(() => void rois.poll(), 1000)
  debug.ready = true
}

main().catch((err: unknown) => {
  const text = err instanceof Error ? err.message : String(err)
  setConn('failed', false)
  messages.show(`preview failed to start: ${text}`)
})
