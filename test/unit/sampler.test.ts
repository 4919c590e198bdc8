/**
 * Sampler: llama.cpp chain semantics on crafted logits, with every expectation derived by hand (comments give
 * the arithmetic), sampling frequencies checked against binomial bounds, and determinism per seed.
 */
import { describe, expect, it } from 'vitest';
import { QwenHybridError } from '../../src/errors.js';
import { SAMPLE_CFG_WIDTH, Sampler, resolveLogitBias, tokenLogprobs, type SamplingOptions } from '../../src/runtime/sampler.js';

const OFF = { topK: 0, topP: 1, minP: 0 } as const;
const f32 = (a: number[]): Float32Array => Float32Array.from(a);
const lnP = (p: number[]): Float32Array => f32(p.map(Math.log));

describe('greedy (temperature 0)', () => {
  it('returns the argmax, lowest id on ties', () => {
    const s = new Sampler({ vocabSize: 5, temperature: 0 });
    expect(s.sample(f32([0, 3, -1, 2.5, 1]))).toBe(1);
    expect(s.sample(f32([0, 3, -1, 3, 1]))).toBe(1);
    expect(s.sample(f32([-5, -3, -4, -3, -9]))).toBe(1);
  });
  it('applies the penalties before the argmax', () => {
    // token 0: 2 / 1.1 = 1.818 < 1.9 → token 1 wins
    const s = new Sampler({ vocabSize: 3, temperature: 0, repeatPenalty: 1.1 });
    expect(s.sample(f32([2, 1.9, 0]), [0])).toBe(1);
    expect(s.sample(f32([2, 1.9, 0]), [2])).toBe(0);
  });
});

describe('penalties (llama.cpp: divide positive, multiply non-positive, then − c·freq − presence)', () => {
  it('crafted history with a window', () => {
    const s = new Sampler({ vocabSize: 4, repeatPenalty: 2, frequencyPenalty: 0.5, presencePenalty: 0.25, penaltyLastN: 4 });
    // window = last 4 of [0,1,1,2,0,0] = [1,2,0,0]: counts {0:2, 1:1, 2:1}; token 3 unseen
    const p = s.penalties(f32([2, -2, 1, 0.5]), [0, 1, 1, 2, 0, 0]);
    expect(p.get(0)).toBeCloseTo(2 / 2 - 2 * 0.5 - 0.25, 12); // -0.25
    expect(p.get(1)).toBeCloseTo(-2 * 2 - 1 * 0.5 - 0.25, 12); // -4.75
    expect(p.get(2)).toBeCloseTo(1 / 2 - 0.5 - 0.25, 12); // -0.25
    expect(p.has(3)).toBe(false);
  });
  it('zero is multiplied (stays 0), window -1 is the whole history, window 0 is off', () => {
    const all = new Sampler({ vocabSize: 3, repeatPenalty: 3, penaltyLastN: -1 });
    const p = all.penalties(f32([0, 6, -1]), [1, 0, 2, 2, 2, 2, 2, 2]);
    expect([p.get(0), p.get(1), p.get(2)]).toEqual([0, 2, -3]);
    const off = new Sampler({ vocabSize: 3, repeatPenalty: 3, penaltyLastN: 0 });
    expect(off.penalties(f32([0, 6, -1]), [1, 0, 2]).size).toBe(0);
    // window 2 of [1, 0, 2]: only 0 and 2 are penalised
    const two = new Sampler({ vocabSize: 3, repeatPenalty: 3, penaltyLastN: 2 });
    expect([...two.penalties(f32([0, 6, -1]), [1, 0, 2]).keys()].sort()).toEqual([0, 2]);
  });
});

describe('keep sets', () => {
  const cands = (o: SamplingOptions, logits: Float32Array): number[] => new Sampler({ vocabSize: logits.length, temperature: 1, ...o }).candidates(logits).ids;

  it('top-k keeps the k largest, best first, ties by lower id', () => {
    expect(cands({ ...OFF, topK: 3 }, f32([1, 5, 3, 5, 2, 0]))).toEqual([1, 3, 2]);
    expect(cands({ ...OFF, topK: 1 }, f32([1, 5, 3, 5, 2, 0]))).toEqual([1]);
    expect(cands({ ...OFF }, f32([1, 5, 3, 5, 2, 0]))).toEqual([1, 3, 2, 4, 0, 5]);
  });

  it('top-p keeps the shortest prefix reaching p (the crossing token included)', () => {
    const l = lnP([0.2, 0.5, 0.05, 0.15, 0.1]); // sorted: 1 (.5), 0 (.2), 3 (.15), 4 (.1), 2 (.05)
    expect(cands({ ...OFF, topP: 0.45 }, l)).toEqual([1]); // .5 ≥ .45
    expect(cands({ ...OFF, topP: 0.75 }, l)).toEqual([1, 0, 3]); // .5, .7, .85 ≥ .75
    expect(cands({ ...OFF, topP: 0.9 }, l)).toEqual([1, 0, 3, 4]); // .95 ≥ .9
    expect(cands({ ...OFF, topP: 0.99 }, l)).toEqual([1, 0, 3, 4, 2]);
  });

  it('top-p reaching far below the best logit (many small tokens) keeps the exact prefix', () => {
    // token 0 at 0, tokens 1..100 at -9, the rest -Infinity: p0 = 1/(1+100e^-9), each small q = e^-9/(1+100e^-9).
    // top-p 0.99 keeps token 0 and the first ceil((0.99 − p0)/q) small ones (equal logits: lower ids first).
    const V = 300;
    const l = new Float32Array(V).fill(-Infinity);
    l[0] = 0;
    for (let i = 1; i <= 100; i++) l[i] = -9;
    const e9 = Math.exp(-9);
    const p0 = 1 / (1 + 100 * e9);
    const q = e9 / (1 + 100 * e9);
    const n = Math.ceil((0.99 - p0) / q); // 18
    expect(n).toBe(18);
    expect(cands({ ...OFF, topP: 0.99 }, l)).toEqual(Array.from({ length: n + 1 }, (_, i) => i));
    expect(cands({ ...OFF, topP: 0.98 }, l)).toEqual([0]);
  });

  it('top-p renormalises over the top-k set', () => {
    const l = lnP([0.2, 0.5, 0.05, 0.15, 0.1]);
    // top-2 = {1: .5, 0: .2} → renormalised .714, 1.0: p = .7 keeps only token 1, p = .72 keeps both
    expect(cands({ ...OFF, topK: 2, topP: 0.7 }, l)).toEqual([1]);
    expect(cands({ ...OFF, topK: 2, topP: 0.72 }, l)).toEqual([1, 0]);
  });

  it('min-p keeps p ≥ minP · p_max', () => {
    const l = lnP([0.2, 0.5, 0.05, 0.15, 0.1]);
    expect(cands({ ...OFF, minP: 0.35 }, l)).toEqual([1, 0]); // ≥ .175
    expect(cands({ ...OFF, minP: 0.25 }, l)).toEqual([1, 0, 3]); // ≥ .125
    expect(cands({ ...OFF, minP: 1 }, l)).toEqual([1]);
    // with top-p .9 (keeps 4) and min-p .25 (keeps 3): the shorter wins
    expect(cands({ topK: 0, topP: 0.9, minP: 0.25 }, l)).toEqual([1, 0, 3]);
  });

  it('-Infinity logits are never candidates', () => {
    expect(cands({ ...OFF }, f32([-Infinity, 0, -Infinity, 1]))).toEqual([3, 1]);
  });
});

describe('seeded draws', () => {
  // |count − N·p| ≤ 5·sqrt(N·p·(1−p)): a false failure has probability < 1e-6 per check.
  function expectFrequencies(o: SamplingOptions, logits: Float32Array, probs: number[], N = 20000): void {
    const s = new Sampler({ vocabSize: logits.length, seed: 1234, ...o });
    const counts = new Array<number>(logits.length).fill(0);
    for (let i = 0; i < N; i++) counts[s.sample(logits)]!++;
    probs.forEach((p, i) => {
      const sd = Math.sqrt(N * p * (1 - p));
      expect(Math.abs(counts[i]! - N * p), `token ${i}: ${counts[i]} vs ${N * p}`).toBeLessThanOrEqual(5 * sd + 1e-9);
    });
  }

  it('temperature 1 follows softmax', () => {
    expectFrequencies({ ...OFF, temperature: 1 }, lnP([0.5, 0.3, 0.2]), [0.5, 0.3, 0.2]);
  });
  it('temperature 2 follows p^(1/2) normalised', () => {
    // sqrt(.5, .3, .2) = .70711, .54772, .44721; sum 1.70204 → .41545, .32181, .26275
    expectFrequencies({ ...OFF, temperature: 2 }, lnP([0.5, 0.3, 0.2]), [0.41545, 0.32181, 0.26275]);
  });
  it('temperature 0.5 follows p² normalised, after top-k', () => {
    // top-2 of (.4, .1, .3, .2) = {0, 2}; squares .16, .09 → .64, .36; tokens 1, 3 never
    expectFrequencies({ topK: 2, topP: 1, minP: 0, temperature: 0.5 }, lnP([0.4, 0.1, 0.3, 0.2]), [0.64, 0, 0.36, 0]);
  });
  it('the same seed gives the same stream; another seed another', () => {
    const l = lnP([0.25, 0.25, 0.25, 0.25]);
    const draw = (seed: number): number[] => {
      const s = new Sampler({ vocabSize: 4, seed, ...OFF, temperature: 1 });
      return Array.from({ length: 64 }, () => s.sample(l));
    };
    expect(draw(7)).toEqual(draw(7));
    expect(draw(7)).not.toEqual(draw(8));
  });
  it('full-size vocabulary with defaults stays fast', () => {
    const V = 151936;
    const l = new Float32Array(V);
    for (let i = 0; i < V; i++) l[i] = Math.sin(i * 12.9898) * 4;
    const s = new Sampler({ vocabSize: V, seed: 1 });
    const t0 = performance.now();
    for (let i = 0; i < 20; i++) s.sample(l, [1, 2, 3]);
    expect((performance.now() - t0) / 20).toBeLessThan(50);
  });
});

describe('invalid parameters → INVALID_ARGUMENT naming the parameter', () => {
  const bad: [keyof SamplingOptions | 'vocabSize', number][] = [
    ['temperature', -0.1], ['temperature', NaN], ['topK', -1], ['topK', 1.5], ['topP', 0], ['topP', 1.01], ['minP', -0.01],
    ['minP', 1.5], ['repeatPenalty', 0], ['repeatPenalty', Infinity], ['presencePenalty', NaN], ['frequencyPenalty', Infinity],
    ['penaltyLastN', -2], ['penaltyLastN', 2.5], ['seed', -1], ['seed', 0.5], ['vocabSize', 0],
  ];
  it.each(bad)('%s = %s', (parameter, value) => {
    let err: unknown;
    try {
      new Sampler({ vocabSize: 4, [parameter]: value });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(QwenHybridError);
    expect((err as QwenHybridError).code).toBe('INVALID_ARGUMENT');
    expect((err as QwenHybridError).details['parameter']).toBe(parameter);
    expect((err as Error).message).toContain(parameter);
  });
  it('a logits row of the wrong length', () => {
    expect(() => new Sampler({ vocabSize: 4 }).sample(new Float32Array(3))).toThrow(/logits/);
  });
});

describe('logit bias (added to the raw logit before the penalties; -Infinity or ≤ -100 bans)', () => {
  it('greedy: a ban moves the argmax to the second best; a positive bias can lift a token to the top', () => {
    const l = f32([1, 4, 3, -2]);
    expect(new Sampler({ vocabSize: 4, temperature: 0 }).sample(l)).toBe(1);
    expect(new Sampler({ vocabSize: 4, temperature: 0, logitBias: { 1: -Infinity } }).sample(l)).toBe(2);
    expect(new Sampler({ vocabSize: 4, temperature: 0, logitBias: new Map([[1, -100]]) }).sample(l)).toBe(2);
    // -2 + 6.5 = 4.5 > 4
    expect(new Sampler({ vocabSize: 4, temperature: 0, logitBias: { 3: 6.5 } }).sample(l)).toBe(3);
    // -2 + 5.5 = 3.5 < 4: still token 1
    expect(new Sampler({ vocabSize: 4, temperature: 0, logitBias: { 3: 5.5 } }).sample(l)).toBe(1);
    // JSON-style string keys
    expect(new Sampler({ vocabSize: 4, temperature: 0, logitBias: JSON.parse('{"1": -100, "2": -100}') as Record<number, number> }).sample(l)).toBe(0);
  });

  it('-99 is a (large) bias, not a ban: the token stays a candidate', () => {
    // logits 0 and 0; token 0 at -99 keeps e^-99 / (1 + e^-99) > 0 of the mass: still in the keep set
    const s = new Sampler({ vocabSize: 2, temperature: 1, ...OFF, logitBias: { 0: -99 } });
    expect(s.candidates(f32([0, 0])).ids).toEqual([1, 0]);
    expect(s.candidates(f32([0, 0])).logits).toEqual([0, -99]);
    const b = new Sampler({ vocabSize: 2, temperature: 1, ...OFF, logitBias: { 0: -100 } });
    expect(b.candidates(f32([0, 0])).ids).toEqual([1]);
  });

  it('is applied before the penalties (llama.cpp chain: logit_bias first)', () => {
    // token 0: (1 + 1) / 2 = 1 with the bias first; (1 / 2) + 1 = 1.5 if it came after. Token 1 at 1.2 decides.
    const s = new Sampler({ vocabSize: 2, temperature: 0, repeatPenalty: 2, logitBias: { 0: 1 } });
    expect(s.sample(f32([1, 1.2]), [0])).toBe(1);
    // and the sign rule of repeatPenalty looks at the biased logit: -1 + 5 = 4 > 0 → divided → 2 (penalty on the raw
    // logit, then the bias: -1 · 2 + 5 = 3). Token 1 at 2.5 decides.
    const t = new Sampler({ vocabSize: 2, temperature: 0, repeatPenalty: 2, logitBias: { 0: 5 } });
    expect(t.sample(f32([-1, 2.5]), [0])).toBe(1);
    expect(t.sample(f32([-1, 1.5]), [0])).toBe(0);
  });

  it('sampled: follows the biased softmax', () => {
    // logits ln(.5, .3, .2), token 0 biased by ln(1/5): weights .1, .3, .2 → 1/6, 1/2, 1/3
    const s = new Sampler({ vocabSize: 3, seed: 99, ...OFF, temperature: 1, logitBias: { 0: Math.log(0.2) } });
    const N = 20000;
    const counts = [0, 0, 0];
    for (let i = 0; i < N; i++) counts[s.sample(lnP([0.5, 0.3, 0.2]))]!++;
    [1 / 6, 1 / 2, 1 / 3].forEach((p, i) => expect(Math.abs(counts[i]! - N * p)).toBeLessThanOrEqual(5 * Math.sqrt(N * p * (1 - p))));
  });

  it('validation: ids are integers in [0, vocab), values finite or -Infinity, not everything banned', () => {
    const bad: unknown[] = [
      { 4: 1 }, { '-1': 1 }, { '1.5': 1 }, { ' 1': 1 }, { '01': 1 }, { x: 1 }, new Map([[-1, 1]]), new Map([[4, 1]]), new Map([['1', 1]]),
      { 0: NaN }, { 0: Infinity }, { 0: '1' }, [1, 2], 'x', 5,
      { 0: -Infinity, 1: -100, 2: -1e9, 3: -Infinity },
    ];
    for (const b of bad) {
      let err: unknown;
      try {
        new Sampler({ vocabSize: 4, logitBias: b as Record<number, number> });
      } catch (e) {
        err = e;
      }
      expect(err, String(b)).toBeInstanceOf(QwenHybridError);
      expect((err as QwenHybridError).code).toBe('INVALID_ARGUMENT');
      expect((err as QwenHybridError).details['parameter']).toBe('logitBias');
    }
    expect([...resolveLogitBias({ 0: 0, 1: -100, 2: 2.5, 3: -Infinity }, 4)]).toEqual([[1, -Infinity], [2, 2.5], [3, -Infinity]]);
  });

  it('the SAMPLE op cannot express a bias: fillSampleRow refuses it with INVALID_ARGUMENT', () => {
    const s = new Sampler({ vocabSize: 4, logitBias: { 1: -Infinity } });
    const cfg = new Float32Array(SAMPLE_CFG_WIDTH);
    const hist = new Int32Array(8);
    expect(() => s.fillSampleRow(cfg, hist, 0, 1, [], 0.5)).toThrow(/logitBias/);
    expect(() => new Sampler({ vocabSize: 4 }).fillSampleRow(cfg, hist, 0, 1, [], 0.5)).not.toThrow();
  });
});

describe('tokenLogprobs (float64 log-softmax of the raw row)', () => {
  it('crafted row: exact values and the top-k order with ties by lower id', () => {
    // logits ln(.1), ln(.4), ln(.1), ln(.4): log-softmax = the same ln p (they sum to 1)
    const l = [0.1, 0.4, 0.1, 0.4].map(Math.log);
    const r = tokenLogprobs(l, 2, 3);
    expect(r.logprob).toBeCloseTo(Math.log(0.1), 14);
    expect(r.topLogprobs.map((x) => x.token)).toEqual([1, 3, 0]);
    r.topLogprobs.forEach((x, i) => expect(x.logprob).toBeCloseTo(Math.log([0.4, 0.4, 0.1][i]!), 14));
    expect(tokenLogprobs(l, 0, 0).topLogprobs).toEqual([]);
    expect(tokenLogprobs(l, 0, 10).topLogprobs.map((x) => x.token)).toEqual([1, 3, 0, 2]);
  });
  it('shift invariance and large logits: [1000, 1001] → ln(1/(1+e)), ln(e/(1+e))', () => {
    const r = tokenLogprobs(f32([1000, 1001]), 0, 2);
    expect(r.logprob).toBeCloseTo(-Math.log(1 + Math.E), 12);
    expect(r.topLogprobs[0]).toEqual({ token: 1, logprob: expect.closeTo(1 - Math.log(1 + Math.E), 12) });
  });
  it('-Infinity logits get logprob -Infinity and rank last', () => {
    const r = tokenLogprobs(f32([-Infinity, 0, 0]), 0, 3);
    expect(r.logprob).toBe(-Infinity);
    expect(r.topLogprobs.map((x) => x.token)).toEqual([1, 2, 0]);
    expect(r.topLogprobs[0]!.logprob).toBeCloseTo(Math.log(0.5), 14);
  });
});

