/**
 * MOE_COMBINE (native/cpu/moe_combine.cc) against src/reference/moe.ts moeCombine.
 * Tolerance: K f32 products summed in f32: |err| <= K 2^-24 sum_s |w_s y_s| (+ rounding of each product);
 * with y ~ N(0,1) and weights summing to 1, sum |w y| < ~5, so atol 4e-6 bounds it (K = 8).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { QwenHybridError } from '../../src/errors.js';
import { OpKind } from '../../src/model/graph/index.js';
import { moeCombine } from '../../src/reference/moe.js';
import type { CpuBackend } from '../../src/runtime/backend.js';
import { backendPool, bitsEqual, compileOneOp, firstMismatch, normals, Rng, uniforms } from './gdnmoe-util.js';

const pool = backendPool();
afterAll(() => pool.disposeAll());

async function combine(be: CpuBackend, n: number, K: number, T: number, y: Float32Array, w: Float32Array) {
  const op = compileOneOp(be, {
    kind: OpKind.MOE_COMBINE,
    inputs: [
      { name: 'y', dtype: 'f32', shape: [n, K, T] },
      { name: 'w', dtype: 'f32', shape: [K, T] },
    ],
    outputs: [{ dtype: 'f32', shape: [n, T] }],
  });
  const [o] = await op.run({ y, w });
  op.plan.dispose();
  return o as Float32Array;
}

describe('MOE_COMBINE', () => {
  it('matches the f64 reference (n 2048 K 8, n 37 K 3; T in {1, 15, 65})', async () => {
    for (const [n, K] of [[2048, 8], [37, 3]] as const) {
      for (const T of [1, 15, 65]) {
        const rng = new Rng(n + K + T);
        const y = normals(rng, n * K * T), w = uniforms(rng, K * T, 0, 2 / K);
        const got = await combine(pool.get(2), n, K, T, y, w);
        expect(firstMismatch(got, moeCombine(y, w, n, K, T), 4e-6, 0), `n${n} K${K} T${T}`).toBeNull();
      }
    }
  });

  it('one-hot weights select one expert exactly; 1 thread == 4 threads', async () => {
    const n = 64, K = 4, T = 3;
    const y = normals(new Rng(1), n * K * T);
    const w = new Float32Array(K * T);
    w[0 * K + 2] = 1;
    w[1 * K + 0] = 1;
    w[2 * K + 3] = 1;
    const got = await combine(pool.get(1), n, K, T, y, w);
    for (const [t, s] of [[0, 2], [1, 0], [2, 3]] as const) expect(Array.from(got.subarray(t * n, (t + 1) * n))).toEqual(Array.from(y.subarray((t * K + s) * n, (t * K + s + 1) * n)));
    const ww = uniforms(new Rng(2), K * T, 0, 1);
    expect(bitsEqual(await combine(pool.get(1), n, K, T, y, ww), await combine(pool.get(4), n, K, T, y, ww))).toBe(true);
  });

  it('rejects weights that do not match y', () => {
    let err: unknown;
    try {
      compileOneOp(pool.get(1), {
        kind: OpKind.MOE_COMBINE,
        inputs: [
          { name: 'y', dtype: 'f32', shape: [16, 4, 2] },
          { name: 'w', dtype: 'f32', shape: [3, 2] },
        ],
        outputs: [{ dtype: 'f32', shape: [16, 2] }],
      });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(QwenHybridError);
    expect((err as QwenHybridError).code).toBe('INVALID_ARGUMENT');
    expect((err as Error).message).toMatch(/MOE_COMBINE.*input 1 \(w\)/);
  });
});
