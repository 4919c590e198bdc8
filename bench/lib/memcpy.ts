/**
 * Memory bandwidth measured in the same run as a benchmark (design §4); the implementation is the library's
 * (src/bench/floors.ts, also `qwen-hybrid/bench`), re-exported here for the bench scripts.
 */
export { measureMemcpyBandwidth } from '../../src/bench/floors.js';
export type { MemcpyBandwidth, MemcpyOptions } from '../../src/bench/floors.js';
