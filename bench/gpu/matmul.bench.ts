/**
 * CUDA MATMUL / MATMUL_ID kernels (native/cuda/matmul.cu, matmul_id.cu) at real Qwen3.6 shapes.
 *   Decode (T = 1, memory-bound): GB/s of weight bytes read per op, and % of the device-to-device copy
 *   bandwidth measured in the same run (bench/gpu/lib.ts). 27B: 5120→17408 Q4_K, 17408→5120 Q6_K,
 *   5120→10240 Q4_K, 5120→6144 Q5_K, 6144→5120 Q8_0, 5120→248320 Q6_K; 35B-A3B MATMUL_ID, 8 of 256 experts:
 *   2048→512 Q4_K, 512→2048 Q6_K (bytes = the 8 selected experts' weights).
 *   Prefill GEMM (T = 512 and 4096): TFLOP/s (2·k·m·T) of the fp16 mma.sync kernel, and % of the dense fp16
 *   GEMM rate measured in the same run (bench/gpu/lib.ts); the exact GEMV variant at T = 512 beside it.
 * Timing: a plan holds N ops of the case over N distinct device copies of the weight (≥ 256 MiB read per run,
 * so nothing stays in the 50 MiB L2; MATMUL_ID decode also changes the selected experts every run) and only
 * the first op's output is a graph output; per-op time =
 * (median run(N2) − median run(N1)) / (N2 − N1), which cancels the fixed per-run cost (x upload, y download,
 * stream sync, JS). Correctness gates timing: sampled outputs vs float64 sums of dequantized rows (exact GEMV:
 * (k+2)·2^-24·Σ|w·x|; fp16 GEMM: the bound of test/gpu/matmul.test.ts); a failure aborts the bench.
 * No CUDA device: exits with status 1 and the reason, writing no results.
 *
 * Run (GPU machine): node --import tsx bench/gpu/matmul.bench.ts → table + bench/results/matmul-cuda.json
 */
import { randomFillSync } from 'node:crypto';

import { GGMLType, ggmlTensorBytes, ggmlTypeName, ggmlTypeTraits } from '../../src/gguf/types.js';
import { GraphBuilder, OpKind } from '../../src/model/graph/index.js';
import { dequantizeRows } from '../../src/quant/dequant.js';
import { f32ToF16 } from '../../src/quant/half.js';
import { Rng } from '../../src/quant/rng.js';
import type { Plan, WeightTensor } from '../../src/runtime/backend.js';
import { createCudaBackend, type CudaBackend } from '../../src/runtime/cuda.js';
import { bandwidthVsCopy, flopsVsGemm, measureCopyBandwidth, measureGemmF16Rate, requireGpu, writeGpuBenchReport } from './lib.js';

let gpu: ReturnType<typeof requireGpu>;
try {
  gpu = requireGpu(0);
} catch (e) {
  console.error(`matmul-cuda bench: ${(e as Error).message}`);
  process.exit(1);
}

/** ctx.variant of MATMUL / MATMUL_ID (native/cuda/matmul.cuh MatmulVariant). */
const VARIANT = { auto: 0, gemv: 1, mma: 2 } as const;
const backends: Record<keyof typeof VARIANT, CudaBackend> = {
  auto: createCudaBackend({ device: 0 }),
  gemv: createCudaBackend({ device: 0, variants: { MATMUL: VARIANT.gemv, MATMUL_ID: VARIANT.gemv } }),
  mma: createCudaBackend({ device: 0, variants: { MATMUL: VARIANT.mma, MATMUL_ID: VARIANT.mma } }),
};

/** Random bytes of a {k, m, ...} tensor with every float field finite (scales ~2^-8..2^-7). */
function randomWeights(type: GGMLType, shape: readonly number[], rng: Rng): Uint8Array {
  const bytes = new Uint8Array(ggmlTensorBytes(type, shape));
  for (let o = 0; o < bytes.length; o += 1 << 30) randomFillSync(bytes, o, Math.min(1 << 30, bytes.length - o));
  const halves = new Uint16Array(256);
  for (let i = 0; i < 256; i++) halves[i] = f32ToF16((1 + i / 256) * 2 ** -8 * (i & 1 ? -1 : 1));
  const t = ggmlTypeTraits(type)!;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (type === GGMLType.F16) {
    for (let i = 0; i < bytes.length; i += 2) {
      const h = dv.getUint16(i, true);
      dv.setUint16(i, (h & 0x83ff) | ((((h >> 10) & 7) + 8) << 10), true); // |x| in [2^-7, 2)
    }
    return bytes;
  }
  const dOff = type === GGMLType.Q6_K ? 208 : 0;
  const second = type === GGMLType.Q4_1 || type === GGMLType.Q5_1 || type === GGMLType.Q4_K || type === GGMLType.Q5_K;
  for (let o = 0; o < bytes.length; o += t.blockBytes) {
    dv.setUint16(o + dOff, halves[rng.nextU32() & 255]!, true);
    if (second) dv.setUint16(o + 2, halves[rng.nextU32() & 254]!, true);
  }
  return bytes;
}

function randn(rng: Rng, n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal();
  return a;
}

interface Case {
  name: string;
  op: 'MATMUL' | 'MATMUL_ID';
  variant: 'auto' | 'gemv' | 'mma';
  type: GGMLType;
  k: number;
  m: number;
  E: number;       // experts (1 for MATMUL)
  K: number;       // selected experts per token (1 for MATMUL)
  T: number;
  bytesPerOp: number;  // weight bytes one op reads (MATMUL_ID: the selected experts)
  flopsPerOp: number;
}

const rng = new Rng(4242);
const PLAN_BYTES = 256 * 1024 * 1024;
const COPY_BYTES = 8 * 1024 ** 3;
const ID_SETS = 8;

function buildPlan(be: CudaBackend, c: Case, ws: WeightTensor[]): Plan {
  const g = new GraphBuilder();
  const xi = g.input('x', 'f32', [c.k, c.T]);
  const ii = c.op === 'MATMUL_ID' ? g.input('ids', 'i32', [c.K, c.T]) : null;
  ws.forEach((w, i) => {
    const [y] = c.op === 'MATMUL'
      ? g.op(OpKind.MATMUL, [g.weight(w), xi], [{ dtype: 'f32', shape: [c.m, c.T] }])
      : g.op(OpKind.MATMUL_ID, [g.weight(w), xi, ii!], [{ dtype: 'f32', shape: [c.m, c.K, c.T] }], { i: [0] });
    if (i === 0) g.output('y', y!);
  });
  return be.compile(g.build());
}

async function median(fn: () => Promise<unknown>, reps: number): Promise<number> {
  const ts: number[] = [];
  for (let i = 0; i < 3; i++) await fn(); // warm-up
  for (let i = 0; i < reps; i++) {
    const t0 = process.hrtime.bigint();
    await fn();
    ts.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  ts.sort((a, b) => a - b);
  return ts[Math.floor(ts.length / 2)]!;
}

/** Sampled outputs vs float64 sums; throws on a failure. */
function gate(c: Case, bytes: Uint8Array, x: Float32Array, ids: Int32Array | null, y: Float32Array): void {
  const rowBytes = ggmlTensorBytes(c.type, [c.k, 1]);
  const toks = c.T === 1 ? [0] : [0, c.T - 1, rng.int(c.T)];
  for (const t of toks) {
    for (let s = 0; s < c.K; s++) {
      const e = ids ? ids[t * c.K + s]! : 0;
      const rows = [0, c.m - 1, rng.int(c.m), rng.int(c.m)];
      const wr = dequantizeRows(c.type, bytes.subarray(e * c.m * rowBytes, (e + 1) * c.m * rowBytes), c.k, rows);
      rows.forEach((r, i) => {
        let sum = 0, abs = 0, wa = 0, xa = 0;
        for (let j = 0; j < c.k; j++) {
          const p = wr[i]![j]! * x[t * c.k + j]!;
          sum += p;
          abs += Math.abs(p);
          wa += Math.abs(wr[i]![j]!);
          xa += Math.abs(x[t * c.k + j]!);
        }
        const exact = c.variant === 'gemv' || (c.variant === 'auto' && c.T <= 8);
        const tol = exact ? (c.k + 2) * 2 ** -24 * abs : (2 ** -10 + 2 ** -21 + (c.k + 4) * 2 ** -23) * abs + 2 ** -24 * (wa + xa);
        const got = y[(t * c.K + s) * c.m + r]!;
        if (!(Math.abs(got - sum) <= tol)) {
          throw new Error(`${c.name}: y[${t}][${s}][${r}] = ${got}, float64 ${sum} (tolerance ${tol}) — correctness gate failed, not timing`);
        }
      });
    }
  }
}

async function measure(c: Case): Promise<Record<string, unknown>> {
  const be = backends[c.variant];
  const bytes = randomWeights(c.type, c.E > 1 ? [c.k, c.m, c.E] : [c.k, c.m], rng);
  // ≥ PLAN_BYTES read per run (MATMUL_ID: of selected experts), at most COPY_BYTES of weight copies in all
  const n1 = Math.max(1, Math.min(Math.ceil(PLAN_BYTES / c.bytesPerOp), Math.floor((COPY_BYTES / bytes.length - 1) / 2)));
  const n2 = 2 * n1 + 1;
  const shape = c.E > 1 ? [c.k, c.m, c.E] : [c.k, c.m];
  const ws: WeightTensor[] = [];
  for (let i = 0; i < n2; i++) ws.push(be.weightFromBytes(c.type, shape, bytes, `${c.name} #${i}`));
  const x = randn(rng, c.k * c.T);
  // MATMUL_ID: ID_SETS router outputs (8 distinct experts per token), a different one each run, so the experts a
  // run reads were (almost) not read by the previous run and are not L2-resident.
  const idSets: Int32Array[] = [];
  if (c.op === 'MATMUL_ID') {
    for (let n = 0; n < ID_SETS; n++) {
      const ids = new Int32Array(c.K * c.T);
      for (let t = 0; t < c.T; t++) {
        const seen = new Set<number>();
        for (let s = 0; s < c.K; s++) {
          let e = rng.int(c.E);
          while (seen.has(e)) e = rng.int(c.E);
          seen.add(e);
          ids[t * c.K + s] = e;
        }
      }
      idSets.push(ids);
    }
  }
  let runNo = 0;
  const inputs = (): Record<string, Float32Array | Int32Array> => (idSets.length ? { x, ids: idSets[runNo++ % idSets.length]! } : { x });
  const p1 = buildPlan(be, c, ws.slice(0, n1));
  const p2 = buildPlan(be, c, ws);
  try {
    gate(c, bytes, x, idSets[0] ?? null, (await p1.run(inputs())).y as Float32Array);
    const reps = c.T >= 4096 ? 7 : 21;
    const t1 = await median(() => p1.run(inputs()), reps);
    const t2 = await median(() => p2.run(inputs()), reps);
    const msPerOp = (t2 - t1) / (n2 - n1);
    return {
      name: c.name,
      op: c.op,
      variant: c.variant,
      shape: { type: ggmlTypeName(c.type), k: c.k, m: c.m, T: c.T, E: c.E, K: c.K },
      opsPerPlan: [n1, n2],
      medianRunMs: [t1, t2],
      msPerOp,
      weightBytesPerOp: c.bytesPerOp,
      GBs: c.bytesPerOp / (msPerOp / 1e3) / 1e9,
      TFLOPs: c.flopsPerOp / (msPerOp / 1e3) / 1e12,
    };
  } finally {
    p1.dispose();
    p2.dispose();
    for (const w of ws) w.dispose();
  }
}

function mm(type: GGMLType, k: number, m: number, T: number, variant: Case['variant'] = 'auto'): Case {
  return {
    name: `${T <= 8 ? 'gemv' : `gemm T=${T}`} ${ggmlTypeName(type)} ${k}→${m}${variant === 'auto' ? '' : ` [${variant}]`}`,
    op: 'MATMUL', variant, type, k, m, E: 1, K: 1, T,
    bytesPerOp: ggmlTensorBytes(type, [k, m]),
    flopsPerOp: 2 * k * m * T,
  };
}
function moe(type: GGMLType, k: number, m: number, T: number): Case {
  return {
    name: `moe ${T === 1 ? 'gemv' : `gemm T=${T}`} ${ggmlTypeName(type)} ${k}→${m} 8/256`,
    op: 'MATMUL_ID', variant: 'auto', type, k, m, E: 256, K: 8, T,
    bytesPerOp: 8 * ggmlTensorBytes(type, [k, m]), // T = 1: exactly the 8 selected experts
    flopsPerOp: 2 * k * m * 8 * T,
  };
}

const cases: Case[] = [
  mm(GGMLType.Q4_K, 5120, 17408, 1),
  mm(GGMLType.Q6_K, 17408, 5120, 1),
  mm(GGMLType.Q4_K, 5120, 10240, 1),
  mm(GGMLType.Q5_K, 5120, 6144, 1),
  mm(GGMLType.Q8_0, 6144, 5120, 1),
  mm(GGMLType.Q6_K, 5120, 248320, 1),
  mm(GGMLType.F16, 5120, 6144, 1),
  moe(GGMLType.Q4_K, 2048, 512, 1),
  moe(GGMLType.Q6_K, 512, 2048, 1),
  mm(GGMLType.Q4_K, 5120, 17408, 512),
  mm(GGMLType.Q6_K, 17408, 5120, 512),
  mm(GGMLType.Q4_K, 5120, 17408, 4096),
  mm(GGMLType.Q6_K, 17408, 5120, 4096),
  mm(GGMLType.Q8_0, 6144, 5120, 512),
  mm(GGMLType.Q4_K, 5120, 17408, 512, 'gemv'),
  moe(GGMLType.Q4_K, 2048, 512, 512),
];

const copyBefore = measureCopyBandwidth();
const gemm = measureGemmF16Rate();
const rows: Record<string, unknown>[] = [];
for (const c of cases) {
  const r = await measure(c);
  rows.push(r);
  console.log(`${c.name}: ${(r.msPerOp as number).toFixed(4)} ms/op`);
}
const copyAfter = measureCopyBandwidth();
// compare with the better of the before/after copy rates (the conservative percentage)
const copy = copyAfter.gbPerSec > copyBefore.gbPerSec ? copyAfter : copyBefore;
for (const r of rows) {
  const c = cases.find((x) => x.name === r.name)!;
  const sec = (r.msPerOp as number) / 1e3;
  if (c.T <= 8 || c.variant === 'gemv') r.pctOfCopy = bandwidthVsCopy(c.bytesPerOp, sec, copy).pctOfCopy;
  if (c.T > 8) r.pctOfFp16Gemm = flopsVsGemm(c.m, c.T * c.K, c.k, sec, gemm).pctOfDense;
}

const file = writeGpuBenchReport('matmul-cuda', gpu, {
  copyBandwidth: { before: copyBefore, after: copyAfter },
  fp16Gemm: gemm,
  tasks: rows,
  note:
    'msPerOp = (median run(N2 ops) − median run(N1 ops)) / (N2 − N1) over distinct device copies of the weight; GBs = weight bytes per op / msPerOp ' +
    '(MATMUL_ID T = 1: the 8 selected experts); pctOfCopy vs the device-to-device copy rate (2·bytes/s, bench/gpu/lib.ts) of this run; ' +
    'TFLOPs = 2·k·m·T(·K) / msPerOp; pctOfFp16Gemm vs the dense fp16 mma.sync GEMM rate of this run.',
});
console.table(
  rows.map((r) => ({
    task: r.name,
    'ms/op': (r.msPerOp as number).toFixed(4),
    'GB/s': (r.GBs as number).toFixed(0),
    '% copy': r.pctOfCopy === undefined ? '' : (r.pctOfCopy as number).toFixed(0),
    'TFLOP/s': (r.TFLOPs as number).toFixed(1),
    '% fp16': r.pctOfFp16Gemm === undefined ? '' : (r.pctOfFp16Gemm as number).toFixed(0),
  })),
);
console.log(`copy ${copyBefore.gbPerSec.toFixed(0)} / ${copyAfter.gbPerSec.toFixed(0)} GB/s, fp16 GEMM ${gemm.tflops.toFixed(1)} TFLOP/s; ${gpu.name}; wrote ${file}`);
for (const b of Object.values(backends)) b.dispose();
