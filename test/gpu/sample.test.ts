/**
 * SAMPLE on CUDA vs the CPU backend (and both vs Sampler.sampleWith) on the cases of test/ops/sample.test.ts:
 * every option set of sample-util.ts optionSets on V = 1, 7, 1000, 248320 (random, tied and peaked logits,
 * penalties with repeats and invalid ids in the window), the large vocabulary with top-p only (k = 0: the
 * full-vocabulary threshold search) and min-p only, many rows per call, and the inputs outside the Sampler's
 * contract (NaN -> -1, +-inf, garbage hist ids, unsanitised cfg values).
 *
 * Tolerance: tokens EQUAL. The CUDA op works in f32 with 2^-40 fixed-point masses (native/cuda/sample.cu), so
 * it can only differ where a boundary is within f32 rounding: every random row is drawn robust at margin
 * δ = 2e-5 (sample-util.ts robust: the Sampler's token is unchanged for u ± δ, top_p ± δ, min_p · (1 ± δ);
 * the f32 errors are ~1e-6 relative: v - max rounded to f32 (~6e-8 · |v - max|), expf ~2 ulp, the f32
 * penalties), and the number of redrawn rows is asserted small. Crafted rows (ties, exact values) are exact
 * in f32 and compared as they are.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { Rng } from '../../src/quant/rng.js';
import { drawRows, expectedToken, makeHistory, optionSets, packRows, runSample, type DrawStats, type LogitsKind, type SampleRow } from '../ops/sample-util.js';
import { cudaBackends, type Backends } from './harness.js';

let b: Backends;
beforeAll(() => {
  b = cudaBackends();
});
afterAll(() => b?.dispose());

const DELTA = 2e-5;
const N = 64;

async function compare(V: number, rows: SampleRow[], n: number, label: string): Promise<void> {
  const inputs = packRows(V, rows, n);
  const cpu = await runSample(b.cpu, V, rows.length, n, inputs);
  const gpu = await runSample(b.gpu, V, rows.length, n, inputs);
  rows.forEach((row, r) => {
    const what = `${label}: row ${r} (${JSON.stringify(row.opts)}, u ${row.u})`;
    expect(cpu[r], `${what}: cpu vs Sampler`).toBe(expectedToken(V, row));
    expect(gpu[r], `${what}: gpu vs cpu`).toBe(cpu[r]);
  });
}

describe('SAMPLE: CUDA equals the CPU backend', () => {
  const stats: DrawStats = { rows: 0, uRedraws: 0, logitRedraws: 0 };
  afterAll(() => {
    expect(stats.uRedraws + stats.logitRedraws).toBeLessThanOrEqual(Math.ceil(stats.rows / 10));
  });

  for (const [V, kind, draws] of [
    [1, 'randn', 2],
    [7, 'randn', 8],
    [7, 'ties', 8],
    [1000, 'randn', 6],
    [1000, 'ties', 6],
    [248320, 'peaked', 2],
  ] as [number, LogitsKind, number][]) {
    it(`V ${V}, ${kind} logits, ${draws} draw(s) per option set`, async () => {
      const rng = new Rng(V * 13 + kind.length);
      const specs = optionSets(V).flatMap((o) =>
        Array.from({ length: draws }, () => ({ opts: o.opts, history: makeHistory(rng, 24, Math.min(V, 6), [-5, V, V + 7]) })),
      );
      await compare(V, drawRows(rng, V, kind, specs, DELTA, stats), N, `V ${V} ${kind}`);
    });
  }

  it('V 248320: top-p only (k = 0) at several p and temperatures, and min-p only', async () => {
    const V = 248320;
    const rng = new Rng(77);
    const specs = [
      ...[0.95, 0.9, 0.6, 0.3].map((topP) => ({ opts: { topK: 0, topP, minP: 0, temperature: 1 }, history: [] as number[] })),
      { opts: { topK: 0, topP: 0.95, minP: 0, temperature: 0.6 }, history: [3, 3, 9] },
      { opts: { topK: 0, topP: 1, minP: 0.05, temperature: 1 }, history: [] },
      { opts: { topK: 0, topP: 1, minP: 0, temperature: 1.5 }, history: [] },
      { opts: { topK: 1000, topP: 0.95, minP: 0, temperature: 1 }, history: [] },
    ];
    for (const kind of ['peaked', 'randn'] as LogitsKind[]) {
      await compare(V, drawRows(rng, V, kind, specs, DELTA, stats), N, `V 248320 ${kind}`);
    }
  });

  it('ties: equal logits walked in id order', async () => {
    const l = new Float32Array(10).fill(1);
    const rows: SampleRow[] = [0, 0.05, 0.55, 0.999].flatMap((u) => [
      { opts: { topK: 0, topP: 1, minP: 0, temperature: 1 }, logits: l, history: [], u },
      { opts: { topK: 4, topP: 1, minP: 0, temperature: 1 }, logits: l, history: [], u },
      { opts: { topK: 0, topP: 0.5, minP: 0, temperature: 1 }, logits: l, history: [], u },
    ]);
    await compare(10, rows, 1, 'ties');
  });

  it('outside the contract: NaN -> -1, all -inf -> 0, +inf taken, garbage hist ids, unsanitised cfg', async () => {
    const V = 6;
    const rowsLogits = [
      [1, 3, 2, 0, -1, 0.5],
      [1, 3, NaN, 0, -1, 0.5],
      [-Infinity, -Infinity, -Infinity, -Infinity, -Infinity, -Infinity],
      [1, Infinity, 2, Infinity, -1, 0],
      [0, 5, 4, 3, 2, 1],
      [0, 5, 4, 3, 2, 1],
      [0, 5, 4, 3, 2, 1],
      [0, 5, 4, 3, 2, 1],
    ];
    const cfgs = [
      [0, 0, 1, 0, 100, 0, 0, 0.5],
      [1, 0, 1, 0, 1, 0, 0, 0.5],
      [1, 0, 1, 0, 1, 0, 0, 0.5],
      [1, 0, 1, 0, 1, 0, 0, 0.5],
      [NaN, 0, 1, 0, 1, 0, 0, 0.5],
      [1, 2.7, 1, 0, 1, 0, 0, 0.999999],
      [1, 0, 1, 0, 1, 0, 0, 7],
      [1, 3, 1, 5, 1, 0, 0, NaN],
    ];
    const R = cfgs.length;
    const hist = new Int32Array(4 * R).fill(-1);
    hist.set([-1, 6, -2147483648, 2147483647], 0);
    const inputs = { logits: Float32Array.from(rowsLogits.flat()), hist, cfg: Float32Array.from(cfgs.flat()) };
    const cpu = await runSample(b.cpu, V, R, 4, inputs);
    const gpu = await runSample(b.gpu, V, R, 4, inputs);
    expect(Array.from(cpu)).toEqual([1, -1, 0, 1, 1, 2, 5, 1]);
    expect(Array.from(gpu)).toEqual(Array.from(cpu));
  });
});
