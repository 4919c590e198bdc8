/**
 * The GPU reference rates on their own: device-to-device copy bandwidth (1 GiB, and 64 MiB to show the L2 effect)
 * and the dense fp16 tensor-core GEMM rate at the prefill shapes the matmul bench compares with (512 and 4096
 * tokens × 5120 × 5120, and 4096³). Kernel benches measure these again in their own run (bench/gpu/lib.ts); this
 * file records them with the device line so runs on different GPUs can be compared.
 * Refuses to write results without a usable CUDA device.
 *
 * Run: node --import tsx bench/gpu/reference.bench.ts  → table + bench/results/reference-cuda.json
 */
import { measureCopyBandwidth, measureGemmF16Rate, requireGpu, writeGpuBenchReport } from './lib.js';

const gpu = requireGpu(0);
const copy = measureCopyBandwidth({ bytes: 2 ** 30 });
const copySmall = measureCopyBandwidth({ bytes: 64 * 2 ** 20, iters: 50 });
const gemms = [
  measureGemmF16Rate({ m: 512, n: 5120, k: 5120 }),
  measureGemmF16Rate({ m: 4096, n: 5120, k: 5120 }),
  measureGemmF16Rate({ m: 4096, n: 4096, k: 4096 }),
];
console.log(`${gpu.name} (sm_${gpu.computeCapability.replace('.', '')}, ${gpu.multiProcessorCount} SMs, peak DRAM ${gpu.peakGBPerSec.toFixed(0)} GB/s)`);
console.log(`d2d copy 1 GiB : ${copy.gbPerSec.toFixed(0)} GB/s (2·bytes/s), ${((100 * copy.gbPerSec) / gpu.peakGBPerSec).toFixed(0)} % of peak`);
console.log(`d2d copy 64 MiB: ${copySmall.gbPerSec.toFixed(0)} GB/s`);
for (const g of gemms) console.log(`fp16 GEMM ${g.m}×${g.n}×${g.k}: ${g.tflops.toFixed(1)} TFLOP/s`);
const file = writeGpuBenchReport('reference-cuda', gpu, { copy, copySmall, gemms });
console.log(`wrote ${file}`);
