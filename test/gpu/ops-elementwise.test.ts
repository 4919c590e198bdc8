/**
 * CUDA elementwise / norm / routing / sampling ops vs the CPU backend on the same seeded inputs (harness.ts), at
 * awkward shapes (odd lengths, broadcasting, single elements) and at the real shapes of Qwen3.6-27B (n_embd 5120,
 * head_dim 256, 24 heads, vocab 248320) and 35B-A3B (n_embd 2048, 256 experts, top-8).
 *
 * Tolerances (|gpu - cpu| <= atol + rtol·|cpu|), per op:
 *   bit-exact  SCALE (one fma on both), ADD / MUL (one rounding), COPY_STRIDED (a copy), GET_ROWS (dequantization
 *              is exact in f32 on both: quant_traits.cuh), MOE_COMBINE (same slot-order mul+add, no fma
 *              contraction), ARGMAX / TOP_K (selection: ids equal; values are copies).
 *   RMS_NORM, L2_NORM  both sum n squares in f32 in different orders: relative error of the sum <= ~sqrt(n)·2^-24
 *              for random data on each side (4e-6 at n = 5120), then ~3 ulp for sqrt/divide/products:
 *              rtol 2e-5 (twice the per-backend bound vs f64 used in test/ops), atol 1e-6.
 *   SILU, SIGMOID, SOFTPLUS, EXP, SWIGLU  CUDA expf/log1pf are <= 2 ulp, the CPU's AVX2 exp ~2 ulp: a few ulp
 *              after the divide: rtol 2e-6 (~17 ulp), atol 1e-30 (results that underflow toward 0).
 *   LOG_SOFTMAX  y = x - lse; lse from f64 sums of f32 exps that differ by a few ulp each (relative 3e-7 of the
 *              sum → ~3e-7 absolute in lse): atol 2e-6 + rtol 1e-6 (|y| up to ~30: 1 ulp = 2e-6).
 *   MOE_ROUTER  ids must be equal (selection on f32 probabilities that are formed identically up to the f64 Z
 *              summation order: 1/Z can differ in its last f32 bit, which scales all p equally and so cannot
 *              reorder them); weights rtol 1e-6.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { GGMLType } from '../../src/gguf/types.js';
import { OpKind } from '../../src/model/graph/index.js';
import { Rng, randomTensorData } from '../../src/quant/index.js';
import type { Backends, InSpec, Tol } from './harness.js';
import { cudaBackends, expectClose, expectSameBits, randn, runBoth, uniform } from './harness.js';

let b: Backends;
beforeAll(() => {
  b = cudaBackends();
});
afterAll(() => b?.dispose());

const NORM_TOL: Tol = { atol: 1e-6, rtol: 2e-5 };
const TRANSC_TOL: Tol = { atol: 1e-30, rtol: 2e-6 };
const LSM_TOL: Tol = { atol: 2e-6, rtol: 1e-6 };

const count = (s: readonly number[]) => s.reduce((a, c) => a * c, 1);

const f32in = (name: string, shape: readonly number[], data: Float32Array): InSpec => ({ name, dtype: 'f32', shape, data });

describe('RMS_NORM / L2_NORM', () => {
  const shapes: { shape: number[]; weight: boolean }[] = [
    { shape: [5120, 1], weight: true }, // 27B decode
    { shape: [5120, 9], weight: true },
    { shape: [2048, 65], weight: false }, // 35B-A3B
    { shape: [256, 24, 63], weight: true }, // per-head q norm {head_dim, n_head, T}
    { shape: [128, 16, 7], weight: true }, // GDN head
    { shape: [67, 3, 300], weight: true }, // odd length
    { shape: [1, 7], weight: false },
    { shape: [1000003, 1], weight: false }, // one very long row: many grid-stride passes per thread
  ];
  for (const c of shapes) {
    it(`RMS_NORM {${c.shape.join(', ')}} ${c.weight ? 'with' : 'without'} weight`, async () => {
      const rng = new Rng(11 + count(c.shape));
      const n = c.shape[0]!;
      const inputs = [f32in('x', c.shape, randn(rng, count(c.shape), 3))];
      if (c.weight) inputs.push(f32in('w', [n], randn(rng, n)));
      const r = await runBoth(b, { kind: OpKind.RMS_NORM, inputs, outputs: [{ dtype: 'f32', shape: c.shape }], params: { f: [1e-6] } });
      expectClose(r.gpu[0]!, r.cpu[0]!, NORM_TOL, 'RMS_NORM');
    });
    it(`L2_NORM {${c.shape.join(', ')}}`, async () => {
      const rng = new Rng(17 + count(c.shape));
      const x = randn(rng, count(c.shape), 2);
      x.fill(0, 0, c.shape[0]!); // first row all zero: the eps branch (0 / eps = 0)
      const r = await runBoth(b, { kind: OpKind.L2_NORM, inputs: [f32in('x', c.shape, x)], outputs: [{ dtype: 'f32', shape: c.shape }], params: { f: [1e-6] } });
      expectClose(r.gpu[0]!, r.cpu[0]!, NORM_TOL, 'L2_NORM');
    });
  }
});

describe('SILU / SIGMOID / SOFTPLUS / EXP / SWIGLU / SCALE', () => {
  const n = 1_000_003; // not a multiple of any block size; several grid-stride passes
  const rng = new Rng(5);
  const x = uniform(rng, n, -30, 30); // includes softplus's x > 20 branch and exp's large results
  for (const kind of [OpKind.SILU, OpKind.SIGMOID, OpKind.SOFTPLUS, OpKind.EXP]) {
    it(`${OpKind[kind]} over ${n} values in [-30, 30]`, async () => {
      const r = await runBoth(b, { kind, inputs: [f32in('x', [n], x)], outputs: [{ dtype: 'f32', shape: [n] }] });
      expectClose(r.gpu[0]!, r.cpu[0]!, TRANSC_TOL, OpKind[kind]);
    });
  }
  it('SWIGLU {17408, 3} (27B FFN) and {513, 1}', async () => {
    for (const shape of [[17408, 3], [513, 1]]) {
      const g = randn(rng, count(shape), 4);
      const u = randn(rng, count(shape), 2);
      const r = await runBoth(b, { kind: OpKind.SWIGLU, inputs: [f32in('g', shape, g), f32in('u', shape, u)], outputs: [{ dtype: 'f32', shape }] });
      expectClose(r.gpu[0]!, r.cpu[0]!, TRANSC_TOL, `SWIGLU {${shape.join(', ')}}`);
    }
  });
  it('SCALE is bit-exact (one fma)', async () => {
    const r = await runBoth(b, { kind: OpKind.SCALE, inputs: [f32in('x', [n], x)], outputs: [{ dtype: 'f32', shape: [n] }], params: { f: [0.0625, -3.25] } });
    expectSameBits(r.gpu[0]!, r.cpu[0]!, 'SCALE');
  });
});

describe('ADD / MUL with broadcasting', () => {
  const cases: { a: number[]; b: number[] }[] = [
    { a: [5120, 9], b: [5120, 9] }, // residual add
    { a: [5120, 9], b: [5120, 1] }, // row broadcast
    { a: [7, 5, 3, 2], b: [7, 1, 3, 1] },
    { a: [7, 5, 3, 2], b: [1, 5, 1, 2] },
    { a: [48, 7], b: [1] }, // scalar
    { a: [128, 48, 5], b: [1, 48, 5] }, // per-head gate
  ];
  for (const c of cases) {
    for (const kind of [OpKind.ADD, OpKind.MUL]) {
      it(`${OpKind[kind]} {${c.a.join(', ')}} with {${c.b.join(', ')}} is bit-exact`, async () => {
        const rng = new Rng(31 + count(c.a) + count(c.b));
        const r = await runBoth(b, {
          kind,
          inputs: [f32in('a', c.a, randn(rng, count(c.a))), f32in('b', c.b, randn(rng, count(c.b)))],
          outputs: [{ dtype: 'f32', shape: c.a }],
        });
        expectSameBits(r.gpu[0]!, r.cpu[0]!, OpKind[kind]);
      });
    }
  }
});

describe('COPY_STRIDED', () => {
  it('splits attn_q {2·256, 24, T} into q and gate halves, f32 and i32, bit-exact', async () => {
    const T = 5;
    const src = [512, 24, T];
    const rng = new Rng(41);
    for (const off of [0, 256]) {
      const x = randn(rng, count(src));
      const r = await runBoth(b, {
        kind: OpKind.COPY_STRIDED,
        inputs: [f32in('x', src, x)],
        outputs: [{ dtype: 'f32', shape: [256, 24, T] }],
        params: { i: [off, 512, 512 * 24, 0] },
      });
      expectSameBits(r.gpu[0]!, r.cpu[0]!, `offset ${off}`);
    }
    const ids = new Int32Array(count([6, 4, 3, 2])).map((_, i) => i * 7 - 100);
    const r = await runBoth(b, {
      kind: OpKind.COPY_STRIDED,
      inputs: [{ name: 'x', dtype: 'i32', shape: [6, 4, 3, 2], data: ids }],
      outputs: [{ dtype: 'i32', shape: [3, 2, 3, 1] }],
      params: { i: [1, 12, 6, 0] },
    });
    expectSameBits(r.gpu[0]!, r.cpu[0]!, 'i32 view');
  });
  it('takes the last row of {5120, 9}', async () => {
    const x = randn(new Rng(43), 5120 * 9);
    const r = await runBoth(b, { kind: OpKind.COPY_STRIDED, inputs: [f32in('x', [5120, 9], x)], outputs: [{ dtype: 'f32', shape: [5120, 1] }], params: { i: [5120 * 8, 5120, 0, 0] } });
    expectSameBits(r.gpu[0]!, r.cpu[0]!, 'last row');
  });
});

describe('GET_ROWS', () => {
  const types: { type: GGMLType; n: number }[] = [
    { type: GGMLType.F32, n: 72 },
    { type: GGMLType.F16, n: 72 },
    { type: GGMLType.BF16, n: 72 },
    { type: GGMLType.Q4_0, n: 96 },
    { type: GGMLType.Q4_1, n: 96 },
    { type: GGMLType.Q5_0, n: 96 },
    { type: GGMLType.Q5_1, n: 96 },
    { type: GGMLType.Q8_0, n: 96 },
    { type: GGMLType.Q4_K, n: 512 },
    { type: GGMLType.Q5_K, n: 512 },
    { type: GGMLType.Q6_K, n: 512 },
  ];
  for (const t of types) {
    it(`${GGMLType[t.type]} {${t.n}, 37} rows gathered bit-exact`, async () => {
      const rng = new Rng(51 + t.type);
      const shape = [t.n, 37];
      const wt = b.cpu.weightFromBytes(t.type, shape, randomTensorData(t.type, shape, rng), `embd.${GGMLType[t.type]}`);
      try {
        const ids = Int32Array.from([0, 36, 5, 5, 17, 1, 36, 0, 22]);
        const r = await runBoth(b, {
          kind: OpKind.GET_ROWS,
          inputs: [{ name: 'ids', dtype: 'i32', shape: [ids.length], data: ids }],
          weights: [wt],
          order: ['w0', 'i0'],
          outputs: [{ dtype: 'f32', shape: [t.n, ids.length] }],
        });
        expectSameBits(r.gpu[0]!, r.cpu[0]!, GGMLType[t.type]);
      } finally {
        wt.dispose();
      }
    });
  }
  it('Q6_K token embedding at the 27B shape {5120, 248320}: a few tokens incl. the last row', async () => {
    const shape = [5120, 248320];
    const wt = b.cpu.weightFromBytes(GGMLType.Q6_K, shape, randomTensorData(GGMLType.Q6_K, shape, new Rng(59)), 'token_embd.weight');
    try {
      const ids = Int32Array.from([0, 248319, 151643, 7]);
      const r = await runBoth(b, {
        kind: OpKind.GET_ROWS,
        inputs: [{ name: 'ids', dtype: 'i32', shape: [ids.length], data: ids }],
        weights: [wt],
        order: ['w0', 'i0'],
        outputs: [{ dtype: 'f32', shape: [5120, ids.length] }],
      });
      expectSameBits(r.gpu[0]!, r.cpu[0]!, 'token_embd');
    } finally {
      wt.dispose();
    }
  });
});

describe('MOE_ROUTER / MOE_COMBINE', () => {
  for (const c of [
    { E: 256, T: 13, K: 8 }, // 35B-A3B
    { E: 256, T: 1, K: 8 },
    { E: 60, T: 5, K: 4 },
    { E: 1000, T: 3, K: 10 }, // E > block size
  ]) {
    it(`MOE_ROUTER E=${c.E} T=${c.T} K=${c.K}: same experts, weights within 1e-6`, async () => {
      const rng = new Rng(61 + c.E + c.T);
      const logits = randn(rng, c.E * c.T, 2);
      // ties: token 0 has groups of equal logits, so the lower id must win on both backends
      for (let e = 0; e < c.E; e++) logits[e] = Math.floor(e / 3) % 5;
      const r = await runBoth(b, {
        kind: OpKind.MOE_ROUTER,
        inputs: [f32in('l', [c.E, c.T], logits)],
        outputs: [
          { dtype: 'i32', shape: [c.K, c.T] },
          { dtype: 'f32', shape: [c.K, c.T] },
        ],
        params: { i: [c.K] },
      });
      expect(Array.from(r.gpu[0]!)).toEqual(Array.from(r.cpu[0]!));
      expectClose(r.gpu[1]!, r.cpu[1]!, { atol: 0, rtol: 1e-6 }, 'router weights');
    });
  }
  it('MOE_COMBINE {2048, 8, 5} is bit-exact', async () => {
    const rng = new Rng(67);
    const r = await runBoth(b, {
      kind: OpKind.MOE_COMBINE,
      inputs: [f32in('y', [2048, 8, 5], randn(rng, 2048 * 8 * 5)), f32in('w', [8, 5], uniform(rng, 40, 0, 0.3))],
      outputs: [{ dtype: 'f32', shape: [2048, 5] }],
    });
    expectSameBits(r.gpu[0]!, r.cpu[0]!, 'MOE_COMBINE');
  });
});

describe('LOG_SOFTMAX / ARGMAX / TOP_K', () => {
  const V = 248320;
  it(`LOG_SOFTMAX {${V}, 2} and {1001, 7}`, async () => {
    for (const shape of [[V, 2], [1001, 7]]) {
      const x = randn(new Rng(71 + shape[1]!), count(shape), 4);
      const r = await runBoth(b, { kind: OpKind.LOG_SOFTMAX, inputs: [f32in('x', shape, x)], outputs: [{ dtype: 'f32', shape }] });
      expectClose(r.gpu[0]!, r.cpu[0]!, LSM_TOL, `LOG_SOFTMAX {${shape.join(', ')}}`);
    }
  });
  it('ARGMAX: lowest index on ties, NaN never wins, all -inf row gives 0', async () => {
    const W = 1031;
    const x = randn(new Rng(73), W * 5);
    x[3] = 50; // row 0: max at 3 ...
    x[900] = 50; // ... tied at 900
    for (let i = W; i < 2 * W; i++) x[i] = -Infinity; // row 1: all -inf
    x[2 * W + 10] = NaN; // row 2: NaN present
    x[2 * W + 11] = 40;
    for (let i = 3 * W; i < 4 * W; i++) x[i] = 1; // row 3: all equal
    const r = await runBoth(b, { kind: OpKind.ARGMAX, inputs: [f32in('x', [W, 5], x)], outputs: [{ dtype: 'i32', shape: [5] }] });
    expect(Array.from(r.gpu[0]!)).toEqual(Array.from(r.cpu[0]!));
    const big = randn(new Rng(79), V * 2, 3);
    const r2 = await runBoth(b, { kind: OpKind.ARGMAX, inputs: [f32in('x', [V, 2], big)], outputs: [{ dtype: 'i32', shape: [2] }] });
    expect(Array.from(r2.gpu[0]!)).toEqual(Array.from(r2.cpu[0]!));
  });
  for (const c of [
    { V, T: 2, K: 40 },
    { V: 256, T: 9, K: 8 },
    { V: 33, T: 1, K: 33 },
  ]) {
    it(`TOP_K V=${c.V} T=${c.T} K=${c.K}: same ids and values (ties, NaN)`, async () => {
      const x = randn(new Rng(83 + c.V), c.V * c.T, 2);
      for (let i = 0; i < Math.min(c.V, 20); i++) x[i] = 1.5; // ties at the top
      x[c.V - 1] = NaN; // ranks as -inf
      const r = await runBoth(b, {
        kind: OpKind.TOP_K,
        inputs: [f32in('x', [c.V, c.T], x)],
        outputs: [
          { dtype: 'i32', shape: [c.K, c.T] },
          { dtype: 'f32', shape: [c.K, c.T] },
        ],
        params: { i: [c.K] },
      });
      expect(Array.from(r.gpu[0]!)).toEqual(Array.from(r.cpu[0]!));
      expectSameBits(r.gpu[1]!, r.cpu[1]!, 'TOP_K values');
    });
  }
});
