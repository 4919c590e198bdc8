/**
 * TOP_K vs the reference (full sort, ties by lower id): vocab-sized rows with K 1/20/64, many rows, K = V,
 * heavy ties (values drawn from 5 levels), exact ids and values. 1 vs 4 threads identical. Typed errors for
 * K out of range.
 */
import { afterAll, describe, expect, it } from 'vitest';

import { GraphBuilder, OpKind } from '../../src/model/graph/index.js';
import { Rng } from '../../src/quant/rng.js';
import { topK } from '../../src/reference/sampling.js';
import { createCpuBackend } from '../../src/runtime/backend.js';
import { expectEqualArrays, randn, runOp } from './normattn-util.js';

const be4 = createCpuBackend({ threads: 4 });
const be1 = createCpuBackend({ threads: 1 });
afterAll(() => [be4, be1].forEach((b) => b.dispose()));

async function run(be: typeof be4, x: Float32Array, V: number, K: number) {
  const T = x.length / V;
  const [ids, vals] = await runOp(be, OpKind.TOP_K, [{ name: 'x', dtype: 'f32', shape: [V, T], data: x }], [{ dtype: 'i32', shape: [K, T] }, { dtype: 'f32', shape: [K, T] }], { i: [K] });
  return { ids: ids as Int32Array, vals: vals as Float32Array };
}

describe('TOP_K', () => {
  for (const [V, T, K, ties] of [
    [248320, 1, 20, false],
    [248320, 2, 64, false],
    [248320, 1, 1, false],
    [300, 65, 8, true],
    [15, 15, 15, true], // K = V: a full sort
    [256, 63, 8, false], // router-like
  ] as [number, number, number, boolean][]) {
    it(`{${V}, ${T}} K=${K}${ties ? ' with heavy ties' : ''}`, async () => {
      const rng = new Rng(V * K + T);
      const x = ties ? Float32Array.from({ length: V * T }, () => rng.int(5)) : randn(rng, V * T, 2);
      const r = await run(be4, x, V, K);
      const ref = topK(x, V, K);
      expectEqualArrays(r.ids, ref.ids, 'ids');
      expectEqualArrays(r.vals, ref.values, 'values');
      const r1 = await run(be1, x, V, K);
      expectEqualArrays(r1.ids, r.ids, '1 vs 4 threads');
    });
  }

  it('hand-computed: [3, 9, 9, 1, 7], K 3 -> ids [1, 2, 4], values [9, 9, 7]', async () => {
    const r = await run(be4, new Float32Array([3, 9, 9, 1, 7]), 5, 3);
    expect(Array.from(r.ids)).toEqual([1, 2, 4]);
    expect(Array.from(r.vals)).toEqual([9, 9, 7]);
  });

  it('rejects K = 0 and K > V', () => {
    for (const K of [0, 9]) {
      const g = new GraphBuilder();
      g.op(OpKind.TOP_K, [g.input('x', 'f32', [8, 2])], [{ dtype: 'i32', shape: [Math.max(K, 1), 2] }, { dtype: 'f32', shape: [Math.max(K, 1), 2] }], { i: [K] });
      expect(() => be4.compile(g.build())).toThrowError(/TOP_K op: p.i\[0\] \(K\) must be in \[1, V = 8\]/);
    }
  });
});
