/**
 * SAMPLE on the CPU backend vs the definition, src/runtime/sampler.ts Sampler.sampleWith, row by row: every
 * option set of sample-util.ts optionSets (greedy, each filter alone, combined, penalties with repeats in the
 * window, top_k > V, top_p = 1, min_p = 1) on V = 1, 7, 1000 and 248320, random and heavily tied logits, invalid
 * history ids, all rows of one case in ONE op call (R rows with different configs). The inputs come from
 * Sampler.fillSampleRow, so the helper is tested too.
 *
 * Tolerance: the token must be EQUAL. The CPU op computes in f64 like the Sampler with the same summation
 * orders and sees the same (f32-representable) options and u, so only an ulp of libm's exp/log vs V8's can
 * differ: rows that are fragile at margin δ = 1e-12 (sample-util.ts robust) are redrawn; the count is asserted
 * small (expected 0).
 */
import { afterAll, describe, expect, it } from 'vitest';

import { GraphBuilder, OpKind } from '../../src/model/graph/index.js';
import { Rng } from '../../src/quant/rng.js';
import { createCpuBackend } from '../../src/runtime/backend.js';
import { Sampler } from '../../src/runtime/sampler.js';
import { cudaModel, drawRows, expectedToken, makeHistory, optionSets, packRows, runSample, type DrawStats, type LogitsKind, type SampleRow } from './sample-util.js';

const be = createCpuBackend({ threads: 2 });
afterAll(() => be.dispose());

const DELTA = 1e-12;
const N = 64;

async function check(V: number, rows: SampleRow[], label: string): Promise<void> {
  const got = await runSample(be, V, rows.length, N, packRows(V, rows, N));
  rows.forEach((row, r) => expect(got[r], `${label}: row ${r} (${JSON.stringify(row.opts)}, u ${row.u})`).toBe(expectedToken(V, row)));
}

describe('SAMPLE (CPU) equals Sampler.sampleWith', () => {
  const stats: DrawStats = { rows: 0, uRedraws: 0, logitRedraws: 0 };
  afterAll(() => {
    // Fragile rows at δ = 1e-12 need a libm-vs-V8 ulp exactly at a boundary: essentially never.
    expect(stats.uRedraws + stats.logitRedraws).toBeLessThanOrEqual(Math.ceil(stats.rows / 100));
  });

  for (const [V, kind, draws] of [
    [1, 'randn', 2],
    [7, 'randn', 6],
    [7, 'ties', 6],
    [1000, 'randn', 4],
    [1000, 'ties', 4],
    [248320, 'peaked', 1],
  ] as [number, LogitsKind, number][]) {
    it(`V ${V}, ${kind} logits, ${draws} draw(s) per option set`, async () => {
      const rng = new Rng(V * 31 + kind.length);
      const specs = optionSets(V).flatMap((o) =>
        Array.from({ length: draws }, () => ({ opts: o.opts, history: makeHistory(rng, 24, Math.min(V, 6), [-5, V, V + 7]) })),
      );
      const rows = drawRows(rng, V, kind, specs, DELTA, stats);
      await check(V, rows, `V ${V} ${kind}`);
    });
  }

  it('large vocabulary, top-p only (k = 0) and min-p only', async () => {
    const V = 248320;
    const rng = new Rng(5);
    const specs = [
      { opts: { topK: 0, topP: 0.95, minP: 0, temperature: 1 }, history: [] },
      { opts: { topK: 0, topP: 0.6, minP: 0, temperature: 0.7 }, history: [1, 2, 2] },
      { opts: { topK: 0, topP: 1, minP: 0.01, temperature: 1 }, history: [] },
    ];
    await check(V, drawRows(rng, V, 'randn', specs, DELTA, stats), 'V 248320 top-p');
  });

  it('R = 3 rows with different configs in one call, hand-checked', async () => {
    // logits [0, ln 2, ln 4, -inf]: p = 1/7, 2/7, 4/7.
    const l = Float32Array.from([0, Math.log(2), Math.log(4), -Infinity]);
    const rows: SampleRow[] = [
      { opts: { temperature: 0 }, logits: l, history: [], u: 0 }, // greedy → 2
      { opts: { topK: 0, topP: 1, minP: 0, temperature: 1 }, logits: l, history: [], u: 0.25 }, // id order: 1/7 ≤ 0.25 < 3/7 → 1
      { opts: { topK: 2, topP: 1, minP: 0, temperature: 1 }, logits: l, history: [], u: 0.75 }, // {2, 1}: 0.75 ≥ 4/6 → 1
    ];
    const got = await runSample(be, 4, 3, 4, packRows(4, rows, 4));
    expect(Array.from(got)).toEqual([2, 1, 1]);
    rows.forEach((row, r) => expect(got[r]).toBe(expectedToken(4, row)));
  });

  it('ties: equal logits are walked in id order (best first: also id order among equals)', async () => {
    const l = new Float32Array(10).fill(1);
    const rows: SampleRow[] = [0, 0.05, 0.55, 0.999].flatMap((u) => [
      { opts: { topK: 0, topP: 1, minP: 0, temperature: 1 }, logits: l, history: [], u },
      { opts: { topK: 4, topP: 1, minP: 0, temperature: 1 }, logits: l, history: [], u },
      { opts: { topK: 0, topP: 0.5, minP: 0, temperature: 1 }, logits: l, history: [], u },
    ]);
    const got = await runSample(be, 10, rows.length, 1, packRows(10, rows, 1));
    rows.forEach((row, r) => expect(got[r], `row ${r}`).toBe(expectedToken(10, row)));
    expect(Array.from(got.slice(0, 3))).toEqual([0, 0, 0]);
    expect(Array.from(got.slice(9, 12))).toEqual([9, 3, 4]);
  });
});

describe('SAMPLE (CPU): inputs outside the Sampler contract', () => {
  it('invalid hist ids are ignored; a NaN logit samples -1; all -inf samples 0; +inf is taken', async () => {
    const V = 5;
    const l = Float32Array.from([1, 3, 2, 0, -1]);
    const nan = Float32Array.from([1, 3, NaN, 0, -1]);
    const ninf = new Float32Array(V).fill(-Infinity);
    const pinf = Float32Array.from([1, Infinity, 2, Infinity, -1]);
    const logits = new Float32Array([...l, ...nan, ...ninf, ...pinf]);
    const N = 4;
    // row 0: garbage ids only (no penalty) with a huge repeat penalty: still the argmax 1
    const hist = Int32Array.from([-1, 5, -2147483648, 2147483647, -1, -1, -1, -1, 0, 0, 0, 0, -1, -1, -1, -1]);
    const cfg = new Float32Array(32);
    for (let r = 0; r < 4; r++) cfg.set([r === 0 ? 0 : 1, 0, 1, 0, r === 0 ? 100 : 1, 0, 0, 0.5], r * 8);
    const got = await runSample(be, V, 4, N, { logits, hist, cfg });
    expect(Array.from(got)).toEqual([1, -1, 0, 1]);
  });

  it('sanitises cfg values: NaN temperature = greedy, fractional top_k truncated, u >= 1 clamped, NaN u = 0', async () => {
    const V = 6;
    const l = Float32Array.from([0, 5, 4, 3, 2, 1]);
    const rows = [
      [NaN, 0, 1, 0, 1, 0, 0, 0.5], // greedy → 1
      [1, 2.7, 1, 0, 1, 0, 0, 0.999999], // top-2 {1, 2}, u near 1 → 2
      [1, 0, 1, 0, 1, 0, 0, 7], // u clamped below 1: id order, last kept → 5
      [1, 3, 1, 0, 1, 0, 0, NaN], // u = 0 → best first → 1
      [1, 0, 1, 5, 1, 0, 0, 0.9], // min-p clamped to 1: only the max → 1
    ];
    const R = rows.length;
    const cfg = Float32Array.from(rows.flat());
    const logits = new Float32Array(V * R);
    for (let r = 0; r < R; r++) logits.set(l, r * V);
    const got = await runSample(be, V, R, 1, { logits, hist: new Int32Array(R).fill(-1), cfg });
    expect(Array.from(got)).toEqual([1, 2, 5, 1, 1]);
  });

  it('rejects wrong shapes and dtypes with INVALID_ARGUMENT naming the operand', () => {
    const cases: [string, [number, number], 'f32' | 'i32', [number, number], [number, number], 'f32' | 'i32', [number], RegExp][] = [
      ['logits i32', [8, 2], 'i32', [4, 2], [8, 2], 'f32', [2], /SAMPLE op: input 0 \(logits\) must be f32/i],
      ['hist rows', [8, 2], 'f32', [4, 3], [8, 2], 'f32', [2], /SAMPLE op: input 1 \(hist\) must be i32 \{N, R\} with N >= 1 and R = 2/i],
      ['cfg width', [8, 2], 'f32', [4, 2], [7, 2], 'f32', [2], /SAMPLE op: input 2 \(cfg\) must be f32 \{8, 2\}/i],
      ['cfg i32', [8, 2], 'f32', [4, 2], [8, 2], 'i32', [2], /SAMPLE op: input 2 \(cfg\) must be f32 .* got i32/i],
      ['out length', [8, 2], 'f32', [4, 2], [8, 2], 'f32', [3], /SAMPLE op: output 0 must be i32 \{2\}/i],
    ];
    for (const [name, ls, ldt, hs, cs, cdt, os, re] of cases) {
      const g = new GraphBuilder();
      const ins = [g.input('logits', ldt, ls), g.input('hist', 'i32', hs), g.input('cfg', cdt, cs)];
      g.output('y', g.op(OpKind.SAMPLE, ins, [{ dtype: 'i32', shape: os }])[0]!);
      let err: unknown;
      try {
        be.compile(g.build()).dispose();
      } catch (e) {
        err = e;
      }
      expect(err, name).toBeDefined();
      expect((err as { code?: string }).code, name).toBe('INVALID_ARGUMENT');
      expect(String((err as Error).message), name).toMatch(re);
    }
  });
});

describe("the CUDA kernel's algorithm (sample-util.ts cudaModel, a TS model of sample.cu) equals the Sampler", () => {
  // f32 arithmetic and 2^-40 fixed point: rows fragile at δ = 1e-5 are redrawn (the GPU test's margin).
  const stats: DrawStats = { rows: 0, uRedraws: 0, logitRedraws: 0 };
  afterAll(() => {
    expect(stats.uRedraws + stats.logitRedraws).toBeLessThanOrEqual(Math.ceil(stats.rows / 10));
  });
  for (const [V, kind] of [
    [1, 'randn'],
    [7, 'randn'],
    [7, 'ties'],
    [1000, 'randn'],
    [1000, 'ties'],
    [4096, 'peaked'],
  ] as [number, LogitsKind][]) {
    it(`V ${V}, ${kind} logits`, () => {
      const rng = new Rng(V * 17 + kind.length);
      const specs = optionSets(V).flatMap((o) => Array.from({ length: 4 }, () => ({ opts: o.opts, history: makeHistory(rng, 24, Math.min(V, 6), [-5, V]) })));
      const rows = drawRows(rng, V, kind, specs, 1e-5, stats);
      const { logits, hist, cfg } = packRows(V, rows, N);
      rows.forEach((row, r) => {
        const got = cudaModel(V, logits.subarray(r * V, (r + 1) * V), hist.subarray(r * N, (r + 1) * N), cfg.subarray(r * 8, (r + 1) * 8));
        expect(got, `row ${r} (${JSON.stringify(row.opts)}, u ${row.u})`).toBe(expectedToken(V, row));
      });
    });
  }
});

describe('Sampler device helpers', () => {
  it('fillSampleRow writes the window (oldest first, -1 padded) and the f32 cfg; too long a window throws', () => {
    const s = new Sampler({ vocabSize: 10, repeatPenalty: 1.1, penaltyLastN: 3, seed: 1 });
    const cfg = new Float32Array(16);
    const hist = new Int32Array(8);
    s.fillSampleRow(cfg, hist, 1, 2, [4, 5, 6, 7, 8], 0.25);
    expect(Array.from(hist)).toEqual([0, 0, 0, 0, 6, 7, 8, -1]);
    expect(Array.from(cfg.slice(8))).toEqual([0.8, 40, 0.95, 0.05, 1.1, 0, 0, 0.25].map(Math.fround));
    const off = new Sampler({ vocabSize: 10, penaltyLastN: -1, seed: 1 }); // penalties neutral: no window
    off.fillSampleRow(cfg, hist, 0, 2, [1, 2, 3, 4, 5, 6, 7], 0);
    expect(Array.from(hist.slice(0, 4))).toEqual([-1, -1, -1, -1]);
    const all = new Sampler({ vocabSize: 10, repeatPenalty: 1.1, penaltyLastN: -1, seed: 1 });
    expect(() => all.fillSampleRow(cfg, hist, 0, 2, [1, 2, 3, 4, 5], 0)).toThrowError(/penaltyLastN/);
    expect(() => all.fillSampleRow(cfg, hist, 0, 2, [1], 1)).toThrowError(/u must be in \[0, 1\)/);
  });

  it('sample() draws once per non-greedy step, whatever the logits, and equals sampleWith(nextUniform())', () => {
    const V = 6;
    const one = Float32Array.from([0, -Infinity, -Infinity, -Infinity, -Infinity, -Infinity]); // one candidate
    const l = Float32Array.from([0.5, 0.1, -0.3, 1.2, 0.9, 0]);
    const a = new Sampler({ vocabSize: V, seed: 99, topK: 0, topP: 1, minP: 0 });
    const b = new Sampler({ vocabSize: V, seed: 99, topK: 0, topP: 1, minP: 0 });
    for (let i = 0; i < 20; i++) {
      const x = i % 3 === 0 ? one : l;
      const u = b.nextUniform();
      expect(u * 2 ** 24).toBe(Math.floor(u * 2 ** 24));
      expect(a.sample(x)).toBe(b.sampleWith(x, [], u));
    }
    const greedy = new Sampler({ vocabSize: V, seed: 99, temperature: 0 });
    const fresh = new Sampler({ vocabSize: V, seed: 99, temperature: 0 });
    greedy.sample(l);
    expect(greedy.nextUniform()).toBe(fresh.nextUniform()); // greedy steps draw nothing
  });

  it('checkDeviceSample: -1 (NaN logits) throws INVALID_ARGUMENT, an id passes', () => {
    const s = new Sampler({ vocabSize: 4 });
    expect(s.checkDeviceSample(3)).toBe(3);
    expect(() => s.checkDeviceSample(-1)).toThrowError(/NaN/);
  });
});
