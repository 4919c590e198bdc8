/**
 * SILU, SIGMOID, SOFTPLUS, EXP (native/cpu/unary.cc) vs the float64 reference (src/reference/elementwise.ts)
 * on seeded random inputs plus edge values (0, large magnitudes, the softplus threshold 20, exp near f32
 * overflow/underflow); scalar vs SIMD; 1 vs 4 threads bit for bit; typed compile errors.
 *
 * Tolerance: the f32 input is exact in the reference, so the only error is the kernel's own rounding:
 * libm expf/log1pf are <= 1 ulp, na::exp256 <= 2 ulp, plus one add and one divide: rtol 1e-6 (~8 ulp).
 * atol 1e-37 only covers exp results in the f32 subnormal range (|x| < 1.2e-38), where ulps are absolute.
 */
import { afterAll, describe, expect, it } from 'vitest';

import { QwenHybridError } from '../../src/errors.js';
import { GraphBuilder, OpKind } from '../../src/model/graph/index.js';
import { Rng } from '../../src/quant/rng.js';
import { unary, type UnaryKind } from '../../src/reference/elementwise.js';
import { createCpuBackend } from '../../src/runtime/backend.js';
import { expectClose, expectSameBits, randn, runOp, uniform } from './normattn-util.js';

const TOL = { atol: 1e-37, rtol: 1e-6 };
const be4 = createCpuBackend({ threads: 4 });
const be1 = createCpuBackend({ threads: 1 });
const beScalar = createCpuBackend({ threads: 2, isa: 'scalar' });
afterAll(() => [be4, be1, beScalar].forEach((b) => b.dispose()));

const OPS: [OpKind, UnaryKind][] = [
  [OpKind.SILU, 'silu'],
  [OpKind.SIGMOID, 'sigmoid'],
  [OpKind.SOFTPLUS, 'softplus'],
  [OpKind.EXP, 'exp'],
];

const EDGE = [0, -0, 1e-8, -1e-8, 19.99, 20, 20.01, -20, 30, -30, 80, -80, 88.5, 88.7, -87.5, -95, -103, -110, 100, -100];

describe('unary ops', () => {
  for (const [kind, name] of OPS) {
    for (const shape of [[1], [15, 1], [4096, 1], [63, 65], [17408, 3], [300, 7, 3]]) {
      it(`${name} {${shape.join(', ')}}`, async () => {
        const count = shape.reduce((a, b) => a * b, 1);
        const rng = new Rng(count * 31 + name.length);
        // exp: keep inputs where e^x is finite in f32 except the edge values; others: wide normal inputs
        const x = name === 'exp' ? uniform(rng, count, -30, 30) : randn(rng, count, 6);
        for (let i = 0; i < Math.min(EDGE.length, count); i++) x[(i * 7919) % count] = EDGE[i]!;
        const ins = [{ name: 'x', dtype: 'f32' as const, shape, data: x }];
        const outs = [{ dtype: 'f32' as const, shape }];
        const ref = unary(name, x).map(Math.fround); // the f32 result closest to the exact value (inf beyond f32)
        const [y] = await runOp(be4, kind, ins, outs);
        expectClose(y!, ref, TOL, `${name} SIMD`);
        const [ys] = await runOp(beScalar, kind, ins, outs);
        expectClose(ys!, ref, TOL, `${name} scalar`);
        const [y1] = await runOp(be1, kind, ins, outs);
        expectSameBits(y1!, y!, '1 vs 4 threads');
      });
    }
  }

  it('hand values: silu(0) = 0, sigmoid(0) = 0.5, softplus(0) = ln 2, exp(0) = 1, softplus(25) = 25, exp(-inf) = 0', async () => {
    const x = new Float32Array([0, 25, -Infinity]);
    const get = async (k: OpKind) => (await runOp(be4, k, [{ name: 'x', dtype: 'f32', shape: [3], data: x }], [{ dtype: 'f32', shape: [3] }]))[0]!;
    expect((await get(OpKind.SILU))[0]).toBe(0);
    expect((await get(OpKind.SIGMOID))[0]).toBe(0.5);
    expect((await get(OpKind.SOFTPLUS))[0]).toBe(Math.fround(Math.LN2));
    expect((await get(OpKind.SOFTPLUS))[1]).toBe(25);
    expect((await get(OpKind.EXP))[0]).toBe(1);
    expect((await get(OpKind.EXP))[2]).toBe(0);
    expect((await get(OpKind.SIGMOID))[2]).toBe(0);
  });

  it('rejects an i32 input and a mismatched output with typed errors', () => {
    const g = new GraphBuilder();
    g.op(OpKind.SILU, [g.input('x', 'i32', [8])], [{ dtype: 'f32', shape: [8] }]);
    expect(() => be4.compile(g.build())).toThrowError(QwenHybridError);
    const g2 = new GraphBuilder();
    g2.op(OpKind.EXP, [g2.input('x', 'f32', [8])], [{ dtype: 'f32', shape: [4, 2] }]);
    expect(() => be4.compile(g2.build())).toThrowError(/EXP op: output 0/);
  });
});
