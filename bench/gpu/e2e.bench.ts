/**
 * Whole-model CUDA prefill and decode at real Qwen3.6 shapes, through the public API (loadModel({ backend: 'cuda' })),
 * with llama.cpp CUDA (node-llama-cpp built by scripts/build-llama-cuda.mjs) on the same GGUF as the peer.
 *
 * Models: src/model/synthetic.ts qwen35-27b (16.8 GB) and qwen35moe-35b-a3b (21.7 GB), exact shapes, Q4_K_M mix,
 * random valid blocks, written once (streamed) into $QWEN_HYBRID_BENCH_CACHE (default <tmpdir>/qwen-hybrid-bench).
 * Cases: decode 64 tokens at context 512 and 8192; prefill 512, 4096, 8192 (src/bench/e2e.ts).
 * Floors measured first, in this process: device-to-device copy bandwidth (decode floor_tok_s = copy GB/s ÷ bytes read
 * per token: weights + GDN state + KV at that context) and the dense fp16 GEMM rate (prefill % = 2·active params·tokens
 * / s ÷ it; matmul flops only). Peer: null with the reason when node-llama-cpp has no CUDA build.
 * MoE: the expert-load histogram of a 128-token prompt is in the report (expert_load) and printed.
 * No CUDA device: exits with status 1 and the reason, writing no results.
 *
 * Run (GPU machine): node --import tsx bench/gpu/e2e.bench.ts [--shapes a,b] [--samples N] [--no-peer] [--quick]
 *   → markdown table on stdout, bench/results/e2e-cuda.json and e2e-cuda.svg (--quick: 0.5b shapes, e2e-cuda-quick.*)
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { benchModel, syntheticFloorInputs } from '../../src/bench/e2e.js';
import { markdownTable, svgChart } from '../../src/bench/format.js';
import { makeBenchReport, writeReportJson, type BenchCase, type BenchPeer, type ExpertLoad } from '../../src/bench/report.js';
import { defaultShapes, ensureSyntheticModel } from '../../src/bench/suite.js';
import { SYNTHETIC_SHAPES, syntheticModelConfig, type SyntheticShapeName } from '../../src/model/synthetic.js';
import { RESULTS_DIR } from '../lib/report.js';
import { measureCopyBandwidth, measureGemmF16Rate, requireGpu } from './lib.js';

const argv = process.argv.slice(2);
const val = (flag: string): string | undefined => (argv.includes(flag) ? argv[argv.indexOf(flag) + 1] : undefined);
const quick = argv.includes('--quick');
const samples = Number(val('--samples') ?? (quick ? 1 : 3));
if (!Number.isSafeInteger(samples) || samples < 1) throw new Error('--samples must be a positive integer');
const shapes = (val('--shapes')?.split(',') ?? defaultShapes('cuda', quick)) as SyntheticShapeName[];
for (const s of shapes) if (!(s in SYNTHETIC_SHAPES)) throw new Error(`unknown shape '${s}' (known: ${Object.keys(SYNTHETIC_SHAPES).join(', ')})`);

let gpu: ReturnType<typeof requireGpu>;
try {
  gpu = requireGpu(0);
} catch (e) {
  console.error(`e2e-cuda bench: ${(e as Error).message}`);
  process.exit(1);
}
const log = (line: string): void => void process.stderr.write(`${line}\n`);
log(`device: ${gpu.name} (sm ${gpu.computeCapability}, ${(gpu.totalMemoryBytes / 2 ** 30).toFixed(0)} GiB, driver ${gpu.driverVersion ?? '?'})`);
const copy = measureCopyBandwidth({ device: 0 });
const gemm = measureGemmF16Rate({ device: 0 });
log(`floors: device copy ${copy.gbPerSec.toFixed(0)} GB/s (peak ${gpu.peakGBPerSec.toFixed(0)}), dense fp16 GEMM ${gemm.tflops.toFixed(0)} TFLOP/s`);

const cases: BenchCase[] = [];
const loads: ExpertLoad[] = [];
const notes: string[] = ['prefill pct_of_floor: 2·active params·tokens / s (matmul flops only) ÷ dense fp16 GEMM rate'];
let peer: BenchPeer | null = null;
for (const shape of shapes) {
  const path = await ensureSyntheticModel(shape, log);
  const r = await benchModel({
    modelPath: path, modelShape: shape, backend: 'cuda', device: 0, samples, peer: argv.includes('--no-peer') ? false : 'auto',
    prefill: quick ? [512] : [512, 4096, 8192],
    decode: quick ? [{ context: 512, tokens: 16 }] : [{ context: 512, tokens: 64 }, { context: 8192, tokens: 64 }],
    copyGBs: copy.gbPerSec, gemmTflops: gemm.tflops, ...syntheticFloorInputs(syntheticModelConfig(shape)), log,
  });
  cases.push(...r.cases);
  if (r.expertLoad) loads.push(r.expertLoad);
  notes.push(...r.notes);
  peer = r.peer;
}

const report = makeBenchReport({
  bench: quick ? 'e2e-cuda-quick' : 'e2e-cuda', backend: 'cuda', model_shape: shapes, copy_bw_gbs: copy.gbPerSec, gemm_tflops: gemm.tflops,
  peer, cases, expert_load: loads, notes,
});
const file = writeReportJson(join(RESULTS_DIR, `${report.bench}.json`), { ...report, ...{ gpu, copy, gemm } });
writeFileSync(join(RESULTS_DIR, `${report.bench}.svg`), svgChart(report));
console.log(markdownTable(report));
for (const l of loads) {
  console.log(`${l.model_shape} expert load (${l.tokens} tokens, top ${l.used} of ${l.experts}): busiest expert per layer ≤ ${(100 * l.max_share).toFixed(1)} % of slots ` +
    `(uniform ${(100 / l.experts).toFixed(2)} %), ${l.idle_pairs} idle (expert, layer) pairs, CV ${l.cv.toFixed(2)}\nhistogram: ${l.histogram.join(' ')}`);
}
for (const n of notes) console.log(`note: ${n}`);
console.log(`→ ${file}`);
