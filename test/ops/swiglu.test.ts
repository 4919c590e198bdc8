/**
 * SWIGLU (silu(gate) · up) vs the float64 reference at FFN shapes (17408 = 27B ff, 512 = expert ff) and
 * awkward ones; scalar vs SIMD; 1 vs 4 threads bit for bit; typed error for mismatched gate/up.
 * Tolerance: silu as in unary.test.ts (<= ~6 ulp: expf or exp256, an add, a divide) times one multiply: rtol 1e-6.
 */
import { afterAll, describe, expect, it } from 'vitest';

import { GraphBuilder, OpKind } from '../../src/model/graph/index.js';
import { Rng } from '../../src/quant/rng.js';
import { swiglu } from '../../src/reference/elementwise.js';
import { createCpuBackend } from '../../src/runtime/backend.js';
import { expectClose, expectSameBits, randn, runOp } from './normattn-util.js';

const TOL = { atol: 1e-37, rtol: 1e-6 };
const be4 = createCpuBackend({ threads: 4 });
const be1 = createCpuBackend({ threads: 1 });
const beScalar = createCpuBackend({ threads: 2, isa: 'scalar' });
afterAll(() => [be4, be1, beScalar].forEach((b) => b.dispose()));

describe('SWIGLU', () => {
  for (const shape of [[17408, 1], [512, 8, 15], [63, 64], [1, 65], [515, 300]]) {
    it(`{${shape.join(', ')}}`, async () => {
      const count = shape.reduce((a, b) => a * b, 1);
      const rng = new Rng(count + 11);
      const gate = randn(rng, count, 4);
      const up = randn(rng, count, 2);
      const ins = [
        { name: 'gate', dtype: 'f32' as const, shape, data: gate },
        { name: 'up', dtype: 'f32' as const, shape, data: up },
      ];
      const outs = [{ dtype: 'f32' as const, shape }];
      const ref = swiglu(gate, up).map(Math.fround);
      const [y] = await runOp(be4, OpKind.SWIGLU, ins, outs);
      expectClose(y!, ref, TOL, 'SIMD');
      const [ys] = await runOp(beScalar, OpKind.SWIGLU, ins, outs);
      expectClose(ys!, ref, TOL, 'scalar');
      const [y1] = await runOp(be1, OpKind.SWIGLU, ins, outs);
      expectSameBits(y1!, y!, '1 vs 4 threads');
    });
  }

  it('rejects up of a different shape', () => {
    const g = new GraphBuilder();
    g.op(OpKind.SWIGLU, [g.input('g', 'f32', [8, 2]), g.input('u', 'f32', [8, 3])], [{ dtype: 'f32', shape: [8, 2] }]);
    expect(() => be4.compile(g.build())).toThrowError(/SWIGLU op: input 1 \(up\)/);
  });
});
