/**
 * Shared helpers of the weight-op tests (get_rows, matmul, matmul_id): the weight types, seeded weights,
 * one-op plans over a weight, and the f32 error bound.
 *
 * Error bound used by every comparison with the float64 reference (src/reference/matmul.ts):
 *   |y − y_ref| ≤ (k + 2)·u·Σ_c |W[r][c]·x[c]|,  u = 2^-24.
 * Why: every path forms each weight as ggml's f32 dequantization (exact, or the exact value rounded once:
 * ≤ u relative), multiplies by an f32 x (rounded product or FMA: ≤ u), and adds k terms in some order (a
 * summation tree of k terms: ≤ (k − 1)·u·Σ|terms| to first order, whatever the SIMD lane split, chunking or
 * zero padding). A single wrong weight (wrong nibble, scale or offset) moves y by about Σ|w·x|/k, i.e.
 * 1/(k·u) units of u·Σ|w·x| (32768 at k = 512: 64x the bound of 514), so the bound still catches layout bugs.
 */
import { expect } from 'vitest';

import { GGMLType, ggmlTensorBytes } from '../../src/gguf/types.js';
import { GraphBuilder, OpKind } from '../../src/model/graph/index.js';
import { Rng, randomTensorData } from '../../src/quant/index.js';
import type { CpuBackend } from '../../src/runtime/backend.js';

export const U = 2 ** -24;

/** Every weight type with its test row length: 2 super-blocks for K-quants, 32·odd for 32-blocks, odd for plain. */
export const WEIGHT_TYPES: readonly { type: GGMLType; name: string; k: number }[] = [
  { type: GGMLType.F32, name: 'F32', k: 291 },
  { type: GGMLType.F16, name: 'F16', k: 291 },
  { type: GGMLType.BF16, name: 'BF16', k: 291 },
  { type: GGMLType.Q4_0, name: 'Q4_0', k: 32 * 9 },
  { type: GGMLType.Q4_1, name: 'Q4_1', k: 32 * 9 },
  { type: GGMLType.Q5_0, name: 'Q5_0', k: 32 * 9 },
  { type: GGMLType.Q5_1, name: 'Q5_1', k: 32 * 9 },
  { type: GGMLType.Q8_0, name: 'Q8_0', k: 32 * 9 },
  { type: GGMLType.Q4_K, name: 'Q4_K', k: 512 },
  { type: GGMLType.Q5_K, name: 'Q5_K', k: 512 },
  { type: GGMLType.Q6_K, name: 'Q6_K', k: 256 },
];

/** Seeded valid weight bytes of `type` and `shape` (realistic scales: src/quant randomTensorData). */
export function weightBytes(type: GGMLType, shape: readonly number[], seed: number): Uint8Array {
  const b = randomTensorData(type, shape, new Rng(seed));
  expect(b.length).toBe(ggmlTensorBytes(type, shape));
  return b;
}

/** MATMUL_ID weights {k, m, E}: expert 0 all 0xFF bytes (NaN scales / values in every format, so reading it shows
 *  up as NaN), experts 1..E-1 random valid blocks. */
export function poisonedExpertBytes(type: GGMLType, k: number, m: number, E: number, seed: number): Uint8Array {
  const per = ggmlTensorBytes(type, [k, m]);
  const out = new Uint8Array(per * E);
  out.fill(0xff, 0, per);
  out.set(weightBytes(type, [k, m, E - 1], seed), per);
  return out;
}

/** MATMUL_ID ids {K, T} in [1, E): slot 1 repeats slot 0 on every third token; tokens repeat experts. */
export function repeatingExpertIds(rng: Rng, K: number, E: number, T: number): Int32Array {
  const ids = new Int32Array(K * T);
  for (let t = 0; t < T; t++) {
    for (let s = 0; s < K; s++) ids[t * K + s] = 1 + rng.int(E - 1);
    if (t % 3 === 0) ids[t * K + 1] = ids[t * K]!;
  }
  return ids;
}

export function randn(rng: Rng, n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal();
  return a;
}

/** Runs MATMUL of the weight bytes by x {k, T} on `be`; returns y {m, T}. */
export async function runMatmul(be: CpuBackend, type: GGMLType, shape: readonly [number, number], w: Uint8Array, x: Float32Array, T: number): Promise<Float32Array> {
  const wt = be.weightFromBytes(type, shape, w, 'W');
  const g = new GraphBuilder();
  const W = g.weight(wt);
  const xi = g.input('x', 'f32', [shape[0], T]);
  const [y] = g.op(OpKind.MATMUL, [W, xi], [{ dtype: 'f32', shape: [shape[1], T] }]);
  g.output('y', y!);
  const plan = be.compile(g.build());
  try {
    const out = await plan.run({ x });
    return out.y as Float32Array;
  } finally {
    plan.dispose();
    wt.dispose();
  }
}

/** Asserts |y − ref| ≤ (k + 2)·u·absSum elementwise; returns the largest error in units of absSum·u. */
export function expectWithinBound(y: ArrayLike<number>, ref: { y: Float64Array; absSum: Float64Array }, k: number, label: string): number {
  expect(y.length, label).toBe(ref.y.length);
  let worst = 0;
  let bad = -1;
  for (let i = 0; i < y.length; i++) {
    const err = Math.abs((y[i] as number) - ref.y[i]!);
    const scale = ref.absSum[i]! * U;
    const r = scale > 0 ? err / scale : err === 0 ? 0 : Infinity;
    if (!(r <= k + 2) && bad < 0) bad = i;
    if (r > worst || Number.isNaN(r)) worst = Number.isNaN(r) ? Infinity : r;
  }
  if (bad >= 0) {
    expect.fail(`${label}: y[${bad}] = ${y[bad]} vs reference ${ref.y[bad]} (Σ|w·x| = ${ref.absSum[bad]}): error ${worst.toFixed(1)}·u·Σ|w·x| > bound ${k + 2}`);
  }
  return worst;
}

/** Asserts two f32 results are within twice the bound of each other (each is within the bound of the truth). */
export function expectClose(a: ArrayLike<number>, b: ArrayLike<number>, absSum: Float64Array, k: number, label: string): void {
  expect(a.length, label).toBe(b.length);
  for (let i = 0; i < a.length; i++) {
    const err = Math.abs((a[i] as number) - (b[i] as number));
    if (!(err <= 2 * (k + 2) * U * absSum[i]!)) expect.fail(`${label}: [${i}] ${a[i]} vs ${b[i]} differ by ${err} > 2·(k+2)·u·Σ|w·x|`);
  }
}
