/**
 * The raw ABI of build/kernel.wasm: every export of assembly/index.ts with its signature.
 * Pointers and lengths are byte addresses/counts in the module's memory unless said otherwise;
 * i32 results are a count (>= 0) or a negative status (src/kernel/errors.ts).
 * @module
 */
export interface KernelExports {
  readonly memory: WebAssembly.Memory

  // memory.ts / abort.ts / dtype.ts
  alloc(size: number): number
  free(ptr: number): void
  abort_info(): number
  dtype_size(dtype: number): number

  // lz4.ts: LZ4 *block* format (no frame header)
  /** Decodes one LZ4 block of srcLen bytes into at most dstLen bytes; returns bytes written. */
  lz4_decompress(src: number, srcLen: number, dst: number, dstLen: number): number
  /** Worst-case compressed size of n bytes. */
  lz4_compress_bound(n: number): number
  /** Compresses srcLen bytes into dst (capacity dstCap); returns the compressed length. */
  lz4_compress(src: number, srcLen: number, dst: number, dstCap: number): number

  // bitshuffle.ts: bsread's bitshuffle_lz4 framing (12-byte header + length-prefixed blocks + raw tail)
  /** Decodes a whole bitshuffle_lz4 value; dstCap must hold the declared size; returns bytes written. */
  bslz4_decompress(
    src: number,
    srcLen: number,
    dst: number,
    dstCap: number,
    elemSize: number,
  ): number
  /**
   * Decodes only the blocks overlapping elements [firstElem, endElem) (and the raw tail if it
   * overlaps) into their places in dst (the full-size destination); returns the number of blocks
   * decoded.
   */
  bslz4_decompress_range(
    src: number,
    srcLen: number,
    dst: number,
    dstCap: number,
    elemSize: number,
    firstElem: number,
    endElem: number,
  ): number
  /**
   * bslz4_decompress_range that starts the block walk at byte startPos (the length prefix of the
   * block beginning at element startElem) and stops after the last block overlapping the range;
   * reads only the header and that span. Returns the number of blocks decoded.
   */
  bslz4_decompress_from(
    src: number,
    srcLen: number,
    dst: number,
    dstCap: number,
    elemSize: number,
    startPos: number,
    startElem: number,
    firstElem: number,
    endElem: number,
  ): number
  /** Worst-case bitshuffle_lz4 size of srcLen bytes (header and prefixes included). */
  bslz4_compress_bound(srcLen: number, elemSize: number, blockBytes: number): number
  /** Encodes like the reference C library; blockBytes 0 = the reference default. Returns length. */
  bslz4_compress(
    src: number,
    srcLen: number,
    dst: number,
    dstCap: number,
    elemSize: number,
    blockBytes: number,
  ): number
  /** Reverses the byte order of nElems elements of elemSize bytes, in place. */
  byteswap_inplace(ptr: number, nElems: number, elemSize: number): void

  // profile.ts / stats.ts: images are row-major, width = fastest-varying dimension
  /**
   * Column sums of ROI [ox, sx, oy, sy] into out (sx elements of 8 bytes: u64 for unsigned,
   * i64 for signed, f64 for float pixels). bigEndian != 0 swaps on load. Returns 0.
   */
  x_profile(
    frame: number,
    width: number,
    height: number,
    dtype: number,
    bigEndian: number,
    ox: number,
    sx: number,
    oy: number,
    sy: number,
    out: number,
  ): number
  /**
   * dst[i] += src[i] over n 64-bit integer lanes (wrapping): combines partial u64/i64 profiles
   * summed by different threads over disjoint rows into the single-pass result.
   */
  profile_add_i64(dst: number, src: number, n: number): void
  /** f64[5] at out: sum, min, max, mean, count of pixels >= saturation. Returns 0. */
  roi_stats(
    frame: number,
    width: number,
    height: number,
    dtype: number,
    bigEndian: number,
    ox: number,
    sx: number,
    oy: number,
    sy: number,
    saturation: number,
    out: number,
  ): number
  /** f64[2] at out: min and max of every stride-th element. Returns 0. */
  frame_min_max(
    frame: number,
    nElems: number,
    dtype: number,
    bigEndian: number,
    stride: number,
    out: number,
  ): number
  /** u32[bins] at out: histogram of every stride-th element over [lo, hi]. Returns 0. */
  histogram(
    frame: number,
    nElems: number,
    dtype: number,
    bigEndian: number,
    stride: number,
    lo: number,
    hi: number,
    bins: number,
    out: number,
  ): number

  // profile math on f64 arrays (edge.ts)
  /** Converts n 8-byte sums (kind 0 u64, 1 i64, 2 f64) to f64. */
  profile_to_f64(src: number, n: number, kind: number, dst: number): void
  /** Mean of `count` contiguous profiles of n f64 each. */
  profiles_mean(ring: number, count: number, n: number, out: number): void
  /** ema = alpha * src + (1 - alpha) * ema, in place. */
  profile_ema(ema: number, src: number, n: number, alpha: number): void
  /** mode 0: out = sig - ref; mode 1: out = sig / ref - 1 (0 where ref == 0). */
  profile_normalise(sig: number, ref: number, n: number, mode: number, out: number): void
  /** out = a - b. */
  profile_subtract(a: number, b: number, n: number, out: number): void
  /** Centred moving average over `window` samples (prefix sums, edges shrink the window). */
  profile_smooth(src: number, n: number, window: number, out: number): void
  /**
   * Linear interpolation at x = 0, step, 2*step, ... while x <= lastX (lastX = n - 1, or n - 2
   * for the old code's arange quirk); returns the number of samples written.
   */
  profile_refine(src: number, n: number, step: number, lastX: number, out: number): number
  /**
   * Cross-correlates a profile of m samples with a step of `taps` samples (falling: first
   * floor(taps/2) = +1, the rest -1; rising: the opposite), 'valid' mode, using prefix sums
   * (linear in m). scratch holds m + 1 f64. Writes f64[5] to out: argmax index, max amplitude,
   * FWHM of the peak (samples), highest secondary peak, parabolic sub-sample offset of the peak.
   * Returns the number of correlation samples (0 when m < taps).
   */
  edge_find(
    profile: number,
    m: number,
    taps: number,
    rising: number,
    scratch: number,
    out: number,
  ): number

  // the learned matched filter (edge-filter.ts)
  /** c[k] = sum_j filter[j] * profile[k + j], k = 0 .. m - taps, into out; returns the count. */
  filter_correlate(profile: number, m: number, filter: number, taps: number, out: number): number
  /** filter_correlate into scratch, then edge_find's f64[5] peak metrics to out. */
  filter_find(
    profile: number,
    m: number,
    filter: number,
    taps: number,
    scratch: number,
    out: number,
  ): number
  /** Mean square of the correlation (the filter's noise output on a reference shot). */
  filter_noise(profile: number, m: number, filter: number, taps: number, scratch: number): number
  /** Mean of src[i]^2 over n f64 (NaN when n < 1). */
  mean_square(src: number, n: number): number
}

/** Names of every export the module must have (checked at load time). */
export const KERNEL_FUNCTIONS = [
  'alloc',
  'free',
  'abort_info',
  'dtype_size',
  'lz4_decompress',
  'lz4_compress_bound',
  'lz4_compress',
  'bslz4_decompress',
  'bslz4_decompress_range',
  'bslz4_decompress_from',
  'bslz4_compress_bound',
  'bslz4_compress',
  'byteswap_inplace',
  'x_profile',
  'profile_add_i64',
  'roi_stats',
  'frame_min_max',
  'histogram',
  'profile_to_f64',
  'profiles_mean',
  'profile_ema',
  'profile_normalise',
  'profile_subtract',
  'profile_smooth',
  'profile_refine',
  'edge_find',
  'filter_correlate',
  'filter_find',
  'filter_noise',
  'mean_square',
] as const
