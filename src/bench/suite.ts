/**
 * The standard bench suite behind `qwen-hybrid bench` and `npm run bench`: op cases (every benchmarkable op, every
 * kernel variant this machine has) and end-to-end cases on real-ratio / real-shape synthetic models, on one backend,
 * with the floors measured once at the start of the run and one BenchReport at the end.
 *
 *   CPU ops   MATMUL at Qwen3.6-27B shapes: matvec Q4_K 5120→17408, Q6_K 17408→5120, Q8_0 5120→6144 for every ISA
 *             (all threads), Q4_K also 1 thread and q8 activations; GEMM T = 512 Q4_K 5120→2048. --quick: k 512.
 *   CUDA ops  MATMUL matvec Q4_K 5120→17408 / Q6_K 17408→5120 (variants auto, exact GEMV) and GEMM T = 512, 4096
 *             Q4_K 5120→17408 (auto, fp16 mma).
 *   other ops (both backends, src/bench/op-cases.ts): real shapes, decode (T = 1) and prefill (T = 512) where the op
 *             has both (caseList below); ATTENTION f32 / f16 / q8_0 caches, decode at 4096 and 16384, prefill 512;
 *             GATED_DELTA_NET serial and chunked; vocab-sized LOG_SOFTMAX / ARGMAX / TOP_K / SAMPLE. --quick: tiny.
 *   CPU e2e   qwen35-0.5b, qwen35moe-0.5b (--quick: the *-quick shapes): prefill 64, 512; decode 32 @ 16.
 *   CUDA e2e  qwen35-27b, qwen35moe-35b-a3b: prefill 512, 4096, 8192; decode 64 @ 512 and @ 8192.
 * Synthetic GGUFs are written once into $QWEN_HYBRID_BENCH_CACHE (default <tmpdir>/qwen-hybrid-bench), keyed by
 * generator version; real shapes need 17 + 22 GB of disk there.
 */
import { existsSync, mkdirSync, renameSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';

import { QwenHybridError } from '../errors.js';
import { GGMLType } from '../gguf/types.js';
import { SYNTHETIC_GENERATOR_VERSION, SYNTHETIC_SHAPES, syntheticModelConfig, writeSyntheticModel, type SyntheticShapeName } from '../model/synthetic.js';
import { createCpuBackend, type CpuIsa } from '../runtime/backend.js';
import { benchModel, syntheticFloorInputs, type DecodeCase } from './e2e.js';
import { measureCopyBandwidth, measureGemmF16Rate, measureMemcpyBandwidth, requireGpu } from './floors.js';
import { BENCH_OPS, benchOp, type BenchOpName, type BenchOpOptions, type CaseBenchOptions, type MatmulBenchOptions } from './op.js';
import type { CaseExtras, CaseOpName, CaseShapes } from './op-cases.js';
import { makeBenchReport, type BenchCase, type BenchPeer, type BenchReport, type ExpertLoad } from './report.js';

export interface SuiteOptions {
  backend: 'cpu' | 'cuda';
  /** Ops to run ([] = none). */
  ops: readonly BenchOpName[];
  e2e: boolean;
  quick: boolean;
  /** CPU threads (default: all usable). */
  threads?: number;
  device?: number;
  /** e2e model shapes (default per backend, see the file comment). */
  shapes?: readonly SyntheticShapeName[];
  /** e2e timed rounds (default 3; --quick 1). */
  samples?: number;
  peer?: boolean;
  /** Report name (default `suite-<backend>[-quick]`). */
  name?: string;
  log?: (line: string) => void;
}

/**
 * Shapes of the non-MATMUL op cases (the file comment's table): real shapes of Qwen3.6-27B (n_embd 5120, ff 17408,
 * attention 24 q / 4 kv heads × 256, GDN 16 k / 48 v heads × 128, conv channels 10240) and 35B-A3B (n_embd 2048,
 * 256 experts top-8 × 512, attention 16 / 2 × 256, GDN 16 / 32 × 128, conv channels 8192), vocab 248320; decode
 * (T = 1) and prefill (T = 512). --quick: tiny shapes of the same structure.
 */
function caseList(op: CaseOpName, quick: boolean): CaseBenchOptions[] {
  const c = <K extends CaseOpName>(o: K, shapes: CaseShapes[K][], extra: CaseExtras = {}): CaseBenchOptions[] => shapes.map((shape) => ({ op: o, shape, ...extra }) as CaseBenchOptions);
  const P = quick ? 5 : 512;
  switch (op) {
    case 'MATMUL_ID':
      return quick ? c(op, [{ k: 256, m: 64, experts: 16, used: 4 }, { k: 256, m: 64, experts: 16, used: 4, t: P }])
        : [...c(op, [{ k: 2048, m: 512, experts: 256, used: 8 }, { k: 2048, m: 512, experts: 256, used: 8, t: P }], { weightType: 'Q4_K' }),
          ...c(op, [{ k: 512, m: 2048, experts: 256, used: 8 }], { weightType: 'Q6_K' })];
    case 'GET_ROWS':
      return c(op, quick ? [{ n: 256, rows: 64, t: 4 }] : [{ n: 5120, rows: 16384 }, { n: 5120, rows: 16384, t: P }]);
    case 'RMS_NORM':
      return c(op, quick ? [{ n: 64, rows: 4 }] : [{ n: 5120, rows: 1 }, { n: 5120, rows: P }, { n: 256, rows: 24 }]);
    case 'L2_NORM':
      return c(op, quick ? [{ n: 32, rows: 8 }] : [{ n: 128, rows: 16 }, { n: 128, rows: 16 * P }]);
    case 'GATED_RMS_NORM':
      return c(op, quick ? [{ n: 32, heads: 4, t: 2 }] : [{ n: 128, heads: 48 }, { n: 128, heads: 48, t: P }]);
    case 'SWIGLU':
      return c(op, quick ? [{ n: 256, t: 2 }] : [{ n: 17408 }, { n: 17408, t: P }]);
    case 'SILU': case 'SIGMOID': case 'SOFTPLUS': case 'EXP': case 'SCALE': case 'ADD': case 'MUL':
      return c(op, quick ? [{ n: 256, t: 2 }] : [{ n: 5120 }, { n: 5120, t: P }]);
    case 'ROPE_NEOX':
      return c(op, quick ? [{ d: 64, heads: 2, t: 3, pos: 5, nRot: 32 }] : [{ d: 256, heads: 24, pos: 4096 }, { d: 256, heads: 24, t: P }]);
    case 'ATTENTION':
      return quick
        ? [...(['f32', 'f16', 'q8_0'] as const).flatMap((cache) => c(op, [{ d: 64, hq: 4, hkv: 2, pos: 20 }], { cache })), ...c(op, [{ d: 64, hq: 4, hkv: 2, t: 8, pos: 4 }], { cache: 'f16' })]
        : [
          ...(['f32', 'f16', 'q8_0'] as const).flatMap((cache) => c(op, [{ d: 256, hq: 24, hkv: 4, pos: 4096 }], { cache })),
          ...c(op, [{ d: 256, hq: 24, hkv: 4, pos: 16384 }, { d: 256, hq: 16, hkv: 2, pos: 4096 }, { d: 256, hq: 24, hkv: 4, t: P, pos: 0 }], { cache: 'f16' }),
        ];
    case 'SSM_CONV':
      return c(op, quick ? [{ channels: 64, t: 3 }] : [{ channels: 10240 }, { channels: 10240, t: P }, { channels: 8192 }]);
    case 'GATED_DELTA_NET': {
      const [g27, g35] = quick ? [{ dk: 16, dv: 16, nk: 2, nv: 4 }, { dk: 16, dv: 16, nk: 2, nv: 2 }] : [{ dk: 128, dv: 128, nk: 16, nv: 48 }, { dk: 128, dv: 128, nk: 16, nv: 32 }];
      return [...c(op, [g27, { ...g27, t: P }, g35], { mode: 'serial' }), ...c(op, [{ ...g27, t: P }], { mode: 'chunked' })];
    }
    case 'MOE_ROUTER':
      return c(op, quick ? [{ experts: 16, used: 4, t: 3 }] : [{ experts: 256, used: 8 }, { experts: 256, used: 8, t: P }]);
    case 'MOE_COMBINE':
      return c(op, quick ? [{ n: 64, used: 4, t: 3 }] : [{ n: 2048, used: 8 }, { n: 2048, used: 8, t: P }]);
    case 'LOG_SOFTMAX':
    case 'ARGMAX':
      return c(op, [{ v: quick ? 1000 : 248320 }]);
    case 'TOP_K':
      return c(op, [{ v: quick ? 1000 : 248320, k: 40 }]);
    case 'SAMPLE':
      return c(op, [{ v: quick ? 1000 : 248320 }]);
  }
}

/** Op cases of the suite for one backend. */
export function suiteOpCases(op: BenchOpName, backend: 'cpu' | 'cuda', quick: boolean, threads: number): BenchOpOptions[] {
  if (op !== 'MATMUL') return caseList(op, quick).map((c) => ({ ...c, backend, time: quick ? 100 : 1000, ...(backend === 'cpu' ? { threads } : {}) }));
  const base = { op, backend, time: quick ? 100 : 1000 } as const;
  if (backend === 'cuda') {
    const cases: MatmulBenchOptions[] = [];
    for (const variant of [0, 1]) {
      cases.push({ ...base, weightType: GGMLType.Q4_K, shape: { k: 5120, m: 17408 }, variant });
      cases.push({ ...base, weightType: GGMLType.Q6_K, shape: { k: 17408, m: 5120 }, variant });
    }
    for (const t of quick ? [512] : [512, 4096]) for (const variant of [0, 2]) cases.push({ ...base, weightType: GGMLType.Q4_K, shape: { k: 5120, m: 17408, t }, variant });
    return cases;
  }
  const probe = createCpuBackend({ threads: 1 });
  const isas: CpuIsa[] = [...probe.info.isaAvailable];
  probe.dispose();
  const k = quick ? 512 : 5120;
  const big = quick ? 1024 : 17408;
  const cases: MatmulBenchOptions[] = [];
  for (const isa of isas) cases.push({ ...base, weightType: GGMLType.Q4_K, shape: { k, m: big }, threads, isa });
  if (threads > 1) cases.push({ ...base, weightType: GGMLType.Q4_K, shape: { k, m: big }, threads: 1 });
  cases.push({ ...base, weightType: GGMLType.Q4_K, shape: { k, m: big }, threads, activations: 'q8' });
  cases.push({ ...base, weightType: GGMLType.Q6_K, shape: { k: big, m: k }, threads });
  cases.push({ ...base, weightType: GGMLType.Q8_0, shape: { k, m: quick ? 768 : 6144 }, threads });
  cases.push({ ...base, weightType: GGMLType.Q4_K, shape: { k, m: quick ? 512 : 2048, t: quick ? 16 : 512 }, threads });
  if (quick) for (const c of cases) c.rotateBytes = 0;
  return cases;
}

export function defaultShapes(backend: 'cpu' | 'cuda', quick: boolean): SyntheticShapeName[] {
  if (backend === 'cuda') return quick ? ['qwen35-0.5b', 'qwen35moe-0.5b'] : ['qwen35-27b', 'qwen35moe-35b-a3b'];
  return quick ? ['qwen35-quick', 'qwen35moe-quick'] : ['qwen35-0.5b', 'qwen35moe-0.5b'];
}

/** The synthetic GGUF of `shape` in the bench cache, written on first use (streamed). */
export async function ensureSyntheticModel(shape: SyntheticShapeName, log: (line: string) => void = () => {}): Promise<string> {
  if (!(shape in SYNTHETIC_SHAPES)) throw new QwenHybridError('INVALID_ARGUMENT', `unknown synthetic shape '${shape}' (known: ${Object.keys(SYNTHETIC_SHAPES).join(', ')})`, { parameter: 'shape' });
  const dir = process.env.QWEN_HYBRID_BENCH_CACHE ?? join(tmpdir(), 'qwen-hybrid-bench');
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${shape}.v${SYNTHETIC_GENERATOR_VERSION}.s1.gguf`);
  if (existsSync(path)) return path;
  const c = syntheticModelConfig(shape);
  log(`[${shape}] writing ${(c.weightBytes / 1e9).toFixed(2)} GB synthetic GGUF to ${path}`);
  const tmp = `${path}.${process.pid}.tmp`;
  const r = await writeSyntheticModel(tmp, shape);
  renameSync(tmp, path);
  log(`[${shape}] written in ${r.seconds.toFixed(1)} s`);
  return path;
}

function e2ePlan(backend: 'cpu' | 'cuda', quick: boolean): { prefill: number[]; decode: DecodeCase[] } {
  if (backend === 'cuda') return quick ? { prefill: [512], decode: [{ context: 512, tokens: 16 }] } : { prefill: [512, 4096, 8192], decode: [{ context: 512, tokens: 64 }, { context: 8192, tokens: 64 }] };
  return quick ? { prefill: [16, 64], decode: [{ context: 16, tokens: 8 }] } : { prefill: [64, 512], decode: [{ context: 16, tokens: 32 }] };
}

/** Runs the suite (file comment) and returns its report. NO_CUDA_DEVICE for backend 'cuda' without a usable device. */
export async function runBenchSuite(o: SuiteOptions): Promise<BenchReport> {
  const log = o.log ?? (() => {});
  for (const op of o.ops) if (!BENCH_OPS.includes(op)) throw new QwenHybridError('INVALID_ARGUMENT', `unknown op '${op}' (benchmarkable: ${BENCH_OPS.join(', ')})`, { parameter: 'ops' });
  const cuda = o.backend === 'cuda';
  if (cuda) requireGpu(o.device ?? 0);
  const threads = o.threads ?? availableParallelism();
  const notes: string[] = [];

  // floors first, in this process
  let copy: number;
  let gemm: number | null = null;
  if (cuda) {
    copy = measureCopyBandwidth({ device: o.device ?? 0, repeats: o.quick ? 2 : 5 }).gbPerSec;
    gemm = measureGemmF16Rate({ device: o.device ?? 0, repeats: o.quick ? 2 : 5 }).tflops;
    log(`floors: device copy ${copy.toFixed(1)} GB/s, dense fp16 GEMM ${gemm.toFixed(1)} TFLOP/s`);
  } else {
    copy = measureMemcpyBandwidth({ threads, bytes: (o.quick ? 64 : 256) * 2 ** 20, repeats: o.quick ? 2 : 5 }).gbPerSec;
    log(`floor: memcpy ${copy.toFixed(1)} GB/s (${threads} threads, STREAM copy)`);
  }

  const cases: BenchCase[] = [];
  for (const op of o.ops) {
    for (const c of suiteOpCases(op, o.backend, o.quick, threads)) {
      const copyGBs = cuda || c.threads === threads ? copy : measureMemcpyBandwidth({ threads: c.threads, repeats: 3 }).gbPerSec;
      const r = await benchOp({ ...c, device: o.device, floor: { copyGBs, gemmTflops: gemm ?? undefined } });
      log(`${r.case.name}: ${r.case.median_ms.toFixed(3)} ms`);
      cases.push(r.case);
    }
  }

  const shapes = o.e2e ? [...(o.shapes ?? defaultShapes(o.backend, o.quick))] : [];
  let peer: BenchPeer | null = null;
  const loads: ExpertLoad[] = [];
  for (const shape of shapes) {
    const path = await ensureSyntheticModel(shape, log);
    const plan = e2ePlan(o.backend, o.quick);
    const r = await benchModel({
      modelPath: path, modelShape: shape, backend: o.backend, threads, device: o.device, ...plan, samples: o.samples ?? (o.quick ? 1 : 3),
      peer: o.peer === false ? false : 'auto', copyGBs: copy, gemmTflops: gemm, ...syntheticFloorInputs(syntheticModelConfig(shape)), log,
    });
    cases.push(...r.cases);
    peer = r.peer;
    if (r.expertLoad) loads.push(r.expertLoad);
    notes.push(...r.notes);
  }
  if (o.e2e && o.backend === 'cuda' && gemm !== null) notes.push('prefill pct_of_floor: 2·active params·tokens / s (matmul flops only) ÷ dense fp16 GEMM rate');
  return makeBenchReport({
    bench: o.name ?? `suite-${o.backend}${o.quick ? '-quick' : ''}`,
    backend: o.backend,
    threads: cuda ? null : threads,
    model_shape: shapes.length ? shapes : null,
    copy_bw_gbs: copy,
    gemm_tflops: gemm,
    peer,
    cases,
    expert_load: o.e2e ? loads : null,
    notes,
  });
}
