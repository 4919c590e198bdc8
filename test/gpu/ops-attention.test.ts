/**
 * CUDA ROPE_NEOX and ATTENTION (native/cuda/rope_neox.cu, attention.cu) vs the CPU backend (the oracle: its ATTENTION
 * is tested against the float64 reference in test/ops/attention.test.ts) on the same seeded inputs and the same
 * pre-filled KV cache.
 *   ROPE_NEOX: real shapes (head_dim 256, 24 q / 4 kv heads, 64 rotated dims, base 1e7) at positions up to 262143,
 *     odd ones (n_rot = d, n_rot = 2, odd d), T = 1 / 15 / 300.
 *   ATTENTION: every variant (ctx.variant 0 auto, 1 decode split-K, 2 prefill tiles) on every case; f32, f16 and q8_0
 *     caches; T = 1, 15, 63, 64, 65, 300 at the real 27B shape (d 256, 24 / 4 heads) and the 35B-A3B one (16 / 2),
 *     odd shapes (d != dv, d = 40, dv = 160, G = 12 split into head blocks of 8 + 4, G = 1); long-context decode
 *     (pos ~ 8000, n_ctx 16384) and positions ending at n_ctx - 1; a prefill followed by decode steps on the same
 *     session state. The caches after each call must equal the CPU's bit for bit (same f16 / q8_0 rounding), and
 *     auto must equal the variant it picks (decode for T <= 8, prefill above) bit for bit.
 *
 * Tolerances (|gpu - cpu| <= atol + rtol·|cpu|):
 *   ROPE_NEOX  both sides compute theta, cos, sin and the rotation in f64 and round once to f32; CUDA's f64 pow/sincos
 *     are within ~2 ulp (f64) of glibc's, which moves the f32 result only when it lies within ~2^-29 relative of a
 *     rounding boundary: at most 1 f32 ulp. rtol 2.4e-7 (2 ulp), atol 1e-12 (results that cancel to ~0).
 *   ATTENTION  the cache values are identical (f16 RNE and the q8_0 quantization are bit-exact on both sides), so the
 *     difference is f32 summation order only: dot products of d terms (warp-tree vs the CPU's 4-way SIMD chains),
 *     the softmax sums (tile / split order), the split-K merge, and expf vs the CPU's exp polynomial (~2 ulp). Each
 *     side is within atol 1e-5 + rtol 2e-5 of the float64 reference (the CPU test's bound, ~5x above the largest
 *     error seen there), so |gpu - cpu| <= atol 2e-5 + rtol 4e-5.
 * No CUDA device (or an addon without CUDA): createCudaBackend throws NO_CUDA_DEVICE in beforeAll and every test here
 * FAILS (test/gpu/require-gpu.test.ts says why).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { GGMLType } from '../../src/gguf/types.js';
import { GraphBuilder, OpKind, type TensorDType } from '../../src/model/graph/index.js';
import { f32ToF16, Rng } from '../../src/quant/index.js';
import { quantizeKvQ8_0, type KvCacheType } from '../../src/reference/attention.js';
import type { TensorArray } from '../../src/native/types.js';
import type { Backend, Plan, SessionState } from '../../src/runtime/backend.js';
import { randn, retypeStates } from '../ops/normattn-util.js';
import { cudaBackends, expectClose, expectSameBits, runBoth, type Backends, type Tol } from './harness.js';

/** ctx.variant of ATTENTION (native/cuda/attention.cu header). */
const VARIANT = { auto: 0, decode: 1, prefill: 2 } as const;
type VariantName = keyof typeof VARIANT;
const VARIANTS = Object.keys(VARIANT) as VariantName[];

const ROPE_TOL: Tol = { atol: 1e-12, rtol: 2.4e-7 };
const ATTN_TOL: Tol = { atol: 2e-5, rtol: 4e-5 };
const DECODE_MAX_T = 8; // attention.cu kDecodeMaxT: auto picks decode up to here

const pairs: Partial<Record<VariantName, Backends>> = {};
beforeAll(() => {
  for (const v of VARIANTS) pairs[v] = cudaBackends({ variants: { ATTENTION: VARIANT[v] } });
});
afterAll(() => {
  for (const b of Object.values(pairs)) b?.dispose();
});

function pair(v: VariantName): Backends {
  const b = pairs[v];
  if (!b) throw new Error(`CUDA backend (${v}) was not created`);
  return b;
}

describe('ROPE_NEOX', () => {
  const cases: { d: number; H: number; T: number; nRot: number; base: number; maxPos: number }[] = [
    { d: 256, H: 24, T: 1, nRot: 64, base: 1e7, maxPos: 262143 }, // 27B q, decode at the last position
    { d: 256, H: 4, T: 15, nRot: 64, base: 1e7, maxPos: 9000 }, // 27B k
    { d: 256, H: 16, T: 300, nRot: 64, base: 1e7, maxPos: 262143 }, // 35B-A3B q, prefill
    { d: 128, H: 3, T: 65, nRot: 128, base: 1e4, maxPos: 5000 }, // n_rot = d: no pass-through
    { d: 67, H: 5, T: 7, nRot: 2, base: 500, maxPos: 100 }, // odd d, a single pair
    { d: 66, H: 1, T: 63, nRot: 34, base: 1e6, maxPos: 70000 },
  ];
  for (const c of cases) {
    it(`d=${c.d} H=${c.H} T=${c.T} n_rot=${c.nRot} base=${c.base} pos <= ${c.maxPos}`, async () => {
      const rng = new Rng(c.d * 1000 + c.T);
      const x = randn(rng, c.d * c.H * c.T, 2);
      const pos = new Int32Array(c.T);
      pos[c.T - 1] = c.maxPos; // increasing, ending at maxPos
      for (let t = c.T - 2; t >= 0; t--) pos[t] = Math.max(0, pos[t + 1]! - 1 - Math.floor(rng.float() * 50));
      const r = await runBoth(pair('auto'), {
        kind: OpKind.ROPE_NEOX,
        inputs: [
          { name: 'x', dtype: 'f32', shape: [c.d, c.H, c.T], data: x },
          { name: 'pos', dtype: 'i32', shape: [c.T], data: pos },
        ],
        outputs: [{ dtype: 'f32', shape: [c.d, c.H, c.T] }],
        params: { i: [c.nRot], f: [c.base] },
      });
      expectClose(r.gpu[0]!, r.cpu[0]!, ROPE_TOL, 'rope');
      // pass-through dims are copies
      const g = r.gpu[0]!;
      for (let t = 0; t < c.T; t++)
        for (let h = 0; h < c.H; h++)
          for (let i = c.nRot; i < c.d; i++) {
            const o = (t * c.H + h) * c.d + i;
            if (g[o] !== x[o]) expect.fail(`pass-through element ${o}: ${g[o]} vs ${x[o]}`);
          }
    });
  }
});

interface Cfg {
  T: number;
  start: number; // position of the first token; rows [0, start) are already in the cache
  d: number;
  dv: number;
  hq: number;
  hkv: number;
  nCtx: number;
  cache: KvCacheType;
  qsd: number; // query scale: 1 = flat softmax, 3 = sharp
}

interface Data {
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  pos: Int32Array;
  kc: TensorArray; // initial caches: rows [0, start) random, the rest 0
  vc: TensorArray;
}

function buildPlan(be: Backend, c: Cfg): Plan {
  const g = new GraphBuilder();
  const dt: TensorDType = c.cache === 'q8_0' ? 'f16' : c.cache; // q8_0: retyped after build()
  const q = g.input('q', 'f32', [c.d, c.hq, c.T]);
  const k = g.input('k', 'f32', [c.d, c.hkv, c.T]);
  const v = g.input('v', 'f32', [c.dv, c.hkv, c.T]);
  const pos = g.input('pos', 'i32', [c.T]);
  const kc = g.state('k_cache', dt, [c.d, c.hkv, c.nCtx]);
  const vc = g.state('v_cache', dt, [c.dv, c.hkv, c.nCtx]);
  const [o] = g.op(OpKind.ATTENTION, [q, k, v, pos, kc, vc], [{ dtype: 'f32', shape: [c.dv, c.hq, c.T] }], { f: [1 / Math.sqrt(c.d)] });
  g.output('out', o!);
  const desc = g.build();
  if (c.cache === 'q8_0') retypeStates(desc, { k_cache: GGMLType.Q8_0, v_cache: GGMLType.Q8_0 });
  return be.compile(desc);
}

/** A cache of nCtx·hkv rows of rowElems elements whose first `pre` values are `values` (stored as the cache type). */
function cacheArray(c: Cfg, rowElems: number, values: Float32Array): TensorArray {
  const n = c.nCtx * c.hkv * rowElems;
  if (c.cache === 'f32') {
    const a = new Float32Array(n);
    a.set(values);
    return a;
  }
  if (c.cache === 'f16') {
    const a = new Uint16Array(n);
    for (let i = 0; i < values.length; i++) a[i] = f32ToF16(values[i]!);
    return a;
  }
  const a = new Uint8Array((n / 32) * 34);
  a.set(quantizeKvQ8_0(values));
  return a;
}

function makeData(c: Cfg, seed: number): Data {
  const rng = new Rng(seed);
  const pos = new Int32Array(c.T);
  for (let t = 0; t < c.T; t++) pos[t] = c.start + t;
  return {
    q: randn(rng, c.d * c.hq * c.T, c.qsd),
    k: randn(rng, c.d * c.hkv * c.T),
    v: randn(rng, c.dv * c.hkv * c.T),
    pos,
    kc: cacheArray(c, c.d, randn(rng, c.start * c.hkv * c.d)),
    vc: cacheArray(c, c.dv, randn(rng, c.start * c.hkv * c.dv)),
  };
}

interface Result {
  out: Float32Array;
  kc: TensorArray;
  vc: TensorArray;
}

/** One ATTENTION call on a fresh state holding data's caches; returns the output and the caches after it. */
async function runAttention(be: Backend, c: Cfg, data: Data): Promise<Result> {
  const plan = buildPlan(be, c);
  const st = plan.createState();
  try {
    st.write('k_cache', data.kc);
    st.write('v_cache', data.vc);
    const r = await plan.run({ q: data.q, k: data.k, v: data.v, pos: data.pos }, { state: st });
    return { out: r.out as Float32Array, kc: st.read('k_cache'), vc: st.read('v_cache') };
  } finally {
    st.dispose();
    plan.dispose();
  }
}

function expectCaches(gpu: Result, cpu: Result, label: string): void {
  expectSameBits(gpu.kc, cpu.kc, `${label}: k_cache`);
  expectSameBits(gpu.vc, cpu.vc, `${label}: v_cache`);
}

const label = (c: Cfg): string =>
  `T=${c.T} start=${c.start} d=${c.d} dv=${c.dv} Hq=${c.hq} Hkv=${c.hkv} n_ctx=${c.nCtx} ${c.cache}, q sd ${c.qsd}`;

const CASES: Cfg[] = [];
for (const cache of ['f32', 'f16', 'q8_0'] as const) {
  // 27B full-attention shape at every awkward T
  for (const T of [1, 15, 63, 64, 65, 300]) CASES.push({ T, start: 37, d: 256, dv: 256, hq: 24, hkv: 4, nCtx: 400, cache, qsd: 1 });
  CASES.push({ T: 1, start: 0, d: 256, dv: 256, hq: 16, hkv: 2, nCtx: 16, cache, qsd: 1 }); // 35B-A3B, first token
  CASES.push({ T: 9, start: 500, d: 256, dv: 256, hq: 16, hkv: 2, nCtx: 1024, cache, qsd: 3 }); // 35B-A3B, sharp
  CASES.push({ T: 1, start: 8000, d: 256, dv: 256, hq: 24, hkv: 4, nCtx: 16384, cache, qsd: 1 }); // long-context decode
  CASES.push({ T: 1, start: 4095, d: 256, dv: 256, hq: 24, hkv: 4, nCtx: 4096, cache, qsd: 2 }); // the last row
  CASES.push({ T: 15, start: 4081, d: 256, dv: 256, hq: 16, hkv: 2, nCtx: 4096, cache, qsd: 1 }); // ends at n_ctx - 1
  CASES.push({ T: 65, start: 3, d: 128, dv: 64, hq: 12, hkv: 1, nCtx: 100, cache, qsd: 3 }); // G = 12: head blocks 8 + 4
  CASES.push({ T: 2, start: 130, d: 64, dv: 160, hq: 3, hkv: 3, nCtx: 200, cache, qsd: 1 }); // G = 1, dv in 3 chunks
}
for (const cache of ['f32', 'f16'] as const) {
  CASES.push({ T: 63, start: 5, d: 40, dv: 24, hq: 6, hkv: 3, nCtx: 80, cache, qsd: 1 }); // head dims off the 32 grid
  CASES.push({ T: 1, start: 700, d: 40, dv: 72, hq: 10, hkv: 2, nCtx: 720, cache, qsd: 3 });
  CASES.push({ T: 300, start: 0, d: 320, dv: 320, hq: 4, hkv: 2, nCtx: 300, cache, qsd: 1 }); // > 256: decode kernel only
}

describe('ATTENTION vs the CPU backend, every variant', () => {
  CASES.forEach((c, ci) => {
    it(label(c), async () => {
      const data = makeData(c, 900 + ci);
      const cpu = await runAttention(pair('auto').cpu, c, data);
      const gpu: Partial<Record<VariantName, Float32Array>> = {};
      for (const v of VARIANTS) {
        const r = await runAttention(pair(v).gpu, c, data);
        expectClose(r.out, cpu.out, ATTN_TOL, `${v}: output`);
        expectCaches(r, cpu, v);
        gpu[v] = r.out;
      }
      expectSameBits(gpu.auto!, gpu[c.T <= DECODE_MAX_T ? 'decode' : 'prefill']!, 'auto vs the variant it picks');
    });
  });
});

describe('ATTENTION prefill then decode on one session state', () => {
  for (const cache of ['f32', 'f16', 'q8_0'] as const) {
    it(`27B shape, ${cache} cache: prefill 65 tokens at 0, then 4 decode steps`, async () => {
      const base: Cfg = { T: 65, start: 0, d: 256, dv: 256, hq: 24, hkv: 4, nCtx: 128, cache, qsd: 1 };
      const step: Cfg = { ...base, T: 1 };
      for (const v of VARIANTS) {
        const b = pair(v);
        const run = async (be: Backend): Promise<{ outs: Float32Array[]; st: SessionState; plans: Plan[] }> => {
          const pre = buildPlan(be, base);
          const one = buildPlan(be, step);
          const st = pre.createState(); // zero caches
          const rng = new Rng(4242);
          const outs: Float32Array[] = [];
          const d = makeData(base, 4243);
          outs.push((await pre.run({ q: d.q, k: d.k, v: d.v, pos: d.pos }, { state: st })).out as Float32Array);
          for (let t = 0; t < 4; t++) {
            const q = randn(rng, step.d * step.hq);
            const k = randn(rng, step.d * step.hkv);
            const vv = randn(rng, step.dv * step.hkv);
            outs.push((await one.run({ q, k, v: vv, pos: new Int32Array([base.T + t]) }, { state: st })).out as Float32Array);
          }
          return { outs, st, plans: [pre, one] };
        };
        const cpu = await run(b.cpu);
        const gpu = await run(b.gpu);
        try {
          gpu.outs.forEach((o, i) => expectClose(o, cpu.outs[i]!, ATTN_TOL, `${v}: call ${i}`));
          expectSameBits(gpu.st.read('k_cache'), cpu.st.read('k_cache'), `${v}: k_cache`);
          expectSameBits(gpu.st.read('v_cache'), cpu.st.read('v_cache'), `${v}: v_cache`);
        } finally {
          for (const r of [cpu, gpu]) {
            r.st.dispose();
            r.plans.forEach((p) => p.dispose());
          }
        }
      }
    });
  }
});
