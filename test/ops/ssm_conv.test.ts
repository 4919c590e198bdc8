/**
 * SSM_CONV (native/cpu/ssm_conv.cc) against the float64 reference src/reference/conv.ts.
 *
 * Tolerances: each output is SiLU of a K-term f32 dot (K = 4): the sum carries <= K * 2^-24 relative error of
 * sum |w x|, SiLU adds ~2 ulps (libm expf, or the AVX2 polynomial exp with rel. error < 2e-7). With |w x| terms
 * of order 1, atol 1e-6 + rtol 2e-6 covers it with margin (measured max ~3e-7). The new conv state is a copy of
 * raw f32 inputs, so it must equal the reference exactly. SIMD vs scalar: FMA vs mul+add and the polynomial exp,
 * same 1e-6/2e-6 bound. Threads and decode-vs-batch: per-token arithmetic is independent of T and of the channel
 * split, so bit-exact.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { QwenHybridError } from '../../src/errors.js';
import { OpKind } from '../../src/model/graph/index.js';
import { ssmConv } from '../../src/reference/conv.js';
import type { CpuBackend } from '../../src/runtime/backend.js';
import { backendPool, bitsEqual, compileOneOp, firstMismatch, normals, Rng } from './gdnmoe-util.js';

const ATOL = 1e-6, RTOL = 2e-6;
const pool = backendPool();
afterAll(() => pool.disposeAll());

async function runConv(be: CpuBackend, C: number, T: number, K: number, x: Float32Array, w: Float32Array, state0: Float32Array) {
  const op = compileOneOp(be, {
    kind: OpKind.SSM_CONV,
    inputs: [
      { name: 'x', dtype: 'f32', shape: [C, T] },
      { name: 'w', dtype: 'f32', shape: [K, C] },
    ],
    states: [{ name: 'conv', dtype: 'f32', shape: [C, K - 1] }],
    outputs: [{ dtype: 'f32', shape: [C, T] }],
  });
  const st = op.plan.createState();
  st.write('conv', state0);
  const [out] = await op.run({ x, w }, st);
  const state = st.read('conv') as Float32Array;
  st.dispose();
  op.plan.dispose();
  return { out: out as Float32Array, state };
}

function inputs(seed: number, C: number, T: number, K: number) {
  const rng = new Rng(seed);
  return { x: normals(rng, C * T), w: normals(rng, K * C, 0.5), state: normals(rng, C * (K - 1)) };
}

describe('SSM_CONV', () => {
  it('matches the f64 reference for T in {1,15,63,64,65,300}, K in {4,2,3}, C odd, non-zero state', async () => {
    const be = pool.get(2);
    for (const [C, K] of [[1003, 4], [37, 2], [64, 3], [10240, 4]] as const) {
      for (const T of C === 10240 ? [1, 65] : [1, 2, 15, 63, 64, 65, 300]) {
        const x = inputs(C + T + K, C, T, K);
        const ref = ssmConv(x.x, x.w, x.state, C, T, K);
        const got = await runConv(be, C, T, K, x.x, x.w, x.state);
        expect(firstMismatch(got.out, ref.out, ATOL, RTOL), `C${C} K${K} T${T}`).toBeNull();
        expect(firstMismatch(got.state, ref.state, 0, 0), `C${C} K${K} T${T} state`).toBeNull();
      }
    }
  });

  it('zero state + unit last tap: out = SiLU(x) and the state keeps the last K-1 raw rows', async () => {
    const C = 9, T = 5, K = 4;
    const x = Float32Array.from({ length: C * T }, (_, i) => (i % 7) - 3);
    const w = new Float32Array(K * C);
    for (let c = 0; c < C; c++) w[c * K + K - 1] = 1; // tap K-1 multiplies the current token
    const got = await runConv(pool.get(1), C, T, K, x, w, new Float32Array(C * (K - 1)));
    const want = Float64Array.from(x, (v) => v / (1 + Math.exp(-v)));
    expect(firstMismatch(got.out, want, ATOL, RTOL)).toBeNull();
    expect(Array.from(got.state)).toEqual(Array.from(x.subarray((T - (K - 1)) * C)));
  });

  it('state carried across calls: token-by-token decode == one batched call (bit-exact)', async () => {
    const be = pool.get(2);
    const C = 1003, T = 65, K = 4;
    const x = inputs(5, C, T, K);
    const batched = await runConv(be, C, T, K, x.x, x.w, x.state);
    const op = compileOneOp(be, {
      kind: OpKind.SSM_CONV,
      inputs: [
        { name: 'x', dtype: 'f32', shape: [C, 1] },
        { name: 'w', dtype: 'f32', shape: [K, C] },
      ],
      states: [{ name: 'conv', dtype: 'f32', shape: [C, K - 1] }],
      outputs: [{ dtype: 'f32', shape: [C, 1] }],
    });
    const st = op.plan.createState();
    st.write('conv', x.state);
    const outs = new Float32Array(C * T);
    for (let t = 0; t < T; t++) {
      const [o] = await op.run({ x: x.x.subarray(t * C, (t + 1) * C), w: x.w }, st);
      outs.set(o as Float32Array, t * C);
    }
    expect(bitsEqual(outs, batched.out)).toBe(true);
    expect(bitsEqual(st.read('conv') as Float32Array, batched.state)).toBe(true);
    st.dispose();
    op.plan.dispose();
  });

  it('SIMD == scalar within rounding; 1 thread == 4 threads bit-exact', async (ctx) => {
    const C = 1003, T = 63, K = 4;
    const x = inputs(9, C, T, K);
    const one = await runConv(pool.get(1), C, T, K, x.x, x.w, x.state);
    const four = await runConv(pool.get(4), C, T, K, x.x, x.w, x.state);
    expect(bitsEqual(one.out, four.out)).toBe(true);
    expect(bitsEqual(one.state, four.state)).toBe(true);
    if (pool.get(1).info.isa === 'scalar') ctx.skip();
    const scalar = await runConv(pool.get(1, 'scalar'), C, T, K, x.x, x.w, x.state);
    expect(firstMismatch(one.out, scalar.out, ATOL, RTOL)).toBeNull();
    expect(bitsEqual(one.state, scalar.state)).toBe(true);
  });

  it('rejects mismatched shapes with INVALID_ARGUMENT', () => {
    const be = pool.get(1);
    const mk = (wShape: number[], sShape: number[]) => () =>
      compileOneOp(be, {
        kind: OpKind.SSM_CONV,
        inputs: [
          { name: 'x', dtype: 'f32', shape: [8, 3] },
          { name: 'w', dtype: 'f32', shape: wShape },
        ],
        states: [{ name: 'conv', dtype: 'f32', shape: sShape }],
        outputs: [{ dtype: 'f32', shape: [8, 3] }],
      }).plan.dispose();
    expect(mk([4, 8], [8, 3])).not.toThrow();
    for (const [w, s, re] of [[[4, 7], [8, 3], /SSM_CONV.*input 1 \(w\)/], [[4, 8], [8, 4], /SSM_CONV.*conv_state/], [[1, 8], [8, 1], /K = ne0 >= 2/]] as const) {
      let err: unknown;
      try {
        mk([...w], [...s])();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(QwenHybridError);
      expect((err as QwenHybridError).code).toBe('INVALID_ARGUMENT');
      expect((err as Error).message).toMatch(re);
    }
  });
});
