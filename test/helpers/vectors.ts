/** Loads the golden bsread vectors copied from ../shared/vectors into test/fixtures/vectors. */
import { readFileSync, readdirSync } from 'node:fs'

export interface ExpectedArray {
  kind: 'array'
  dtype: string
  shape_bsread: number[]
  n_elements: number
  sha256_le: string
  values?: Array<string | number | boolean>
  sum?: string | number
  roi?: [number, number, number, number]
  roi_x_profile?: Array<string | number>
}
export type ExpectedValue =
  | { kind: 'scalar'; value: string | number | boolean }
  | { kind: 'string'; value: string }
  | ExpectedArray
  | null

export interface VectorMessage {
  parts: Buffer[]
  expected: {
    pulse_id: string
    global_timestamp: { sec: number; ns: number }
    channels: Record<string, ExpectedValue>
  }
}

export interface Vector {
  name: string
  description: string
  compression: string | null
  dh_compression: string | null
  messages: VectorMessage[]
}

const DIR = new URL('../fixtures/vectors/', import.meta.url)

export function vectorNames(): string[] {
  return readdirSync(DIR)
    .filter((f) => f.endsWith('.json'))
    .map((f) => f.slice(0, -5))
    .sort()
}

export function loadVector(name: string): Vector {
  const raw = JSON.parse(readFileSync(new URL(`${name}.json`, DIR), 'utf8')) as {
    name: string
    description: string
    compression: string | null
    dh_compression: string | null
    messages: Array<{ parts_base64: string[]; expected: VectorMessage['expected'] }>
  }
  return {
    name: raw.name,
    description: raw.description,
    compression: raw.compression,
    dh_compression: raw.dh_compression,
    messages: raw.messages.map((m) => ({
      parts: m.parts_base64.map((p) => Buffer.from(p, 'base64')),
      expected: m.expected,
    })),
  }
}

export function loadAllVectors(): Vector[] {
  return vectorNames().map(loadVector)
}
