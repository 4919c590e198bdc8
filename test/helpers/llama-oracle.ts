/**
 * llama.cpp as the test oracle (node-llama-cpp, prebuilt CPU binary; /work/shared/spec/llama-cpp-as-oracle.md).
 *
 * Oracle context settings (defaults of every helper below):
 *  - CPU only, no GPU layers; `build: 'never'` so a missing binary fails instead of compiling.
 *  - contextSize 256, batchSize = contextSize: a whole prompt is one batch (one `llama_decode`).
 *  - one sequence, flash attention off, F32 K and V cache: the attention path is exact f32.
 *  - threads 1: results do not depend on the thread count (oracle doc), and spinning workers on a shared
 *    2-core box are ~50× slower.
 *
 * Logits come back from `controlledEvaluate` as `Map<Token, number>` over the full vocabulary; `toDense` turns
 * one into a `Float32Array[nVocab]` (entries the map lacks stay NaN, so finiteness checks catch them).
 *
 * Noise: on a quantized file llama.cpp quantizes activations (Q8_K / Q8_0) per batch, so its logits depend
 * on batch shape. `llamaLogits` (one batch) vs `llamaOneTokenLogits` (one decode per token) measures that noise.
 */
import { LlamaLogLevel, getLlama, type Llama, type LlamaContextSequence, type LlamaModel, type Token } from 'node-llama-cpp';
import { readFileSync } from 'node:fs';
import { Rng } from '../../src/quant/index.js';
import { buildTinyVocab } from '../../src/tokenizer/tiny-vocab.js';

export interface OracleContextOptions {
  /** KV cells; default 256. */
  contextSize?: number;
  /** Tokens per decode call; default = contextSize. */
  batchSize?: number;
  /** CPU threads; default 1. */
  threads?: number;
  /** 'f32' (default): F32 K and V cache. 'default': node-llama-cpp's default cache type (F16). */
  kvCache?: 'f32' | 'default';
}

let cached: Promise<Llama> | undefined;

/** The CPU `Llama` instance, created once per worker process (each vitest fork). */
export function getOracleLlama(): Promise<Llama> {
  cached ??= getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error });
  return cached;
}

/** Disposes the cached instance (use in `afterAll`); the next `getOracleLlama` creates a fresh one. */
export async function disposeOracleLlama(): Promise<void> {
  const p = cached;
  cached = undefined;
  if (p) await (await p).dispose();
}

/**
 * Loads `path` on the CPU, creates one oracle context (settings above, overridable by `opts`), runs `f` on its
 * sequence, and disposes context and model whatever `f` does.
 */
export async function withLlamaSequence<T>(
  path: string,
  opts: OracleContextOptions,
  f: (seq: LlamaContextSequence, model: LlamaModel) => Promise<T>,
): Promise<T> {
  const llama = await getOracleLlama();
  const contextSize = opts.contextSize ?? 256;
  const model = await llama.loadModel({ modelPath: path, gpuLayers: 0 });
  try {
    const ctx = await model.createContext({
      contextSize,
      batchSize: opts.batchSize ?? contextSize,
      sequences: 1,
      flashAttention: false,
      ...((opts.kvCache ?? 'f32') === 'f32' ? { experimentalKvCacheKeyType: 'F32', experimentalKvCacheValueType: 'F32' } : {}),
      threads: opts.threads ?? 1,
    });
    try {
      return await f(ctx.getSequence(), model);
    } finally {
      await ctx.dispose();
    }
  } finally {
    await model.dispose();
  }
}

/** Map<token, logit> → Float32Array[nVocab]; ids absent from the map are NaN. Throws when there is no map. */
export function toDense(m: Map<Token, number> | undefined, nVocab: number, where = ''): Float32Array {
  if (!m) throw new Error(`llama.cpp returned no logits${where ? ` at ${where}` : ''}`);
  const out = new Float32Array(nVocab).fill(Number.NaN);
  for (const [t, v] of m) out[t] = v;
  return out;
}

/** Index of the largest value; the lowest index on ties. */
export function argmax(v: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i]! > v[best]!) best = i;
  return best;
}

/** The `k` ids of largest value, descending; ties by ascending id. */
export function topIds(v: ArrayLike<number>, k: number): number[] {
  return Array.from({ length: v.length }, (_, i) => i)
    .sort((a, b) => v[b]! - v[a]! || a - b)
    .slice(0, k);
}

/** Top-1 minus top-2 logit. */
export function margin(v: ArrayLike<number>): number {
  const [a, b] = topIds(v, 2);
  return v[a!]! - v[b!]!;
}

/** log-softmax in f64: x − (max + log Σ exp(x − max)). */
export function logSoftmax(v: ArrayLike<number>): Float64Array {
  let mx = -Infinity;
  for (let i = 0; i < v.length; i++) mx = Math.max(mx, v[i]!);
  let s = 0;
  for (let i = 0; i < v.length; i++) s += Math.exp(v[i]! - mx);
  const lse = mx + Math.log(s);
  return Float64Array.from(v, (x) => x - lse);
}

let normalIds: number[] | undefined;

/** Seeded prompt of `n` NORMAL (non-special, non-padding: type 1) token ids of the tiny vocabulary. */
export function normalPromptTokens(seed: number, n: number): number[] {
  normalIds ??= buildTinyVocab().types.flatMap((t, i) => (t === 1 ? [i] : []));
  const normal = normalIds;
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => normal[rng.int(normal.length)]!);
}

export interface OracleRun {
  /** [position][nVocab] logits of the prompt: every position ('all') or only the last ('last'). */
  prompt: Float32Array[];
  /** Greedy (argmax) continuation after the prompt. */
  greedy: number[];
}

export interface OracleRunOptions extends OracleContextOptions {
  /** Greedy tokens to decode after the prompt, one decode call each; default 0. */
  greedySteps?: number;
  /** Which prompt positions request logits; default 'all'. */
  promptLogits?: 'all' | 'last';
}

/**
 * The prompt in ONE batch (teacher-forced logits), then `greedySteps` argmax tokens. Token s is the argmax of
 * the previous row; it is fed back (one decode) except the last one.
 */
export async function llamaRun(path: string, tokens: readonly number[], nVocab: number, opts: OracleRunOptions = {}): Promise<OracleRun> {
  const steps = opts.greedySteps ?? 0;
  const all = (opts.promptLogits ?? 'all') === 'all';
  return withLlamaSequence(path, opts, async (seq) => {
    const items = tokens.map((t, i) => (all || i === tokens.length - 1 ? ([t as Token, { generateNext: { logits: true } }] as const) : (t as Token)));
    const out = await seq.controlledEvaluate(items as Parameters<LlamaContextSequence['controlledEvaluate']>[0]);
    const prompt = all
      ? tokens.map((_, i) => toDense(out[i]?.next.logits, nVocab, `position ${i}`))
      : [toDense(out[out.length - 1]?.next.logits, nVocab, `position ${tokens.length - 1}`)];
    const greedy: number[] = [];
    let last = prompt[prompt.length - 1]!;
    for (let s = 0; s < steps; s++) {
      const t = argmax(last);
      greedy.push(t);
      if (s === steps - 1) break;
      const r = await seq.controlledEvaluate([[t as Token, { generateNext: { logits: true } }]]);
      last = toDense(r[0]?.next.logits, nVocab, `greedy step ${s + 1}`);
    }
    return { prompt, greedy };
  });
}

/** Teacher-forced logits of every prompt position, the whole prompt in one batch. */
export async function llamaLogits(path: string, tokens: readonly number[], nVocab: number, opts: OracleContextOptions = {}): Promise<Float32Array[]> {
  return (await llamaRun(path, tokens, nVocab, opts)).prompt;
}

/** `steps` greedy tokens after the prompt (one batch, logits requested for its last position only). */
export async function llamaGreedy(path: string, tokens: readonly number[], nVocab: number, steps: number, opts: OracleContextOptions = {}): Promise<number[]> {
  return (await llamaRun(path, tokens, nVocab, { ...opts, greedySteps: steps, promptLogits: 'last' })).greedy;
}

/** The same prompt fed one token per decode call: the batch-shape counterpart of `llamaLogits` (noise). */
export async function llamaOneTokenLogits(path: string, tokens: readonly number[], nVocab: number, opts: OracleContextOptions = {}): Promise<Float32Array[]> {
  return withLlamaSequence(path, opts, async (seq) => {
    const rows: Float32Array[] = [];
    for (const [i, t] of tokens.entries()) {
      const r = await seq.controlledEvaluate([[t as Token, { generateNext: { logits: true } }]]);
      rows.push(toDense(r[0]?.next.logits, nVocab, `position ${i}`));
    }
    return rows;
  });
}

/** max |a − b| over all rows; NaN anywhere → Infinity. */
export function maxAbsDiff(a: readonly Float32Array[], b: readonly Float32Array[]): number {
  let m = 0;
  a.forEach((ra, i) => {
    const rb = b[i]!;
    for (let j = 0; j < ra.length; j++) {
      const d = Math.abs(ra[j]! - rb[j]!);
      m = Number.isNaN(d) ? Infinity : Math.max(m, d);
    }
  });
  return m;
}

/**
 * Which ggml CPU variant llama.cpp loaded (e.g. `libggml-cpu-haswell.so`, `-zen4`, `-sapphirerapids`): read from
 * /proc/self/maps where it exists, plus ggml's feature line (`llama.systemInfo`). Printed by the fidelity tests so
 * that a failure report names the CPU family it came from; never asserted on.
 */
export function ggmlCpuVariant(llama: Llama): string {
  let lib = 'unknown (no /proc/self/maps)';
  try {
    const maps = readFileSync('/proc/self/maps', 'utf8');
    const libs = [...new Set([...maps.matchAll(/libggml-cpu[^/\s]*\.so/g)].map((m) => m[0]))];
    lib = libs.join(', ') || 'none mapped';
  } catch {
    // not Linux: the feature line below still says what the variant uses
  }
  const features = llama.systemInfo.replace(/\s*\|\s*$/, '').trim();
  return `${lib}; ${features}`;
}
