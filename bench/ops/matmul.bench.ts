/**
 * MATMUL on the CPU at real Qwen3.6-27B shapes.
 *   Decode (T = 1, memory-bound): GB/s of weight bytes read per matvec, next to the multi-threaded memcpy copy
 *   rate measured in the same run (native benchMemcpy, same thread count). Target: Q4_K ≥ 70 % of memcpy.
 *     5120 → 17408 Q4_K (ffn_gate/up), 17408 → 5120 Q6_K (ffn_down), 5120 → 6144 in Q4_K / Q5_K / Q8_0 / F16
 *     (attention / GDN projections), 5120 → 248320 Q6_K (output head, 1.04 GB).
 *   Prefill (T = 512, compute-bound): GFLOP/s (2·k·m·T per run) of the dequantized-panel GEMM, Q4_K and Q8_0.
 * Variants: isa auto with all threads; Q4_K also 1 thread and scalar (the ladder).
 * A matvec run holds `copies` MATMUL ops over distinct native copies of the weight (≥ 96 MiB in all), so the
 * weights are not L3-resident between runs (32 MiB L3 here) and the figure is a DRAM streaming rate.
 * Weights are random bytes with every float field made finite (scales ~2^-8..2^-7), generated once per shape.
 * Correctness gates timing: each case is checked against a float64 dot of sampled rows (bound (k+2)·2^-24·Σ|w·x|)
 * before it is timed; a failure aborts the bench.
 *
 * Run: node --import tsx bench/ops/matmul.bench.ts  → table + bench/results/matmul-cpu.json
 * q8:  node --import tsx bench/ops/matmul.bench.ts --activations q8  → bench/results/matmul-cpu-q8.json: matvecs with
 *      quantized activations (MATMUL p.i[1] = 1, int8 dots) next to the exact ones, all threads and 1 thread.
 */
import { execSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Bench } from 'tinybench';

import { GGMLType, ggmlTensorBytes, ggmlTypeName, ggmlTypeTraits } from '../../src/gguf/types.js';
import { GraphBuilder, OpKind } from '../../src/model/graph/index.js';
import { loadNativeAddon } from '../../src/native/addon.js';
import { dequantizeRows } from '../../src/quant/dequant.js';
import { f32ToF16 } from '../../src/quant/half.js';
import { Rng } from '../../src/quant/rng.js';
import { activationFormat, quantizeActivations } from '../../src/reference/matmul.js';
import { createCpuBackend, type CpuBackend, type Plan, type WeightTensor } from '../../src/runtime/backend.js';

const here = dirname(dirname(fileURLToPath(import.meta.url))); // bench/
const U = 2 ** -24;

/** Random bytes of a {k, m} tensor with every float field finite and moderate. */
function randomWeights(type: GGMLType, k: number, m: number, rng: Rng): Uint8Array {
  const bytes = new Uint8Array(ggmlTensorBytes(type, [k, m]));
  for (let o = 0; o < bytes.length; o += 1 << 30) randomFillSync(bytes, o, Math.min(1 << 30, bytes.length - o));
  const halves = new Uint16Array(256);
  for (let i = 0; i < 256; i++) halves[i] = f32ToF16((1 + i / 256) * 2 ** -8 * (i & 1 ? -1 : 1));
  const t = ggmlTypeTraits(type)!;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (type === GGMLType.F32) {
    for (let i = 0; i < bytes.length; i += 4) {
      const x = dv.getUint32(i, true);
      dv.setUint32(i, ((x & 0x807fffff) | ((((x >>> 23) & 7) + 120) << 23)) >>> 0, true); // |x| in [2^-7, 2)
    }
  } else if (type === GGMLType.F16) {
    for (let i = 0; i < bytes.length; i += 2) {
      const h = dv.getUint16(i, true);
      dv.setUint16(i, (h & 0x83ff) | ((((h >> 10) & 7) + 8) << 10), true); // |x| in [2^-7, 2)
    }
  } else if (type === GGMLType.BF16) {
    for (let i = 0; i < bytes.length; i += 2) {
      const h = dv.getUint16(i, true);
      dv.setUint16(i, (h & 0x807f) | ((((h >> 7) & 7) + 120) << 7), true);
    }
  } else {
    // half fields: d at 0 (Q6_K: at 208), and a second half (min / dmin) at 2 for Q4_1, Q5_1, Q4_K, Q5_K
    const dOff = type === GGMLType.Q6_K ? 208 : 0;
    const second = type === GGMLType.Q4_1 || type === GGMLType.Q5_1 || type === GGMLType.Q4_K || type === GGMLType.Q5_K;
    for (let o = 0; o < bytes.length; o += t.blockBytes) {
      dv.setUint16(o + dOff, halves[rng.nextU32() & 255]!, true);
      if (second) dv.setUint16(o + 2, halves[rng.nextU32() & 254]!, true); // positive min scale
    }
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
  kind: 'matvec' | 'gemm';
  type: GGMLType;
  k: number;
  m: number;
  T: number;
  isa: string;
  threads: number;
  weightBytes: number;
  copies: number;
  plan: Plan;
  x: Float32Array;
  /** MATMUL p.i[1]: 1 = quantized activations. */
  act: number;
}
const Q8 = process.argv.includes('--activations') && process.argv[process.argv.indexOf('--activations') + 1] === 'q8';

const weightCache = new Map<string, { bytes: Uint8Array; tensors: Map<CpuBackend, WeightTensor[]> }>();
const rng = new Rng(2025);
const ROTATE_BYTES = 96 * 1024 * 1024;

/** `copies` native copies of one random {k, m} weight (bytes generated once per shape). */
function weightsFor(be: CpuBackend, type: GGMLType, k: number, m: number, copies: number): { bytes: Uint8Array; ws: WeightTensor[] } {
  const key = `${type}:${k}:${m}`;
  let e = weightCache.get(key);
  if (!e) {
    e = { bytes: randomWeights(type, k, m, rng), tensors: new Map() };
    weightCache.set(key, e);
  }
  const ws = e.tensors.get(be) ?? [];
  while (ws.length < copies) ws.push(be.weightFromBytes(type, [k, m], e.bytes, `${ggmlTypeName(type)} ${k}x${m} #${ws.length}`));
  e.tensors.set(be, ws);
  return { bytes: e.bytes, ws: ws.slice(0, copies) };
}

/** Correctness gate: sampled outputs vs a float64 dot of the dequantized rows. */
function checkCase(c: Case, bytes: Uint8Array, y: Float32Array): void {
  const fmt = c.act === 1 ? activationFormat(c.type) : null;
  // q8: the reference dots the dequantized rows with the quantized activations; gate 2^-14·Σ|w·xq| (a wrong
  // block moves y by ~Σ|w·xq|/k·32 ≫ that; the f32 accumulation error is ≤ (k/32 + 8)·2u·Σ(|w| + |min|)·|xq|).
  let xs: ArrayLike<number> = c.x;
  if (fmt === 'q8k' || fmt === 'q8a') {
    const xq = new Float64Array(c.k * c.T);
    for (let t = 0; t < c.T; t++) {
      const q = quantizeActivations(fmt, c.x.subarray(t * c.k, (t + 1) * c.k), c.k);
      for (let j = 0; j < c.k; j++) xq[t * c.k + j] = q.d[Math.floor(j / q.block)]! * q.q[j]!;
    }
    xs = xq;
  }
  const tol = fmt ? 2 ** -14 / U : c.k + 2;
  const rows: number[] = [];
  for (let i = 0; i < 12; i++) rows.push(i === 0 ? 0 : i === 1 ? c.m - 1 : rng.int(c.m));
  const w = dequantizeRows(c.type, bytes, c.k, rows);
  const toks = c.T === 1 ? [0] : [0, c.T - 1, rng.int(c.T)];
  rows.forEach((r, i) => {
    for (const t of toks) {
      let s = 0;
      let a = 0;
      for (let j = 0; j < c.k; j++) {
        const p = w[i]![j]! * xs[t * c.k + j]!;
        s += p;
        a += Math.abs(p);
      }
      const got = y[t * c.m + r]!;
      if (!(Math.abs(got - s) <= tol * U * a)) {
        throw new Error(`${c.name}: y[${t}][${r}] = ${got}, float64 reference ${s} (Σ|w·x| ${a}) — correctness gate failed, not timing`);
      }
    }
  });
}

async function makeCase(be: CpuBackend, kind: Case['kind'], type: GGMLType, k: number, m: number, T: number, act = 0): Promise<Case> {
  const bytesPer = ggmlTensorBytes(type, [k, m]);
  const copies = kind === 'matvec' ? Math.max(1, Math.ceil(ROTATE_BYTES / bytesPer)) : 1;
  const { bytes, ws } = weightsFor(be, type, k, m, copies);
  const g = new GraphBuilder();
  const xi = g.input('x', 'f32', [k, T]);
  ws.forEach((w, i) => {
    const [y] = g.op(OpKind.MATMUL, [g.weight(w), xi], [{ dtype: 'f32', shape: [m, T] }], { i: [0, act] });
    g.output(`y${i}`, y!);
  });
  const plan = be.compile(g.build());
  const label = `${be.info.isa}${be.info.threads === 1 ? ' 1t' : ''}`;
  const c: Case = {
    name: `${kind === 'matvec' ? 'matvec' : `gemm T=${T}`} ${ggmlTypeName(type)} ${k}→${m} ${label}${act ? ' q8' : ''}`,
    kind,
    type,
    k,
    m,
    T,
    isa: be.info.isa,
    threads: be.info.threads,
    weightBytes: bytes.length,
    copies,
    plan,
    x: randn(rng, k * T),
    act,
  };
  const out = await plan.run({ x: c.x });
  for (let i = 0; i < copies; i++) checkCase(c, bytes, out[`y${i}`] as Float32Array);
  return c;
}

const beAuto = createCpuBackend();
const be1 = createCpuBackend({ threads: 1 });
const beScalar = createCpuBackend({ isa: 'scalar' });
const threads = beAuto.info.threads;

const cases: Case[] = [];
const MATVEC: [GGMLType, number, number][] = [
  [GGMLType.Q4_K, 5120, 17408],
  [GGMLType.Q6_K, 17408, 5120],
  [GGMLType.Q4_K, 5120, 6144],
  [GGMLType.Q5_K, 5120, 6144],
  [GGMLType.Q8_0, 5120, 6144],
  [GGMLType.F16, 5120, 6144],
  [GGMLType.Q6_K, 5120, 248320],
];
if (Q8) {
  // exact vs q8, Q4_K 5120 → 17408 at all threads and 1 thread; q8 also for Q6_K / Q8_0 and the scalar q8 path.
  for (const b of [beAuto, be1]) {
    cases.push(await makeCase(b, 'matvec', GGMLType.Q4_K, 5120, 17408, 1, 0));
    cases.push(await makeCase(b, 'matvec', GGMLType.Q4_K, 5120, 17408, 1, 1));
  }
  cases.push(await makeCase(beAuto, 'matvec', GGMLType.Q6_K, 17408, 5120, 1, 1));
  cases.push(await makeCase(beAuto, 'matvec', GGMLType.Q8_0, 5120, 6144, 1, 1));
  cases.push(await makeCase(beScalar, 'matvec', GGMLType.Q4_K, 5120, 17408, 1, 1));
} else {
  for (const [type, k, m] of MATVEC) cases.push(await makeCase(beAuto, 'matvec', type, k, m, 1));
  cases.push(await makeCase(be1, 'matvec', GGMLType.Q4_K, 5120, 17408, 1));
  cases.push(await makeCase(beScalar, 'matvec', GGMLType.Q4_K, 5120, 17408, 1));
  cases.push(await makeCase(beAuto, 'gemm', GGMLType.Q4_K, 5120, 2048, 512));
  cases.push(await makeCase(beAuto, 'gemm', GGMLType.Q8_0, 5120, 2048, 512));
}

// memcpy copy rate (bytes copied / s), 256 MiB, same thread counts, in this process.
const addon = loadNativeAddon();
const MEMCPY_BYTES = 256 * 1024 * 1024;
const memcpy = (n: number) => {
  let best = Infinity;
  for (let i = 0; i < 5; i++) best = Math.min(best, addon.benchMemcpy(MEMCPY_BYTES, 2, n) / 2);
  return MEMCPY_BYTES / best / 1e9;
};
const memcpyAll = memcpy(threads);
const memcpy1 = memcpy(1);

const bench = new Bench({ time: 1500, warmup: true, warmupTime: 200 });
for (const c of cases) {
  bench.add(c.name, async () => {
    await c.plan.run({ x: c.x });
  });
}
await bench.run();
const memcpyAllAfter = memcpy(threads); // bandwidth drifts on a shared host: report both, compare with the mean
const memcpyRef = (memcpyAll + memcpyAllAfter) / 2;

const rows = cases.map((c) => {
  const t = bench.tasks.find((x) => x.name === c.name)!;
  if (t.result.state !== 'completed') throw new Error(`${c.name}: ${t.result.state}`);
  const l = t.result.latency;
  const s = l.p50 / 1000 / c.copies; // per matvec
  const base = { name: c.name, variant: { isa: c.isa, threads: c.threads, activations: c.act ? 'q8' : 'f32' }, shape: { k: c.k, m: c.m, T: c.T, type: ggmlTypeName(c.type) }, opsPerRun: c.copies, samples: l.samplesCount, medianMsPerOp: l.p50 / c.copies, minMsPerRun: l.min, maxMsPerRun: l.max };
  if (c.kind === 'matvec') {
    const gbs = c.weightBytes / s / 1e9;
    const mc = c.threads === 1 ? memcpy1 : memcpyRef;
    return { ...base, weightBytes: c.weightBytes, GBs: gbs, pctOfMemcpy: (100 * gbs) / mc };
  }
  return { ...base, GFLOPs: (2 * c.k * c.m * c.T) / s / 1e9 };
});

let commit = 'unknown';
try {
  commit = execSync('git rev-parse HEAD', { cwd: here, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
} catch {
  // not a git checkout
}
const report = {
  bench: Q8 ? 'matmul-cpu-q8' : 'matmul-cpu',
  date: new Date().toISOString(),
  device: cpus()[0]?.model ?? 'unknown',
  cores: cpus().length,
  node: process.version,
  commit,
  isaAvailable: beAuto.info.isaAvailable,
  threads,
  memcpy: { bytes: MEMCPY_BYTES, GBsAllThreadsBefore: memcpyAll, GBsAllThreadsAfter: memcpyAllAfter, GBs1Thread: memcpy1, note: 'native benchMemcpy: bytes copied / s (each byte read once and written once), best of 5' },
  tasks: rows,
  note: 'matvec GBs = weight bytes of one op / (median run time / opsPerRun) (run overhead included); pctOfMemcpy vs the memcpy rate at the same thread count (all threads: mean of before/after). gemm GFLOPs = 2·k·m·T / median.',
};
mkdirSync(join(here, 'results'), { recursive: true });
const outName = Q8 ? 'matmul-cpu-q8.json' : 'matmul-cpu.json';
writeFileSync(join(here, 'results', outName), JSON.stringify(report, null, 2) + '\n');

console.table(
  rows.map((r) => ({
    task: r.name,
    'ms/op': r.medianMsPerOp.toFixed(2),
    'GB/s': 'GBs' in r ? r.GBs.toFixed(2) : '',
    '% memcpy': 'pctOfMemcpy' in r ? r.pctOfMemcpy.toFixed(0) : '',
    'GFLOP/s': 'GFLOPs' in r ? r.GFLOPs.toFixed(1) : '',
    samples: r.samples,
  })),
);
console.log(
  `memcpy ${memcpyAll.toFixed(2)} / ${memcpyAllAfter.toFixed(2)} GB/s (${threads} threads, before / after), ${memcpy1.toFixed(2)} GB/s (1 thread); ` +
    `device ${report.device} (${report.cores} cores), commit ${commit.slice(0, 12)}; wrote bench/results/${outName}`,
);

for (const c of cases) c.plan.dispose();
for (const e of weightCache.values()) for (const ws of e.tensors.values()) for (const w of ws) w.dispose();
beAuto.dispose();
be1.dispose();
beScalar.dispose();
