/**
 * The service's state in the page: the status badge, the rates in the header and the statistics
 * table (GET /status, GET /statistics), and the Start and Stop buttons.
 * @module
 */
import { call } from './api.js'
import { el, type MessageLine } from './page.js'

function flatten(
  obj: Record<string, unknown>,
  prefix = '',
  out: Array<[string, string]> = [],
): Array<[string, string]> {
  for (const [k, v] of Object.entries(obj)) {
    const key = prefix ? `${prefix}.${k}` : k
    if (v !== null && typeof v === 'object' && !Array.isArray(v))
      flatten(v as Record<string, unknown>, key, out)
    else
      out.push([
        key,
        typeof v === 'number' && !Number.isInteger(v)
          ? v.toPrecision(6)
          : Array.isArray(v)
            ? JSON.stringify(v)
            : String(v),
      ])
  }
  return out
}

/** Input rate, drops and errors of the service, in the header (from GET /statistics). */
function showServiceRates(st: Record<string, unknown>): void {
  const n = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0)
  const sum = (v: unknown): number =>
    v !== null && typeof v === 'object'
      ? Object.values(v as Record<string, unknown>).reduce<number>((a, b) => a + n(b), 0)
      : n(v)
  const span = el('svc-rates')
  if (!('n_received_images' in st)) {
    span.textContent = ''
    return
  }
  const errors = n(st.n_malformed) + sum(st.n_frame_errors)
  // Image drops are normal when nobody reads the image stream; data drops are not.
  span.textContent =
    `service: input ${n(st.input_rate_hz).toFixed(1)} Hz, ` +
    `${n(st.n_processed_images)} processed, dropped ${n(st.n_dropped_data)} data / ` +
    `${n(st.n_dropped_images)} images, ${errors} errors`
  span.style.color = errors > 0 ? 'var(--err)' : ''
}

interface StreamState {
  port?: number
  consumers?: number
}

/**
 * What the service says is worth knowing while it processes (GET /status): nobody reads the
 * data stream (so every data message is dropped: expected, not a fault), or the input is silent.
 */
export function serviceNotices(status: Record<string, unknown>): string[] {
  if (status.status !== 'processing') return []
  const notices: string[] = []
  const outputs = (status.outputs ?? {}) as Record<string, StreamState | undefined>
  const data = outputs.data
  if (data?.consumers === 0) {
    notices.push(
      `no consumer on the data port ${data.port}: ` +
        'data messages are dropped until one connects',
    )
  }
  const input = status.input as { warning?: string | null } | null | undefined
  if (input?.warning) notices.push(input.warning)
  return notices
}

export async function pollStatus(): Promise<void> {
  try {
    const status = await call('/status')
    const s = el('state')
    s.textContent = status.status
    s.className = `badge ${status.status === 'processing' ? 'ok' : 'bad'}`
    const notices = serviceNotices(status)
    const notice = el('svc-notice')
    notice.textContent = notices.join(' · ')
    notice.hidden = notices.length === 0
    const stats = await call('/statistics')
    const st = (stats.statistics ?? {}) as Record<string, unknown>
    showServiceRates(st)
    const rows = flatten(st)
    const table = el<HTMLTableElement>('stats')
    table.replaceChildren(
      ...rows.slice(0, 40).map(([k, v]) => {
        const tr = document.createElement('tr')
        const a = document.createElement('td')
        const b = document.createElement('td')
        a.textContent = k
        b.textContent = v
        tr.append(a, b)
        return tr
      }),
    )
    const lastError = status.last_error as { message?: string } | null | undefined
    if (lastError?.message) el('state').title = `last error: ${lastError.message}`
  } catch (err) {
    const s = el('state')
    s.textContent = 'unreachable'
    s.className = 'badge bad'
    s.title = err instanceof Error ? err.message : String(err)
  }
}

/** Start and Stop (POST /start, /stop), then the new status at once. */
export function bindStartStop(messages: MessageLine): void {
  for (const action of ['start', 'stop'] as const) {
    el(action).addEventListener('click', () => {
      void call(`/${action}`, undefined, 'POST').then(
        () => pollStatus(),
        (err: unknown) => messages.show(err instanceof Error ? err.message : String(err)),
      )
    })
  }
}
