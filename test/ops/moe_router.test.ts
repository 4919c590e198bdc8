/**
 * MOE_ROUTER (native/cpu/moe_router.cc) against src/reference/moe.ts moeRouter, plus hand-derived cases.
 * Tolerance for weights: softmax probabilities in f32 (expf ~1 ulp, f64 sums, one division each) then one
 * renormalising division: a few ulps, rtol 1e-6. Ids must match exactly (random f32 logits have no near-ties
 * at these sizes; exact ties are tested separately against the rule "ties to the lower id").
 */
import { afterAll, describe, expect, it } from 'vitest';
import { QwenHybridError } from '../../src/errors.js';
import { OpKind } from '../../src/model/graph/index.js';
import { moeRouter } from '../../src/reference/moe.js';
import type { CpuBackend } from '../../src/runtime/backend.js';
import { backendPool, compileOneOp, firstMismatch, normals, Rng } from './gdnmoe-util.js';

const pool = backendPool();
afterAll(() => pool.disposeAll());

async function route(be: CpuBackend, E: number, T: number, K: number, logits: Float32Array) {
  const op = compileOneOp(be, {
    kind: OpKind.MOE_ROUTER,
    inputs: [{ name: 'logits', dtype: 'f32', shape: [E, T] }],
    outputs: [
      { dtype: 'i32', shape: [K, T] },
      { dtype: 'f32', shape: [K, T] },
    ],
    i: [K],
  });
  const [ids, w] = await op.run({ logits });
  op.plan.dispose();
  return { ids: ids as Int32Array, w: w as Float32Array };
}

describe('MOE_ROUTER', () => {
  it('matches the f64 reference: E 256 K 8 (35B-A3B), E 7 K 3, K = E', async () => {
    for (const [E, K] of [[256, 8], [7, 3], [5, 5]] as const) {
      for (const T of [1, 15, 65]) {
        const logits = normals(new Rng(E * 100 + T), E * T, 2);
        const ref = moeRouter(logits, E, T, K);
        const got = await route(pool.get(2), E, T, K, logits);
        expect(Array.from(got.ids), `E${E} K${K} T${T}`).toEqual(Array.from(ref.ids));
        expect(firstMismatch(got.w, ref.weights, 0, 1e-6), `E${E} K${K} T${T}`).toBeNull();
      }
    }
  });

  it('renormalises: p proportional to 1,2,3,4 and K = 2 gives ids [3, 2] and weights [4/7, 3/7]', async () => {
    const logits = Float32Array.from([1, 2, 3, 4].map(Math.log));
    const got = await route(pool.get(1), 4, 1, 2, logits);
    expect(Array.from(got.ids)).toEqual([3, 2]);
    expect(firstMismatch(got.w, [4 / 7, 3 / 7], 0, 1e-6)).toBeNull();
  });

  it('ties go to the lower expert id, in descending order, with equal weights', async () => {
    // Experts 1, 2, 4 and 6 share the top logit; 5 is second. K = 3 picks 1, 2, 4 (lowest ids of the tie).
    const logits = Float32Array.from([0, 3, 3, -1, 3, 2, 3, 0]);
    const got = await route(pool.get(1), 8, 1, 3, logits);
    expect(Array.from(got.ids)).toEqual([1, 2, 4]);
    expect(Array.from(got.w)).toEqual([1 / 3, 1 / 3, 1 / 3].map(Math.fround));
    // All equal: the first K ids, weights 1/K.
    const flat = await route(pool.get(1), 6, 2, 4, new Float32Array(12).fill(0.5));
    expect(Array.from(flat.ids)).toEqual([0, 1, 2, 3, 0, 1, 2, 3]);
    expect(Array.from(flat.w)).toEqual(new Array(8).fill(0.25));
  });

  it('1 thread == 4 threads; weights sum to 1', async () => {
    const E = 256, K = 8, T = 65;
    const logits = normals(new Rng(4), E * T, 3);
    const a = await route(pool.get(1), E, T, K, logits);
    const b = await route(pool.get(4), E, T, K, logits);
    expect(Array.from(a.ids)).toEqual(Array.from(b.ids));
    expect(Array.from(a.w)).toEqual(Array.from(b.w));
    for (let t = 0; t < T; t++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += a.w[t * K + k]!;
      expect(Math.abs(s - 1)).toBeLessThan(1e-6);
    }
  });

  it('rejects K outside [1, E] and wrong output shapes', () => {
    const be = pool.get(1);
    const mk = (K: number, outK = K) => () =>
      compileOneOp(be, {
        kind: OpKind.MOE_ROUTER,
        inputs: [{ name: 'logits', dtype: 'f32', shape: [8, 2] }],
        outputs: [
          { dtype: 'i32', shape: [outK, 2] },
          { dtype: 'f32', shape: [outK, 2] },
        ],
        i: [K],
      }).plan.dispose();
    expect(mk(8)).not.toThrow();
    for (const [f, re] of [[mk(9), /MOE_ROUTER.*p\.i\[0\]/], [mk(0, 1), /MOE_ROUTER.*p\.i\[0\]/], [mk(2, 3), /MOE_ROUTER.*output 0 \(ids\)/]] as const) {
      let err: unknown;
      try {
        f();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(QwenHybridError);
      expect((err as QwenHybridError).code).toBe('INVALID_ARGUMENT');
      expect((err as Error).message).toMatch(re);
    }
  });
});
