export { measureMemcpyBandwidth } from './memcpy.js';
export type { MemcpyBandwidth, MemcpyOptions } from './memcpy.js';
export { benchEnvironment, tinybenchRows, writeBenchReport } from './report.js';
export type { BenchEnvironment, BenchRow } from './report.js';
