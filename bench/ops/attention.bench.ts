/**
 * Decode attention on the CPU at the Qwen3.6-27B shape (24 query heads, 4 KV heads, head dim 256, f16 KV cache)
 * for contexts 512 and 8192: the op reads the whole K and V cache of a layer per token, so it is memory-bound;
 * we report GB/s of KV bytes read next to the native multi-threaded memcpy bandwidth measured in the same run
 * (bench/lib: STREAM-copy convention, read + write traffic, same thread count).
 *
 * One plan run holds L ATTENTION ops, each over its OWN cache (as the 16 full-attention layers of the 27B do), so
 * the KV working set (L × 2·ctx·4·256·2 bytes) is not cache-resident between ops and per-run N-API/dispatch
 * overhead is amortised; the overhead of an empty run is measured and reported too.
 * Variants: isa auto (SIMD) and scalar, default thread count.
 *
 * Run: node --import tsx bench/ops/attention.bench.ts  → table + bench/results/attention-cpu.json
 */
import { Bench } from 'tinybench';

import { GraphBuilder, OpKind } from '../../src/model/graph/index.js';
import { f32ToF16 } from '../../src/quant/half.js';
import { Rng } from '../../src/quant/rng.js';
import { createCpuBackend, type CpuBackend, type Plan, type SessionState } from '../../src/runtime/backend.js';
import { measureMemcpyBandwidth, tinybenchRows, writeBenchReport } from '../lib/index.js';

const HQ = 24;
const HKV = 4;
const D = 256;
const CONTEXTS: [ctx: number, layers: number][] = [
  [512, 16],
  [8192, 4],
];

function randHalves(rng: Rng, n: number): Uint16Array {
  const a = new Uint16Array(n);
  for (let i = 0; i < n; i++) a[i] = f32ToF16(rng.normal());
  return a;
}

interface Case {
  name: string;
  ctx: number;
  layers: number;
  isa: string;
  threads: number;
  plan: Plan;
  state: SessionState;
  feed: Record<string, Float32Array | Int32Array>;
  kvBytesPerRun: number;
}

function makeCase(be: CpuBackend, ctx: number, layers: number, rng: Rng): Case {
  const g = new GraphBuilder();
  const q = g.input('q', 'f32', [D, HQ, 1]);
  const k = g.input('k', 'f32', [D, HKV, 1]);
  const v = g.input('v', 'f32', [D, HKV, 1]);
  const pos = g.input('pos', 'i32', [1]);
  for (let l = 0; l < layers; l++) {
    const kc = g.state(`k${l}`, 'f16', [D, HKV, ctx]);
    const vc = g.state(`v${l}`, 'f16', [D, HKV, ctx]);
    const [o] = g.op(OpKind.ATTENTION, [q, k, v, pos, kc, vc], [{ dtype: 'f32', shape: [D, HQ, 1] }], { f: [1 / Math.sqrt(D)] });
    g.output(`o${l}`, o!);
  }
  const plan = be.compile(g.build());
  const state = plan.createState();
  const fill = randHalves(rng, ctx * HKV * D);
  for (let l = 0; l < layers; l++) {
    state.write(`k${l}`, fill);
    state.write(`v${l}`, fill);
  }
  const feed = {
    q: Float32Array.from({ length: D * HQ }, () => rng.normal()),
    k: Float32Array.from({ length: D * HKV }, () => rng.normal()),
    v: Float32Array.from({ length: D * HKV }, () => rng.normal()),
    pos: new Int32Array([ctx - 1]), // the token attends over all ctx rows
  };
  return {
    name: `ctx ${ctx} ×${layers} layers ${be.info.isa}`,
    ctx,
    layers,
    isa: be.info.isa,
    threads: be.info.threads,
    plan,
    state,
    feed,
    kvBytesPerRun: layers * ctx * HKV * (D + D) * 2,
  };
}

const rng = new Rng(2024);
const beAuto = createCpuBackend();
const beScalar = createCpuBackend({ isa: 'scalar' });
const cases: Case[] = [];
for (const [ctx, layers] of CONTEXTS) {
  cases.push(makeCase(beAuto, ctx, layers, rng));
  cases.push(makeCase(beScalar, ctx, layers, rng));
}

// Empty-ish run: one SCALE of 1 element, to measure per-run overhead (queue, worker hop, N-API, output copy).
const ge = new GraphBuilder();
const [eo] = ge.op(OpKind.SCALE, [ge.input('x', 'f32', [1])], [{ dtype: 'f32', shape: [1] }], { f: [1, 0] });
ge.output('y', eo!);
const emptyPlan = beAuto.compile(ge.build());
const one = new Float32Array([1]);

const bench = new Bench({ time: 2000, warmup: true, warmupTime: 300 });
bench.add('empty run (overhead)', async () => {
  await emptyPlan.run({ x: one });
});
for (const c of cases) {
  bench.add(c.name, async () => {
    await c.plan.run(c.feed, { state: c.state });
  });
}
await bench.run();
const memcpy = measureMemcpyBandwidth({ threads: beAuto.info.threads });

const all = tinybenchRows(bench);
const res = (name: string) => all.find((r) => r.name === name)!;
const overheadMs = res('empty run (overhead)').p50Ms;
const rows = cases.map((c) => {
  const l = res(c.name);
  const gbs = c.kvBytesPerRun / (l.p50Ms / 1000) / 1e9;
  return {
    name: c.name,
    variant: { isa: c.isa, threads: c.threads },
    shape: { hq: HQ, hkv: HKV, d: D, dv: D, ctx: c.ctx, cache: 'f16', tokens: 1 },
    layersPerRun: c.layers,
    kvBytesPerRun: c.kvBytesPerRun,
    samples: l.samples,
    medianMs: l.p50Ms,
    minMs: l.minMs,
    maxMs: l.maxMs,
    perLayerMedianMs: l.p50Ms / c.layers,
    kvReadGBs: gbs,
    pctOfMemcpy: (100 * gbs) / memcpy.gbPerSec,
  };
});
const file = writeBenchReport('attention-cpu', {
  isaAvailable: beAuto.info.isaAvailable,
  memcpy,
  emptyRunOverheadMs: overheadMs,
  tasks: rows,
  note: 'kvReadGBs = K+V cache bytes read per run / median run time (one run = layersPerRun ATTENTION ops, incl. one run overhead); pctOfMemcpy = kvReadGBs / memcpy.gbPerSec (read+write traffic of a native memcpy, same threads).',
});

console.table(
  rows.map((r) => ({
    task: r.name,
    'median ms': r.medianMs.toFixed(3),
    'per layer ms': r.perLayerMedianMs.toFixed(3),
    'KV GB/s': r.kvReadGBs.toFixed(2),
    '% memcpy': r.pctOfMemcpy.toFixed(0),
    samples: r.samples,
  })),
);
console.log(`memcpy ${memcpy.gbPerSec.toFixed(2)} GB/s (copy rate ${memcpy.copyGBPerSec.toFixed(2)}); empty-run overhead ${(overheadMs * 1000).toFixed(0)} µs; wrote ${file}`);

for (const c of cases) {
  c.state.dispose();
  c.plan.dispose();
}
emptyPlan.dispose();
beAuto.dispose();
beScalar.dispose();
