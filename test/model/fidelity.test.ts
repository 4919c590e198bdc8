/**
 * End-to-end fidelity against llama.cpp (node-llama-cpp CPU, one thread, F32 KV cache, flash attention off),
 * for every tiny preset (oracle doc, "Precision"):
 *  1. OUR engine on the QUANTIZED model (f32 activations, F32 KV) vs llama.cpp on the exact-F32 TWIN: the same
 *     function. Teacher-forced over a 24-token prompt: at every position the log-probs of llama.cpp's top-20 and
 *     of ours agree within 1e-3 and the argmax is equal; 16 greedy tokens are identical.
 *  2. OUR engine vs llama.cpp on the quantized file itself (which quantizes activations): argmax equal wherever
 *     llama.cpp's top-1 margin exceeds its own noise, measured as max |Δlogit| between its batched and its
 *     one-token-at-a-time evaluation of the same prompt. That noise is a property of the ggml CPU variant
 *     node-llama-cpp loads (haswell, zen4, sapphirerapids/AMX, …), not of our numerics: it is 0 for dense-r2 on
 *     Sapphire Rapids, and 0 is a valid outcome (every position with a margin is then checked). Where llama.cpp's
 *     quantized argmax and its exact-F32-twin argmax differ above the noise, ours must equal the twin's (the same
 *     function); how often that happens is llama.cpp's own behaviour and is reported, not bounded.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { loadModel, type Model } from '../../src/model/index.js';
import { TINY_PRESETS, TINY_PRESET_NAMES } from '../../src/model/tiny/index.js';
import {
  argmax,
  disposeOracleLlama,
  getOracleLlama,
  ggmlCpuVariant,
  llamaLogits,
  llamaOneTokenLogits,
  llamaRun,
  logSoftmax,
  margin,
  normalPromptTokens,
  topIds,
} from '../helpers/llama-oracle.js';
import { getTinyModel } from '../helpers/model-cache.js';

/** Long enough that one-batch prefill takes the chunked GDN path (T >= 32) across a 64-token chunk boundary. */
const PROMPT_LEN = 80;
const GREEDY_STEPS = 16;
const TOP = 20;
const LOGPROB_TOL = 1e-3;

afterAll(disposeOracleLlama);

async function ours(model: Model, tokens: number[], greedySteps: number): Promise<{ prompt: Float32Array[]; greedy: number[] }> {
  await using s = model.createSession();
  const prompt = await s.evaluate(tokens, { logits: 'all' });
  const greedy: number[] = [];
  let last = prompt[prompt.length - 1]!;
  for (let i = 0; i < greedySteps; i++) {
    const t = argmax(last);
    greedy.push(t);
    if (i === greedySteps - 1) break;
    [last] = (await s.evaluate([t])) as [Float32Array];
  }
  return { prompt, greedy };
}

describe.each(TINY_PRESET_NAMES)('fidelity vs llama.cpp: %s', (preset) => {
  const o = TINY_PRESETS[preset];
  const tokens = normalPromptTokens(o.seed + 77, PROMPT_LEN);

  it(`quantized model (ours) == exact-F32 twin (llama.cpp): top-${TOP} logprobs within ${LOGPROB_TOL}, argmax and ${GREEDY_STEPS} greedy tokens equal`, async () => {
    const { path, twinPath, config } = await getTinyModel(preset);
    await using model = await loadModel(path, { backend: 'cpu', threads: 2, kvCacheType: 'f32' });
    expect(model.vocabSize).toBe(config.nVocab);
    const mine = await ours(model, tokens, GREEDY_STEPS);
    const ref = await llamaRun(twinPath, tokens, config.nVocab, { greedySteps: GREEDY_STEPS });
    let maxD = 0;
    const wrong: number[] = [];
    for (let i = 0; i < tokens.length; i++) {
      const a = logSoftmax(mine.prompt[i]!);
      const b = logSoftmax(ref.prompt[i]!);
      if (argmax(mine.prompt[i]!) !== argmax(ref.prompt[i]!)) wrong.push(i);
      for (const id of new Set([...topIds(b, TOP), ...topIds(a, TOP)])) maxD = Math.max(maxD, Math.abs(a[id]! - b[id]!));
    }
    console.log(`[fidelity ${preset}] ours(quantized) vs llama.cpp(F32 twin): max |Δlogprob| over top-${TOP} = ${maxD.toExponential(2)}; greedy ${mine.greedy.join(',')}`);
    expect.soft(wrong, '[criterion twin-argmax] positions where our argmax differs from the twin').toEqual([]);
    expect.soft(maxD, '[criterion twin-logprob] max |Δlogprob| over the top ids').toBeLessThan(LOGPROB_TOL);
    expect.soft(mine.greedy, '[criterion twin-greedy] greedy tokens').toEqual(ref.greedy);
  });

  it("quantized model: argmax equal to llama.cpp's wherever its top-1 margin exceeds its batched-vs-one-token noise", async () => {
    const { path, twinPath, config } = await getTinyModel(preset);
    await using model = await loadModel(path, { backend: 'cpu', threads: 2, kvCacheType: 'f32' });
    const mine = await ours(model, tokens, 0);
    const batched = await llamaLogits(path, tokens, config.nVocab);
    const serial = await llamaOneTokenLogits(path, tokens, config.nVocab);
    const twin = await llamaLogits(twinPath, tokens, config.nVocab);
    let noise = 0;
    for (let i = 0; i < tokens.length; i++) for (let j = 0; j < config.nVocab; j++) noise = Math.max(noise, Math.abs(batched[i]![j]! - serial[i]![j]!));
    // noise may be 0: some ggml CPU variants have no batch-shape-dependent kernels for this type mix.
    expect(Number.isFinite(noise)).toBe(true);
    let checked = 0, agree = 0, maxOursVsLlama = 0;
    const selfDisagree: string[] = [];
    const wrong: string[] = [];
    for (let i = 0; i < tokens.length; i++) {
      for (let j = 0; j < config.nVocab; j++) maxOursVsLlama = Math.max(maxOursVsLlama, Math.abs(mine.prompt[i]![j]! - batched[i]![j]!));
      const a = argmax(mine.prompt[i]!);
      if (a === argmax(batched[i]!)) agree++;
      if (margin(batched[i]!) <= noise) continue;
      if (argmax(twin[i]!) !== argmax(batched[i]!)) {
        // llama.cpp disagrees with itself here: its quantized-activation result and its exact-F32-twin result
        // pick different tokens although the margin exceeds the batched-vs-one-token noise (activation
        // quantization moves logits by more than that; see the report). Ours must then match the twin.
        if (a !== argmax(twin[i]!)) wrong.push(`position ${i}: ours ${a}, llama.cpp twin ${argmax(twin[i]!)}`);
        selfDisagree.push(`${i} (margin ${margin(batched[i]!).toFixed(3)})`);
        continue;
      }
      checked++;
      if (a !== argmax(batched[i]!)) wrong.push(`position ${i}: ours ${a}, llama.cpp ${argmax(batched[i]!)} (margin ${margin(batched[i]!).toFixed(3)}, noise ${noise.toFixed(3)})`);
    }
    console.log(`[fidelity ${preset}] ggml CPU variant: ${ggmlCpuVariant(await getOracleLlama())}`);
    console.log(`[fidelity ${preset}] ours vs llama.cpp(quantized): llama noise (batched vs 1-token) max|Δlogit| ${noise.toFixed(4)}; ours vs llama max|Δlogit| ${maxOursVsLlama.toFixed(4)}; argmax agree ${agree}/${tokens.length}; checked (margin > noise) ${checked}; llama quantized≠twin above noise at ${selfDisagree.join(', ') || 'none'}`);
    // The check must bite: positions compared against llama.cpp's quantized argmax or, where it disagrees with its own
    // twin, against the twin's. Zero noise only adds positions (every margin > 0 counts).
    // Soft and labelled: every criterion is reported; scripts/negative-control.mjs matches the labels.
    expect.soft(wrong, '[criterion argmax-above-noise] our argmax differs from llama.cpp (or its twin) above its noise').toEqual([]);
    expect.soft(checked + selfDisagree.length, '[criterion argmax-bites] positions compared').toBeGreaterThanOrEqual(PROMPT_LEN / 4);
    expect.soft(checked, '[criterion argmax-bites] positions compared to the quantized argmax').toBeGreaterThanOrEqual(PROMPT_LEN / 8);
  });
});
