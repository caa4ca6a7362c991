/**
 * Small helpers over the page's fixed elements: element lookup, the header's connection badge
 * and message line, and number formatting for the info texts.
 * @module
 */
import type { PreviewDebug } from './debug.js'

/** The page element with this id; a missing one is a bug in index.html, so it throws. */
export function el<T extends HTMLElement = HTMLElement>(id: string): T {
  const e = document.getElementById(id)
  if (!e) throw new Error(`page element #${id} missing`)
  return e as T
}

export function fmtNum(v: number): string {
  return Number.isInteger(v) ? String(v) : Math.abs(v) >= 100 ? v.toFixed(0) : v.toPrecision(4)
}

/** The connection badge in the header. */
export function setConn(text: string, ok: boolean): void {
  const c = el('conn')
  c.textContent = text
  c.className = `badge ${ok ? 'ok' : 'bad'}`
}

/** The header's message line: errors (also kept in the debug record) and confirmations. */
export class MessageLine {
  readonly #el = el('message')
  readonly #debug: PreviewDebug
  #timer: ReturnType<typeof setTimeout> | undefined

  constructor(debug: PreviewDebug) {
    this.#debug = debug
  }

  show(text: string, isError = true): void {
    this.#el.textContent = text
    this.#el.style.color = isError ? '' : 'var(--ok)'
    if (isError) {
      this.#debug.errors.push(text)
      if (this.#debug.errors.length > 50) this.#debug.errors.shift()
    }
    clearTimeout(this.#timer)
    this.#timer = setTimeout(() => {
      this.#el.textContent = ''
    }, 8000)
  }
}
