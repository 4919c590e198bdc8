/**
 * ADD and MUL with ggml broadcasting of b (b.ne[d] divides a.ne[d]) vs the float64 reference: same shape,
 * a row vector over rows, a per-row scalar (b0 = 1), a repeating segment (1 < b0 < n0), broadcasting along
 * dims 2 and 3, and one long row (decode, split into column blocks). One rounding per element, so the result is
 * Math.fround of the exact value (rtol 6e-8 = half an ulp), and scalar == SIMD and 1 == 4 threads bit for bit.
 * Shapes that do not broadcast are typed compile errors.
 */
import { afterAll, describe, expect, it } from 'vitest';

import { QwenHybridError } from '../../src/errors.js';
import { GraphBuilder, OpKind } from '../../src/model/graph/index.js';
import { Rng } from '../../src/quant/rng.js';
import { broadcastBinary } from '../../src/reference/elementwise.js';
import { createCpuBackend } from '../../src/runtime/backend.js';
import { expectClose, expectSameBits, randn, runOp } from './normattn-util.js';

const be4 = createCpuBackend({ threads: 4 });
const be1 = createCpuBackend({ threads: 1 });
const beScalar = createCpuBackend({ threads: 2, isa: 'scalar' });
afterAll(() => [be4, be1, beScalar].forEach((b) => b.dispose()));

const CASES: [number[], number[]][] = [
  [[5120, 1], [5120, 1]], // residual add, decode
  [[5120, 15], [5120, 15]],
  [[65, 63], [65]], // row vector broadcast over rows
  [[256, 24, 64], [1, 24, 64]], // per-(head, token) scalar: b0 = 1 (e.g. a gate)
  [[256, 6, 3], [64, 6, 3]], // repeating segment b0 | n0
  [[16, 4, 6, 3], [16, 1, 6, 1]], // dims 1 and 3 broadcast
  [[40000, 1], [40000, 1]], // one long row: several column blocks
  [[7, 300], [7, 1]],
];

describe('ADD / MUL', () => {
  for (const [kind, op] of [[OpKind.ADD, 'add'], [OpKind.MUL, 'mul']] as const) {
    for (const [as, bs] of CASES) {
      it(`${op} a {${as.join(', ')}} b {${bs.join(', ')}}`, async () => {
        const na = as.reduce((x, y) => x * y, 1);
        const nb = bs.reduce((x, y) => x * y, 1);
        const rng = new Rng(na * 7 + nb);
        const a = randn(rng, na, 3);
        const b = randn(rng, nb, 3);
        const ins = [
          { name: 'a', dtype: 'f32' as const, shape: as, data: a },
          { name: 'b', dtype: 'f32' as const, shape: bs, data: b },
        ];
        const outs = [{ dtype: 'f32' as const, shape: as }];
        const ref = broadcastBinary(op, a, as, b, bs);
        const [y] = await runOp(be4, kind, ins, outs);
        expectClose(y!, ref, { atol: 1e-38, rtol: 6e-8 }, 'SIMD');
        const [ys] = await runOp(beScalar, kind, ins, outs);
        expectSameBits(ys!, y!, 'scalar vs SIMD');
        const [y1] = await runOp(be1, kind, ins, outs);
        expectSameBits(y1!, y!, '1 vs 4 threads');
      });
    }
  }

  it('hand-computed broadcast: [[1,2],[3,4]] + [10,20] and * [2]', async () => {
    const a = new Float32Array([1, 2, 3, 4]);
    const [s] = await runOp(be4, OpKind.ADD, [{ name: 'a', dtype: 'f32', shape: [2, 2], data: a }, { name: 'b', dtype: 'f32', shape: [2], data: new Float32Array([10, 20]) }], [{ dtype: 'f32', shape: [2, 2] }]);
    expect(Array.from(s!)).toEqual([11, 22, 13, 24]);
    const [m] = await runOp(be4, OpKind.MUL, [{ name: 'a', dtype: 'f32', shape: [2, 2], data: a }, { name: 'b', dtype: 'f32', shape: [1], data: new Float32Array([2]) }], [{ dtype: 'f32', shape: [2, 2] }]);
    expect(Array.from(m!)).toEqual([2, 4, 6, 8]);
  });

  it('rejects b that does not divide a', () => {
    const g = new GraphBuilder();
    g.op(OpKind.ADD, [g.input('a', 'f32', [6, 4]), g.input('b', 'f32', [4, 4])], [{ dtype: 'f32', shape: [6, 4] }]);
    let err: unknown;
    try {
      be4.compile(g.build());
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(QwenHybridError);
    expect((err as QwenHybridError).code).toBe('INVALID_ARGUMENT');
    expect((err as Error).message).toMatch(/ADD op: input 1 \(b\) \{4, 4\} does not broadcast/);
  });
});
