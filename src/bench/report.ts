/**
 * The bench report: one JSON object per run, the same schema for op and end-to-end benches, CPU and CUDA.
 *
 *   run fields   schema, bench, date, device, driver, commit, dirty, backend, threads, model_shape, copy_bw_gbs,
 *                gemm_tflops, peer (who the peer is, or why there is none), cases, expert_load, notes, + environment
 *   per case     name, kind (op | prefill | decode), model_shape, variant, shape, tokens, context, samples,
 *                median_ms, min_ms, max_ms, gbs, tflops, decode_tok_s, prefill_tok_s, floor_tok_s, pct_of_floor,
 *                peer (llama.cpp's figures for the same case), ratio_vs_peer, gate
 * Every field is always present; a figure that does not apply (tflops of a matvec, a peer nobody ran) is null,
 * never a guess. `assertBenchReport` enforces this before a report is written.
 * Meaning of the floors: pct_of_floor of a memory-bound case (T = 1 op, decode) = achieved bytes/s ÷ copy bandwidth
 * measured in the same run (copy_bw_gbs); of a compute-bound CUDA case (T > 1 op, prefill) = TFLOP/s ÷ the dense
 * fp16 GEMM rate measured in the same run (gemm_tflops); floor_tok_s = copy_bw_gbs ÷ bytes read per decoded token.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

import { QwenHybridError } from '../errors.js';
import { benchEnvironment, type BenchEnvironment } from './env.js';

export const BENCH_REPORT_SCHEMA = 'qwen-hybrid-bench/1';

/** The peer engine's figures for one case. */
export interface PeerFigures {
  engine: string;
  median_ms: number;
  min_ms: number;
  max_ms: number;
  /** tokens / median seconds (e2e cases); null for op cases. */
  tok_s: number | null;
}

export interface BenchCase {
  name: string;
  kind: 'op' | 'prefill' | 'decode';
  model_shape: string | null;
  /** Kernel variant / engine settings (isa, threads, activations, CUDA variant). */
  variant: Record<string, string | number | boolean> | null;
  /** Op shape (k, m, T, weight type). */
  shape: Record<string, string | number> | null;
  /** Tokens per timed sample (e2e). */
  tokens: number | null;
  /** Decode: tokens already in the context when the timed steps start. */
  context: number | null;
  samples: number;
  /** Per op (op cases) or per timed sample (e2e cases). */
  median_ms: number;
  min_ms: number;
  max_ms: number;
  gbs: number | null;
  tflops: number | null;
  decode_tok_s: number | null;
  prefill_tok_s: number | null;
  floor_tok_s: number | null;
  pct_of_floor: number | null;
  peer: PeerFigures | null;
  /** ours ÷ peer throughput (> 1: we are faster). */
  ratio_vs_peer: number | null;
  /** What the correctness gate checked before timing (a case that fails its gate is never timed). */
  gate: string;
}

/** Router load of a MoE model: top-K choices of every token in every layer, summed. */
export interface ExpertLoad {
  model_shape: string;
  tokens: number;
  experts: number;
  used: number;
  uniform_share: number;
  /** Slots per expert over all layers (sum = tokens × used × layers). */
  histogram: number[];
  /** Coefficient of variation of the histogram (0 = perfectly even). */
  cv: number;
  /** Busiest expert's share of its layer's slots, worst layer. */
  max_share: number;
  /** (expert, layer) pairs no token chose. */
  idle_pairs: number;
}

export interface BenchPeer {
  engine: string;
  version: string | null;
  /** Whether it ran; when false, `reason` says why (peer figures are then null). */
  available: boolean;
  reason: string | null;
}

export interface BenchReport extends BenchEnvironment {
  schema: typeof BENCH_REPORT_SCHEMA;
  bench: string;
  backend: 'cpu' | 'cuda';
  threads: number | null;
  /** Synthetic model shapes of the e2e cases; null for op-only runs. */
  model_shape: string[] | null;
  copy_bw_gbs: number | null;
  gemm_tflops: number | null;
  peer: BenchPeer | null;
  cases: BenchCase[];
  expert_load: ExpertLoad[] | null;
  notes: string[];
}

export const REPORT_FIELDS = [
  'schema', 'bench', 'date', 'device', 'driver', 'commit', 'dirty', 'backend', 'threads', 'model_shape', 'copy_bw_gbs',
  'gemm_tflops', 'peer', 'cases', 'expert_load', 'notes', 'cpu', 'gpus', 'cores', 'usableThreads', 'node', 'addon',
] as const satisfies readonly (keyof BenchReport)[];

export const CASE_FIELDS = [
  'name', 'kind', 'model_shape', 'variant', 'shape', 'tokens', 'context', 'samples', 'median_ms', 'min_ms', 'max_ms',
  'gbs', 'tflops', 'decode_tok_s', 'prefill_tok_s', 'floor_tok_s', 'pct_of_floor', 'peer', 'ratio_vs_peer', 'gate',
] as const satisfies readonly (keyof BenchCase)[];

/** A case with every optional figure null; `fields` fills in what the bench measured. */
export function benchCase(fields: Pick<BenchCase, 'name' | 'kind' | 'samples' | 'median_ms' | 'min_ms' | 'max_ms' | 'gate'> & Partial<BenchCase>): BenchCase {
  return {
    model_shape: null, variant: null, shape: null, tokens: null, context: null, gbs: null, tflops: null, decode_tok_s: null,
    prefill_tok_s: null, floor_tok_s: null, pct_of_floor: null, peer: null, ratio_vs_peer: null, ...fields,
  };
}

/** A report of this machine (benchEnvironment) with `fields`; unset run figures are null. */
export function makeBenchReport(fields: Pick<BenchReport, 'bench' | 'backend' | 'cases'> & Partial<Omit<BenchReport, 'schema'>>): BenchReport {
  const env = benchEnvironment({ backend: fields.backend });
  return {
    ...env,
    schema: BENCH_REPORT_SCHEMA,
    threads: null, model_shape: null, copy_bw_gbs: null, gemm_tflops: null, peer: null, expert_load: null, notes: [],
    ...fields,
  };
}

/** Throws QwenHybridError INVALID_ARGUMENT naming the first missing field, or a non-finite number. */
export function assertBenchReport(r: unknown): asserts r is BenchReport {
  const bad = (msg: string): never => {
    throw new QwenHybridError('INVALID_ARGUMENT', `bench report: ${msg}`, { parameter: 'report' });
  };
  if (typeof r !== 'object' || r === null) bad('not an object');
  const o = r as Record<string, unknown>;
  for (const f of REPORT_FIELDS) if (!(f in o) || o[f] === undefined) bad(`missing field '${f}'`);
  if (o.schema !== BENCH_REPORT_SCHEMA) bad(`schema ${JSON.stringify(o.schema)} is not ${BENCH_REPORT_SCHEMA}`);
  if (!Array.isArray(o.cases)) bad(`'cases' is not an array`);
  (o.cases as unknown[]).forEach((c, i) => {
    if (typeof c !== 'object' || c === null) bad(`case ${i} is not an object`);
    const co = c as Record<string, unknown>;
    for (const f of CASE_FIELDS) {
      if (!(f in co) || co[f] === undefined) bad(`case ${i} (${String(co.name)}) is missing field '${f}'`);
      const v = co[f];
      if (typeof v === 'number' && !Number.isFinite(v)) bad(`case ${i} (${String(co.name)}): ${f} is ${v}`);
    }
  });
}

/** Writes `report` as JSON to `file` (directories created) after assertBenchReport; returns the path. */
export function writeReportJson(file: string, report: BenchReport): string {
  assertBenchReport(report);
  mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  writeFileSync(file, JSON.stringify(report, null, 2) + '\n');
  return file;
}

/**
 * Free-form report of the older per-bench scripts: `<dir>/<name>.json` = { bench: name, ...benchEnvironment(),
 * ...results } (results win on a key clash). Returns the file path.
 */
export function writeBenchReport(name: string, results: Record<string, unknown>, dir: string): string {
  if (!/^[\w.-]+$/.test(name)) throw new QwenHybridError('INVALID_ARGUMENT', `bench report name ${JSON.stringify(name)} must be [A-Za-z0-9_.-]+`, { parameter: 'name' });
  const report = { bench: name, ...benchEnvironment(), ...results };
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${name}.json`);
  writeFileSync(file, JSON.stringify(report, null, 2) + '\n');
  return file;
}
