/**
 * LOG_SOFTMAX vs the float64 reference: vocab-sized rows (248320, several 16384-column chunks, the decode case),
 * awkward sizes, large offsets (max subtraction), scalar vs SIMD, 1 vs 4 threads bit for bit (chunk partials are
 * combined in a fixed order), and exp(y) summing to 1.
 * Tolerance: y = x − (m + log Σ e^(x−m)); the f64 sum of f32 exps (each ≤ 2 ulp) has relative error ~1e-7, so
 * log Σ is within ~1e-7 absolute; the final f32 rounding of y (|y| up to ~40 here, ulp 3.8e-6) dominates:
 * atol 1e-6 + rtol 2e-7.
 */
import { afterAll, describe, expect, it } from 'vitest';

import { OpKind } from '../../src/model/graph/index.js';
import { Rng } from '../../src/quant/rng.js';
import { logSoftmax } from '../../src/reference/sampling.js';
import { createCpuBackend } from '../../src/runtime/backend.js';
import { expectClose, expectSameBits, randn, runOp } from './normattn-util.js';

const TOL = { atol: 1e-6, rtol: 2e-7 };
const be4 = createCpuBackend({ threads: 4 });
const be1 = createCpuBackend({ threads: 1 });
const beScalar = createCpuBackend({ threads: 2, isa: 'scalar' });
afterAll(() => [be4, be1, beScalar].forEach((b) => b.dispose()));

describe('LOG_SOFTMAX', () => {
  for (const [V, T, offset] of [[248320, 1, 0], [248320, 2, 1000], [1, 3, 0], [15, 63, -50], [16385, 4, 0], [300, 65, 7]] as [number, number, number][]) {
    it(`{${V}, ${T}} offset ${offset}`, async () => {
      const rng = new Rng(V + T);
      const x = randn(rng, V * T, 4);
      for (let i = 0; i < x.length; i++) x[i] = x[i]! + offset;
      const ins = [{ name: 'x', dtype: 'f32' as const, shape: [V, T], data: x }];
      const outs = [{ dtype: 'f32' as const, shape: [V, T] }];
      const ref = logSoftmax(x, V);
      const [y] = await runOp(be4, OpKind.LOG_SOFTMAX, ins, outs);
      expectClose(y!, ref, TOL, 'SIMD');
      const [ys] = await runOp(beScalar, OpKind.LOG_SOFTMAX, ins, outs);
      expectClose(ys!, ref, TOL, 'scalar');
      const [y1] = await runOp(be1, OpKind.LOG_SOFTMAX, ins, outs);
      expectSameBits(y1!, y!, '1 vs 4 threads');
      let s = 0;
      for (let i = 0; i < V; i++) s += Math.exp(y![i]!);
      expect(Math.abs(s - 1)).toBeLessThan(1e-5);
    });
  }

  it('hand-computed: [0, ln 3] -> [-ln(1 + 3), ln 3 - ln(1 + 3)]', async () => {
    const x1 = Math.fround(Math.log(3)); // the f32 input; e^x1 = 3 to within f32 rounding
    const [y] = await runOp(be4, OpKind.LOG_SOFTMAX, [{ name: 'x', dtype: 'f32', shape: [2], data: new Float32Array([0, x1]) }], [{ dtype: 'f32', shape: [2] }]);
    const lse = Math.log(1 + Math.exp(x1));
    expectClose(y!, [-lse, x1 - lse], { atol: 1e-7, rtol: 2e-7 }, 'hand');
    expectClose(y!, [-Math.log(4), Math.log(3 / 4)], { atol: 1e-6, rtol: 0 }, 'ln values');
  });
});
