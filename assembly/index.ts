// Module entry: the kernel ABI, nothing else. Every export is a plain function over raw memory
// (pointers and lengths), so the module is called without AssemblyScript glue.
export { abort_info } from './abort'
export { alloc, free } from './memory'
export { dtype_size } from './dtype'
