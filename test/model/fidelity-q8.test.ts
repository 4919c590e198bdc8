/**
 * End-to-end fidelity of the activation-quantized mode (loadModel { activations: 'q8' }: MATMUL / MATMUL_ID
 * quantize activations to Q8_K / Q8_0 and take int8 dots, native/cpu/quant_q8.h) against llama.cpp (node-llama-cpp
 * CPU, one thread, F32 KV cache, flash attention off) on the SAME quantized tiny model, which quantizes its
 * activations the same way. For every tiny preset, over an 80-token teacher-forced prompt fed one token per call
 * (the q8 path serves runs of ≤ 8 tokens, i.e. decode; longer prefill runs stay exact):
 *  - llama.cpp's own noise = max |Δlogit| between its batched and its one-token-at-a-time evaluation;
 *  - our q8 argmax equals llama.cpp's (batched) wherever llama.cpp's top-1 margin exceeds that noise, except at
 *    positions where our OWN argmax changes between the scalar, AVX2 and AVX-512 kernels (the same integer dots with
 *    the f32 sums in other orders): there a q8 rounding tie or an MoE router near-tie flips on reordering alone —
 *    measured up to |Δlogit| ≈ 1 between our scalar and AVX2 runs on moe-r2, above llama.cpp's own batched-vs-
 *    one-token noise. At most PROMPT_LEN / 10 positions may be excused this way (a wrong SIMD kernel would flip many);
 *  - |Δlogit| statistics (max, mean) of ours-q8 vs llama.cpp, next to ours-exact vs llama.cpp, are reported, and
 *    ours-q8 must be at least as close to llama.cpp as ours-exact in mean (it quantizes the activations as it does:
 *    Q8_K / Q8_0 with an f16 scale, and f16 / bf16 rounding for F16 / BF16 weights), and close at least a quarter of
 *    that gap: min(mean |ours-q8 − llama batched|, mean |ours-q8 − llama 1-token|) ≤ 0.75 × mean |ours-exact −
 *    llama batched|. Measured on haswell (AVX2) ggml: 0.15 / 0.30 / 0.12 / 0.44 for the four presets.
 *    The bound used to be "within 3× llama.cpp's own batched-vs-one-token mean |Δ|", but that noise belongs to the
 *    ggml CPU variant (0 for some type mixes on Sapphire Rapids, 3.5× there on moe-r2), not to our numerics; ours-exact
 *    computes the same function on every CPU (the exact-twin test), so the gap it leaves is a CPU-independent scale.
 *    Zero batched-vs-one-token noise is valid (every position with a margin is then checked).
 */
import { LlamaLogLevel, getLlama, type Llama, type LlamaContextSequence, type Token } from 'node-llama-cpp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, type Model } from '../../src/model/index.js';
import { TINY_PRESETS, TINY_PRESET_NAMES } from '../../src/model/tiny/index.js';
import { Rng } from '../../src/quant/index.js';
import { buildTinyVocab } from '../../src/tokenizer/tiny-vocab.js';
import { ggmlCpuVariant } from '../helpers/llama-oracle.js';
import { getTinyModel } from '../helpers/model-cache.js';

const PROMPT_LEN = 80;

let llama: Llama;
beforeAll(async () => {
  llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error });
});
afterAll(async () => {
  await llama?.dispose();
});

function toDense(m: Map<Token, number> | undefined, nVocab: number): Float32Array {
  if (!m) throw new Error('no logits returned');
  const out = new Float32Array(nVocab).fill(Number.NaN);
  for (const [t, v] of m) out[t] = v;
  return out;
}

function argmax(v: Float32Array): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i]! > v[best]!) best = i;
  return best;
}

/** Top-1 minus top-2 logit. */
function margin(v: Float32Array): number {
  let a = -Infinity, b = -Infinity;
  for (const x of v) {
    if (x > a) {
      b = a;
      a = x;
    } else if (x > b) b = x;
  }
  return a - b;
}

function promptTokens(seed: number, n: number): number[] {
  const v = buildTinyVocab();
  const normal = v.types.flatMap((t, i) => (t === 1 ? [i] : []));
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => normal[rng.int(normal.length)]!);
}

async function withLlama<T>(path: string, f: (seq: LlamaContextSequence) => Promise<T>): Promise<T> {
  const model = await llama.loadModel({ modelPath: path, gpuLayers: 0 });
  try {
    const ctx = await model.createContext({
      contextSize: 256,
      batchSize: 256,
      sequences: 1,
      flashAttention: false,
      experimentalKvCacheKeyType: 'F32',
      experimentalKvCacheValueType: 'F32',
      threads: 1,
    });
    try {
      return await f(ctx.getSequence());
    } finally {
      await ctx.dispose();
    }
  } finally {
    await model.dispose();
  }
}

async function llamaLogits(path: string, tokens: number[], nVocab: number, serial: boolean): Promise<Float32Array[]> {
  return withLlama(path, async (seq) => {
    if (!serial) {
      const out = await seq.controlledEvaluate(tokens.map((t) => [t as Token, { generateNext: { logits: true } }]));
      return tokens.map((_, i) => toDense(out[i]?.next.logits, nVocab));
    }
    const rows: Float32Array[] = [];
    for (const t of tokens) {
      const r = await seq.controlledEvaluate([[t as Token, { generateNext: { logits: true } }]]);
      rows.push(toDense(r[0]?.next.logits, nVocab));
    }
    return rows;
  });
}

/** Batched prompt (exact mode), or one token per call (q8 mode: the q8 path serves runs of ≤ 8 tokens). */
async function ours(model: Model, tokens: number[], serial: boolean): Promise<Float32Array[]> {
  await using s = model.createSession();
  if (!serial) return await s.evaluate(tokens, { logits: 'all' });
  const rows: Float32Array[] = [];
  for (const t of tokens) rows.push(...(await s.evaluate([t])));
  return rows;
}

/** max and mean |a − b| over every logit of every position. */
function diff(a: Float32Array[], b: Float32Array[]): { max: number; mean: number } {
  let max = 0, sum = 0, n = 0;
  for (let i = 0; i < a.length; i++) {
    for (let j = 0; j < a[i]!.length; j++) {
      const d = Math.abs(a[i]![j]! - b[i]![j]!);
      max = Math.max(max, d);
      sum += d;
      n++;
    }
  }
  return { max, mean: sum / n };
}

describe.each(TINY_PRESET_NAMES)('q8 activations vs llama.cpp (same quantized file): %s', (preset) => {
  const o = TINY_PRESETS[preset];
  const tokens = promptTokens(o.seed + 77, PROMPT_LEN);

  it("argmax equal to llama.cpp's wherever its top-1 margin exceeds its batched-vs-one-token noise; |Δlogit| reported", async () => {
    const { path, config } = await getTinyModel(preset);
    let mineQ8: Float32Array[], mineF32: Float32Array[];
    {
      await using m = await loadModel(path, { backend: 'cpu', threads: 2, kvCacheType: 'f32', activations: 'q8' });
      expect(m.activations).toBe('q8');
      mineQ8 = await ours(m, tokens, true);
    }
    // The same model with the kernels capped at each lower ISA (QWEN_HYBRID_CPU_ISA_MAX is read when a CPU backend is
    // created; this file runs in its own fork): same integer dots, f32 sums in other orders.
    const otherIsas: Float32Array[][] = [];
    for (const cap of ['scalar', 'avx2'] as const) {
      const prev = process.env.QWEN_HYBRID_CPU_ISA_MAX;
      process.env.QWEN_HYBRID_CPU_ISA_MAX = cap;
      try {
        await using m = await loadModel(path, { backend: 'cpu', threads: 2, kvCacheType: 'f32', activations: 'q8' });
        otherIsas.push(await ours(m, tokens, true));
      } finally {
        if (prev === undefined) delete process.env.QWEN_HYBRID_CPU_ISA_MAX;
        else process.env.QWEN_HYBRID_CPU_ISA_MAX = prev;
      }
    }
    {
      await using m = await loadModel(path, { backend: 'cpu', threads: 2, kvCacheType: 'f32' });
      mineF32 = await ours(m, tokens, false);
    }
    const batched = await llamaLogits(path, tokens, config.nVocab, false);
    const serial = await llamaLogits(path, tokens, config.nVocab, true);
    const noise = diff(batched, serial);
    expect(Number.isFinite(noise.max)).toBe(true); // may be 0 on some ggml CPU variants
    const q8B = diff(mineQ8, batched), q8S = diff(mineQ8, serial), f32B = diff(mineF32, batched), q8F32 = diff(mineQ8, mineF32);

    let checked = 0, agree = 0, excused = 0;
    const wrong: string[] = [];
    for (let i = 0; i < tokens.length; i++) {
      const a = argmax(mineQ8[i]!);
      if (a === argmax(batched[i]!)) agree++;
      if (margin(batched[i]!) <= noise.max) continue;
      if (otherIsas.some((rows) => argmax(rows[i]!) !== a)) {
        excused++;
        continue;
      }
      checked++;
      if (a !== argmax(batched[i]!)) wrong.push(`position ${i}: ours ${a}, llama.cpp ${argmax(batched[i]!)} (margin ${margin(batched[i]!).toFixed(4)}, noise ${noise.max.toFixed(4)})`);
    }
    const f = (d: { max: number; mean: number }): string => `max ${d.max.toFixed(4)} mean ${d.mean.toExponential(2)}`;
    console.log(`[fidelity-q8 ${preset}] ggml CPU variant: ${ggmlCpuVariant(llama)}`);
    console.log(
      `[fidelity-q8 ${preset}] |Δlogit|: llama batched vs 1-token (noise) ${f(noise)}; ours-q8 vs llama batched ${f(q8B)}; ` +
        `ours-q8 vs llama 1-token ${f(q8S)}; ours-f32 vs llama batched ${f(f32B)}; ours-q8 vs ours-f32 ${f(q8F32)}; ` +
        `argmax agree ${agree}/${tokens.length}, checked (margin > noise) ${checked}, excused (our argmax differs between ISAs) ${excused}`,
    );
    // Every criterion is evaluated and reported (soft), each under a stable label that scripts/negative-control.mjs
    // matches to prove the criterion fails for a deliberately wrong kernel.
    expect.soft(wrong, '[criterion q8-argmax] our q8 argmax differs from llama.cpp above its noise').toEqual([]);
    expect.soft(checked, '[criterion q8-bites] positions checked').toBeGreaterThanOrEqual(PROMPT_LEN / 4);
    expect.soft(excused, '[criterion q8-excused] positions excused by an ISA-dependent argmax').toBeLessThanOrEqual(PROMPT_LEN / 10);
    // q8 mode changes the numbers (the flag reached the kernels) …
    expect.soft(q8F32.max, '[criterion q8-active] ours-q8 vs ours-exact max |Δ|').toBeGreaterThan(0);
    // … towards llama.cpp's: on average closer to its quantized-activation logits than the exact mode is …
    expect.soft(q8B.mean, '[criterion q8-closer] mean |ours-q8 − llama batched| vs mean |ours-exact − llama batched|').toBeLessThanOrEqual(f32B.mean);
    // … and closes at least a quarter of the exact mode's gap (CPU-independent scale; see the header).
    expect.soft(Math.min(q8B.mean, q8S.mean), '[criterion q8-gap] min mean |ours-q8 − llama| vs 0.75 × mean |ours-exact − llama batched|').toBeLessThanOrEqual(0.75 * f32B.mean);
  });
});
