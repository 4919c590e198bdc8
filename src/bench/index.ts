/**
 * `qwen-hybrid/bench`: microbenchmark qwen-hybrid's kernels and models from your own code, on your own shapes, with
 * the same machinery as the package's benches (design §4): correctness gate before timing, floors measured in the
 * same run, one JSON report schema, a markdown table and an SVG chart.
 *
 *   import { benchOp, makeBenchReport, markdownTable, svgChart, measureMemcpyBandwidth } from 'qwen-hybrid/bench';
 *   const floor = measureMemcpyBandwidth({ threads: 8 });
 *   const r = await benchOp({ op: 'MATMUL', weightType: 'Q4_K', shape: { k: 4096, m: 11008 }, threads: 8, floor: { copyGBs: floor.gbPerSec } });
 *   const report = makeBenchReport({ bench: 'my-matmul', backend: 'cpu', threads: 8, copy_bw_gbs: floor.gbPerSec, cases: [r.case] });
 *   console.log(markdownTable(report));
 *   await benchOp({ op: 'ATTENTION', shape: { d: 256, hq: 24, hkv: 4, pos: 8192 }, cache: 'q8_0', backend: 'cuda' });
 *   await benchOp({ op: 'GATED_DELTA_NET', shape: { dk: 128, dv: 128, nk: 16, nv: 48, t: 512 }, mode: 'chunked' });
 *
 * Timing uses tinybench (a dependency). End-to-end peers use node-llama-cpp when installed.
 */
export { benchEnvironment, PACKAGE_ROOT } from './env.js';
export type { BenchEnvironment } from './env.js';
export { bandwidthVsCopy, flopsVsGemm, measureCopyBandwidth, measureGemmF16Rate, measureMemcpyBandwidth, requireGpu } from './floors.js';
export type { CopyBandwidth, GemmRate, GpuDeviceLine, MemcpyBandwidth, MemcpyOptions } from './floors.js';
export { BenchGateError, gatedBench, msStats, tinybenchRows } from './runner.js';
export type { BenchRow, GatedOptions, GatedTask } from './runner.js';
export { assertBenchReport, BENCH_REPORT_SCHEMA, benchCase, CASE_FIELDS, makeBenchReport, REPORT_FIELDS, writeBenchReport, writeReportJson } from './report.js';
export type { BenchCase, BenchPeer, BenchReport, ExpertLoad, PeerFigures } from './report.js';
export { markdownTable, svgChart, xmlEscape } from './format.js';
export type { SvgOptions } from './format.js';
export { BENCH_OPS, benchOp } from './op.js';
export type { BenchCommonOptions, BenchOpName, BenchOpOptions, BenchOpResult, CaseBenchOptions, MatmulBenchOptions } from './op.js';
export type { CaseExtras, CaseOpName, CaseShapes } from './op-cases.js';
export { benchModel, expertLoadFromLogits, promptTokens, syntheticFloorInputs } from './e2e.js';
export type { BenchModelOptions, BenchModelResult, DecodeCase } from './e2e.js';
