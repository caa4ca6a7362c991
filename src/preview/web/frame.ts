/**
 * Frame work in the browser, all of it in the service's own kernel module: decompression into a
 * reusable region, x-profiles of the ROIs (the same kernel call and sums the service sends), and
 * the histogram the auto-contrast reads its percentiles from.
 * @module
 */
import { Codec } from '../../kernel/codec.js'
import type { Kernel, Region } from '../../kernel/kernel.js'
import { DTYPE_SIZE, isDTypeName, type DTypeName } from '../../kernel/dtype.js'
import {
  histogramPercentiles,
  ProfileKernels,
  roiFits,
  type FrameRef,
  type ProfileSums,
  type RoiTuple,
} from '../../kernel/profiles.js'
import type { PreviewHeader } from '../feed.js'

/** `[offset_x, size_x, offset_y, size_y]`, or `[]` for none. */
export type Roi = number[]

/** A frame decoded into kernel memory (little-endian after decoding). */
export interface DecodedFrame extends FrameRef {
  pulseId: string
  elemSize: number
  nElems: number
}

/** Column sums as decimal strings (exact) and as numbers (for drawing), plus the ROI used. */
export interface Profile {
  roi: Roi
  /** The sums as the kernel produced them (a copy out of kernel memory). */
  sums: ProfileSums
  strings: string[]
  values: Float64Array
}

export { roiFits }

export class FrameWork {
  readonly #kernel: Kernel
  readonly #profiles: ProfileKernels
  readonly #codec: Codec
  readonly #frame: Region
  readonly #out: Region

  constructor(kernel: Kernel) {
    this.#kernel = kernel
    this.#profiles = new ProfileKernels(kernel)
    this.#codec = new Codec(kernel)
    this.#frame = kernel.region()
    this.#out = kernel.region()
  }

  get kernel(): Kernel {
    return this.#kernel
  }

  /** Decompresses a preview message's value into kernel memory. Throws on corrupt data. */
  decode(header: PreviewHeader, data: Uint8Array): DecodedFrame {
    const dtype = header.type
    if (!isDTypeName(dtype)) throw new Error(`pixel type ${dtype} cannot be shown`)
    const [width = 0, height = 1] = header.shape
    if (header.shape.length < 1 || header.shape.length > 2 || width < 1 || height < 1) {
      throw new Error(`shape [${header.shape.join(', ')}] is not an image`)
    }
    const elemSize = DTYPE_SIZE[dtype]
    const nElems = width * height
    const bytes = nElems * elemSize
    const k = this.#kernel
    let ptr: number
    if (header.compression === 'none') {
      if (data.byteLength !== bytes)
        throw new Error(`value has ${data.byteLength} bytes, shape needs ${bytes}`)
      ptr = this.#frame.ensure(bytes)
      k.bytes(ptr, bytes).set(data)
    } else {
      // The service's own codec: the same kernels, the same checks of the framing.
      ptr = this.#codec.decompressInto(this.#frame, data, header.compression, elemSize, bytes)
    }
    if (header.encoding === 'big' && elemSize > 1) {
      k.run((x) => x.byteswap_inplace(ptr, nElems, elemSize))
    }
    return {
      pulseId: header.pulse_id,
      ptr,
      width,
      height,
      dtype,
      bigEndian: false,
      elemSize,
      nElems,
    }
  }

  /** The x-profile of `roi` (exact column sums), or undefined when unset or not fitting. */
  xProfile(f: DecodedFrame, roi: Roi): Profile | undefined {
    if (!roiFits(roi, f.width, f.height)) return undefined
    const p = this.#profiles.xProfileInKernel(f, roi as unknown as RoiTuple, this.#out)
    const sums = this.#profiles.copyOut(p)
    const n = p.length
    const strings: string[] = new Array(n)
    const values = new Float64Array(n)
    for (let i = 0; i < n; i++) {
      const v = sums[i]!
      // Decimal text of the exact sum: bigint for integer pixels, shortest round-trip for floats.
      strings[i] = v.toString()
      values[i] = Number(v)
    }
    return { roi: [...roi], sums, strings, values }
  }

  /** Display range: percentiles of the kernel's (sampled) histogram of the frame. */
  contrast(
    f: DecodedFrame,
    pLo: number,
    pHi: number,
  ): { lo: number; hi: number; min: number; max: number } {
    // 64k samples are plenty for display percentiles and keep this step short on big frames.
    const h = this.#profiles.histogram(f, 1024, 1 << 16)
    const [lo = h.min, hiP = h.max] = histogramPercentiles(h, [pLo, pHi])
    let hi = hiP
    if (!(hi > lo)) hi = lo + Math.max(1e-9, (h.max - h.min) / 1024, 1)
    return { lo, hi, min: h.min, max: h.max }
  }

  /** A typed view of the decoded pixels (valid until the next kernel call that may allocate). */
  pixels(f: DecodedFrame): ArrayLike<number> | BigInt64Array | BigUint64Array {
    const buf = this.#kernel.exports.memory.buffer
    return pixelView(buf, f.ptr, f.nElems, f.dtype)
  }
}

function pixelView(
  buf: ArrayBuffer,
  ptr: number,
  n: number,
  dtype: DTypeName,
): ArrayLike<number> | BigInt64Array | BigUint64Array {
  switch (dtype) {
    case 'uint8':
      return new Uint8Array(buf, ptr, n)
    case 'int8':
      return new Int8Array(buf, ptr, n)
    case 'uint16':
      return new Uint16Array(buf, ptr, n)
    case 'int16':
      return new Int16Array(buf, ptr, n)
    case 'uint32':
      return new Uint32Array(buf, ptr, n)
    case 'int32':
      return new Int32Array(buf, ptr, n)
    case 'float32':
      return new Float32Array(buf, ptr, n)
    case 'float64':
      return new Float64Array(buf, ptr, n)
    case 'uint64':
      return new BigUint64Array(buf, ptr, n)
    case 'int64':
      return new BigInt64Array(buf, ptr, n)
  }
}
