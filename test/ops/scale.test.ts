/**
 * SCALE (y = s·x + b) vs the float64 reference: one fused multiply-add per element, so the result is the
 * correctly rounded s·x + b: exact agreement with Math.fround of the f64 value in almost every element, and
 * within 1 ulp (rtol 1.2e-7) always. Scalar and SIMD agree bit for bit (both fma). Typed error for a non-finite s.
 */
import { afterAll, describe, expect, it } from 'vitest';

import { GraphBuilder, OpKind } from '../../src/model/graph/index.js';
import { Rng } from '../../src/quant/rng.js';
import { scale } from '../../src/reference/elementwise.js';
import { createCpuBackend } from '../../src/runtime/backend.js';
import { expectClose, expectSameBits, randn, runOp } from './normattn-util.js';

const be4 = createCpuBackend({ threads: 4 });
const beScalar = createCpuBackend({ threads: 1, isa: 'scalar' });
afterAll(() => [be4, beScalar].forEach((b) => b.dispose()));

describe('SCALE', () => {
  for (const [shape, s, b] of [[[1], 0.0625, 0], [[15, 4], -3, 0.5], [[4099, 65], 1 / 3, -2]] as [number[], number, number][]) {
    it(`{${shape.join(', ')}} s=${s} b=${b}`, async () => {
      const count = shape.reduce((a, c) => a * c, 1);
      const x = randn(new Rng(count), count, 4);
      const ins = [{ name: 'x', dtype: 'f32' as const, shape, data: x }];
      const outs = [{ dtype: 'f32' as const, shape }];
      const p = { f: [s, b] };
      const [y] = await runOp(be4, OpKind.SCALE, ins, outs, p);
      const ref = scale(x, Math.fround(s), Math.fround(b)); // the op's params are f32
      expectClose(y!, ref, { atol: 1e-30, rtol: 1.2e-7 }, 'SIMD');
      const [ys] = await runOp(beScalar, OpKind.SCALE, ins, outs, p);
      expectSameBits(ys!, y!, 'scalar vs SIMD');
    });
  }

  it('rejects an infinite scale', () => {
    const g = new GraphBuilder();
    g.op(OpKind.SCALE, [g.input('x', 'f32', [8])], [{ dtype: 'f32', shape: [8] }], { f: [Infinity, 0] });
    expect(() => be4.compile(g.build())).toThrowError(/SCALE op: p.f\[0\]/);
  });
});
