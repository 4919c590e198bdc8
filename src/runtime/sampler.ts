/**
 * Token sampler with llama.cpp's default chain semantics (src/llama-sampling.cpp, common/sampling.cpp):
 *   logit bias → penalties → top-k → top-p → min-p → temperature → seeded draw
 * temperature 0 = greedy: logit bias, penalties, then argmax (lowest id on ties).
 *
 * - logit bias (OpenAI `logit_bias`, llama.cpp `--logit-bias`): l_t ← l_t + b_t; b_t = -Infinity or b_t ≤ -100 bans t
 *   (l_t ← -Infinity, so t is never a candidate). Ids are validated against vocabSize when the Sampler is built;
 *   the SAMPLE op has no bias input, so `fillSampleRow` refuses a Sampler with a bias (sample on the host).
 * - penalties over the last `penaltyLastN` history tokens, token t seen c(t) > 0 times:
 *     l ← l / repeat  if l > 0,  l · repeat  if l ≤ 0;   l ← l − c(t)·frequency − presence
 * - top-k keeps the k largest logits (k = 0: off);
 * - top-p: sort descending, p = softmax of the kept logits (temperature 1), keep the shortest prefix whose
 *   cumulative p ≥ topP (the token that crosses is kept; topP = 1: off);
 * - min-p keeps l ≥ l_max + ln(minP) (minP = 0: off);
 * - temperature: l / T; walk the cumulative softmax of the kept tokens in the kept list's order (best first;
 *   id order when only min-p or nothing truncates) to the first token with u·z < cum.
 * Ties in every ordering break by lower id, so a seed fully determines the stream.
 *
 * The draw u is split from the chain so that the device can run the chain (the SAMPLE op, native/core/op_list.h)
 * on the same stream of draws as the host:
 * - `nextUniform()` draws u from the seeded Rng: a multiple of 2^-24 in [0, 1), so it is exact in the op's f32
 *   cfg row. `sample()` draws exactly once on EVERY non-greedy step (temperature > 0), even when one candidate
 *   survives, and never on a greedy one: the stream depends on the options only, never on the logits.
 * - `sampleWith(logits, history, u)` is the chain for a given u; `sample(logits, history)` = both.
 * - `fillSampleRow(cfg, hist, row, history, u)` writes one row of the SAMPLE op's cfg {8, R} and hist {N, R}
 *   inputs; `checkDeviceSample(id)` turns the op's result into the token (-1, a NaN logit, throws as here).
 * The op computes in f32 parameters (and f32 arithmetic on CUDA), so it can differ from `sampleWith` only where u·z
 * or a top-p / min-p threshold falls within rounding distance of a boundary (test/ops/sample.test.ts).
 */
import { QwenHybridError } from '../errors.js';
import { Rng } from '../quant/rng.js';

export interface SamplingOptions {
  /** 0 = greedy. Default 0.8. */
  temperature?: number;
  /** 0 = off. Default 40. */
  topK?: number;
  /** In (0, 1]; 1 = off. Default 0.95. */
  topP?: number;
  /** In [0, 1]; 0 = off. Default 0.05. */
  minP?: number;
  /** > 0; 1 = off. Default 1. */
  repeatPenalty?: number;
  /** Default 0. */
  presencePenalty?: number;
  /** Default 0. */
  frequencyPenalty?: number;
  /** History window for the penalties; -1 = whole history, 0 = off. Default 64. */
  penaltyLastN?: number;
  /** Non-negative safe integer. Default: a random seed. */
  seed?: number;
  /**
   * Token id → bias added to its raw logit before the penalties (OpenAI `logit_bias`). A bias of -Infinity or ≤ -100
   * bans the token. Ids: integers in [0, vocabSize); values: finite or -Infinity. Record keys may be decimal strings
   * (`{"42": -100}` from JSON). Default: none.
   */
  logitBias?: LogitBias;
}

export type LogitBias = Readonly<Record<number, number>> | ReadonlyMap<number, number>;

/** The numeric options, which `resolveSampling` fills with defaults (the logit bias needs vocabSize: `resolveLogitBias`). */
export type ScalarSamplingOptions = Omit<SamplingOptions, 'seed' | 'logitBias'>;

/** A bias at or below this bans the token (OpenAI: "-100 should result in a ban"). */
export const LOGIT_BIAS_BAN = -100;

export const DEFAULT_SAMPLING: Required<ScalarSamplingOptions> = {
  temperature: 0.8,
  topK: 40,
  topP: 0.95,
  minP: 0.05,
  repeatPenalty: 1,
  presencePenalty: 0,
  frequencyPenalty: 0,
  penaltyLastN: 64,
};

function invalid(parameter: string, value: unknown, want: string): never {
  throw new QwenHybridError('INVALID_ARGUMENT', `sampling: ${parameter} must be ${want}, got ${String(value)}`, { parameter, value });
}

/** Validated options with defaults filled in. */
export function resolveSampling(opts: SamplingOptions): Required<ScalarSamplingOptions> & { seed: number | undefined } {
  const o = { ...DEFAULT_SAMPLING, ...Object.fromEntries(Object.entries(opts).filter(([k, v]) => v !== undefined && k !== 'logitBias')) } as Required<ScalarSamplingOptions> & { seed?: number };
  const num = (k: keyof ScalarSamplingOptions): number => {
    const v = o[k];
    if (typeof v !== 'number' || !Number.isFinite(v)) invalid(k, v, 'a finite number');
    return v;
  };
  if (num('temperature') < 0) invalid('temperature', o.temperature, '≥ 0 (0 = greedy)');
  if (!Number.isInteger(num('topK')) || o.topK < 0) invalid('topK', o.topK, 'an integer ≥ 0 (0 = off)');
  if (!(num('topP') > 0 && o.topP <= 1)) invalid('topP', o.topP, 'in (0, 1]');
  if (!(num('minP') >= 0 && o.minP <= 1)) invalid('minP', o.minP, 'in [0, 1]');
  if (!(num('repeatPenalty') > 0)) invalid('repeatPenalty', o.repeatPenalty, '> 0 (1 = off)');
  num('presencePenalty');
  num('frequencyPenalty');
  if (!Number.isInteger(num('penaltyLastN')) || o.penaltyLastN < -1) invalid('penaltyLastN', o.penaltyLastN, 'an integer ≥ -1 (-1 = whole history)');
  const seed = opts.seed;
  if (seed !== undefined && !(Number.isSafeInteger(seed) && seed >= 0)) invalid('seed', seed, 'a non-negative safe integer');
  return { ...o, seed };
}

/**
 * The validated bias as id → value, values ≤ LOGIT_BIAS_BAN turned into -Infinity; zero biases dropped. Throws
 * INVALID_ARGUMENT (parameter 'logitBias') for an id that is not an integer in [0, vocabSize), a value that is
 * neither finite nor -Infinity, or a bias that bans every token.
 */
export function resolveLogitBias(bias: LogitBias | undefined, vocabSize: number): Map<number, number> {
  const out = new Map<number, number>();
  if (bias === undefined) return out;
  if (bias === null || typeof bias !== 'object' || Array.isArray(bias)) invalid('logitBias', bias, 'a Map or an object of token id → bias');
  const isMap = bias instanceof Map;
  const entries: [unknown, unknown][] = isMap ? [...bias.entries()] : Object.entries(bias);
  for (const [k, v] of entries) {
    // Record keys are strings: only canonical decimal integers ("42", not "4.2e1" or " 42"). Map keys are numbers.
    const id = !isMap && typeof k === 'string' && /^(0|[1-9][0-9]*)$/.test(k) ? Number(k) : k;
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= vocabSize) {
      invalid('logitBias', `key ${JSON.stringify(k) ?? String(k)}`, `keyed by token ids (integers in [0, ${vocabSize}))`);
    }
    if (typeof v !== 'number' || !(Number.isFinite(v) || v === -Infinity)) invalid('logitBias', `${String(v)} for token ${id}`, 'finite or -Infinity');
    if (v <= LOGIT_BIAS_BAN) out.set(id, -Infinity);
    else if (v !== 0) out.set(id, v);
  }
  let banned = 0;
  for (const v of out.values()) if (v === -Infinity) banned++;
  if (banned === vocabSize) invalid('logitBias', `${banned} bans`, 'leaving at least one token unbanned');
  return out;
}

/** One token's log-probability. */
export interface TokenLogprob {
  token: number;
  logprob: number;
}

/**
 * Log-softmax of a raw logits row in float64: ln p(token) = l_token − (m + ln Σ_i e^(l_i − m)), m = max l, and the
 * `k` most likely tokens (descending, ties by lower id). -Infinity logits have logprob -Infinity.
 */
export function tokenLogprobs(logits: ArrayLike<number>, token: number, k: number): { logprob: number; topLogprobs: TokenLogprob[] } {
  const V = logits.length;
  let m = -Infinity;
  for (let i = 0; i < V; i++) if (logits[i]! > m) m = logits[i]!;
  let z = 0;
  for (let i = 0; i < V; i++) z += Math.exp(logits[i]! - m);
  const lse = m + Math.log(z);
  // Best k by a sorted insertion (k ≤ 20): ids scanned in ascending order, so an equal logit never displaces.
  const ids: number[] = [];
  for (let i = 0; i < V && k > 0; i++) {
    const l = logits[i]!;
    if (ids.length === k && !(l > logits[ids[k - 1]!]!)) continue;
    let j = ids.length < k ? ids.length : k - 1;
    while (j > 0 && l > logits[ids[j - 1]!]!) j--;
    ids.splice(j, 0, i);
    if (ids.length > k) ids.pop();
  }
  return { logprob: logits[token]! - lse, topLogprobs: ids.map((t) => ({ token: t, logprob: logits[t]! - lse })) };
}

export class Sampler {
  readonly vocabSize: number;
  readonly options: Readonly<ReturnType<typeof resolveSampling>>;
  /** Validated logit bias (resolveLogitBias): id → added value, -Infinity = banned. Empty: none. */
  readonly logitBias: ReadonlyMap<number, number>;
  private readonly rng: Rng;
  /** Scratch: candidate ids and their working logits. */
  private ids: Int32Array;
  private vals: Float64Array;

  constructor(opts: SamplingOptions & { vocabSize: number }) {
    const { vocabSize, logitBias, ...rest } = opts;
    if (!Number.isInteger(vocabSize) || vocabSize < 1) invalid('vocabSize', vocabSize, 'a positive integer');
    this.vocabSize = vocabSize;
    this.options = resolveSampling(rest);
    this.logitBias = resolveLogitBias(logitBias, vocabSize);
    this.rng = new Rng(this.options.seed ?? Math.floor(Math.random() * 2 ** 48));
    this.ids = new Int32Array(vocabSize);
    this.vals = new Float64Array(vocabSize);
  }

  /** Penalised logits for the tokens in the window (id → new logit); other logits are unchanged. */
  penalties(logits: ArrayLike<number>, history: readonly number[]): Map<number, number> {
    const o = this.options;
    const out = new Map<number, number>();
    if (o.penaltyLastN === 0 || (o.repeatPenalty === 1 && o.presencePenalty === 0 && o.frequencyPenalty === 0)) return out;
    const from = o.penaltyLastN < 0 ? 0 : Math.max(0, history.length - o.penaltyLastN);
    const counts = new Map<number, number>();
    for (let i = from; i < history.length; i++) {
      const t = history[i]!;
      if (t >= 0 && t < this.vocabSize) counts.set(t, (counts.get(t) ?? 0) + 1);
    }
    for (const [t, c] of counts) {
      let l = logits[t]!;
      l = l <= 0 ? l * o.repeatPenalty : l / o.repeatPenalty;
      l -= c * o.frequencyPenalty + o.presencePenalty;
      out.set(t, l);
    }
    return out;
  }

  /**
   * The candidates that survive logit bias → penalties → top-k → top-p → min-p, as (id, logit at temperature 1) sorted
   * by logit descending then id ascending. Greedy returns the single argmax.
   */
  candidates(logits: ArrayLike<number>, history: readonly number[] = []): { ids: number[]; logits: number[] } {
    const ids = this.keep(logits, history, true);
    return { ids, logits: ids.map((i) => this.vals[i]!) };
  }

  /**
   * Kept ids. Sorted best first whenever a filter truncates by rank (top-k, top-p); with only min-p (or no
   * filter) and `sorted` false they come in id order, which spares sorting the whole vocabulary.
   */
  private keep(logits: ArrayLike<number>, history: readonly number[], sorted: boolean): number[] {
    const V = this.vocabSize;
    if (logits.length !== V) invalid('logits', `length ${logits.length}`, `of length vocabSize ${V}`);
    const o = this.options;
    const vals = this.vals;
    if (ArrayBuffer.isView(logits)) vals.set(logits as unknown as ArrayLike<number>);
    else for (let i = 0; i < V; i++) vals[i] = logits[i]!;
    for (const [t, b] of this.logitBias) vals[t] = b === -Infinity ? -Infinity : vals[t]! + b;
    for (const [t, l] of this.penalties(vals, history)) vals[t] = l;
    let max = -Infinity;
    let arg = 0;
    for (let i = 0; i < V; i++) {
      const l = vals[i]!;
      if (l > max) {
        max = l;
        arg = i;
      } else if (l !== l) invalid('logits', `NaN at token ${i}`, 'free of NaN');
    }
    if (o.temperature === 0 || max === Infinity || max === -Infinity) return [arg];

    const byRank = (a: number, b: number): number => vals[b]! - vals[a]! || a - b;
    // min-p: l ≥ l_max + ln(minP). Its threshold depends only on the max logit, so it commutes with top-k and
    // top-p (all three keep a best-first prefix): apply it as a filter on whatever they keep.
    const minLogit = o.minP > 0 ? max + Math.log(o.minP) : -Infinity;
    const topK = o.topK > 0 && o.topK < V;
    if (topK) {
      const set = selectTop(vals, V, o.topK, byRank);
      let cut = set.length;
      if (o.topP < 1) {
        let z = 0; // softmax normaliser over the top-k set
        for (const i of set) z += Math.exp(vals[i]! - max);
        cut = topPCut(set, vals, max, z, o.topP);
      }
      return set.slice(0, cut).filter((i) => vals[i]! >= minLogit);
    }
    const above = (theta: number): number[] => {
      const out: number[] = [];
      const ids = this.ids;
      let n = 0;
      for (let i = 0; i < V; i++) if (vals[i]! >= theta && vals[i]! > -Infinity) ids[n++] = i;
      for (let j = 0; j < n; j++) out.push(ids[j]!);
      return out;
    };
    if (o.topP < 1) {
      // The top-p prefix lies inside S = {l ≥ θ} as soon as S's probability mass reaches topP (S is itself a
      // best-first prefix): lower θ in steps until it does, or until θ reaches the min-p threshold, or S holds
      // every finite token (its mass can round below topP). A step lost to rounding (|θ| huge) jumps to the end.
      let z = 0;
      let finite = 0;
      for (let i = 0; i < V; i++) {
        z += Math.exp(vals[i]! - max);
        if (vals[i]! > -Infinity) finite++;
      }
      let theta = Math.max(minLogit, max - 8);
      for (;;) {
        const set = above(theta);
        let mass = 0;
        for (const i of set) mass += Math.exp(vals[i]! - max) / z;
        if (mass >= o.topP || theta <= minLogit || set.length === finite) {
          set.sort(byRank);
          return set.slice(0, topPCut(set, vals, max, z, o.topP));
        }
        const next = Math.max(minLogit, theta - 8);
        theta = next < theta ? next : minLogit;
      }
    }
    const set = above(minLogit);
    if (sorted) set.sort(byRank);
    return set;
  }

  /** The next uniform draw of the seeded stream: a multiple of 2^-24 in [0, 1) (exact as an f32). */
  nextUniform(): number {
    return Math.floor(this.rng.float() * 16777216) / 16777216;
  }

  /**
   * Samples the next token from a logits row (vocabSize long). `history`: tokens so far, for the penalties.
   * Draws one uniform on every non-greedy step (temperature > 0), none on a greedy one.
   */
  sample(logits: ArrayLike<number>, history: readonly number[] = []): number {
    return this.sampleWith(logits, history, this.options.temperature > 0 ? this.nextUniform() : 0);
  }

  /** The chain for a given uniform draw u in [0, 1) (ignored when greedy or when one candidate survives). */
  sampleWith(logits: ArrayLike<number>, history: readonly number[], u: number): number {
    if (!(u >= 0 && u < 1)) invalid('u', u, 'in [0, 1)');
    const ids = this.keep(logits, history, false);
    if (ids.length === 1) return ids[0]!;
    const t = this.options.temperature;
    let m = -Infinity;
    for (const i of ids) m = Math.max(m, this.vals[i]!);
    const w = ids.map((i) => Math.exp((this.vals[i]! - m) / t));
    let z = 0;
    for (const x of w) z += x;
    const target = u * z;
    let cum = 0;
    for (let j = 0; j < w.length; j++) {
      cum += w[j]!;
      if (target < cum) return ids[j]!;
    }
    return ids[ids.length - 1]!;
  }

  /**
   * Writes row `row` of the SAMPLE op's inputs: cfg {8, R} = [temperature, topK, topP, minP, repeatPenalty,
   * presencePenalty, frequencyPenalty, u] and hist {N, R} (N = hist.length / R, given by `rows`) = the penalty
   * window of `history` (its last min(history.length, penaltyLastN) tokens, oldest first), padded with -1; no
   * tokens when the penalties are off. Throws INVALID_ARGUMENT when the window holds more than N tokens (e.g.
   * penaltyLastN = -1 with a long history), or when a logit bias is set (the op has no input for it): sample that
   * step on the host instead.
   */
  fillSampleRow(cfg: Float32Array, hist: Int32Array, row: number, rows: number, history: readonly number[], u: number): void {
    if (this.logitBias.size > 0) invalid('logitBias', `${this.logitBias.size} biased tokens`, 'empty for device sampling (the SAMPLE op has no bias input)');
    if (!(u >= 0 && u < 1)) invalid('u', u, 'in [0, 1)');
    if (!(Number.isInteger(rows) && rows >= 1 && Number.isInteger(row) && row >= 0 && row < rows)) invalid('row', row, `an integer in [0, ${rows})`);
    if (cfg.length !== SAMPLE_CFG_WIDTH * rows) invalid('cfg', `length ${cfg.length}`, `of length ${SAMPLE_CFG_WIDTH} * ${rows}`);
    const N = hist.length / rows;
    if (!(Number.isInteger(N) && N >= 1)) invalid('hist', `length ${hist.length}`, `a positive multiple of ${rows}`);
    const o = this.options;
    const c = cfg.subarray(row * SAMPLE_CFG_WIDTH, (row + 1) * SAMPLE_CFG_WIDTH);
    c.set([o.temperature, o.topK, o.topP, o.minP, o.repeatPenalty, o.presencePenalty, o.frequencyPenalty, u]);
    const off = o.penaltyLastN === 0 || (o.repeatPenalty === 1 && o.presencePenalty === 0 && o.frequencyPenalty === 0);
    const n = off ? 0 : o.penaltyLastN < 0 ? history.length : Math.min(o.penaltyLastN, history.length);
    if (n > N) invalid('penaltyLastN', o.penaltyLastN, `a window of at most ${N} tokens for device sampling (the history has ${history.length})`);
    const h = hist.subarray(row * N, (row + 1) * N);
    h.fill(-1);
    for (let j = 0; j < n; j++) h[j] = history[history.length - n + j]!;
  }

  /** The SAMPLE op's result as a token: -1 (a NaN logit after the penalties) throws as `sample` does. */
  checkDeviceSample(id: number): number {
    if (!(Number.isInteger(id) && id >= 0 && id < this.vocabSize)) invalid('logits', `device sample ${id}`, 'free of NaN');
    return id;
  }
}

/** Width of a row of the SAMPLE op's cfg input. */
export const SAMPLE_CFG_WIDTH = 8;

/** Length of the shortest best-first prefix of `sorted` whose probability e^(l − max)/z sums to ≥ p (≥ 1). */
function topPCut(sorted: readonly number[], vals: Float64Array, max: number, z: number, p: number): number {
  let cum = 0;
  for (let j = 0; j < sorted.length; j++) {
    cum += Math.exp(vals[sorted[j]!]! - max) / z;
    if (cum >= p) return j + 1;
  }
  return sorted.length;
}

/** The k best ids under `cmp` (best first), in O(V log k) with a bounded heap. */
function selectTop(vals: Float64Array, V: number, k: number, cmp: (a: number, b: number) => number): number[] {
  // Max-heap on "worseness": the root is the worst of the current best k.
  const heap: number[] = [];
  const worse = (a: number, b: number): boolean => cmp(a, b) > 0; // a ranks after b
  const up = (i: number): void => {
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!worse(heap[i]!, heap[p]!)) break;
      [heap[i], heap[p]] = [heap[p]!, heap[i]!];
      i = p;
    }
  };
  const down = (i: number): void => {
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let w = i;
      if (l < heap.length && worse(heap[l]!, heap[w]!)) w = l;
      if (r < heap.length && worse(heap[r]!, heap[w]!)) w = r;
      if (w === i) return;
      [heap[i], heap[w]] = [heap[w]!, heap[i]!];
      i = w;
    }
  };
  for (let i = 0; i < V; i++) {
    if (vals[i] === -Infinity) continue;
    if (heap.length < k) {
      heap.push(i);
      up(heap.length - 1);
    } else if (cmp(i, heap[0]!) < 0) {
      heap[0] = i;
      down(0);
    }
  }
  return heap.sort(cmp);
}
