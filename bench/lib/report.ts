/**
 * Bench reports for the scripts under bench/: the library's environment line and writers (src/bench, also
 * `qwen-hybrid/bench`), with reports going to bench/results/<name>.json by default.
 *
 *   const rows = tinybenchRows(bench);                                  // after `await bench.run()`
 *   writeBenchReport('matmul-cpu', { memcpy, rows, ... });             // → bench/results/matmul-cpu.json
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { writeBenchReport as writeReport } from '../../src/bench/report.js';

export { benchEnvironment } from '../../src/bench/env.js';
export type { BenchEnvironment } from '../../src/bench/env.js';
export { tinybenchRows } from '../../src/bench/runner.js';
export type { BenchRow } from '../../src/bench/runner.js';

/** bench/results */
export const RESULTS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'results');

/**
 * Writes <dir>/<name>.json = { bench: name, ...benchEnvironment(), ...results } (results win on a key clash) and
 * returns the file path. `dir` defaults to bench/results.
 */
export function writeBenchReport(name: string, results: Record<string, unknown>, dir = RESULTS_DIR): string {
  return writeReport(name, results, dir);
}
