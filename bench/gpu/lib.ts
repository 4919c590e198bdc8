/**
 * Shared parts of the GPU benches (design §4): the reference rates measured IN THE SAME RUN as the kernels they
 * judge, and the device line for the JSON report.
 *
 *   const env = requireGpu();                                  // throws (no results written) without a usable GPU
 *   const copy = measureCopyBandwidth();                       // device-to-device memcpy, GB/s
 *   const gemm = measureGemmF16Rate();                         // dense fp16 mma.sync GEMM, TFLOP/s
 *   writeGpuBenchReport('matmul-cuda', env, { copy, gemm, rows });
 *
 * Conventions: copy bandwidth is STREAM "Copy" style, 2·bytes / s (every byte read once and written once): the
 * traffic a read-only weight stream (GEMV) can hope to reach, so GEMV GB/s (weight bytes read / s) is reported as a
 * percentage of it. GEMM rate counts 2·m·n·k flops.
 */
import { loadNativeAddon } from '../../src/native/index.js';
import type { CudaDeviceInfo } from '../../src/native/index.js';
import { writeBenchReport } from '../lib/report.js';

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

/** The device line of device `index`; throws (a bench must not write numbers without a GPU) when unusable. */
export function requireGpu(index = 0): GpuDeviceLine {
  const addon = loadNativeAddon();
  const build = addon.buildInfo();
  if (!build.cuda) throw new Error('GPU bench: the addon was built without CUDA (npm run build:native with nvcc >= 12.8); no results written');
  const d = addon.cudaDevices();
  const dev: CudaDeviceInfo | undefined = d.devices[index];
  if (!d.available || !dev) throw new Error(`GPU bench: no usable CUDA device ${index} (${d.reason}); no results written`);
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
  const bytes = opts.bytes ?? 2 ** 30;
  const iters = opts.iters ?? 10;
  const repeats = opts.repeats ?? 5;
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

/**
 * Dense fp16 tensor-core GEMM rate (own mma.sync kernel, f32 accumulate; no cuBLAS offline), best of `repeats`.
 * The native side self-checks 64 elements of the result exactly before timing.
 */
export function measureGemmF16Rate(opts: { device?: number; m?: number; n?: number; k?: number; iters?: number; repeats?: number } = {}): GemmRate {
  const addon = loadNativeAddon();
  const m = opts.m ?? 4096;
  const n = opts.n ?? 4096;
  const k = opts.k ?? 4096;
  const iters = opts.iters ?? 10;
  const repeats = opts.repeats ?? 5;
  const samples: number[] = [];
  for (let r = 0; r < repeats; r++) samples.push(addon.cudaBenchGemmF16(opts.device ?? 0, m, n, k, iters));
  const best = Math.min(...samples);
  return { m, n, k, iters, samples, tflops: (2 * m * n * k * iters) / best / 1e12 };
}

/** Weight bytes read per second as GB/s and as % of the copy bandwidth measured in the same run. */
export function bandwidthVsCopy(bytesRead: number, seconds: number, copy: CopyBandwidth): { gbPerSec: number; pctOfCopy: number } {
  const gbPerSec = bytesRead / seconds / 1e9;
  return { gbPerSec, pctOfCopy: (100 * gbPerSec) / copy.gbPerSec };
}

/** TFLOP/s of an m×n×k GEMM and % of the dense fp16 rate measured in the same run. */
export function flopsVsGemm(m: number, n: number, k: number, seconds: number, gemm: GemmRate): { tflops: number; pctOfDense: number } {
  const tflops = (2 * m * n * k) / seconds / 1e12;
  return { tflops, pctOfDense: (100 * tflops) / gemm.tflops };
}

/** bench/results/<name>.json with the GPU device line next to the environment; returns the path. */
export function writeGpuBenchReport(name: string, gpu: GpuDeviceLine, results: Record<string, unknown>, dir?: string): string {
  return dir === undefined ? writeBenchReport(name, { gpu, ...results }) : writeBenchReport(name, { gpu, ...results }, dir);
}
