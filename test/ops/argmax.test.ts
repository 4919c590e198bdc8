/**
 * ARGMAX vs the reference: vocab-sized rows, ties resolve to the lowest index, -inf rows, the maximum at the
 * first and last index, many rows; exact (an index). 1 vs 4 threads identical. Typed error for a wrong output.
 */
import { afterAll, describe, expect, it } from 'vitest';

import { GraphBuilder, OpKind } from '../../src/model/graph/index.js';
import { Rng } from '../../src/quant/rng.js';
import { argmax } from '../../src/reference/sampling.js';
import { createCpuBackend } from '../../src/runtime/backend.js';
import { expectEqualArrays, randn, runOp } from './normattn-util.js';

const be4 = createCpuBackend({ threads: 4 });
const be1 = createCpuBackend({ threads: 1 });
afterAll(() => [be4, be1].forEach((b) => b.dispose()));

const run = async (be: typeof be4, x: Float32Array, V: number) =>
  (await runOp(be, OpKind.ARGMAX, [{ name: 'x', dtype: 'f32', shape: [V, x.length / V], data: x }], [{ dtype: 'i32', shape: [x.length / V] }]))[0] as Int32Array;

describe('ARGMAX', () => {
  for (const [V, T] of [[248320, 1], [248320, 3], [15, 65], [1, 4], [300, 300]] as [number, number][]) {
    it(`{${V}, ${T}}`, async () => {
      const x = randn(new Rng(V * T), V * T, 3);
      const y = await run(be4, x, V);
      expectEqualArrays(y, argmax(x, V), 'reference');
      expectEqualArrays(await run(be1, x, V), y, '1 vs 4 threads');
    });
  }

  it('ties go to the lowest index; first/last positions; all -inf -> 0', async () => {
    const V = 10;
    const rows = [
      [0, 5, 1, 5, 5, 0, 0, 0, 0, 0], // tie at 1, 3, 4 -> 1
      [9, 1, 1, 1, 1, 1, 1, 1, 1, 1], // first -> 0
      [1, 1, 1, 1, 1, 1, 1, 1, 1, 9], // last -> 9
      Array(V).fill(-Infinity), // -> 0
      [-Infinity, -Infinity, -3, -Infinity, -3, -Infinity, -Infinity, -Infinity, -Infinity, -Infinity], // -> 2
    ];
    const y = await run(be4, Float32Array.from(rows.flat()), V);
    expect(Array.from(y)).toEqual([1, 0, 9, 0, 2]);
  });

  it('rejects an f32 output', () => {
    const g = new GraphBuilder();
    g.op(OpKind.ARGMAX, [g.input('x', 'f32', [8, 2])], [{ dtype: 'f32', shape: [2] }]);
    expect(() => be4.compile(g.build())).toThrowError(/ARGMAX op: output 0 must be I32 \{2/);
  });
});
