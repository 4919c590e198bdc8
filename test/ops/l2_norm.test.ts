/**
 * L2_NORM vs the float64 reference (src/reference/norm.ts): rows of awkward lengths, the eps floor (a zero
 * row stays 0, a tiny row is divided by eps), scalar vs SIMD, 1 vs 4 threads bit for bit, typed errors.
 * Tolerance: f32 sum of n squares (relative error ~sqrt(n)·2^-24 typical, n <= 4096) plus sqrt, divide and
 * multiply (3 ulp); outputs are <= 1 in magnitude: atol 1e-7 + rtol 1e-5 (observed < 1e-6 relative).
 */
import { afterAll, describe, expect, it } from 'vitest';

import { GraphBuilder, OpKind } from '../../src/model/graph/index.js';
import { Rng } from '../../src/quant/rng.js';
import { l2Norm } from '../../src/reference/norm.js';
import { createCpuBackend } from '../../src/runtime/backend.js';
import { expectClose, expectSameBits, randn, runOp } from './normattn-util.js';

const TOL = { atol: 1e-7, rtol: 1e-5 };
const be4 = createCpuBackend({ threads: 4 });
const be1 = createCpuBackend({ threads: 1 });
const beScalar = createCpuBackend({ threads: 2, isa: 'scalar' });
afterAll(() => [be4, be1, beScalar].forEach((b) => b.dispose()));

describe('L2_NORM', () => {
  for (const shape of [[128, 16, 1], [128, 16, 15], [128, 32, 63], [67, 3, 64], [4096, 65], [5, 300]]) {
    it(`{${shape.join(', ')}}`, async () => {
      const n = shape[0]!;
      const count = shape.reduce((a, b) => a * b, 1);
      const rng = new Rng(count + 3);
      const x = randn(rng, count, 2);
      x.fill(0, 0, n); // a zero row: 0 / max(0, eps) = 0
      for (let i = n; i < 2 * n && i < count; i++) x[i] = x[i]! * 1e-9; // ||x|| < eps: divided by eps
      const eps = 1e-6;
      const ins = [{ name: 'x', dtype: 'f32' as const, shape, data: x }];
      const outs = [{ dtype: 'f32' as const, shape }];
      const ref = l2Norm(x, n, eps);
      const [y] = await runOp(be4, OpKind.L2_NORM, ins, outs, { f: [eps] });
      expectClose(y!, ref, TOL, 'SIMD');
      const [ys] = await runOp(beScalar, OpKind.L2_NORM, ins, outs, { f: [eps] });
      expectClose(ys!, ref, TOL, 'scalar');
      const [y1] = await runOp(be1, OpKind.L2_NORM, ins, outs, { f: [eps] });
      expectSameBits(y1!, y!, '1 vs 4 threads');
    });
  }

  it('hand-computed: [3, 4] -> [0.6, 0.8]', async () => {
    const [y] = await runOp(be4, OpKind.L2_NORM, [{ name: 'x', dtype: 'f32', shape: [2], data: new Float32Array([3, 4]) }], [{ dtype: 'f32', shape: [2] }], { f: [1e-6] });
    expectClose(y!, [0.6, 0.8], { atol: 0, rtol: 1.2e-7 }, 'hand');
  });

  it('rejects a negative eps with a typed error', () => {
    const g = new GraphBuilder();
    g.op(OpKind.L2_NORM, [g.input('x', 'f32', [8])], [{ dtype: 'f32', shape: [8] }], { f: [-1] });
    expect(() => be4.compile(g.build())).toThrowError(/L2_NORM op: p.f\[0\] \(eps\)/);
  });
});
