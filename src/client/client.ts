/**
 * Typed client of the HTTP API, with the Python `PsenProcessingClient`'s methods (same names,
 * same return values) and camelCase aliases. Raises `PsenClientError` when the service answers
 * `state != "ok"`, with the service's `status` as the message, as the Python client does.
 * @module
 */

/** `[offset_x, size_x, offset_y, size_y]`, or `[]` (off). */
export type Roi = number[]

export type Status = 'stopped' | 'processing'

/** Statistics as `/statistics` reports them (`{}` before the first start). */
export interface Statistics {
  processing_start_time?: string
  last_sent_pulse_id?: number | null
  last_sent_time?: string | null
  n_processed_images?: number
  [field: string]: unknown
}

/** The service answered with `state: "error"` (or not with the API's envelope at all). */
export class PsenClientError extends Error {
  constructor(
    message: string,
    /** HTTP status code of the answer (0 when there was none). */
    readonly httpStatus: number,
  ) {
    super(message)
    this.name = 'PsenClientError'
  }
}

export interface ClientOptions {
  /** Sent as `Authorization: Bearer <token>` (services started with --api_token). */
  apiToken?: string
  /** Per-request timeout in ms (default 10 s). */
  timeoutMs?: number
}

interface Envelope {
  state: string
  status: string
  [field: string]: unknown
}

export class PsenProcessingClient {
  readonly address: string
  readonly #base: string
  readonly #token: string | undefined
  readonly #timeoutMs: number

  /** @param address e.g. `http://localhost:10000/` */
  constructor(address = 'http://localhost:10000/', options: ClientOptions = {}) {
    this.address = address
    this.#base = address.replace(/\/+$/, '')
    this.#token = options.apiToken
    this.#timeoutMs = options.timeoutMs ?? 10_000
  }

  get_address(): string {
    return this.address
  }

  /** Starts processing; returns the status (`processing`). Not an error when running. */
  async start(): Promise<Status> {
    return (await this.#call('POST', '/start')).status as Status
  }

  /** Stops processing; returns the status (`stopped`). Not an error when stopped. */
  async stop(): Promise<Status> {
    return (await this.#call('POST', '/stop')).status as Status
  }

  async get_status(): Promise<Status> {
    return (await this.#call('GET', '/status')).status as Status
  }

  async get_statistics(): Promise<Statistics> {
    return (await this.#call('GET', '/statistics')).statistics as Statistics
  }

  async get_roi_signal(): Promise<Roi> {
    return (await this.#call('GET', '/roi_signal')).roi_signal as Roi
  }

  /** Sets the signal ROI (`null` or `[]`: off); returns it as the service stored it. */
  async set_roi_signal(roi: Roi | null): Promise<Roi> {
    return (await this.#call('POST', '/roi_signal', roi)).roi_signal as Roi
  }

  async get_roi_background(): Promise<Roi> {
    return (await this.#call('GET', '/roi_background')).roi_background as Roi
  }

  async set_roi_background(roi: Roi | null): Promise<Roi> {
    return (await this.#call('POST', '/roi_background', roi)).roi_background as Roi
  }

  /** The processing parameters in force (edge finding, reference selection, ...). */
  async get_parameters(): Promise<Record<string, unknown>> {
    return (await this.#call('GET', '/parameters')).parameters as Record<string, unknown>
  }

  /** Changes some parameters (the others stay); returns all of them. */
  async set_parameters(partial: Record<string, unknown>): Promise<Record<string, unknown>> {
    return (await this.#call('POST', '/parameters', partial)).parameters as Record<string, unknown>
  }

  /** Recent changes of ROIs and parameters, newest first. */
  async get_history(): Promise<unknown[]> {
    return (await this.#call('GET', '/history')).history as unknown[]
  }

  // camelCase aliases for TypeScript users.
  getAddress(): string {
    return this.get_address()
  }
  getStatus(): Promise<Status> {
    return this.get_status()
  }
  getStatistics(): Promise<Statistics> {
    return this.get_statistics()
  }
  getRoiSignal(): Promise<Roi> {
    return this.get_roi_signal()
  }
  setRoiSignal(roi: Roi | null): Promise<Roi> {
    return this.set_roi_signal(roi)
  }
  getRoiBackground(): Promise<Roi> {
    return this.get_roi_background()
  }
  setRoiBackground(roi: Roi | null): Promise<Roi> {
    return this.set_roi_background(roi)
  }
  getParameters(): Promise<Record<string, unknown>> {
    return this.get_parameters()
  }
  setParameters(partial: Record<string, unknown>): Promise<Record<string, unknown>> {
    return this.set_parameters(partial)
  }
  getHistory(): Promise<unknown[]> {
    return this.get_history()
  }

  async #call(method: 'GET' | 'POST', path: string, body?: unknown): Promise<Envelope> {
    const headers: Record<string, string> = { Accept: 'application/json' }
    if (this.#token !== undefined) headers.Authorization = `Bearer ${this.#token}`
    let payload: string | undefined
    if (method === 'POST' && body !== undefined) {
      headers['Content-Type'] = 'application/json'
      payload = JSON.stringify(body)
    }
    let response: Response
    try {
      response = await fetch(this.#base + path, {
        method,
        headers,
        body: payload,
        signal: AbortSignal.timeout(this.#timeoutMs),
      })
    } catch (err) {
      const cause = err instanceof Error && err.cause instanceof Error ? err.cause : err
      const why = cause instanceof Error ? cause.message : ''
      throw new PsenClientError(`cannot reach ${this.#base}${path}: ${why}`, 0)
    }
    let answer: unknown
    try {
      answer = await response.json()
    } catch {
      throw new PsenClientError(
        `${method} ${path}: HTTP ${response.status}, not a JSON answer`,
        response.status,
      )
    }
    const env = answer as Partial<Envelope> | null
    if (typeof env !== 'object' || env === null || typeof env.state !== 'string') {
      throw new PsenClientError(
        `${method} ${path}: HTTP ${response.status}, no API envelope`,
        response.status,
      )
    }
    if (env.state !== 'ok') {
      const message = typeof env.status === 'string' ? env.status : 'Unknown error occurred.'
      throw new PsenClientError(message, response.status)
    }
    return env as Envelope
  }
}
