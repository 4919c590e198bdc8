export { measureMemcpyBandwidth } from './memcpy.js';
export type { MemcpyBandwidth, MemcpyOptions } from './memcpy.js';
export { benchEnvironment, RESULTS_DIR, tinybenchRows, writeBenchReport } from './report.js';
export type { BenchEnvironment, BenchRow } from './report.js';
