/** Checks decoded bsread values against the golden vectors' `expected` entries. */
import { createHash } from 'node:crypto'

import type { DecodedValue } from '../../src/bsread/decoder.js'
import { Codec } from '../../src/kernel/codec.js'
import { Kernel } from '../../src/kernel/kernel.js'
import type { ExpectedValue } from './vectors.js'

/** Decoded elements as little-endian bytes (typed arrays are native = little-endian). */
export function elementBytes(v: DecodedValue): Uint8Array {
  if (Array.isArray(v)) return Uint8Array.from(v, (b) => (b ? 1 : 0))
  if (ArrayBuffer.isView(v)) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength)
  throw new Error(`not an array: ${typeof v}`)
}

function close(a: number, b: number, rel: number): boolean {
  return a === b || Math.abs(a - b) <= rel * Math.max(1, Math.abs(a), Math.abs(b))
}

/** Plain TS column sums of the ROI [ox, sx, oy, sy] of a width-major image. */
export function roiXProfile(
  v: ArrayLike<number | bigint>,
  width: number,
  roi: [number, number, number, number],
): Array<number | bigint> {
  const [ox, sx, oy, sy] = roi
  const out: Array<number | bigint> = []
  for (let x = ox; x < ox + sx; x++) {
    let s: number | bigint = typeof v[0] === 'bigint' ? 0n : 0
    for (let y = oy; y < oy + sy; y++) {
      const e = v[y * width + x] as number | bigint
      s = typeof s === 'bigint' ? s + BigInt(e) : s + (e as number)
    }
    out.push(s)
  }
  return out
}

/** Returns a list of mismatch descriptions (empty when the value matches). */
export function compareExpected(
  name: string,
  got: DecodedValue | undefined,
  exp: ExpectedValue,
): string[] {
  const errs: string[] = []
  if (exp === null) {
    if (got !== undefined) errs.push(`${name}: expected no value`)
    return errs
  }
  if (got === undefined) return [`${name}: missing value`]
  if (exp.kind === 'string') {
    if (got !== exp.value) errs.push(`${name}: ${String(got)} != ${exp.value}`)
    return errs
  }
  if (exp.kind === 'scalar') {
    const e = exp.value
    if (typeof e === 'string') {
      if (String(got) !== e) errs.push(`${name}: ${String(got)} != ${e}`)
    } else if (typeof e === 'boolean') {
      if (got !== e) errs.push(`${name}: ${String(got)} != ${e}`)
    } else if (typeof got !== 'number' || !close(got, e, 1e-7)) {
      errs.push(`${name}: ${String(got)} != ${e}`)
    }
    return errs
  }
  const bytes = elementBytes(got)
  const sha = createHash('sha256').update(bytes).digest('hex')
  if (sha !== exp.sha256_le) errs.push(`${name}: sha256 ${sha} != ${exp.sha256_le}`)
  const arr = got as ArrayLike<number | bigint | boolean>
  if (arr.length !== exp.n_elements) errs.push(`${name}: ${arr.length} elements`)
  const isFloat = exp.dtype.startsWith('float')
  const rel = exp.dtype === 'float32' ? 1e-5 : 1e-9
  if (exp.values) {
    exp.values.forEach((e, i) => {
      const g = arr[i]
      const ok = typeof e === 'number' ? close(Number(g), e, rel) : String(g) === String(e)
      if (!ok) errs.push(`${name}[${i}]: ${String(g)} != ${String(e)}`)
    })
  }
  const nums = arr as ArrayLike<number | bigint>
  if (exp.sum !== undefined) {
    if (isFloat) {
      let s = 0
      for (let i = 0; i < nums.length; i++) s += nums[i] as number
      if (!close(s, Number(exp.sum), 1e-6)) errs.push(`${name}: sum ${s} != ${exp.sum}`)
    } else {
      let s = 0n
      for (let i = 0; i < nums.length; i++) s += BigInt(nums[i] as number | bigint)
      if (String(s) !== String(exp.sum)) errs.push(`${name}: sum ${s} != ${exp.sum}`)
    }
  }
  if (exp.roi && exp.roi_x_profile) {
    const width = exp.shape_bsread[0] as number
    const prof = roiXProfile(nums, width, exp.roi)
    if (prof.length !== exp.roi_x_profile.length) errs.push(`${name}: profile length`)
    prof.forEach((p, i) => {
      const e = exp.roi_x_profile?.[i] as number | string
      const ok = isFloat ? close(Number(p), Number(e), rel) : String(p) === String(e)
      if (!ok) errs.push(`${name}: profile[${i}] ${String(p)} != ${String(e)}`)
    })
  }
  return errs
}

/** The kernel codec (src/kernel/codec.ts) on a fresh kernel instance from build/kernel.wasm. */
export async function loadCodec(): Promise<Codec> {
  return new Codec(await Kernel.load())
}
