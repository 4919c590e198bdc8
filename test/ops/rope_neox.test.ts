/**
 * ROPE_NEOX (partial NeoX rotate-half, spec §3.3 step 4, pitfall 6) against the spec:
 *   - pos 0 is the identity; dims >= n_rot pass through unchanged (bit for bit);
 *   - a rotation computed by hand from θ_i = pos·base^(−2i/n_rot) with pairs (i, i + n_rot/2);
 *   - the float64 reference at the Qwen3.6 shape (d 256, n_rot 64, base 1e7) for T = 1..300 at odd positions,
 *     including positions near 2^18 (the kernel computes θ, cos, sin in f64, so large positions stay exact);
 *   - 1 vs 4 threads bit for bit; typed errors for odd n_rot, n_rot > d, and pos of the wrong length.
 * Tolerance: θ, cos and sin are f64 and the rotation is rounded once to f32, so each element is within
 * ~1 ulp of the exact value: atol 1e-6 (|x| <= ~5, ulp(4) = 4.8e-7) + rtol 3e-7.
 */
import { afterAll, describe, expect, it } from 'vitest';

import { GraphBuilder, OpKind } from '../../src/model/graph/index.js';
import { Rng } from '../../src/quant/rng.js';
import { ropeNeox } from '../../src/reference/rope.js';
import { createCpuBackend, type CpuBackend } from '../../src/runtime/backend.js';
import { expectClose, expectSameBits, randn, runOp } from './normattn-util.js';

const TOL = { atol: 1e-6, rtol: 3e-7 };
const be4 = createCpuBackend({ threads: 4 });
const be1 = createCpuBackend({ threads: 1 });
afterAll(() => [be4, be1].forEach((b) => b.dispose()));

function rope(be: CpuBackend, x: Float32Array, d: number, H: number, pos: Int32Array, nRot: number, base: number) {
  const T = pos.length;
  return runOp(
    be,
    OpKind.ROPE_NEOX,
    [
      { name: 'x', dtype: 'f32', shape: [d, H, T], data: x },
      { name: 'pos', dtype: 'i32', shape: [T], data: pos },
    ],
    [{ dtype: 'f32', shape: [d, H, T] }],
    { i: [nRot], f: [base] },
  ).then((r) => r[0] as Float32Array);
}

describe('ROPE_NEOX', () => {
  it('position 0 is the identity', async () => {
    const x = randn(new Rng(1), 256 * 4 * 3);
    const y = await rope(be4, x, 256, 4, new Int32Array([0, 0, 0]), 64, 1e7);
    expectSameBits(y, x, 'pos 0');
  });

  it('hand-computed rotation: d 8, n_rot 4, base 10000, pos 1 (θ0 = 1, θ1 = 10000^(-1/2) = 0.01)', async () => {
    const x = new Float32Array([1, 2, 3, 4, 5, 6, 7, 8]);
    const y = await rope(be4, x, 8, 1, new Int32Array([1]), 4, 10000);
    const c0 = Math.cos(1), s0 = Math.sin(1), c1 = Math.cos(0.01), s1 = Math.sin(0.01);
    // pairs (0, 2) with θ0 and (1, 3) with θ1; dims 4..7 unchanged
    const want = [1 * c0 - 3 * s0, 2 * c1 - 4 * s1, 3 * c0 + 1 * s0, 4 * c1 + 2 * s1, 5, 6, 7, 8];
    expectClose(y, want, { atol: 0, rtol: 1.2e-7 }, 'hand');
  });

  it('hand-computed at pos 3 with the Qwen base: θ_i = 3·1e7^(−i/32) on pair (i, i+32)', async () => {
    const d = 256;
    const x = new Float32Array(d);
    x[5] = 1; // only element 5 set: y[5] = cos θ5, y[37] = sin θ5, everything else 0
    const y = await rope(be4, x, d, 1, new Int32Array([3]), 64, 1e7);
    const th = 3 * Math.pow(1e7, -5 / 32);
    const want = new Float64Array(d);
    want[5] = Math.cos(th);
    want[37] = Math.sin(th);
    expectClose(y, want, { atol: 0, rtol: 1.2e-7 }, 'single element');
  });

  for (const [T, start] of [[1, 0], [1, 262143], [15, 3], [63, 101], [64, 1], [65, 77777], [300, 5]] as [number, number][]) {
    it(`matches the f64 reference: T=${T}, positions from ${start}, d 256, n_rot 64, 6 heads`, async () => {
      const H = 6;
      const x = randn(new Rng(T * 1000 + start), 256 * H * T);
      const pos = Int32Array.from({ length: T }, (_, t) => start + t);
      const y = await rope(be4, x, 256, H, pos, 64, 1e7);
      expectClose(y, ropeNeox(x, 256, H, pos, 64, 1e7), TOL, 'reference');
      // dims >= n_rot pass through exactly
      for (let r = 0; r < H * T; r++) for (let i = 64; i < 256; i++) if (y[r * 256 + i] !== x[r * 256 + i]) expect.fail(`row ${r} dim ${i} changed`);
      const y1 = await rope(be1, x, 256, H, pos, 64, 1e7);
      expectSameBits(y1, y, '1 vs 4 threads');
    });
  }

  it('full rotation (n_rot = d = 128, base 10000) and non-contiguous positions', async () => {
    const x = randn(new Rng(5), 128 * 2 * 4);
    const pos = new Int32Array([9, 2, 1000, 31]);
    expectClose(await rope(be4, x, 128, 2, pos, 128, 10000), ropeNeox(x, 128, 2, pos, 128, 10000), TOL, 'full');
  });

  it('rejects odd n_rot, n_rot > d and a pos of the wrong length', () => {
    const mk = (nRot: number, posLen: number) => () => {
      const g = new GraphBuilder();
      g.op(OpKind.ROPE_NEOX, [g.input('x', 'f32', [64, 2, 3]), g.input('pos', 'i32', [posLen])], [{ dtype: 'f32', shape: [64, 2, 3] }], { i: [nRot], f: [1e4] });
      return be4.compile(g.build());
    };
    expect(mk(32, 3)).not.toThrow();
    expect(mk(33, 3)).toThrowError(/ROPE_NEOX op: p.i\[0\] \(n_rot\)/);
    expect(mk(66, 3)).toThrowError(/n_rot/);
    expect(mk(32, 2)).toThrowError(/input 1 \(pos\)/);
  });
});
