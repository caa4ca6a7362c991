// Negative status codes returned by kernels (0 or a positive count means success).
// Mirrored in src/kernel/errors.ts.

/** Input ended before the data it announces. */
export const ERR_TRUNCATED: i32 = -1
/** Invalid compressed data (bad LZ4 sequence, offset before the start of output, ...). */
export const ERR_CORRUPT: i32 = -2
/** Decoding would write past the destination. */
export const ERR_OUTPUT_OVERFLOW: i32 = -3
/** Sizes that disagree (declared size vs. destination, block lengths vs. input). */
export const ERR_SIZE_MISMATCH: i32 = -4
/** A bad argument: unknown type code, element size, ROI outside the frame, ... */
export const ERR_BAD_ARGUMENT: i32 = -5
