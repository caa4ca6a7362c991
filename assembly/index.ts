// Module entry: the kernel ABI, nothing else. Every export is a plain function over raw memory
// (pointers and lengths), so the module is called without AssemblyScript glue.
export { abort_info } from './abort'
export { alloc, free } from './memory'
export { dtype_size } from './dtype'
export { x_profile } from './profile'
export { profile_add_i64 } from './sums'
export { roi_stats, frame_min_max, histogram } from './stats'
export {
  profile_to_f64, profiles_mean, profile_ema, profile_normalise, profile_subtract,
  profile_smooth, profile_refine, edge_find,
} from './edge'
export { filter_correlate, filter_find, filter_noise, mean_square } from './edge-filter'
export { lz4_decompress, lz4_compress_bound, lz4_compress } from './lz4'
export {
  bslz4_decompress, bslz4_decompress_range, bslz4_decompress_from, bslz4_compress_bound,
  bslz4_compress,
  byteswap_inplace, bitshuffle_block,
} from './bitshuffle'
