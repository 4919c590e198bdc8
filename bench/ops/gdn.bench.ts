/**
 * GATED_DELTA_NET on the CPU backend at the Qwen3.6-27B layer shape (nv 48 V heads, nk 16 K heads, dk = dv 128,
 * f32 state 48 x 64 KiB = 3 MiB per layer), one layer:
 *   decode/*        one token (T = 1), token-serial (what auto picks); GB/s = state read + write per step
 *   prefill-T/*     T tokens, token-serial vs chunked (chunk 64): the chunked/serial speedup
 *   sweep-T/*       small T, to place the auto threshold (kAutoChunkMinT in native/cpu/gated_delta_net.cc)
 * Each timing is one plan.run (inputs copied in, output copied out: ~T x 40 KiB, small next to the op).
 * Run: node --import tsx bench/ops/gdn.bench.ts [--quick]   → table + bench/results/gdn-cpu.json
 */
import { execSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Bench } from 'tinybench';
import { GraphBuilder, OpKind } from '../../src/model/graph/index.js';
import { Rng } from '../../src/quant/index.js';
import { createCpuBackend, type CpuBackend, type Plan, type SessionState } from '../../src/runtime/backend.js';

const here = dirname(fileURLToPath(import.meta.url));
const quick = process.argv.includes('--quick');
const NV = 48, NK = 16, D = 128;

function unitRows(rng: Rng, rows: number, d: number, scale: number): Float32Array {
  const a = new Float32Array(rows * d);
  for (let r = 0; r < rows; r++) {
    let ss = 0;
    for (let i = 0; i < d; i++) ss += (a[r * d + i] = rng.normal()) ** 2;
    const f = scale / Math.sqrt(ss);
    for (let i = 0; i < d; i++) a[r * d + i] = a[r * d + i]! * f;
  }
  return a;
}

interface Case {
  name: string;
  T: number;
  mode: 0 | 1 | 2;
  plan: Plan;
  state: SessionState;
  inputs: Record<string, Float32Array>;
}

function makeCase(be: CpuBackend, name: string, T: number, mode: 0 | 1 | 2): Case {
  const g = new GraphBuilder();
  const q = g.input('q', 'f32', [D, NK, T]);
  const k = g.input('k', 'f32', [D, NK, T]);
  const v = g.input('v', 'f32', [D, NV, T]);
  const gg = g.input('g', 'f32', [NV, T]);
  const beta = g.input('beta', 'f32', [NV, T]);
  const S = g.state('S', 'f32', [D, D, NV]);
  const [o] = g.op(OpKind.GATED_DELTA_NET, [q, k, v, gg, beta, S], [{ dtype: 'f32', shape: [D, NV, T] }], { i: [0, mode, 64] });
  g.output('o', o!);
  const plan = be.compile(g.build());
  const rng = new Rng(T * 7 + mode);
  const inputs = {
    q: unitRows(rng, NK * T, D, 1 / Math.sqrt(D)),
    k: unitRows(rng, NK * T, D, 1),
    v: Float32Array.from({ length: D * NV * T }, () => rng.normal()),
    g: Float32Array.from({ length: NV * T }, () => -0.5 * rng.float()),
    beta: Float32Array.from({ length: NV * T }, () => rng.float()),
  };
  return { name, T, mode, plan, state: plan.createState(), inputs };
}

const be = createCpuBackend({});
const cases: Case[] = [makeCase(be, 'decode/serial', 1, 1)];
const prefillTs = quick ? [512] : [512, 4096];
for (const T of prefillTs) cases.push(makeCase(be, `prefill-${T}/serial`, T, 1), makeCase(be, `prefill-${T}/chunked`, T, 2));
for (const T of quick ? [] : [8, 16, 32, 64, 128]) cases.push(makeCase(be, `sweep-${T}/serial`, T, 1), makeCase(be, `sweep-${T}/chunked`, T, 2));

const bench = new Bench({ time: quick ? 300 : 1500, iterations: 3, warmup: true, warmupIterations: 1, warmupTime: 100 });
for (const c of cases) bench.add(c.name, async () => void (await c.plan.run(c.inputs, { state: c.state })));
await bench.run();

const stateBytes = NV * D * D * 4;
const rows = bench.tasks.map((t, i) => {
  const r = t.result;
  if (r.state !== 'completed') throw new Error(`${t.name}: ${r.state}`);
  const c = cases[i]!;
  const ms = r.latency.p50 ?? r.latency.mean;
  return {
    name: t.name,
    T: c.T,
    algorithm: c.mode === 1 ? 'token-serial' : 'chunked-64',
    samples: r.latency.samplesCount,
    meanMs: r.latency.mean,
    p50Ms: ms,
    minMs: r.latency.min,
    maxMs: r.latency.max,
    rmePct: r.latency.rme,
    tokensPerSec: c.T / (ms / 1000),
    // 3 dk dv FMAs per token and head (decay+predict, update, read-out), 2 flops each
    gflops: (6 * D * D * NV * c.T) / (ms / 1000) / 1e9,
    stateGBps: c.T === 1 ? (2 * stateBytes) / (ms / 1000) / 1e9 : undefined,
  };
});
const p50 = (name: string): number | undefined => rows.find((r) => r.name === name)?.p50Ms;
const speedup: Record<string, number> = {};
for (const T of [...prefillTs, ...(quick ? [] : [8, 16, 32, 64, 128])]) {
  const pre = T >= 512 ? `prefill-${T}` : `sweep-${T}`;
  const s = p50(`${pre}/serial`), c = p50(`${pre}/chunked`);
  if (s && c) speedup[`T${T}`] = s / c;
}

let commit = 'unknown';
try {
  commit = execSync('git rev-parse HEAD', { cwd: here, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
} catch {
  // not a git checkout
}
const report = {
  bench: 'gdn-cpu',
  date: new Date().toISOString(),
  device: cpus()[0]?.model ?? 'unknown',
  cores: cpus().length,
  threads: be.info.threads,
  isa: be.info.isa,
  node: process.version,
  commit,
  shape: { nv: NV, nk: NK, dk: D, dv: D, headMap: 'tiled', chunk: 64, stateMiB: stateBytes / 2 ** 20 },
  tasks: rows,
  chunkedSpeedup: speedup,
  note: 'chunkedSpeedup = serial p50 / chunked p50 (>1: chunked faster). Times include plan.run input/output copies.',
};
mkdirSync(join(here, '..', 'results'), { recursive: true });
writeFileSync(join(here, '..', 'results', 'gdn-cpu.json'), JSON.stringify(report, null, 2) + '\n');
console.table(rows.map((r) => ({ task: r.name, 'p50 ms': r.p50Ms.toFixed(3), 'tok/s': Math.round(r.tokensPerSec), GFLOP_s: r.gflops.toFixed(1), 'state GB/s': r.stateGBps?.toFixed(1) ?? '', n: r.samples })));
console.log('chunked speedup (serial/chunked):', Object.entries(speedup).map(([k, v]) => `${k} ${v.toFixed(2)}x`).join(', '));
console.log(`device ${report.device}, ${report.threads} threads, ${report.isa}; wrote bench/results/gdn-cpu.json`);
for (const c of cases) {
  c.state.dispose();
  c.plan.dispose();
}
be.dispose();
