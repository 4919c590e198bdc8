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
 * percentage of it. GEMM rate counts 2·m·n·k flops. The implementations are the library's (src/bench/floors.ts,
 * also `qwen-hybrid/bench`); requireGpu throws QwenHybridError NO_CUDA_DEVICE without a usable GPU.
 */
import type { GpuDeviceLine } from '../../src/bench/floors.js';
import { writeBenchReport } from '../lib/report.js';

export { bandwidthVsCopy, flopsVsGemm, measureCopyBandwidth, measureGemmF16Rate, requireGpu } from '../../src/bench/floors.js';
export type { CopyBandwidth, GemmRate, GpuDeviceLine } from '../../src/bench/floors.js';

/** bench/results/<name>.json with the GPU device line next to the environment; returns the path. */
export function writeGpuBenchReport(name: string, gpu: GpuDeviceLine, results: Record<string, unknown>, dir?: string): string {
  return dir === undefined ? writeBenchReport(name, { gpu, ...results }) : writeBenchReport(name, { gpu, ...results }, dir);
}
