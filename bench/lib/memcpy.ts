/**
 * Memory bandwidth measured in the same run as a benchmark (design §4): a multi-threaded native memcpy of a
 * buffer much larger than the last-level cache. Report quantized matvec GB/s as a fraction of `gbPerSec`.
 */
import { availableParallelism } from 'node:os';

import { loadNativeAddon } from '../../src/native/index.js';

export interface MemcpyBandwidth {
  /** Bytes per copy. */
  bytes: number;
  /** Copies per sample. */
  iters: number;
  threads: number;
  /** Seconds per sample (iters copies), each sample after a warm-up copy. */
  samples: number[];
  /**
   * Best sample, STREAM "Copy" convention: 2 x bytes x iters / seconds (each copied byte is read once and
   * written once). The memory traffic a read-only stream (a matvec over weights) can hope to reach.
   */
  gbPerSec: number;
  /** Best sample, bytes copied per second (bytes x iters / seconds). */
  copyGBPerSec: number;
}

export interface MemcpyOptions {
  /** Default 256 MiB: far beyond any CPU cache. */
  bytes?: number;
  /** Copies per sample, default 4. */
  iters?: number;
  /** Samples, default 5; the best is reported. */
  repeats?: number;
  /** Default: every CPU this process may use (match the threads of the benchmark it is compared with). */
  threads?: number;
}

export function measureMemcpyBandwidth(opts: MemcpyOptions = {}): MemcpyBandwidth {
  const bytes = opts.bytes ?? 256 * 2 ** 20;
  const iters = opts.iters ?? 4;
  const repeats = opts.repeats ?? 5;
  const threads = opts.threads ?? availableParallelism();
  const addon = loadNativeAddon();
  const samples: number[] = [];
  for (let r = 0; r < repeats; r++) samples.push(addon.benchMemcpy(bytes, iters, threads));
  const best = Math.min(...samples);
  return {
    bytes,
    iters,
    threads,
    samples,
    gbPerSec: (2 * bytes * iters) / best / 1e9,
    copyGBPerSec: (bytes * iters) / best / 1e9,
  };
}
