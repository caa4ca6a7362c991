/**
 * How preview frames reach the page: the WebSocket /preview/ws (reconnecting, less often the
 * longer the service is away), or, when WebSockets never worked (e.g. a proxy without upgrades),
 * polling GET /preview/frame. Both hand over the same binary message.
 * @module
 */
import type { PreviewHeader } from '../feed.js'
import { call } from './api.js'
import { askToken, webSocketProtocols } from './token.js'
import type { PreviewDebug } from './debug.js'
import { setConn } from './page.js'

export class Transport {
  readonly #debug: PreviewDebug
  readonly #onMessage: (buf: ArrayBuffer) => void
  #wsFailures = 0
  #wsEverOpened = false
  #polling = false

  /** `onMessage` gets every preview message, in the WebSocket's binary format. */
  constructor(debug: PreviewDebug, onMessage: (buf: ArrayBuffer) => void) {
    this.#debug = debug
    this.#onMessage = onMessage
  }

  connect(): void {
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/preview/ws`
    let opened = false
    const sock = new WebSocket(url, webSocketProtocols())
    sock.binaryType = 'arraybuffer'
    sock.onopen = () => {
      opened = true
      this.#wsEverOpened = true
      this.#wsFailures = 0
      this.#debug.transport = 'websocket'
      setConn('live (WebSocket)', true)
    }
    sock.onmessage = (e) => {
      if (e.data instanceof ArrayBuffer) this.#onMessage(e.data)
    }
    sock.onclose = () => {
      if (!opened) this.#wsFailures++
      if (!opened && this.#wsFailures === 1) {
        // Refused before it opened: maybe the service wants the API token (a 401 is not
        // visible to a page's WebSocket; /preview/info says whether one is needed).
        void this.#needsToken().then((asked) => {
          if (asked) this.connect()
          else this.#retry()
        })
        return
      }
      this.#retry()
    }
  }

  /** True when the service wants a token and the operator entered one. */
  async #needsToken(): Promise<boolean> {
    try {
      const info = await call('/preview/info')
      const required = (info.preview as { token_required?: boolean } | undefined)?.token_required
      return required === true && askToken("The preview needs the service's API token.")
    } catch {
      return false
    }
  }

  #retry(): void {
    if (!this.#wsEverOpened && this.#wsFailures >= 3) {
      // WebSockets never worked (e.g. a proxy without upgrades): poll the newest frame instead.
      void this.#pollFrames()
      return
    }
    // The service went away (restart, network): retry, less often the longer it lasts.
    setConn(this.#wsFailures > 0 ? 'service unreachable, retrying' : 'reconnecting', false)
    setTimeout(() => this.connect(), Math.min(5000, 1000 * (1 + this.#wsFailures)))
  }

  /** HTTP fallback: GET /preview/frame at the preview rate. */
  async #pollFrames(): Promise<void> {
    if (this.#polling) return
    this.#polling = true
    this.#debug.transport = 'http'
    setConn('live (HTTP polling)', true)
    let rate = 5
    try {
      const info = await call('/preview/info')
      rate = Number((info.preview as { rate_hz?: number } | undefined)?.rate_hz) || 5
    } catch {
      // keep the default rate
    }
    let lastPulse = ''
    for (;;) {
      const started = performance.now()
      try {
        const res = await fetch('/preview/frame', { cache: 'no-store' })
        if (res.status === 200) {
          const pulse = res.headers.get('X-Pulse-Id') ?? ''
          if (pulse !== lastPulse) {
            lastPulse = pulse
            const data = new Uint8Array(await res.arrayBuffer())
            this.#onMessage(packFromHeaders(res.headers, data))
          }
        }
      } catch {
        setConn('service unreachable', false)
      }
      await new Promise((r) =>
        // Jittered like the server's pushes, so as not to alias with the shot pattern.
        setTimeout(
          r,
          Math.max(0, (1000 / rate) * (0.75 + 0.5 * Math.random()) - (performance.now() - started)),
        ),
      )
    }
  }
}

/** Builds the same message the WebSocket sends from a /preview/frame answer. */
function packFromHeaders(h: Headers, data: Uint8Array): ArrayBuffer {
  const [sec = '0', ns = '0'] = (h.get('X-Global-Timestamp') ?? '0.0').split('.')
  const hdr: PreviewHeader = {
    htype: 'psen-preview-1',
    pulse_id: h.get('X-Pulse-Id') ?? '0',
    global_timestamp: { sec: Number(sec), ns: Number(ns) },
    name: h.get('X-Channel') ?? '',
    type: h.get('X-Type') ?? 'uint16',
    shape: (h.get('X-Shape') ?? '').split(',').map(Number),
    encoding: (h.get('X-Encoding') ?? 'little') as PreviewHeader['encoding'],
    compression: (h.get('X-Compression') ?? 'none') as PreviewHeader['compression'],
    byte_length: data.byteLength,
    results: [],
  }
  const json = new TextEncoder().encode(JSON.stringify(hdr))
  const offset = Math.ceil((4 + json.byteLength) / 8) * 8
  const out = new Uint8Array(offset + data.byteLength)
  new DataView(out.buffer).setUint32(0, json.byteLength, true)
  out.set(json, 4)
  out.set(data, offset)
  return out.buffer
}
