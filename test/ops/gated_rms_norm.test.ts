/**
 * GATED_RMS_NORM (native/cpu/gated_rms_norm.cc) against src/reference/gdn.ts gatedRmsNorm.
 * Tolerance: the f32 sum of n squares has relative error <= n 2^-24 (n <= 128: < 8e-6 worst case, ~1e-7
 * typical), halved by the sqrt; the three products and SiLU add a few ulps. rtol 2e-6 + atol 1e-7 (outputs are
 * O(1)). SIMD vs scalar: same bound; threads: bit-exact (rows are independent).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { QwenHybridError } from '../../src/errors.js';
import { OpKind } from '../../src/model/graph/index.js';
import { gatedRmsNorm } from '../../src/reference/gdn.js';
import type { CpuBackend } from '../../src/runtime/backend.js';
import { backendPool, bitsEqual, compileOneOp, firstMismatch, normals, Rng } from './gdnmoe-util.js';

const ATOL = 1e-7, RTOL = 2e-6, EPS = 1e-6;
const pool = backendPool();
afterAll(() => pool.disposeAll());

async function run(be: CpuBackend, n: number, H: number, T: number, x: Float32Array, w: Float32Array, z: Float32Array) {
  const op = compileOneOp(be, {
    kind: OpKind.GATED_RMS_NORM,
    inputs: [
      { name: 'x', dtype: 'f32', shape: [n, H, T] },
      { name: 'w', dtype: 'f32', shape: [n] },
      { name: 'z', dtype: 'f32', shape: [n, H, T] },
    ],
    outputs: [{ dtype: 'f32', shape: [n, H, T] }],
    f: [EPS],
  });
  const [o] = await op.run({ x, w, z });
  op.plan.dispose();
  return o as Float32Array;
}

describe('GATED_RMS_NORM', () => {
  it('matches the f64 reference (dv 128 and 13, T in {1,15,64,65,300})', async () => {
    for (const [n, H] of [[128, 6], [13, 5]] as const) {
      for (const T of [1, 15, 64, 65, 300]) {
        const rng = new Rng(n * 1000 + T);
        const x = normals(rng, n * H * T, 0.3), w = normals(rng, n), z = normals(rng, n * H * T, 2);
        const got = await run(pool.get(2), n, H, T, x, w, z);
        expect(firstMismatch(got, gatedRmsNorm(x, w, z, n, EPS), ATOL, RTOL), `n${n} T${T}`).toBeNull();
      }
    }
  });

  it('a zero row gives zeros (eps keeps it finite); SIMD == scalar; 1 == 4 threads', async (ctx) => {
    const n = 128, H = 4, T = 65;
    const rng = new Rng(3);
    const x = normals(rng, n * H * T), w = normals(rng, n), z = normals(rng, n * H * T, 3);
    x.fill(0, 0, n);
    const a = await run(pool.get(1), n, H, T, x, w, z);
    expect(Array.from(a.subarray(0, n)).every((v) => v === 0)).toBe(true);
    expect(bitsEqual(a, await run(pool.get(4), n, H, T, x, w, z))).toBe(true);
    if (pool.get(1).info.isa === 'scalar') ctx.skip();
    expect(firstMismatch(a, await run(pool.get(1, 'scalar'), n, H, T, x, w, z), ATOL, RTOL)).toBeNull();
  });

  it('rejects a weight that is not {n} and eps <= 0', () => {
    const be = pool.get(1);
    const mk = (wn: number, eps: number) => () =>
      compileOneOp(be, {
        kind: OpKind.GATED_RMS_NORM,
        inputs: [
          { name: 'x', dtype: 'f32', shape: [8, 2, 3] },
          { name: 'w', dtype: 'f32', shape: [wn] },
          { name: 'z', dtype: 'f32', shape: [8, 2, 3] },
        ],
        outputs: [{ dtype: 'f32', shape: [8, 2, 3] }],
        f: [eps],
      }).plan.dispose();
    expect(mk(8, 1e-6)).not.toThrow();
    for (const [f, re] of [[mk(16, 1e-6), /GATED_RMS_NORM.*input 1 \(w\)/], [mk(8, 0), /eps/]] as const) {
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
