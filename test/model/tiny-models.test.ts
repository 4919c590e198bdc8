/**
 * The tiny test models are real qwen35 / qwen35moe files: llama.cpp (node-llama-cpp, CPU) loads every preset
 * and its exact-F32 twin, runs a 24-token prompt with full logits, and the two agree within llama.cpp's
 * activation-quantization noise (oracle doc, "Precision"). The tensor tables are checked with node-llama-cpp's
 * own GGUF parser against counts/shapes derived from the spec (§2.3, §2.4), not against our generator.
 */
import { createHash } from 'node:crypto';
import { readGgufFileInfo } from 'node-llama-cpp';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeGGUF } from '../../src/gguf/writer.js';
import { GGMLType, ggmlTypeName } from '../../src/gguf/types.js';
import { TINY_PRESETS, TINY_PRESET_NAMES, generateTinyModel, tinyModelConfig, type TinyModelOptions } from '../../src/model/tiny/index.js';
import { argmax, disposeOracleLlama, llamaRun, normalPromptTokens } from '../helpers/llama-oracle.js';
import { getTinyModel } from '../helpers/model-cache.js';

const PROMPT_LEN = 24;
const GREEDY_STEPS = 16;

// --- expectations derived from the spec, independent of the generator -------------------------------------

/** Tensors per layer (spec §2.4): GDN mixer 10 + post norm, attention mixer 7 + post norm, FFN 3 (dense) / 8 (MoE), MTP +4. */
function expectedTensorCount(o: TinyModelOptions): number {
  const ffn = o.arch === 'qwen35moe' ? 8 : 3;
  let n = o.tied ? 2 : 3; // token_embd, output_norm, [output]
  for (let i = 0; i < o.nTrunk; i++) n += (i + 1) % 4 !== 0 ? 11 + ffn : 8 + ffn;
  if (o.mtp) n += 8 + ffn + 4;
  return n;
}

function expectedShapes(o: TinyModelOptions, nVocab: number): Record<string, number[]> {
  const H = o.nEmbd;
  const kd = o.ssmNK * o.ssmHeadDim;
  const vd = o.ssmNV * o.ssmHeadDim;
  const s: Record<string, number[]> = {
    'token_embd.weight': [H, nVocab],
    'output_norm.weight': [H],
    'blk.0.attn_qkv.weight': [H, 2 * kd + vd],
    'blk.0.attn_gate.weight': [H, vd],
    'blk.0.ssm_conv1d.weight': [4, 2 * kd + vd],
    'blk.0.ssm_a': [o.ssmNV],
    'blk.0.ssm_dt.bias': [o.ssmNV],
    'blk.0.ssm_alpha.weight': [H, o.ssmNV],
    'blk.0.ssm_beta.weight': [H, o.ssmNV],
    'blk.0.ssm_norm.weight': [o.ssmHeadDim],
    'blk.0.ssm_out.weight': [vd, H],
    'blk.3.attn_q.weight': [H, 2 * o.nHead * o.headDim],
    'blk.3.attn_k.weight': [H, o.nHeadKv * o.headDim],
    'blk.3.attn_v.weight': [H, o.nHeadKv * o.headDim],
    'blk.3.attn_output.weight': [o.nHead * o.headDim, H],
    'blk.3.attn_q_norm.weight': [o.headDim],
    'blk.3.attn_k_norm.weight': [o.headDim],
  };
  if (!o.tied) s['output.weight'] = [H, nVocab];
  if (o.arch === 'qwen35moe') {
    const E = o.nExpert!;
    Object.assign(s, {
      'blk.0.ffn_gate_inp.weight': [H, E],
      'blk.0.ffn_gate_exps.weight': [H, o.nFFExp!, E],
      'blk.0.ffn_up_exps.weight': [H, o.nFFExp!, E],
      'blk.0.ffn_down_exps.weight': [o.nFFExp!, H, E],
      'blk.0.ffn_gate_inp_shexp.weight': [H],
      'blk.0.ffn_gate_shexp.weight': [H, o.nFFShexp!],
      'blk.0.ffn_down_shexp.weight': [o.nFFShexp!, H],
    });
  } else {
    Object.assign(s, { 'blk.0.ffn_gate.weight': [H, o.nFF!], 'blk.0.ffn_down.weight': [o.nFF!, H] });
  }
  if (o.mtp) {
    const m = o.nTrunk;
    Object.assign(s, {
      [`blk.${m}.nextn.eh_proj.weight`]: [2 * H, H],
      [`blk.${m}.nextn.enorm.weight`]: [H],
      [`blk.${m}.nextn.hnorm.weight`]: [H],
      [`blk.${m}.nextn.shared_head_norm.weight`]: [H],
      [`blk.${m}.attn_q.weight`]: [H, 2 * o.nHead * o.headDim],
    });
  }
  return s;
}

/** Tensors llama.cpp needs in F32 (oracle doc): norms, ssm_conv1d, ssm_a, ssm_dt.bias; router and shared gate by convention. */
function mustBeF32(name: string): boolean {
  return /norm\.weight$|\.ssm_conv1d\.weight$|\.ssm_a$|\.ssm_dt\.bias$|\.ffn_gate_inp(_shexp)?\.weight$/.test(name);
}

// --- llama.cpp harness (test/helpers/llama-oracle.ts) --------------------------------------------------------

afterAll(disposeOracleLlama);

function stats(xs: Float32Array[]): { mean: number; std: number } {
  let s = 0, s2 = 0, n = 0;
  for (const x of xs) for (const v of x) { s += v; s2 += v * v; n++; }
  const mean = s / n;
  return { mean, std: Math.sqrt(Math.max(0, s2 / n - mean * mean)) };
}

// --- tests ---------------------------------------------------------------------------------------------------

describe('tiny model generator (no oracle needed)', () => {
  it('tensor counts of real-shape configs match the spec (851/866 dense, 733/753 MoE)', () => {
    // Real Qwen3.6 shapes through tinyModelConfig (no data generated): counts are quoted in spec §2.4.
    const base = { seed: 1, nHead: 24, nHeadKv: 4, headDim: 256, nRot: 64, ropeSections: [11, 11, 10, 0] as const, ssmNK: 16, ssmHeadDim: 128 };
    const dense: TinyModelOptions = { ...base, name: 'q27', arch: 'qwen35', nEmbd: 5120, nTrunk: 64, ssmNV: 48, nFF: 17408 };
    const moe: TinyModelOptions = { ...base, name: 'q35', arch: 'qwen35moe', nEmbd: 2048, nTrunk: 40, nHead: 16, nHeadKv: 2, ssmNV: 32, nExpert: 256, nExpertUsed: 8, nFFExp: 512, nFFShexp: 512 };
    expect(tinyModelConfig(dense).tensors.length).toBe(851);
    expect(tinyModelConfig({ ...dense, mtp: true }).tensors.length).toBe(866);
    expect(tinyModelConfig(moe).tensors.length).toBe(733);
    expect(tinyModelConfig({ ...moe, mtp: true }).tensors.length).toBe(753);
    // Q4_K_M mix for 27B: ffn_down Q6_K in layers 0–7,10,13,…,55,56–63 (+ MTP 64) — 32 of 64 trunk layers (spec §4.6).
    const c = tinyModelConfig({ ...dense, mtp: true });
    const q6 = c.tensors.filter((t) => t.name.endsWith('.ffn_down.weight') && t.type === GGMLType.Q6_K).map((t) => t.layer);
    expect(q6.filter((l) => l < 64).length).toBe(32);
    expect(q6).toContain(64);
    expect(q6.slice(0, 10)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 10, 13]);
  });

  it('is deterministic: same options → identical bytes; another seed → different bytes', () => {
    const o = TINY_PRESETS['dense-r2'];
    const h = (opts: TinyModelOptions): string[] => {
      const m = generateTinyModel(opts);
      return [m.quantized, m.f32Twin].map((s) => createHash('sha256').update(encodeGGUF(s)).digest('hex'));
    };
    const a = h(o);
    expect(h(o)).toEqual(a);
    const b = h({ ...o, seed: o.seed + 1 });
    expect(b[0]).not.toBe(a[0]);
    expect(b[1]).not.toBe(a[1]);
  });

  it('rejects shapes a type cannot hold, naming the tensor', () => {
    const o = TINY_PRESETS['dense-r3-tied-mtp']; // ssm_out ne0 = 384
    expect(() => tinyModelConfig({ ...o, types: { roles: { ssm_out: GGMLType.Q4_K } } })).toThrowError(/blk\.0\.ssm_out\.weight.*ne0=384.*Q4_K/);
    expect(() => tinyModelConfig({ ...o, nRot: 30 })).toThrowError(/ropeSections/);
    expect(() => tinyModelConfig({ ...o, ssmNV: 5 })).toThrowError(/ssmNV 5/);
  });

  it('every weight type of a Q4_K_M file appears across the presets', () => {
    const used = new Set<string>();
    for (const p of TINY_PRESET_NAMES) for (const t of tinyModelConfig(TINY_PRESETS[p]).tensors) used.add(ggmlTypeName(t.type));
    for (const t of ['F32', 'Q4_K', 'Q5_K', 'Q6_K', 'Q8_0', 'F16', 'BF16']) expect(used, t).toContain(t);
    // structural coverage: GDN ratios 2 and 3, tied and untied heads, MTP, both archs
    const cs = TINY_PRESET_NAMES.map((p) => TINY_PRESETS[p]);
    expect(new Set(cs.map((o) => o.ssmNV / o.ssmNK))).toEqual(new Set([2, 3]));
    expect(new Set(cs.map((o) => o.tied ?? false))).toEqual(new Set([true, false]));
    expect(cs.some((o) => o.mtp && o.arch === 'qwen35') && cs.some((o) => o.mtp && o.arch === 'qwen35moe')).toBe(true);
    expect(cs.every((o) => o.nHeadKv < o.nHead && o.nRot < o.headDim)).toBe(true);
  });
});

describe.each(TINY_PRESET_NAMES)('tiny preset %s', (preset) => {
  const o = TINY_PRESETS[preset];

  it('file structure (read by node-llama-cpp\'s GGUF parser) matches the spec-derived expectations', async () => {
    const { path, twinPath, config } = await getTinyModel(preset);
    const q = await readGgufFileInfo(path, { logWarnings: false });
    const t = await readGgufFileInfo(twinPath, { logWarnings: false });
    const qt = q.tensorInfo!;
    const tt = t.tensorInfo!;
    expect(qt.length).toBe(expectedTensorCount(o));
    expect(tt.map((x) => x.name)).toEqual(qt.map((x) => x.name));
    expect(qt[0]!.name).toBe('token_embd.weight');
    expect(qt.at(-1)!.name).toBe(o.tied ? 'output_norm.weight' : 'output.weight');
    const shapes = expectedShapes(o, config.nVocab);
    const byName = new Map(qt.map((x) => [x.name, x]));
    for (const [name, shape] of Object.entries(shapes)) {
      expect(byName.get(name)?.dimensions.map(Number), name).toEqual(shape);
    }
    // layer kinds: full attention exactly at (i+1) % 4 == 0 and the MTP block
    for (let i = 0; i < o.nTrunk + (o.mtp ? 1 : 0); i++) {
      const attn = i >= o.nTrunk || (i + 1) % 4 === 0;
      expect(byName.has(`blk.${i}.attn_q.weight`), `layer ${i}`).toBe(attn);
      expect(byName.has(`blk.${i}.ssm_a`), `layer ${i}`).toBe(!attn);
    }
    for (const x of qt) {
      if (mustBeF32(x.name)) expect(x.ggmlType, x.name).toBe(GGMLType.F32);
      if (x.dimensions.length === 1) expect(x.ggmlType, x.name).toBe(GGMLType.F32);
    }
    for (const x of tt) expect(x.ggmlType, x.name).toBe(GGMLType.F32);
    // types in the file are those the config promised
    expect(qt.map((x) => x.ggmlType)).toEqual(config.tensors.map((x) => x.type));
    // metadata llama.cpp reads (spec §2.3)
    const A = o.arch;
    const md = q.metadata as unknown as Record<string, Record<string, unknown>>;
    const am = md[A] as Record<string, any>;
    expect(md.general!.architecture).toBe(A);
    expect(md.general!.file_type).toBe(15); // Q4_K dominates every preset
    expect((t.metadata as unknown as Record<string, Record<string, unknown>>).general!.file_type).toBe(0);
    expect(am.block_count).toBe(o.nTrunk + (o.mtp ? 1 : 0));
    expect(am.nextn_predict_layers).toBe(o.mtp ? 1 : undefined);
    expect(am.embedding_length).toBe(o.nEmbd);
    expect(am.attention.head_count).toBe(o.nHead);
    expect(am.attention.head_count_kv).toBe(o.nHeadKv);
    expect(am.attention.key_length).toBe(o.headDim);
    expect(am.attention.value_length).toBe(o.headDim);
    expect(am.rope.dimension_count).toBe(o.nRot);
    expect([...am.rope.dimension_sections]).toEqual([...o.ropeSections]);
    expect(am.ssm.group_count).toBe(o.ssmNK);
    expect(am.ssm.time_step_rank).toBe(o.ssmNV);
    expect(am.ssm.inner_size).toBe(o.ssmNV * o.ssmHeadDim);
    expect(am.ssm.state_size).toBe(o.ssmHeadDim);
    expect(am.full_attention_interval).toBe(4);
    if (A === 'qwen35moe') {
      expect(am.expert_count).toBe(o.nExpert);
      expect(am.expert_used_count).toBe(o.nExpertUsed);
      expect(am.expert_feed_forward_length).toBe(o.nFFExp);
      expect(am.expert_shared_feed_forward_length).toBe(o.nFFShexp);
      expect(am.feed_forward_length).toBeUndefined();
    } else {
      expect(am.feed_forward_length).toBe(o.nFF);
    }
  });

  // MTP presets: llama.cpp loads the file but skips blk.{nTrunk}.* (TENSOR_SKIP unless load_mtp; it logs
  // "model has unused tensor … ignoring"), so only the trunk is exercised here.
  it('llama.cpp loads the quantized model and its F32 twin; logits are sane and agree', async () => {
    const { path, twinPath, config } = await getTinyModel(preset);
    const tokens = normalPromptTokens(o.seed, PROMPT_LEN);
    const q = await llamaRun(path, tokens, config.nVocab, { greedySteps: GREEDY_STEPS });
    const t = await llamaRun(twinPath, tokens, config.nVocab);

    for (const r of [q.prompt, t.prompt]) for (const row of r) expect(row.every(Number.isFinite)).toBe(true);
    const sq = stats(q.prompt);
    // Non-degenerate: logits spread out (std well above 0) at every position.
    for (const row of q.prompt) expect(stats([row]).std).toBeGreaterThan(0.5);

    let maxAbs = 0, sumAbs = 0, n = 0, argmaxAgree = 0;
    for (let i = 0; i < tokens.length; i++) {
      const a = q.prompt[i]!, b = t.prompt[i]!;
      for (let j = 0; j < a.length; j++) { const d = Math.abs(a[j]! - b[j]!); maxAbs = Math.max(maxAbs, d); sumAbs += d; n++; }
      if (argmax(a) === argmax(b)) argmaxAgree++;
    }
    const meanAbs = sumAbs / n;
    const distinct = new Set(q.greedy).size;
    console.log(`[tiny ${preset}] logit std ${sq.std.toFixed(3)} | quant vs twin: max|Δ| ${maxAbs.toFixed(4)} mean|Δ| ${meanAbs.toFixed(4)} argmax agree ${argmaxAgree}/${tokens.length} | greedy ${distinct} distinct: ${q.greedy.join(',')}`);
    // Activation-quantization noise only (oracle doc: mean 0.05–0.19, max up to 2.7 on similar models).
    expect(maxAbs).toBeLessThan(3);
    expect(meanAbs).toBeLessThan(0.3);
    expect(maxAbs).toBeGreaterThan(0); // the twin is a different file computed differently (f32 activations)
    if (!o.tied) expect(distinct).toBeGreaterThan(1);
  });
});
