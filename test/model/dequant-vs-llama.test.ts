/**
 * Our f32 dequantization (`dequantizeF32`) against llama.cpp's own. A model whose only non-F32 tensor is
 * token_embd (type T, untied F32 output) is read by llama.cpp through `get_rows`, which dequantizes rows
 * without touching activations; its F32 twin stores our dequantizeF32 of the same bytes. Everything after
 * the embedding lookup is the same F32 graph, so the two files give identical logits iff our dequantized
 * values equal ggml's. Negative controls: a twin built from a deliberately wrong dequantization (one
 * sub-block scale off by one) must not match.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GGMLType, ggmlTypeName, ggmlTypeTraits } from '../../src/gguf/types.js';
import { writeGGUF } from '../../src/gguf/writer.js';
import { generateTinyModel, type TinyModelOptions } from '../../src/model/tiny/index.js';
import { dequantizeF32 } from '../../src/quant/index.js';
import { disposeOracleLlama, llamaLogits, maxAbsDiff, normalPromptTokens } from '../helpers/llama-oracle.js';
import { getTinyModelFor } from '../helpers/model-cache.js';

const TYPES = [GGMLType.Q4_0, GGMLType.Q4_1, GGMLType.Q5_0, GGMLType.Q5_1, GGMLType.Q8_0, GGMLType.Q4_K, GGMLType.Q5_K, GGMLType.Q6_K, GGMLType.F16, GGMLType.BF16];
/** Same F32 graph on both sides: any difference comes from the embedding rows. */
const TOL = 1e-5;
const N_PROMPT = 16;

function embdOnlyOptions(type: GGMLType): TinyModelOptions {
  return {
    name: `dq-${ggmlTypeName(type).toLowerCase()}`,
    arch: 'qwen35',
    seed: 2000 + type,
    nEmbd: 256,
    nTrunk: 4,
    nHead: 4,
    nHeadKv: 2,
    headDim: 64,
    nRot: 16,
    ropeSections: [3, 3, 2, 0],
    ssmNK: 2,
    ssmNV: 4,
    ssmHeadDim: 32,
    nFF: 256,
    types: { mix: 'f32', tensors: { 'token_embd.weight': type } },
  };
}

let scratch: string;
beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'qwen-hybrid-dq-'));
});
afterAll(async () => {
  await disposeOracleLlama();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

describe('dequantizeF32 equals llama.cpp get_rows dequantization', () => {
  it.each(TYPES.map((t) => [ggmlTypeName(t), t] as const))('%s token_embd: quantized file and our F32 twin give the same logits', async (name, type) => {
    const { path, twinPath, config } = await getTinyModelFor(embdOnlyOptions(type));
    expect(config.tensors.filter((t) => t.type !== GGMLType.F32).map((t) => t.name)).toEqual(['token_embd.weight']);
    const tokens = normalPromptTokens(type, N_PROMPT);
    const a = await llamaLogits(path, tokens, config.nVocab);
    const b = await llamaLogits(twinPath, tokens, config.nVocab);
    for (const row of a) expect(row.every(Number.isFinite)).toBe(true);
    const d = maxAbsDiff(a, b);
    console.log(`[dequant ${name}] max|Δlogit| quantized vs twin = ${d.toExponential(3)}`);
    expect(d).toBeLessThanOrEqual(TOL);
  });
});

/**
 * Perturbs the first block of `row` as a buggy dequantizer would read it: the first sub-block scale + 1
 * (Q4_K/Q5_K: 6-bit sc_0 in scales[0]; Q6_K: int8 sc[0]).
 */
function perturbRow(type: GGMLType, data: Uint8Array, ne0: number, row: number): Uint8Array {
  const t = ggmlTypeTraits(type)!;
  const rowBytes = (ne0 / t.blockSize) * t.blockBytes;
  const out = data.slice();
  const b = row * rowBytes;
  switch (type) {
    case GGMLType.Q4_K: // half d; half dmin; scales[12] — sc_0 = scales[0] & 63
    case GGMLType.Q5_K: {
      const sc = out[b + 4]! & 63;
      out[b + 4] = (out[b + 4]! & 0xc0) | (sc === 63 ? 62 : sc + 1);
      break;
    }
    case GGMLType.Q6_K: { // ql[128]; qh[64]; int8 scales[16]; half d
      const v = new Int8Array(out.buffer, out.byteOffset + b + 192, 1);
      v[0] = v[0]! === 127 ? 126 : v[0]! + 1;
      break;
    }
    default:
      throw new Error(`no perturbation for ${ggmlTypeName(type)}`);
  }
  return out;
}

describe('negative control: a wrong dequantization is detected', () => {
  it.each([GGMLType.Q4_K, GGMLType.Q6_K].map((t) => [ggmlTypeName(t), t] as const))('%s twin with sub-block 0 scale off by one does not match', async (name, type) => {
    const opts = embdOnlyOptions(type);
    const { path, config } = await getTinyModelFor(opts);
    const tokens = normalPromptTokens(type, N_PROMPT);
    const m = generateTinyModel(opts);
    const qi = m.quantized.tensors.findIndex((t) => t.name === 'token_embd.weight');
    const q = m.quantized.tensors[qi]!;
    const bad = perturbRow(type, q.data as Uint8Array, config.nEmbd, tokens[0]!);
    const deq = dequantizeF32(type, bad, config.nEmbd * config.nVocab);
    const tensors = m.f32Twin.tensors.map((t, i) => (i === qi ? { ...t, data: new Uint8Array(deq.buffer) } : t));
    const badTwin = join(scratch, `${opts.name}.bad.f32.gguf`);
    await writeGGUF(badTwin, { ...m.f32Twin, tensors });
    const a = await llamaLogits(path, tokens, config.nVocab);
    const b = await llamaLogits(badTwin, tokens, config.nVocab);
    const d = maxAbsDiff(a, b);
    console.log(`[dequant ${name} negative] max|Δlogit| vs perturbed twin = ${d.toExponential(3)}`);
    expect(d).toBeGreaterThan(100 * TOL);
  });
});
