/**
 * COPY_STRIDED vs the reference gather (src/reference/elementwise.ts copyStrided) on the views the models take:
 * attn_q's per-head [q | gate] split (spec §3.3 step 1: stride 2d per head), GDN's [q; k; v] split, the last
 * token row, a 4-D gather, and i32 data. A copy is exact: results must equal the reference bit for bit.
 * Reads past the end of src, negative strides/offsets and a type change are typed compile errors.
 */
import { afterAll, describe, expect, it } from 'vitest';

import { QwenHybridError } from '../../src/errors.js';
import { GraphBuilder, OpKind } from '../../src/model/graph/index.js';
import { Rng } from '../../src/quant/rng.js';
import { copyStrided } from '../../src/reference/elementwise.js';
import { createCpuBackend } from '../../src/runtime/backend.js';
import { expectEqualArrays, randn, runOp } from './normattn-util.js';

const be = createCpuBackend({ threads: 4 });
afterAll(() => be.dispose());

interface Case {
  label: string;
  src: number[];
  out: number[];
  off: number;
  st: [number, number, number];
}

const d = 256;
const H = 24;
const CASES: Case[] = [
  // qg {2d·H, T}: q_h = qg[h·2d, h·2d + d) -> {d, H, T}; gate at offset d
  { label: 'attn q of [q|gate]', src: [2 * d * H, 15], out: [d, H, 15], off: 0, st: [2 * d, 2 * d * H, 0] },
  { label: 'attn gate of [q|gate]', src: [2 * d * H, 15], out: [d, H, 15], off: d, st: [2 * d, 2 * d * H, 0] },
  // GDN conv output {2·dk·nk + dv·nv, T} = [q; k; v]: k = {128, 16, T} at offset 2048
  { label: 'GDN k of [q;k;v]', src: [2 * 128 * 16 + 128 * 48, 63], out: [128, 16, 63], off: 2048, st: [128, 2 * 2048 + 6144, 0] },
  { label: 'last token row', src: [5120, 65], out: [5120, 1], off: 5120 * 64, st: [0, 0, 0] },
  { label: '4-D gather', src: [10, 7, 6, 5], out: [3, 2, 3, 2], off: 13, st: [20, 71, 421] },
];

describe('COPY_STRIDED', () => {
  for (const c of CASES) {
    for (const dtype of ['f32', 'i32'] as const) {
      it(`${c.label} (${dtype})`, async () => {
        const n = c.src.reduce((a, b) => a * b, 1);
        const rng = new Rng(n);
        const f = randn(rng, n);
        const src = dtype === 'f32' ? f : Int32Array.from(f, (v) => Math.round(v * 1e6));
        const [y] = await runOp(be, OpKind.COPY_STRIDED, [{ name: 'src', dtype, shape: c.src, data: src }], [{ dtype, shape: c.out }], { i: [c.off, ...c.st] });
        expect(y).toBeInstanceOf(dtype === 'f32' ? Float32Array : Int32Array);
        expectEqualArrays(y!, copyStrided(src, c.out, c.off, c.st), c.label);
      });
    }
  }

  it('hand-computed: column 1 of a 3x4 matrix', async () => {
    const src = new Float32Array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]); // {4, 3}
    const [y] = await runOp(be, OpKind.COPY_STRIDED, [{ name: 's', dtype: 'f32', shape: [4, 3], data: src }], [{ dtype: 'f32', shape: [1, 3] }], { i: [1, 4, 0, 0] });
    expect(Array.from(y!)).toEqual([1, 5, 9]);
  });

  it('rejects out-of-bounds reads, negative strides and a type change', () => {
    const mk = (i: number[], outType: 'f32' | 'i32' = 'f32', out = [4, 3]) => () => {
      const g = new GraphBuilder();
      g.op(OpKind.COPY_STRIDED, [g.input('s', 'f32', [4, 3])], [{ dtype: outType, shape: out }], { i });
      return be.compile(g.build());
    };
    expect(mk([0, 4, 0, 0])).not.toThrow();
    for (const [f, re] of [
      [mk([1, 4, 0, 0]), /reads element 12 of input 0 \(src\) \{4, 3\}/],
      [mk([0, -4, 0, 0]), /p.i\[1\]/],
      [mk([-1, 4, 0, 0]), /p.i\[0\]/],
      [mk([0, 4, 0, 0], 'i32'), /output 0 must be a non-empty F32/],
    ] as [() => unknown, RegExp][]) {
      let err: unknown;
      try {
        f();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(QwenHybridError);
      expect((err as Error).message).toMatch(re);
    }
  });
});
