/**
 * Typed access to the codec kernels (LZ4 and bsread's bitshuffle_lz4). Compressed bytes are
 * copied into one reused input region and decoded straight into a caller's region (the frame
 * arena), so the hot path makes exactly one copy per frame and allocates nothing once warm.
 * @module
 */
import { BITSHUFFLE_HEADER_BYTES, bitshuffleTotalBytes } from './bitshuffle-header.js'
import { BlockIndex, type BlockSpan } from './block-index.js'
import { byteswap } from './byteswap.js'
import { KernelError } from './errors.js'
import type { Kernel, Region } from './kernel.js'

/** Value compressions of bsread that the codec decodes. */
export type Compression = 'lz4' | 'bitshuffle_lz4'

export interface CodecOptions {
  /** Largest decoded value accepted, in bytes (lying headers never allocate more). */
  maxBytes?: number
}

/** 256 MiB: far above a 2560x2160 u64 frame, well below the module's memory cap. */
export const DEFAULT_MAX_BYTES = 256 * 1024 * 1024

/**
 * Most bytes `compressed` bytes of LZ4 (or bitshuffle_lz4) can decode to: LZ4 cannot expand
 * more than ~255x, plus a raw tail of fewer than 8 elements. A message that declares more
 * lies, and its size must not size an allocation.
 */
export function maxDecodedBytes(compressed: number): number {
  return compressed * 255 + 64
}

/** A (y0, y1) half-open row range of an image. */
export type RowRange = readonly [number, number]

function fail(code: KernelError['code'], message: string): never {
  throw new KernelError(code, message)
}

/** Codec kernels over one Kernel instance; owns its input and output regions. */
export class Codec {
  readonly maxBytes: number
  readonly #input: Region
  readonly #output: Region
  readonly #blocks = new BlockIndex()

  constructor(
    readonly kernel: Kernel,
    options: CodecOptions = {},
  ) {
    this.maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES
    this.#input = kernel.region()
    this.#output = kernel.region()
  }

  /** Decodes a compressed value into a fresh JS array of `expectedBytes` bytes. */
  decompress(
    src: Uint8Array,
    compression: Compression,
    elemSize: number,
    expectedBytes: number,
  ): Uint8Array {
    const ptr = this.decompressInto(this.#output, src, compression, elemSize, expectedBytes)
    return this.kernel.bytes(ptr, expectedBytes).slice()
  }

  /**
   * Decodes a compressed value into `region` (grown to `expectedBytes` when needed) and returns
   * the address of the decoded bytes in kernel memory.
   */
  decompressInto(
    region: Region,
    src: Uint8Array,
    compression: Compression,
    elemSize: number,
    expectedBytes: number,
  ): number {
    this.#checkArgs(elemSize, expectedBytes)
    this.#checkFillable(src, expectedBytes)
    if (compression === 'lz4') return this.#lz4Into(region, src, expectedBytes)
    if (compression === 'bitshuffle_lz4') {
      this.#checkBitshuffleHeader(src, expectedBytes)
      const [inPtr, dst] = this.#load(region, src, expectedBytes)
      const status = this.kernel.run((k) =>
        k.bslz4_decompress(inPtr, src.length, dst, expectedBytes, elemSize),
      )
      this.kernel.check(status, 'bitshuffle_lz4 decode')
      if (status !== expectedBytes) fail('SIZE_MISMATCH', 'bitshuffle_lz4 decode: size mismatch')
      return dst
    }
    return fail('BAD_ARGUMENT', `unknown compression ${String(compression)}`)
  }

  /**
   * Decodes only the bitshuffle blocks that cover `rowRanges` (half-open [y0, y1) rows) of a
   * width x height image into `region`; returns the frame address. Rows outside the ranges hold
   * whatever the region held before. lz4 and uncompressed values are decoded whole.
   */
  decompressRowsInto(
    region: Region,
    src: Uint8Array,
    elemSize: number,
    width: number,
    height: number,
    rowRanges: readonly RowRange[],
    compression: Compression | 'none' = 'bitshuffle_lz4',
  ): number {
    const expectedBytes = width * height * elemSize
    this.#checkArgs(elemSize, expectedBytes)
    if (compression === 'none') {
      if (src.length !== expectedBytes) fail('SIZE_MISMATCH', 'raw value: size mismatch')
      const dst = region.ensure(expectedBytes)
      this.kernel.bytes(dst, expectedBytes).set(src)
      return dst
    }
    if (compression !== 'bitshuffle_lz4') {
      return this.decompressInto(region, src, compression, elemSize, expectedBytes)
    }
    this.#checkFillable(src, expectedBytes)
    this.#checkBitshuffleHeader(src, expectedBytes)
    const merged = mergeRows(rowRanges, height)
    // Each row range needs the header and its span of blocks only (undefined: a block table that
    // does not add up, or rows inside the raw tail alone).
    const blocks = this.#blocks
    const spans = blocks.index(src, expectedBytes, elemSize)
      ? merged.map(([y0, y1]) => blocks.span(y0 * width, y1 * width))
      : undefined
    if (spans?.every((s) => s !== undefined)) {
      let dst = region.ensure(expectedBytes)
      for (let i = 0; i < merged.length; i++) {
        dst = this.decompressSpanInto(region, src, elemSize, width, height, spans[i]!, [merged[i]!])
      }
      return dst
    }
    // Otherwise the whole value goes in, and the kernel's checked walk reports any error.
    const [inPtr, dst] = this.#load(region, src, expectedBytes)
    for (const [first, end] of merged) {
      const status = this.kernel.run((k) =>
        k.bslz4_decompress_range(
          inPtr,
          src.length,
          dst,
          expectedBytes,
          elemSize,
          first * width,
          end * width,
        ),
      )
      this.kernel.check(status, 'bitshuffle_lz4 ROI decode')
    }
    return dst
  }

  /**
   * Decodes `rows` of a bitshuffle_lz4 value from one span of its blocks (see BlockIndex): only
   * the 12-byte header and the span are copied into kernel memory, and the kernel's block walk
   * starts at the span (`bslz4_decompress_from`). `src` needs valid bytes only there, so a thread
   * can be handed just its share. Returns the frame address in `region`.
   */
  decompressSpanInto(
    region: Region,
    src: Uint8Array,
    elemSize: number,
    width: number,
    height: number,
    span: BlockSpan,
    rows: readonly RowRange[],
  ): number {
    const expectedBytes = width * height * elemSize
    const inPtr = this.#input.ensure(src.length)
    const dst = region.ensure(expectedBytes)
    const view = this.kernel.bytes(inPtr, src.length)
    view.set(src.subarray(0, BITSHUFFLE_HEADER_BYTES))
    view.set(src.subarray(span.start, span.end), span.start)
    for (const [y0, y1] of rows) {
      const status = this.kernel.run((k) =>
        k.bslz4_decompress_from(
          inPtr,
          src.length,
          dst,
          expectedBytes,
          elemSize,
          span.start,
          span.startElem,
          y0 * width,
          y1 * width,
        ),
      )
      this.kernel.check(status, 'bitshuffle_lz4 ROI decode')
    }
    return dst
  }

  /**
   * Compresses `src` as bsread puts it on the wire: lz4 with its 4-byte little-endian size
   * prefix, bitshuffle_lz4 with its 12-byte header. Returns a fresh copy.
   */
  compress(
    src: Uint8Array,
    compression: Compression,
    elemSize: number,
    blockBytes = 0,
  ): Uint8Array {
    this.#checkArgs(elemSize, src.length)
    if (src.length % elemSize !== 0) fail('BAD_ARGUMENT', 'length is not a multiple of elemSize')
    const k = this.kernel.exports
    const lz4 = compression === 'lz4'
    if (!lz4 && compression !== 'bitshuffle_lz4') {
      fail('BAD_ARGUMENT', `unknown compression ${String(compression)}`)
    }
    const bound = this.kernel.check(
      lz4
        ? k.lz4_compress_bound(src.length)
        : k.bslz4_compress_bound(src.length, elemSize, blockBytes),
      'compress bound',
    )
    const prefix = lz4 ? 4 : 0
    const inPtr = this.#input.ensure(src.length)
    const outPtr = this.#output.ensure(bound + prefix)
    this.kernel.bytes(inPtr, src.length).set(src)
    const n = this.kernel.check(
      this.kernel.run((e) =>
        lz4
          ? e.lz4_compress(inPtr, src.length, outPtr + prefix, bound)
          : e.bslz4_compress(inPtr, src.length, outPtr, bound, elemSize, blockBytes),
      ),
      'compress',
    )
    const out = this.kernel.bytes(outPtr, n + prefix).slice()
    if (lz4) new DataView(out.buffer).setUint32(0, src.length, true)
    return out
  }

  /** Reverses the byte order of nElems elements at `ptr` in kernel memory (big-endian input). */
  byteswapAt(ptr: number, nElems: number, elemSize: number): void {
    this.kernel.run((k) => k.byteswap_inplace(ptr, nElems, elemSize))
  }

  /** Reverses the byte order of every elemSize-byte element of a JS array, in place. */
  static byteswap(bytes: Uint8Array, elemSize: number): Uint8Array {
    return byteswap(bytes, elemSize)
  }

  #checkArgs(elemSize: number, expectedBytes: number): void {
    if (elemSize !== 1 && elemSize !== 2 && elemSize !== 4 && elemSize !== 8) {
      fail('BAD_ARGUMENT', `element size ${elemSize} is not 1, 2, 4 or 8`)
    }
    if (!Number.isSafeInteger(expectedBytes) || expectedBytes < 0) {
      fail('BAD_ARGUMENT', `bad value size ${expectedBytes}`)
    }
    if (expectedBytes > this.maxBytes) {
      fail(
        'OUTPUT_OVERFLOW',
        `value of ${expectedBytes} bytes exceeds the limit of ${this.maxBytes}`,
      )
    }
  }

  #checkFillable(src: Uint8Array, expectedBytes: number): void {
    if (expectedBytes > maxDecodedBytes(src.length)) {
      fail('SIZE_MISMATCH', `${src.length} compressed bytes cannot hold ${expectedBytes} bytes`)
    }
  }

  #checkBitshuffleHeader(src: Uint8Array, expectedBytes: number): void {
    if (src.length < BITSHUFFLE_HEADER_BYTES) fail('TRUNCATED', 'bitshuffle_lz4: truncated header')
    const declared = bitshuffleTotalBytes(src)
    if (declared !== BigInt(expectedBytes)) {
      fail(
        'SIZE_MISMATCH',
        `bitshuffle_lz4: header declares ${declared} bytes, shape needs ${expectedBytes}`,
      )
    }
  }

  // lz4 in bsread: 4-byte size (the reference sender writes little-endian; the shape is
  // authoritative, so a disagreeing prefix is ignored), then one LZ4 block.
  #lz4Into(region: Region, src: Uint8Array, expectedBytes: number): number {
    if (src.length < 4) fail('TRUNCATED', 'lz4: truncated size prefix')
    const body = src.subarray(4)
    const [inPtr, dst] = this.#load(region, body, expectedBytes)
    const status = this.kernel.run((k) => k.lz4_decompress(inPtr, body.length, dst, expectedBytes))
    this.kernel.check(status, 'lz4 decode')
    if (status !== expectedBytes) {
      fail('SIZE_MISMATCH', `lz4: decoded ${status} bytes, shape needs ${expectedBytes}`)
    }
    return dst
  }

  // Sizes both regions first (either may grow memory and detach views), then copies src in.
  #load(region: Region, src: Uint8Array, outBytes: number): [number, number] {
    const inPtr = this.#input.ensure(src.length)
    const dst = region.ensure(outBytes)
    this.kernel.bytes(inPtr, src.length).set(src)
    return [inPtr, dst]
  }
}

/** Clamps row ranges to [0, height), drops empty ones, merges overlapping or touching ones. */
export function mergeRows(ranges: readonly RowRange[], height: number): Array<[number, number]> {
  const clamped = ranges
    .map(([a, b]): [number, number] => [Math.max(0, Math.floor(a)), Math.min(height, Math.ceil(b))])
    .filter(([a, b]) => b > a)
    .sort((x, y) => x[0] - y[0])
  const out: Array<[number, number]> = []
  for (const r of clamped) {
    const last = out[out.length - 1]
    if (last && r[0] <= last[1]) last[1] = Math.max(last[1], r[1])
    else out.push([r[0], r[1]])
  }
  return out
}
