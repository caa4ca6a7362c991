/**
 * Persistent service state (ROIs and processing parameters) and the history of its changes.
 *
 * The state file is replaced atomically (temp file in the same directory, fsync, rename, fsync of
 * the directory), so a kill -9 at any moment leaves either the old or the new file, never a
 * broken one. A file whose content is damaged is renamed aside and reported, never fatal: the
 * service must come up even then. A file that exists but cannot be read (permissions, I/O) is
 * left alone and never overwritten: the service comes up with defaults and refuses every change
 * until the file is fixed (`problem` says why).
 * @module
 */
import { constants } from 'node:fs'
import { access, mkdir, open, readdir, readFile, rename, stat, unlink } from 'node:fs/promises'
import { basename, dirname, join, resolve } from 'node:path'
import type { Logger } from 'pino'
import { z } from 'zod'

/** Version of the state file layout written by this code. */
export const STATE_VERSION = 1

/** A ROI as stored: `[]` (none) or `[offset_x, size_x, offset_y, size_y]`. */
export type StoredRoi = number[]

/** What the service persists. `parameters` is opaque here; the service validates it. */
export interface ServiceState {
  roi_signal: StoredRoi
  roi_background: StoredRoi
  parameters: unknown
}

/** The JSON document on disk. */
export interface StateFile extends ServiceState {
  version: number
  saved_at: string
}

/** What a change is about, as recorded in the history. */
export interface StateChange {
  /** e.g. `POST /roi_signal` */
  endpoint: string
  /** client address, e.g. `10.1.2.3` */
  client: string
  old: unknown
  new: unknown
}

/** One history record: when, who, what, old → new. */
export interface HistoryEntry extends StateChange {
  time: string
}

export interface StateStoreOptions {
  /** State file; without it state and history live in memory only. */
  path?: string
  logger?: Pick<Logger, 'info' | 'warn' | 'error'>
  /** History entries kept in memory and returned by `history()` (default 1000). */
  historyLimit?: number
  /** Size at which the history file is rotated to `<file>.1` (default 1 MiB). */
  historyMaxBytes?: number
}

/** Raised by `save` when the state cannot be written; the previous file is left intact. */
export class StateWriteError extends Error {
  override readonly name = 'StateWriteError'
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
  }
}

const roiSchema = z.union([z.null(), z.array(z.number())]).transform((r) => r ?? [])

const fileSchema = z.object({
  version: z.number().int().positive().optional(),
  roi_signal: roiSchema.optional(),
  roi_background: roiSchema.optional(),
  parameters: z.unknown().optional(),
})

const historyLineSchema = z.object({
  time: z.string(),
  endpoint: z.string(),
  client: z.string(),
  old: z.unknown(),
  new: z.unknown(),
})

/** The state a service starts with when nothing was saved. */
export function emptyState(): ServiceState {
  return { roi_signal: [], roi_background: [], parameters: {} }
}

function cloneState(s: ServiceState): ServiceState {
  return structuredClone(s)
}

function errorCode(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? (err as Error).name ?? 'error'
}

function timeTag(d = new Date()): string {
  // File-name friendly (no colons): 2026-11-25T12-40-00.123Z
  return d.toISOString().replace(/:/g, '-')
}

/**
 * The store: load once with `StateStore.open`, then `save`/`update` on every accepted change.
 * Saves are serialised; each promise resolves when its state is durable on disk.
 */
export class StateStore {
  readonly path: string | undefined
  readonly historyPath: string | undefined
  /** Problems found while opening (corrupt file set aside, unreadable history…). */
  readonly warnings: string[] = []
  /**
   * Why changes cannot be saved (without the path: it is shown to HTTP clients), or
   * undefined. Set when the state file exists but cannot be read, or its directory is unusable.
   */
  problem: string | undefined
  /** Set with `problem` when saving would overwrite a file that could not be read. */
  #refusal: StateWriteError | undefined

  #state: ServiceState = emptyState()
  #history: HistoryEntry[] = []
  #tail: Promise<unknown> = Promise.resolve()
  #tmpCounter = 0
  #historyBytes = 0
  #historyNeedsNewline = false
  readonly #historyLimit: number
  readonly #historyMaxBytes: number
  readonly #log: StateStoreOptions['logger']

  private constructor(opts: StateStoreOptions) {
    this.path = opts.path === undefined ? undefined : resolve(opts.path)
    this.historyPath = this.path === undefined ? undefined : `${this.path}.history.jsonl`
    this.#historyLimit = Math.max(1, opts.historyLimit ?? 1000)
    this.#historyMaxBytes = Math.max(1024, opts.historyMaxBytes ?? 1 << 20)
    this.#log = opts.logger
  }

  /** Opens (or starts) the state at `path`; never throws for bad file content. */
  static async open(opts: StateStoreOptions = {}): Promise<StateStore> {
    const store = new StateStore(opts)
    if (store.path !== undefined) {
      const dir = dirname(store.path)
      // Not fatal: the service runs; every change then fails with a StateWriteError that says
      // why (typically a host directory not owned by the container's user).
      const unusable = (err: unknown) => {
        store.problem ??=
          `the state directory is not usable (${errorCode(err)}); changes ` + 'cannot be saved'
        store.#warn(
          `state directory ${dir} is not usable (${(err as Error).message}); ` +
            'changes cannot be saved',
        )
      }
      try {
        await mkdir(dir, { recursive: true })
      } catch (err) {
        unusable(err)
        return store
      }
      // Read-only: the saved state still loads.
      await access(dir, constants.W_OK).catch(unusable)
      await store.#removeStaleTemps()
      await store.#load()
      await store.#loadHistory()
    }
    return store
  }

  /** The last acknowledged state (a copy). */
  get state(): ServiceState {
    return cloneState(this.#state)
  }

  /**
   * Replaces the whole state and records `change`. Resolves once the new state is on disk;
   * concurrent calls are written one after another in call order.
   */
  save(next: ServiceState, change: StateChange): Promise<void> {
    const snapshot = cloneState(next)
    return this.#enqueue(() => this.#commit(snapshot, change))
  }

  /**
   * Merges `patch` into the state as it is when this update's turn comes (so concurrent
   * updates of different fields do not undo each other) and records `change`.
   */
  update(patch: Partial<ServiceState>, change: StateChange): Promise<ServiceState> {
    const p = structuredClone(patch)
    return this.#enqueue(async () => {
      const next = { ...this.#state, ...p }
      await this.#commit(next, change)
      return cloneState(next)
    })
  }

  /** The newest history entries, newest first (at most `limit`). */
  history(limit = this.#historyLimit): HistoryEntry[] {
    const n = Math.max(0, Math.min(limit, this.#history.length))
    return this.#history
      .slice(this.#history.length - n)
      .reverse()
      .map((e) => structuredClone(e))
  }

  /** Waits for pending saves (their failures were already reported to their callers). */
  async flush(): Promise<void> {
    await this.#tail.catch(() => undefined)
  }

  #enqueue<T>(job: () => Promise<T>): Promise<T> {
    const run = this.#tail.then(job, job)
    this.#tail = run.catch(() => undefined)
    return run
  }

  async #commit(next: ServiceState, change: StateChange): Promise<void> {
    if (this.#refusal) throw this.#refusal
    const entry: HistoryEntry = {
      time: new Date().toISOString(),
      endpoint: change.endpoint,
      client: change.client,
      old: structuredClone(change.old),
      new: structuredClone(change.new),
    }
    if (this.path !== undefined) {
      const doc: StateFile = { version: STATE_VERSION, saved_at: entry.time, ...next }
      await this.#writeAtomic(JSON.stringify(doc, null, 2) + '\n')
    }
    this.#state = next
    this.#pushHistory(entry)
    if (this.historyPath !== undefined) {
      try {
        await this.#appendHistory(entry)
      } catch (err) {
        // The state itself is saved; a history that cannot be written must not fail the change.
        this.#log?.error({ err, file: this.historyPath }, 'cannot append to the state history')
      }
    }
  }

  async #writeAtomic(text: string): Promise<void> {
    const path = this.path as string
    let tmp = ''
    try {
      // Created exclusively ('wx'): never through a link or a file someone else put there.
      let fh
      for (let attempt = 0; ; attempt++) {
        tmp = `${path}.tmp-${process.pid}-${++this.#tmpCounter}`
        try {
          fh = await open(tmp, 'wx', 0o644)
          break
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 8) {
            tmp = ''
            throw err
          }
        }
      }
      try {
        await fh.writeFile(text, 'utf8')
        await fh.sync()
      } finally {
        await fh.close()
      }
      await rename(tmp, path)
    } catch (err) {
      if (tmp !== '') await unlink(tmp).catch(() => undefined)
      const msg = err instanceof Error ? err.message : String(err)
      throw new StateWriteError(`cannot save state to ${path}: ${msg}`, { cause: err })
    }
    // Make the rename itself durable; some file systems refuse fsync on a directory.
    try {
      const dir = await open(dirname(path), 'r')
      try {
        await dir.sync()
      } finally {
        await dir.close()
      }
    } catch {
      // Best effort: the rename is atomic either way.
    }
  }

  #pushHistory(entry: HistoryEntry): void {
    this.#history.push(entry)
    const excess = this.#history.length - this.#historyLimit
    if (excess > 0) this.#history.splice(0, excess)
  }

  async #appendHistory(entry: HistoryEntry): Promise<void> {
    const file = this.historyPath as string
    // After a partial last line (kill during an append), start on a fresh line.
    const line = (this.#historyNeedsNewline ? '\n' : '') + JSON.stringify(entry) + '\n'
    const bytes = Buffer.byteLength(line)
    if (this.#historyBytes > 0 && this.#historyBytes + bytes > this.#historyMaxBytes) {
      // Keep one rotated generation: the file pair never exceeds about twice the cap.
      await rename(file, `${file}.1`)
      this.#historyBytes = 0
      this.#historyNeedsNewline = false
    }
    const fh = await open(file, 'a', 0o644)
    try {
      await fh.writeFile(line, 'utf8')
      await fh.datasync()
    } finally {
      await fh.close()
    }
    this.#historyBytes += bytes
    this.#historyNeedsNewline = false
  }

  async #removeStaleTemps(): Promise<void> {
    const path = this.path as string
    const prefix = `${basename(path)}.tmp-`
    let names: string[]
    try {
      names = await readdir(dirname(path))
    } catch {
      return
    }
    for (const name of names) {
      // Left behind by a kill between write and rename; never the current state.
      if (name.startsWith(prefix)) await unlink(join(dirname(path), name)).catch(() => undefined)
    }
  }

  async #load(): Promise<void> {
    const path = this.path as string
    let text: string
    try {
      text = await readFile(path, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        this.#log?.info({ file: path }, 'no saved state yet, starting empty')
        return
      }
      // Not damaged content but an unreadable file: what it holds is unknown and may be the
      // only copy of the settings. Never overwrite it; refuse changes until someone fixes it.
      const code = errorCode(err)
      this.problem =
        `the state file exists but cannot be read (${code}); changes are ` +
        'refused until it is fixed (then restart the service)'
      this.#refusal = new StateWriteError(
        `state file ${path} cannot be read (${code}); ` +
          'changes are refused so that it is not overwritten',
        { cause: err },
      )
      this.#warn(
        `state file ${path} cannot be read (${(err as Error).message}); starting ` +
          'with defaults and refusing every change until it is fixed',
      )
      return
    }
    let problem: string | undefined
    try {
      const parsed = fileSchema.safeParse(JSON.parse(text))
      if (!parsed.success) {
        problem = parsed.error.issues
          .map((i) => `${i.path.join('.') || 'document'}: ${i.message}`)
          .join('; ')
      } else if ((parsed.data.version ?? STATE_VERSION) > STATE_VERSION) {
        problem = `version ${parsed.data.version} is newer than this program (${STATE_VERSION})`
      } else {
        const d = parsed.data
        this.#state = {
          roi_signal: d.roi_signal ?? [],
          roi_background: d.roi_background ?? [],
          parameters: d.parameters ?? {},
        }
        this.#log?.info({ file: path, state: this.#state }, 'state loaded')
        return
      }
    } catch (err) {
      problem = `not valid JSON (${(err as Error).message})`
    }
    const aside = `${path}.corrupt-${timeTag()}`
    try {
      await rename(path, aside)
      this.#warn(`state file ${path} is unusable: ${problem}; moved to ${aside}, starting empty`)
    } catch (err) {
      this.#warn(
        `state file ${path} is unusable: ${problem}; could not move it aside ` +
          `(${(err as Error).message}), starting empty`,
      )
    }
  }

  async #loadHistory(): Promise<void> {
    const file = this.historyPath as string
    const entries: HistoryEntry[] = []
    let skipped = 0
    for (const f of [`${file}.1`, file]) {
      let text: string
      try {
        text = await readFile(f, 'utf8')
      } catch {
        continue
      }
      if (f === file && text.length > 0 && !text.endsWith('\n')) this.#historyNeedsNewline = true
      for (const line of text.split('\n')) {
        if (line.trim() === '') continue
        try {
          const e = historyLineSchema.safeParse(JSON.parse(line))
          if (e.success) entries.push(e.data as HistoryEntry)
          else skipped++
        } catch {
          // A kill during an append can leave one partial last line.
          skipped++
        }
      }
    }
    if (skipped > 0) this.#warn(`state history ${file}: skipped ${skipped} unreadable line(s)`)
    for (const e of entries) this.#pushHistory(e)
    try {
      const s = await stat(file)
      this.#historyBytes = s.size
    } catch {
      this.#historyBytes = 0
    }
  }

  #warn(message: string): void {
    this.warnings.push(message)
    this.#log?.warn({ file: this.path }, message)
  }
}
