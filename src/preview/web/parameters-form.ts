/**
 * The edge-finding parameters form: built from GET /parameters (an input per parameter, by its
 * type), saved with POST /parameters (only the changed ones). The page's own edge finder takes
 * the same parameters.
 * @module
 */
import { call } from './api.js'
import type { EdgeView } from './edge.js'
import { el, type MessageLine } from './page.js'

/** Parameters with a fixed set of values (src/processing/parameters.ts). */
const CHOICES: Record<string, string[]> = {
  edge_type: ['falling', 'rising'],
  normalisation: ['subtract', 'divide'],
}

export class ParametersForm {
  readonly #edgeView: EdgeView
  readonly #messages: MessageLine
  /** The service's parameters as last loaded: what the form's values are compared against. */
  #parameters: Record<string, unknown> = {}

  constructor(edgeView: EdgeView, messages: MessageLine) {
    this.#edgeView = edgeView
    this.#messages = messages
    el('params-save').addEventListener('click', () => this.#save())
  }

  #render(p: Record<string, unknown>, info: Record<string, unknown>): void {
    this.#parameters = p
    const problem = this.#edgeView.setParameters(p)
    if (problem) this.#messages.show(`the page's edge finder keeps its defaults: ${problem}`)
    const form = el<HTMLFormElement>('params')
    const nodes: HTMLElement[] = []
    for (const [key, value] of Object.entries(p)) {
      if (key === 'roi_signal' || key === 'roi_background') continue
      const label = document.createElement('label')
      label.textContent = key
      label.htmlFor = `param-${key}`
      let input: HTMLInputElement | HTMLSelectElement
      const choices = CHOICES[key] ?? info[`${key}_choices`]
      if (typeof value === 'boolean') {
        input = document.createElement('input')
        input.type = 'checkbox'
        input.checked = value
      } else if (Array.isArray(choices) && choices.every((c) => typeof c === 'string')) {
        input = document.createElement('select')
        for (const c of choices as string[]) input.add(new Option(c, c, false, c === value))
      } else if (typeof value === 'number' || value === null) {
        input = document.createElement('input')
        input.type = 'number'
        input.step = 'any'
        input.value = value === null ? '' : String(value)
      } else if (typeof value === 'string') {
        input = document.createElement('input')
        input.type = 'text'
        input.value = value
      } else {
        input = document.createElement('input')
        input.type = 'text'
        input.value = JSON.stringify(value)
        input.dataset.json = '1'
      }
      input.id = `param-${key}`
      input.name = key
      nodes.push(label, input)
    }
    form.replaceChildren(...nodes)
  }

  async load(): Promise<void> {
    try {
      const env = await call('/parameters')
      const { parameters: p, state: _s, status: _t, ...info } = env
      this.#render((p ?? {}) as Record<string, unknown>, info)
    } catch (err) {
      el('params').textContent = err instanceof Error ? err.message : String(err)
    }
  }

  #save(): void {
    const messages = this.#messages
    const changed: Record<string, unknown> = {}
    for (const input of el<HTMLFormElement>('params').querySelectorAll<
      HTMLInputElement | HTMLSelectElement
    >('input, select')) {
      const key = input.name
      const old = this.#parameters[key]
      let value: unknown
      if (input instanceof HTMLInputElement && input.type === 'checkbox') value = input.checked
      else if (input instanceof HTMLInputElement && input.type === 'number')
        value = input.value === '' ? null : Number(input.value)
      else if (input instanceof HTMLInputElement && input.dataset.json) {
        try {
          value = JSON.parse(input.value)
        } catch {
          messages.show(`parameter ${key}: not valid JSON`)
          return
        }
      } else value = input.value
      if (JSON.stringify(value) !== JSON.stringify(old)) changed[key] = value
    }
    if (Object.keys(changed).length === 0) {
      messages.show('parameters unchanged', false)
      return
    }
    void call('/parameters', changed).then(
      () => {
        messages.show(`parameters saved: ${Object.keys(changed).join(', ')}`, false)
        return this.load()
      },
      (err: unknown) => messages.show(err instanceof Error ? err.message : String(err)),
    )
  }
}
