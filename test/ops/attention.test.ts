/**
 * ATTENTION (causal GQA over the session KV cache) vs the float64 reference (src/reference/attention.ts).
 * Covers T = 1, 15, 63, 64, 65, 300 at odd start positions over a cache pre-filled with earlier rows, head dims
 * 64/128/256 (and dv != d), GQA ratios 1/2/6, f32, f16 and q8_0 caches (the reference is fed the values the cache
 * stores: k/v rounded to f16, or quantized to q8_0 and read back; the native cache must hold exactly those bytes),
 * flat and sharp softmax, the split-KV decode path (T * Hkv <= 16) and the unsplit prefill path; scalar vs
 * SIMD; 1 vs 4 threads (bit for bit: the work split never depends on the thread count); decode token by token
 * == one batched prefill; CONTEXT_FULL with the cache left untouched; bad positions; typed compile errors.
 *
 * Tolerance (per element, atol + rtol·|ref|): each score is an f32 dot of d terms, error ~ sqrt(d)·2^-24·
 * scale·Σ|q_i k_i| (≈1e-6 for N(0,1) data at d = 256, ≈1e-5 with the sharp sd-3 queries); the softmax weights
 * inherit that absolute error, the exp approximation adds 2 ulp and the f32 weighted sum over up to ~400 rows
 * adds ~sqrt(n)·2^-24 relative. Outputs are O(1); the largest error observed across these cases is 2.2e-6,
 * so atol 1e-5 + rtol 2e-5 keeps a ~5x margin. Decode vs prefill and scalar vs SIMD differ only in f32 rounding order
 * (split-KV partial sums, FMA vs mul+add, exp polynomial): atol 1e-5 + rtol 1e-5.
 */
import { afterAll, describe, expect, it } from 'vitest';

import { QwenHybridError } from '../../src/errors.js';
import { GGMLType } from '../../src/gguf/types.js';
import { GraphBuilder, OpKind, type StateDType } from '../../src/model/graph/index.js';
import { f16ToF32, f32ToF16 } from '../../src/quant/half.js';
import { Rng } from '../../src/quant/rng.js';
import { attentionRef, createKvCacheRef, dequantizeKvQ8_0, quantizeKvQ8_0, type KvCacheRef, type KvCacheType } from '../../src/reference/attention.js';
import { createCpuBackend, type CpuBackend, type Plan, type SessionState } from '../../src/runtime/backend.js';
import { expectClose, expectEqualArrays, expectSameBits, randn, retypeStates } from './normattn-util.js';

const TOL = { atol: 1e-5, rtol: 2e-5 };
const TOL_ORDER = { atol: 1e-5, rtol: 1e-5 };

const be4 = createCpuBackend({ threads: 4 });
const be1 = createCpuBackend({ threads: 1 });
const beScalar = createCpuBackend({ threads: 2, isa: 'scalar' });
afterAll(() => [be4, be1, beScalar].forEach((b) => b.dispose()));

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

type CacheArray = Float32Array | Uint16Array | Uint8Array;

function buildPlan(be: CpuBackend, c: Cfg): Plan {
  const g = new GraphBuilder();
  const q = g.input('q', 'f32', [c.d, c.hq, c.T]);
  const k = g.input('k', 'f32', [c.d, c.hkv, c.T]);
  const v = g.input('v', 'f32', [c.dv, c.hkv, c.T]);
  const pos = g.input('pos', 'i32', [c.T]);
  const kc = g.state('k_cache', c.cache, [c.d, c.hkv, c.nCtx]);
  const vc = g.state('v_cache', c.cache, [c.dv, c.hkv, c.nCtx]);
  const [o] = g.op(OpKind.ATTENTION, [q, k, v, pos, kc, vc], [{ dtype: 'f32', shape: [c.dv, c.hq, c.T] }], { f: [1 / Math.sqrt(c.d)] });
  g.output('out', o!);
  return be.compile(g.build());
}

interface Data {
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  pos: Int32Array;
  kPre: Float32Array; // rows [0, start) of the cache, as stored values
  vPre: Float32Array;
  kPreQ8: Uint8Array; // q8_0 cache: the blocks of rows [0, start) (kPre are their values)
  vPreQ8: Uint8Array;
}

function makeData(c: Cfg, seed: number): Data {
  const rng = new Rng(seed);
  const pos = new Int32Array(c.T);
  for (let t = 0; t < c.T; t++) pos[t] = c.start + t;
  const pre = (n: number): { values: Float32Array; q8: Uint8Array } => {
    const a = randn(rng, n);
    if (c.cache === 'f16') for (let i = 0; i < n; i++) a[i] = f16ToF32(f32ToF16(a[i]!));
    if (c.cache !== 'q8_0') return { values: a, q8: new Uint8Array(0) };
    const q8 = quantizeKvQ8_0(a); // rows are whole blocks (d, dv multiples of 32)
    return { values: Float32Array.from(dequantizeKvQ8_0(q8)), q8 };
  };
  const q = randn(rng, c.d * c.hq * c.T, c.qsd);
  const k = randn(rng, c.d * c.hkv * c.T);
  const v = randn(rng, c.dv * c.hkv * c.T);
  const kp = pre(c.start * c.hkv * c.d);
  const vp = pre(c.start * c.hkv * c.dv);
  return { q, k, v, pos, kPre: kp.values, vPre: vp.values, kPreQ8: kp.q8, vPreQ8: vp.q8 };
}

/** Cache array of the state's element type with rows [0, start) = pre, the rest 0. */
function cacheInit(c: Cfg, pre: Float32Array, preQ8: Uint8Array, rowElems: number): CacheArray {
  const n = c.nCtx * c.hkv * rowElems;
  if (c.cache === 'q8_0') {
    const a = new Uint8Array((n / 32) * 34);
    a.set(preQ8);
    return a;
  }
  if (c.cache === 'f32') {
    const a = new Float32Array(n);
    a.set(pre);
    return a;
  }
  const a = new Uint16Array(n);
  for (let i = 0; i < pre.length; i++) a[i] = f32ToF16(pre[i]!);
  return a;
}

function prepState(plan: Plan, c: Cfg, data: Data): SessionState {
  const st = plan.createState();
  st.write('k_cache', cacheInit(c, data.kPre, data.kPreQ8, c.d));
  st.write('v_cache', cacheInit(c, data.vPre, data.vPreQ8, c.dv));
  return st;
}

function reference(c: Cfg, data: Data): { out: Float64Array; cache: KvCacheRef } {
  const cache = createKvCacheRef(c.d, c.dv, c.hkv, c.nCtx, c.cache);
  cache.k.set(data.kPre);
  cache.v.set(data.vPre);
  return { out: attentionRef(data.q, data.k, data.v, data.pos, c.hq, 1 / Math.sqrt(c.d), cache), cache };
}

async function runNative(be: CpuBackend, c: Cfg, data: Data): Promise<{ out: Float32Array; k: CacheArray; v: CacheArray }> {
  const plan = buildPlan(be, c);
  const st = prepState(plan, c, data);
  try {
    const r = await plan.run({ q: data.q, k: data.k, v: data.v, pos: data.pos }, { state: st });
    return { out: r.out as Float32Array, k: st.read('k_cache') as CacheArray, v: st.read('v_cache') as CacheArray };
  } finally {
    st.dispose();
    plan.dispose();
  }
}

/** Cache contents as values (f16 halves and q8_0 blocks decoded). */
function values(a: CacheArray): Float64Array {
  if (a instanceof Uint8Array) return dequantizeKvQ8_0(a);
  const out = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a instanceof Uint16Array ? f16ToF32(a[i]!) : a[i]!;
  return out;
}

const CASES: Cfg[] = [
  { T: 1, start: 0, d: 64, dv: 64, hq: 2, hkv: 2, nCtx: 8, cache: 'f32', qsd: 1 },
  { T: 1, start: 777, d: 256, dv: 256, hq: 24, hkv: 4, nCtx: 1024, cache: 'f16', qsd: 1 }, // 27B decode, split-KV
  { T: 1, start: 1201, d: 128, dv: 128, hq: 12, hkv: 2, nCtx: 1300, cache: 'f32', qsd: 3 }, // sharp, split-KV
  { T: 15, start: 3, d: 128, dv: 128, hq: 4, hkv: 2, nCtx: 64, cache: 'f32', qsd: 1 },
  { T: 63, start: 1, d: 64, dv: 64, hq: 6, hkv: 1, nCtx: 100, cache: 'f16', qsd: 3 },
  { T: 64, start: 0, d: 256, dv: 256, hq: 4, hkv: 4, nCtx: 64, cache: 'f32', qsd: 1 },
  { T: 65, start: 129, d: 128, dv: 64, hq: 12, hkv: 2, nCtx: 257, cache: 'f16', qsd: 1 }, // dv != d
  { T: 300, start: 37, d: 64, dv: 64, hq: 8, hkv: 4, nCtx: 400, cache: 'f32', qsd: 3 },
  { T: 300, start: 5, d: 256, dv: 256, hq: 6, hkv: 1, nCtx: 305, cache: 'f16', qsd: 1 },
  // q8_0 caches: decode (split-KV), prefill, dv != d, real 27B / 35B-A3B head shapes
  { T: 1, start: 900, d: 256, dv: 256, hq: 24, hkv: 4, nCtx: 1024, cache: 'q8_0', qsd: 1 },
  { T: 1, start: 333, d: 256, dv: 256, hq: 16, hkv: 2, nCtx: 400, cache: 'q8_0', qsd: 3 },
  { T: 15, start: 3, d: 128, dv: 128, hq: 4, hkv: 2, nCtx: 64, cache: 'q8_0', qsd: 1 },
  { T: 65, start: 129, d: 128, dv: 64, hq: 12, hkv: 2, nCtx: 257, cache: 'q8_0', qsd: 3 },
  { T: 300, start: 11, d: 64, dv: 64, hq: 8, hkv: 4, nCtx: 400, cache: 'q8_0', qsd: 1 },
];

const label = (c: Cfg): string =>
  `T=${c.T} start=${c.start} d=${c.d} dv=${c.dv} Hq=${c.hq} Hkv=${c.hkv} n_ctx=${c.nCtx} ${c.cache} cache, q sd ${c.qsd}`;

describe('ATTENTION vs float64 reference', () => {
  CASES.forEach((c, ci) => {
    it(label(c), async () => {
      const data = makeData(c, 500 + ci);
      const ref = reference(c, data);
      const nat = await runNative(be4, c, data);
      expectClose(nat.out, ref.out, TOL, 'output');
      // the cache holds exactly the stored values (f32, or f16 rounding of k/v) at rows pos[t], others untouched
      expectEqualArrays(values(nat.k), ref.cache.k, 'k_cache');
      expectEqualArrays(values(nat.v), ref.cache.v, 'v_cache');
      const n1 = await runNative(be1, c, data);
      expectSameBits(n1.out, nat.out, '1 thread vs 4 threads');
      const ns = await runNative(beScalar, c, data);
      expectClose(ns.out, ref.out, TOL, 'scalar output');
      expectClose(ns.out, nat.out, TOL_ORDER, 'scalar vs SIMD');
      expectEqualArrays(ns.k, nat.k, 'scalar vs SIMD k_cache'); // f16 rounding identical on both paths
    });
  });
});

describe('ATTENTION decode == prefill', () => {
  for (const cache of ['f32', 'f16', 'q8_0'] as const) {
    it(`decoding 70 tokens one by one equals one batched prefill (${cache} cache, GQA 6, start 3)`, async () => {
      const c: Cfg = { T: 70, start: 3, d: 128, dv: 128, hq: 12, hkv: 2, nCtx: 80, cache, qsd: 2 };
      const data = makeData(c, 77);
      const batched = await runNative(be4, c, data);
      const one: Cfg = { ...c, T: 1 };
      const plan = buildPlan(be4, one);
      const st = prepState(plan, c, data);
      const qs = c.d * c.hq;
      const ks = c.d * c.hkv;
      const vs = c.dv * c.hkv;
      for (let t = 0; t < c.T; t++) {
        const r = await plan.run(
          {
            q: data.q.subarray(t * qs, (t + 1) * qs),
            k: data.k.subarray(t * ks, (t + 1) * ks),
            v: data.v.subarray(t * vs, (t + 1) * vs),
            pos: new Int32Array([c.start + t]),
          },
          { state: st },
        );
        expectClose(r.out as Float32Array, batched.out.subarray(t * c.dv * c.hq, (t + 1) * c.dv * c.hq), TOL_ORDER, `token ${t}`);
      }
      expectEqualArrays(st.read('k_cache'), batched.k, 'k_cache');
      expectEqualArrays(st.read('v_cache'), batched.v, 'v_cache');
      st.dispose();
      plan.dispose();
    });
  }
});

describe('ATTENTION errors', () => {
  const c: Cfg = { T: 2, start: 0, d: 64, dv: 64, hq: 4, hkv: 2, nCtx: 16, cache: 'f16', qsd: 1 };

  async function runAt(pos: number[]): Promise<{ err: unknown; k: Uint16Array; before: Uint16Array }> {
    const data = makeData(c, 9);
    const plan = buildPlan(be4, c);
    const st = prepState(plan, c, data);
    const before = st.read('k_cache') as Uint16Array;
    let err: unknown = null;
    try {
      await plan.run({ q: data.q, k: data.k, v: data.v, pos: new Int32Array(pos) }, { state: st });
    } catch (e) {
      err = e;
    }
    const k = st.read('k_cache') as Uint16Array;
    st.dispose();
    plan.dispose();
    return { err, k, before };
  }

  it('the last cache row is usable', async () => {
    expect((await runAt([14, 15])).err).toBeNull();
  });

  it('a position >= n_ctx rejects with CONTEXT_FULL and writes nothing', async () => {
    const { err, k, before } = await runAt([15, 16]);
    expect(err).toBeInstanceOf(QwenHybridError);
    expect((err as QwenHybridError).code).toBe('CONTEXT_FULL');
    expect((err as Error).message).toMatch(/position 16.*n_ctx = 16/);
    expectEqualArrays(k, before, 'k_cache'); // row 15 was not written either
  });

  it('negative or non-increasing positions reject with INVALID_ARGUMENT', async () => {
    for (const pos of [[-1, 0], [5, 5], [6, 2]]) {
      const { err, k, before } = await runAt(pos);
      expect((err as QwenHybridError).code, `pos ${pos}`).toBe('INVALID_ARGUMENT');
      expectEqualArrays(k, before, `k_cache after pos ${pos}`);
    }
  });

  it('shape and type mistakes are typed compile errors naming the tensor', () => {
    const mk = (hq: number, kcType: StateDType, vcType: StateDType, outShape: number[]) => {
      const g = new GraphBuilder();
      const ins = [
        g.input('q', 'f32', [64, hq, 3]),
        g.input('k', 'f32', [64, 2, 3]),
        g.input('v', 'f32', [64, 2, 3]),
        g.input('pos', 'i32', [3]),
        g.state('kc', kcType, [64, 2, 16]),
        g.state('vc', vcType, [64, 2, 16]),
      ];
      g.op(OpKind.ATTENTION, ins, [{ dtype: 'f32', shape: outShape }], { f: [0.125] });
      return () => be4.compile(g.build());
    };
    expect(mk(4, 'f16', 'f16', [64, 4, 3])).not.toThrow();
    const cases: [() => unknown, RegExp][] = [
      [mk(5, 'f16', 'f16', [64, 5, 3]), /multiple of Hkv/],
      [mk(4, 'f16', 'f32', [64, 4, 3]), /input 5 \(v_cache\)/],
      [mk(4, 'bf16', 'bf16', [64, 4, 3]), /input 4 \(k_cache\) must be f32, f16 or q8_0/],
      [mk(4, 'f32', 'f32', [64, 4, 2]), /output 0/],
    ];
    // a q8_0 cache needs rows of whole 32-element blocks: GraphBuilder.state refuses others, and so does the native
    // validator when the builder is bypassed (an f16 state retyped after build())
    expect(() => new GraphBuilder().state('kc', 'q8_0', [40, 2, 16])).toThrow(/multiple of the q8_0 block size 32/);
    const q8 = (): unknown => {
      const g = new GraphBuilder();
      const ins = [
        g.input('q', 'f32', [40, 4, 3]),
        g.input('k', 'f32', [40, 2, 3]),
        g.input('v', 'f32', [40, 2, 3]),
        g.input('pos', 'i32', [3]),
        g.state('kc', 'f16', [40, 2, 16]),
        g.state('vc', 'f16', [40, 2, 16]),
      ];
      g.op(OpKind.ATTENTION, ins, [{ dtype: 'f32', shape: [40, 4, 3] }], { f: [0.125] });
      return be4.compile(retypeStates(g.build(), { kc: GGMLType.Q8_0, vc: GGMLType.Q8_0 }));
    };
    let q8err: unknown = null;
    try {
      q8();
    } catch (e) {
      q8err = e;
    }
    expect(q8err).toBeInstanceOf(QwenHybridError);
    expect((q8err as Error).message).toMatch(/block size 32|multiples of the 32-element block/);
    for (const [f, re] of cases) {
      let err: unknown = null;
      try {
        f();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(QwenHybridError);
      expect((err as QwenHybridError).code).toBe('INVALID_ARGUMENT');
      expect((err as Error).message).toMatch(re);
      expect((err as Error).message).toMatch(/ATTENTION/);
    }
  });
});
