/**
 * Reference rates ("floors") measured IN THE SAME RUN as the kernels they judge (design §4):
 *   CPU  measureMemcpyBandwidth   multi-threaded native memcpy of a buffer far beyond the last-level cache
 *   GPU  measureCopyBandwidth     device-to-device copy (native/cuda/bench_copy.cu), default 1 GiB ≫ L2
 *        measureGemmF16Rate       dense fp16 tensor-core GEMM (own mma.sync kernel, f32 accumulate; the native side
 *                                 self-checks 64 elements of its result exactly before timing)
 * Convention for both copies: STREAM "Copy", 2·bytes·iters / s (each byte read once and written once) — the memory
 * traffic a read-only weight stream (a matvec, a decode step) can hope to reach, so weight GB/s is reported as a
 * percentage of `gbPerSec`. GEMM rate counts 2·m·n·k flops. Every function takes the best of `repeats` samples.
 */
import { availableParallelism } from 'node:os';

import { QwenHybridError } from '../errors.js';
import { loadNativeAddon } from '../native/addon.js';
import type { CudaDeviceInfo } from '../native/types.js';

export interface MemcpyBandwidth {
  /** Bytes per copy. */
  bytes: number;
  /** Copies per sample. */
  iters: number;
  threads: number;
  /** Seconds per sample (iters copies), each sample after a warm-up copy. */
  samples: number[];
  /** Best sample, STREAM "Copy" convention: 2 × bytes × iters / seconds. */
  gbPerSec: number;
  /** Best sample, bytes copied per second (bytes × iters / seconds). */
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

function positive(name: string, v: number): number {
  if (!Number.isSafeInteger(v) || v < 1) throw new QwenHybridError('INVALID_ARGUMENT', `${name} must be a positive integer, got ${String(v)}`, { parameter: name });
  return v;
}

export function measureMemcpyBandwidth(opts: MemcpyOptions = {}): MemcpyBandwidth {
  const bytes = positive('bytes', opts.bytes ?? 256 * 2 ** 20);
  const iters = positive('iters', opts.iters ?? 4);
  const repeats = positive('repeats', opts.repeats ?? 5);
  const threads = positive('threads', opts.threads ?? availableParallelism());
  const addon = loadNativeAddon();
  const samples: number[] = [];
  for (let r = 0; r < repeats; r++) samples.push(addon.benchMemcpy(bytes, iters, threads));
  const best = Math.min(...samples);
  return { bytes, iters, threads, samples, gbPerSec: (2 * bytes * iters) / best / 1e9, copyGBPerSec: (bytes * iters) / best / 1e9 };
}

export interface GpuDeviceLine {
  index: number;
  name: string;
  computeCapability: string;
  totalMemoryBytes: number;
  multiProcessorCount: number;
  memoryBusWidthBits: number;
  memoryClockKHz: number;
  /** Theoretical DRAM bandwidth: 2 (DDR) × clock × bus width / 8, GB/s. */
  peakGBPerSec: number;
  driverVersion: string | null;
  cudaRuntimeVersion: string | null;
  cudaArchs: number[];
}

/**
 * The device line of CUDA device `index`. Throws QwenHybridError NO_CUDA_DEVICE (a GPU bench must not write numbers
 * without a GPU) when the addon has no CUDA or the device is not usable; the message says which.
 */
export function requireGpu(index = 0): GpuDeviceLine {
  const addon = loadNativeAddon();
  const build = addon.buildInfo();
  if (!build.cuda) throw new QwenHybridError('NO_CUDA_DEVICE', 'the native addon was built without CUDA (rebuild with nvcc >= 12.8: npm run build:native); no GPU results', { device: index });
  const d = addon.cudaDevices();
  const dev: CudaDeviceInfo | undefined = d.devices[index];
  if (!d.available || !dev) throw new QwenHybridError('NO_CUDA_DEVICE', `no usable CUDA device ${index} (${d.reason}); no GPU results`, { device: index });
  return {
    index,
    name: dev.name,
    computeCapability: dev.computeCapability,
    totalMemoryBytes: dev.totalMemoryBytes,
    multiProcessorCount: dev.multiProcessorCount,
    memoryBusWidthBits: dev.memoryBusWidthBits,
    memoryClockKHz: dev.memoryClockKHz,
    peakGBPerSec: (2 * dev.memoryClockKHz * 1e3 * (dev.memoryBusWidthBits / 8)) / 1e9,
    driverVersion: d.driverVersion,
    cudaRuntimeVersion: build.cudaRuntimeVersion,
    cudaArchs: build.cudaArchs,
  };
}

export interface CopyBandwidth {
  bytes: number;
  iters: number;
  /** Seconds per sample (iters copies after one warm-up). */
  samples: number[];
  /** Best sample, 2·bytes·iters / s. */
  gbPerSec: number;
  /** Best sample, bytes·iters / s. */
  copyGBPerSec: number;
}

/** Device-to-device copy of `bytes` (default 1 GiB: far beyond L2), best of `repeats`. */
export function measureCopyBandwidth(opts: { device?: number; bytes?: number; iters?: number; repeats?: number } = {}): CopyBandwidth {
  const addon = loadNativeAddon();
  const bytes = positive('bytes', opts.bytes ?? 2 ** 30);
  const iters = positive('iters', opts.iters ?? 10);
  const repeats = positive('repeats', opts.repeats ?? 5);
  const samples: number[] = [];
  for (let r = 0; r < repeats; r++) samples.push(addon.cudaBenchCopy(opts.device ?? 0, bytes, iters));
  const best = Math.min(...samples);
  return { bytes, iters, samples, gbPerSec: (2 * bytes * iters) / best / 1e9, copyGBPerSec: (bytes * iters) / best / 1e9 };
}

export interface GemmRate {
  m: number;
  n: number;
  k: number;
  iters: number;
  samples: number[];
  /** Best sample, 2·m·n·k·iters / s / 1e12. */
  tflops: number;
}

/** Dense fp16 tensor-core GEMM rate (default 4096³), best of `repeats`. */
export function measureGemmF16Rate(opts: { device?: number; m?: number; n?: number; k?: number; iters?: number; repeats?: number } = {}): GemmRate {
  const addon = loadNativeAddon();
  const m = positive('m', opts.m ?? 4096);
  const n = positive('n', opts.n ?? 4096);
  const k = positive('k', opts.k ?? 4096);
  const iters = positive('iters', opts.iters ?? 10);
  const repeats = positive('repeats', opts.repeats ?? 5);
  const samples: number[] = [];
  for (let r = 0; r < repeats; r++) samples.push(addon.cudaBenchGemmF16(opts.device ?? 0, m, n, k, iters));
  const best = Math.min(...samples);
  return { m, n, k, iters, samples, tflops: (2 * m * n * k * iters) / best / 1e12 };
}

/** Weight bytes read per second as GB/s and as % of the copy bandwidth measured in the same run. */
export function bandwidthVsCopy(bytesRead: number, seconds: number, copy: { gbPerSec: number }): { gbPerSec: number; pctOfCopy: number } {
  const gbPerSec = bytesRead / seconds / 1e9;
  return { gbPerSec, pctOfCopy: (100 * gbPerSec) / copy.gbPerSec };
}

/** TFLOP/s of an m×n×k GEMM and % of the dense fp16 rate measured in the same run. */
export function flopsVsGemm(m: number, n: number, k: number, seconds: number, gemm: { tflops: number }): { tflops: number; pctOfDense: number } {
  const tflops = (2 * m * n * k) / seconds / 1e12;
  return { tflops, pctOfDense: (100 * tflops) / gemm.tflops };
}
