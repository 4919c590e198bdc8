/**
 * Shared helpers of the SAMPLE op tests (test/ops/sample.test.ts on the CPU backend, test/gpu/sample.test.ts
 * CUDA vs CPU): seeded rows (logits, options, history, u), the packing of rows into the op's inputs through
 * Sampler.fillSampleRow, the Sampler's own answer (sampleWith), and the fragility check.
 *
 * Fragility: the op takes f32 parameters, and the CUDA op computes in f32, so a row whose answer would change
 * under a tiny perturbation of a decision boundary cannot be compared exactly. A row is ROBUST at margin δ when
 * Sampler.sampleWith gives the same token for u ± δ, top_p ± δ and min_p · (1 ± δ) (each clamped to its valid
 * range): u ± δ covers an error of δ·z in the cumulative walk, top_p ± δ an error of δ in the top-p cumulative
 * probability, min_p · (1 ± δ) an error of ~δ in a logit against the min-p threshold. Fragile rows are redrawn
 * (a new u, then new logits) and counted.
 */
import { GraphBuilder, OpKind } from '../../src/model/graph/index.js';
import { Rng } from '../../src/quant/rng.js';
import type { Backend } from '../../src/runtime/backend.js';
import { DEFAULT_SAMPLING, SAMPLE_CFG_WIDTH, Sampler, type SamplingOptions } from '../../src/runtime/sampler.js';

export type LogitsKind = 'randn' | 'ties' | 'peaked';

export interface SampleRow {
  /** f32-representable options, defaults filled in (so the op and the Sampler see the same values). */
  opts: SamplingOptions;
  logits: Float32Array;
  /** Token history (the Sampler windows it by penaltyLastN; fillSampleRow puts the window into hist). */
  history: number[];
  u: number;
}

/** Options with the defaults filled in and every float rounded to f32 (what the op's cfg row holds). */
export function f32Options(o: SamplingOptions): SamplingOptions {
  const r: SamplingOptions = { ...DEFAULT_SAMPLING, ...o };
  for (const k of ['temperature', 'topP', 'minP', 'repeatPenalty', 'presencePenalty', 'frequencyPenalty'] as const) r[k] = Math.fround(r[k]!);
  return r;
}

export function makeLogits(rng: Rng, V: number, kind: LogitsKind): Float32Array {
  const a = new Float32Array(V);
  for (let i = 0; i < V; i++) {
    if (kind === 'ties') a[i] = rng.int(5);
    else if (kind === 'peaked') a[i] = rng.normal() * 4;
    else a[i] = rng.normal() * 2;
  }
  return a;
}

/** A uniform draw as the Sampler makes it: a multiple of 2^-24 in [0, 1). */
export function drawU(rng: Rng): number {
  return Math.floor(rng.float() * 16777216) / 16777216;
}

export function samplerFor(V: number, opts: SamplingOptions): Sampler {
  return new Sampler({ vocabSize: V, seed: 0, ...opts });
}

/** Sampler.sampleWith for the row. */
export function expectedToken(V: number, row: SampleRow): number {
  return samplerFor(V, row.opts).sampleWith(row.logits, row.history, row.u);
}

/** True when the Sampler's token is unchanged under the perturbations of the header comment at margin δ. */
export function robust(V: number, row: SampleRow, delta: number): boolean {
  const want = expectedToken(V, row);
  const o = row.opts;
  const below1 = 1 - 2 ** -24;
  const variants: { opts: SamplingOptions; u: number }[] = [
    { opts: o, u: Math.max(0, row.u - delta) },
    { opts: o, u: Math.min(below1, row.u + delta) },
  ];
  const topP = o.topP!;
  if (topP < 1) {
    variants.push({ opts: { ...o, topP: Math.max(1e-9, topP - delta) }, u: row.u });
    variants.push({ opts: { ...o, topP: Math.min(1, topP + delta) }, u: row.u });
  }
  const minP = o.minP!;
  if (minP > 0) {
    variants.push({ opts: { ...o, minP: minP * (1 - delta) }, u: row.u });
    variants.push({ opts: { ...o, minP: Math.min(1, minP * (1 + delta)) }, u: row.u });
  }
  return variants.every((v) => samplerFor(V, v.opts).sampleWith(row.logits, row.history, v.u) === want);
}

export interface DrawStats {
  rows: number;
  /** Rows whose u was redrawn, and rows whose logits were redrawn, because they were fragile. */
  uRedraws: number;
  logitRedraws: number;
}

/**
 * Rows for `specs` (options + history per row) with seeded logits and u, each robust at margin δ: a fragile
 * row gets a new u (up to 3 times), then new logits.
 */
export function drawRows(
  rng: Rng,
  V: number,
  kind: LogitsKind,
  specs: readonly { opts: SamplingOptions; history: number[] }[],
  delta: number,
  stats: DrawStats,
): SampleRow[] {
  return specs.map((s) => {
    const opts = f32Options(s.opts);
    for (;;) {
      const logits = makeLogits(rng, V, kind);
      for (let t = 0; t < 4; t++) {
        const row = { opts, logits, history: s.history, u: drawU(rng) };
        if (robust(V, row, delta)) {
          stats.rows++;
          return row;
        }
        if (t < 3) stats.uRedraws++;
      }
      stats.logitRedraws++;
    }
  });
}

/** The op's inputs for `rows` (one Sampler per row fills its cfg and hist rows), hist width N. */
export function packRows(V: number, rows: readonly SampleRow[], N: number): { logits: Float32Array; hist: Int32Array; cfg: Float32Array } {
  const R = rows.length;
  const logits = new Float32Array(V * R);
  const hist = new Int32Array(N * R);
  const cfg = new Float32Array(SAMPLE_CFG_WIDTH * R);
  rows.forEach((row, r) => {
    logits.set(row.logits, r * V);
    samplerFor(V, row.opts).fillSampleRow(cfg, hist, r, R, row.history, row.u);
  });
  return { logits, hist, cfg };
}

/** Runs SAMPLE as a one-op graph on `be`. */
export async function runSample(be: Backend, V: number, R: number, N: number, inputs: { logits: Float32Array; hist: Int32Array; cfg: Float32Array }): Promise<Int32Array> {
  const g = new GraphBuilder();
  const y = g.op(
    OpKind.SAMPLE,
    [g.input('logits', 'f32', [V, R]), g.input('hist', 'i32', [N, R]), g.input('cfg', 'f32', [SAMPLE_CFG_WIDTH, R])],
    [{ dtype: 'i32', shape: [R] }],
  );
  g.output('id', y[0]!);
  const plan = be.compile(g.build());
  try {
    const r = await plan.run({ logits: inputs.logits, hist: inputs.hist, cfg: inputs.cfg });
    return r.id as Int32Array;
  } finally {
    plan.dispose();
  }
}

/** Seeded history: `n` tokens from a pool of `pool` ids (so repeats occur), plus the given extra entries. */
export function makeHistory(rng: Rng, n: number, pool: number, extra: number[] = []): number[] {
  const h = Array.from({ length: n }, () => rng.int(pool));
  return [...h, ...extra];
}

/**
 * The option sets every case runs, by name: greedy, each filter alone, combined, penalties, edge values.
 * `V` picks top_k values relative to the vocabulary.
 */
export function optionSets(V: number): { name: string; opts: SamplingOptions }[] {
  const OFF = { topK: 0, topP: 1, minP: 0 };
  return [
    { name: 'greedy', opts: { temperature: 0 } },
    { name: 'greedy + penalties', opts: { temperature: 0, repeatPenalty: 1.25, frequencyPenalty: 0.5, presencePenalty: 0.25 } },
    { name: 'no filter, T 1', opts: { ...OFF, temperature: 1 } },
    { name: 'no filter, T 0.7', opts: { ...OFF, temperature: 0.7 } },
    { name: 'top-k 1', opts: { ...OFF, topK: 1, temperature: 1 } },
    { name: 'top-k 5', opts: { ...OFF, topK: Math.min(5, V), temperature: 0.9 } },
    { name: 'top-k 40', opts: { ...OFF, topK: 40, temperature: 1.3 } },
    { name: 'top-k > V', opts: { ...OFF, topK: V + 3, temperature: 1 } },
    { name: 'top-p 0.9', opts: { ...OFF, topP: 0.9, temperature: 1 } },
    { name: 'top-p 0.5', opts: { ...OFF, topP: 0.5, temperature: 0.8 } },
    { name: 'min-p 0.1', opts: { ...OFF, minP: 0.1, temperature: 1 } },
    { name: 'min-p 1', opts: { ...OFF, minP: 1, temperature: 1 } },
    { name: 'defaults (k 40, p .95, min-p .05, T .8)', opts: {} },
    { name: 'top-k 20 + top-p 0.8', opts: { ...OFF, topK: 20, topP: 0.8, temperature: 1 } },
    { name: 'top-p 0.9 + min-p 0.2', opts: { ...OFF, topP: 0.9, minP: 0.2, temperature: 1.1 } },
    { name: 'all + penalties', opts: { topK: 30, topP: 0.9, minP: 0.02, temperature: 0.9, repeatPenalty: 1.25, frequencyPenalty: 0.5, presencePenalty: 0.25, penaltyLastN: 16 } },
    { name: 'penalties only, window 8', opts: { ...OFF, temperature: 1, repeatPenalty: 1.5, frequencyPenalty: 0.25, penaltyLastN: 8 } },
  ];
}

/**
 * A TS model of native/cuda/sample.cu's algorithm, step for step (sanitised cfg, f32 penalties, order-preserving
 * keys, Bound prefixes, 4-level radix descent on 256-bin histograms of 2^-40 fixed-point weights, tie groups
 * walked in id order, the id-order draw), with f32 arithmetic emulated by Math.fround and expf by a rounded
 * Math.exp. It checks the kernel's LOGIC on this machine (no GPU here); the CUDA mechanics (block scans,
 * atomics, barriers) are checked only by test/gpu/sample.test.ts. Sums are Numbers: exact for V <= 8192
 * (V·2^40 < 2^53), the sizes the model is run at.
 */
export function cudaModel(V: number, x: Float32Array, h: Int32Array, c: Float32Array): number {
  const f = Math.fround;
  const greedy = !(c[0]! > 0);
  const temp = c[0]!;
  const topK = c[1]! >= 1 && c[1]! < V;
  const k = topK ? Math.trunc(c[1]!) : 0;
  const topP = c[2]! < 1;
  const p = c[2]!;
  const minP = c[3]! > 0;
  const mpv = Math.min(c[3]!, 1);
  const [rep, pres, freq] = [c[4]!, c[5]!, c[6]!];
  const u0 = c[7]!;
  const u = u0 >= 0 && u0 < 1 ? u0 : u0 >= 1 ? f(1 - 2 ** -24) : 0;

  const vals = Float32Array.from(x);
  for (let j = 0; j < h.length; j++) {
    const t = h[j]!;
    if (t < 0 || t >= V || h.subarray(0, j).includes(t)) continue;
    let n = 0;
    for (let e = j; e < h.length; e++) n += h[e] === t ? 1 : 0;
    let l = x[t]!;
    l = l <= 0 ? f(l * rep) : f(l / rep);
    vals[t] = f(l - f(f(n * freq) + pres));
  }
  let best = -Infinity;
  let bi = 0x7fffffff;
  for (let i = 0; i < V; i++) {
    const v = vals[i]!;
    if (Number.isNaN(v)) return -1;
    if (v > best || (v === best && i < bi)) {
      best = v;
      bi = i;
    }
  }
  if (greedy || !Number.isFinite(best)) return bi;

  const bits = new Uint32Array(1);
  const fl = new Float32Array(bits.buffer);
  const keyOf = (v: number): number => {
    fl[0] = v === 0 ? 0 : v;
    const b = bits[0]!;
    return (b & 0x80000000 ? ~b : b | 0x80000000) >>> 0;
  };
  const keys = Array.from(vals, keyOf);
  const FINITE_LO = 0x00800000;
  type Bound = { key: number; id: number };
  const member = (i: number, b: Bound, lo: number): boolean => keys[i]! >= lo && (keys[i]! > b.key || (keys[i] === b.key && i <= b.id));
  // expf: within an ulp or two of e^x; rounding Math.exp to f32 models it.
  const weight = (count: boolean, tdiv: number, v: number): number => (count ? 1 : Math.round(f(f(Math.exp(f(f(v - best) / tdiv))) * 2 ** 40)));
  const crosses = (cum: number, tau: number, inclusive: boolean): boolean => (inclusive ? cum >= tau : cum > tau);

  const idOrder = (b: Bound, lo: number, tieKey: number | null, count: boolean, tdiv: number, base: number, tauAbs: number, tauFrac: number, inclusive: boolean): number => {
    const inSet = (i: number): boolean => member(i, b, lo) && (tieKey === null || keys[i] === tieKey);
    let total = 0;
    for (let i = 0; i < V; i++) if (inSet(i)) total += weight(count, tdiv, vals[i]!);
    const tau = tauAbs + tauFrac * total;
    let cum = base;
    for (let i = 0; i < V; i++) {
      if (!inSet(i)) continue;
      const w = weight(count, tdiv, vals[i]!);
      if (w === 0) continue;
      cum += w;
      if (crosses(cum, tau, inclusive)) return i;
    }
    return -1;
  };
  const bestFirst = (b: Bound, lo: number, count: boolean, tdiv: number, tauAbs: number, tauFrac: number, inclusive: boolean): Bound | null => {
    let prefix = 0;
    let mask = 0;
    let base = 0;
    let tau = 0;
    for (let level = 0; level < 4; level++) {
      const shift = 24 - 8 * level;
      const hist = new Array<number>(256).fill(0);
      for (let i = 0; i < V; i++) {
        if ((keys[i]! & mask) >>> 0 !== prefix || !member(i, b, lo)) continue;
        const w = weight(count, tdiv, vals[i]!);
        const d = (keys[i]! >>> shift) & 255;
        if (w) hist[d] = hist[d]! + w;
      }
      if (level === 0) tau = tauAbs + tauFrac * hist.reduce((a, v) => a + v, 0);
      let above = 0;
      let digit = -1;
      for (let d = 255; d >= 0; d--) {
        if (hist[d]! > 0 && crosses(base + above + hist[d]!, tau, inclusive)) {
          digit = d;
          break;
        }
        above += hist[d]!;
      }
      if (digit < 0) return null;
      base += above;
      prefix = (prefix | (digit << shift)) >>> 0;
      mask = (mask | (0xff << shift)) >>> 0;
    }
    const id = idOrder(b, lo, prefix, count, tdiv, base, tau, 0, inclusive);
    return id >= 0 ? { key: prefix, id } : null;
  };

  let b: Bound = { key: 0, id: 0x7fffffff };
  if (topK) b = bestFirst(b, FINITE_LO, true, 1, k, 0, true) ?? b;
  if (topP) b = bestFirst(b, FINITE_LO, false, 1, 0, p, true) ?? b;
  const lo = minP ? Math.max(FINITE_LO, keyOf(f(best + f(Math.log(mpv))))) : FINITE_LO;
  const id = topK || topP ? (bestFirst(b, lo, false, temp, 0, u, false)?.id ?? bi) : idOrder(b, lo, null, false, temp, 0, 0, u, false);
  return id >= 0 ? id : bi;
}
