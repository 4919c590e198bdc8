/**
 * RMS_NORM vs the float64 reference (src/reference/norm.ts): whole-vector and per-head (via shape), with and
 * without weight (as input and as a weight tensor), awkward sizes; scalar == AVX2 within rounding;
 * 1 thread == 4 threads bit for bit; invalid shapes are typed compile errors.
 *
 * Tolerance: y = x * inv * w with inv from an f32 sum of n squares. That sum has relative error <= n * 2^-24
 * in the worst case and ~sqrt(n) * 2^-24 (4e-6 at n = 5120) for random data; sqrt, divide and two products
 * add ~3 ulp (2e-7). |y| is a few units, so atol 1e-6 + rtol 2e-5 bounds the observed error with margin.
 * Scalar vs SIMD differ only in summation order: rtol 2e-6.
 */
import { afterAll, describe, expect, it } from 'vitest';

import { QwenHybridError } from '../../src/errors.js';
import { GGMLType } from '../../src/gguf/types.js';
import { GraphBuilder, OpKind } from '../../src/model/graph/index.js';
import { Rng } from '../../src/quant/rng.js';
import { rmsNorm } from '../../src/reference/norm.js';
import { createCpuBackend } from '../../src/runtime/backend.js';
import { expectClose, expectSameBits, randn, runOp } from './normattn-util.js';

const TOL = { atol: 1e-6, rtol: 2e-5 };
const be4 = createCpuBackend({ threads: 4 });
const be1 = createCpuBackend({ threads: 1 });
const beScalar = createCpuBackend({ threads: 2, isa: 'scalar' });
afterAll(() => [be4, be1, beScalar].forEach((b) => b.dispose()));

it('runs the scalar backend on scalar kernels and the default one on SIMD where the CPU has AVX2', () => {
  expect(beScalar.info.isa).toBe('scalar');
  if (be4.info.isaAvailable.includes('avx2')) expect(be4.info.isa).not.toBe('scalar');
});

describe('RMS_NORM', () => {
  const cases: { shape: number[]; weight: boolean; eps: number }[] = [
    { shape: [5120, 1], weight: true, eps: 1e-6 },
    { shape: [5120, 15], weight: true, eps: 1e-6 },
    { shape: [2048, 65], weight: false, eps: 1e-5 },
    { shape: [256, 24, 63], weight: true, eps: 1e-6 }, // per-head q norm: {head_dim, n_head, T}
    { shape: [128, 16, 64], weight: true, eps: 1e-6 },
    { shape: [67, 3, 300], weight: true, eps: 1e-6 }, // odd length: SIMD tails
    { shape: [1, 7], weight: false, eps: 1e-6 },
  ];
  for (const c of cases) {
    it(`shape {${c.shape.join(', ')}} ${c.weight ? 'with' : 'without'} weight matches the f64 reference`, async () => {
      const rng = new Rng(1000 + c.shape.reduce((a, b) => a * b, 1));
      const n = c.shape[0]!;
      const count = c.shape.reduce((a, b) => a * b, 1);
      const x = randn(rng, count, 3);
      const w = randn(rng, n, 1);
      const ins = [{ name: 'x', dtype: 'f32' as const, shape: c.shape, data: x }];
      if (c.weight) ins.push({ name: 'w', dtype: 'f32', shape: [n], data: w });
      const outs = [{ dtype: 'f32' as const, shape: c.shape }];
      const p = { f: [c.eps] };
      const [y4] = await runOp(be4, OpKind.RMS_NORM, ins, outs, p);
      const ref = rmsNorm(x, n, c.eps, c.weight ? w : undefined);
      expectClose(y4!, ref, TOL, 'auto isa, 4 threads');
      const [y1] = await runOp(be1, OpKind.RMS_NORM, ins, outs, p);
      expectSameBits(y1!, y4!, '1 thread vs 4 threads');
      const [ys] = await runOp(beScalar, OpKind.RMS_NORM, ins, outs, p);
      expectClose(ys!, ref, TOL, 'scalar');
      expectClose(ys!, y4!, { atol: 1e-7, rtol: 2e-6 }, 'scalar vs SIMD');
    });
  }

  it('takes its weight from a weight tensor (F32), as models do', async () => {
    const rng = new Rng(7);
    const n = 96;
    const x = randn(rng, n * 5);
    const w = randn(rng, n);
    const wt = be4.weightFromBytes(GGMLType.F32, [n], new Uint8Array(w.buffer.slice(0)), 'attn_norm.weight');
    const g = new GraphBuilder();
    const [y] = g.op(OpKind.RMS_NORM, [g.input('x', 'f32', [n, 5]), g.weight(wt)], [{ dtype: 'f32', shape: [n, 5] }], { f: [1e-6] });
    g.output('y', y!);
    const plan = be4.compile(g.build());
    const out = await plan.run({ x });
    expectClose(out.y as Float32Array, rmsNorm(x, n, 1e-6, w), TOL, 'weight tensor');
    plan.dispose();
    wt.dispose();
  });

  it('hand-computed: x = [3, 4], eps = 0 -> x / sqrt(12.5)', async () => {
    const [y] = await runOp(be4, OpKind.RMS_NORM, [{ name: 'x', dtype: 'f32', shape: [2], data: new Float32Array([3, 4]) }], [{ dtype: 'f32', shape: [2] }], { f: [0] });
    expectClose(y!, [3 / Math.sqrt(12.5), 4 / Math.sqrt(12.5)], { atol: 0, rtol: 3e-7 }, 'hand');
  });

  it('rejects a weight of the wrong length and a wrong output shape with typed errors', () => {
    const g = new GraphBuilder();
    g.op(OpKind.RMS_NORM, [g.input('x', 'f32', [64, 2]), g.input('w', 'f32', [32])], [{ dtype: 'f32', shape: [64, 2] }], { f: [1e-6] });
    expect(() => be4.compile(g.build())).toThrowError(QwenHybridError);
    try {
      be4.compile(g.build());
    } catch (e) {
      expect((e as QwenHybridError).code).toBe('INVALID_ARGUMENT');
      expect((e as Error).message).toMatch(/RMS_NORM.*input 1 \(w\)/);
    }
    const g2 = new GraphBuilder();
    g2.op(OpKind.RMS_NORM, [g2.input('x', 'f32', [64, 2])], [{ dtype: 'f32', shape: [64, 3] }], { f: [1e-6] });
    expect(() => be4.compile(g2.build())).toThrowError(/output 0/);
  });
});
