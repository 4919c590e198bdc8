/**
 * src/model/synthetic.ts: real-shape synthetic models for the whole-model bench.
 * Independent references: the Q4_K_M rule re-derived from spec §4.6, dequantization by src/quant/dequant.ts
 * (spec §4.4 layouts, checked against ggml elsewhere), llama.cpp's GGUF reader and evaluator (node-llama-cpp),
 * parameter counts from the spec §1.2 shape formulas.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readGgufFileInfo, type Token } from 'node-llama-cpp';
import { afterAll, describe, expect, it } from 'vitest';

import { parseGGUF, readGGUF } from '../../src/gguf/reader.js';
import { GGMLType, ggmlTypeName } from '../../src/gguf/types.js';
import { SYNTHETIC_SHAPES, syntheticModelConfig, syntheticModelHeader, syntheticTensors, writeSyntheticModel, type SyntheticModelOptions } from '../../src/model/synthetic.js';
import { Rng } from '../../src/quant/rng.js';
import { dequantizeF32 } from '../../src/quant/dequant.js';
import { disposeOracleLlama, withLlamaSequence } from '../helpers/llama-oracle.js';

const dir = mkdtempSync(join(tmpdir(), 'qh-synthetic-'));
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await disposeOracleLlama();
});

const DENSE: SyntheticModelOptions = {
  arch: 'qwen35', name: 'syn-dense', seed: 5, nEmbd: 256, nTrunk: 8, nHead: 2, nHeadKv: 1, headDim: 128, nRot: 32,
  ropeSections: [6, 5, 5, 0], ssmNK: 2, ssmNV: 4, ssmHeadDim: 64, nFF: 512, nVocab: 2048,
  types: { roles: { ssm_alpha: GGMLType.Q8_0 } }, // exercise the fast Q8_0 path too
};
const MOE: SyntheticModelOptions = {
  arch: 'qwen35moe', name: 'syn-moe', seed: 5, nEmbd: 256, nTrunk: 4, nHead: 2, nHeadKv: 1, headDim: 128, nRot: 32,
  ropeSections: [6, 5, 5, 0], ssmNK: 2, ssmNV: 4, ssmHeadDim: 64, nExpert: 8, nExpertUsed: 2, nFFExp: 256, nFFShexp: 256, nVocab: 2048,
};

/** spec §4.6 use_more_bits, integer division. */
const moreBits = (i: number, n: number): boolean => i < Math.floor(n / 8) || i >= Math.floor((7 * n) / 8) || (i - Math.floor(n / 8)) % 3 === 2;

/** Expected Q4_K_M type from the tensor name alone (spec §4.6); `roleOverride` for the explicit test override. */
function expectedType(name: string, nLayer: number, iWv: { n: number }): GGMLType {
  if (name === 'output.weight') return GGMLType.Q6_K;
  if (!name.endsWith('.weight') || name.includes('_norm.weight') || name.includes('ffn_gate_inp') || name.includes('ssm_conv1d')) return GGMLType.F32;
  const layer = Number(/^blk\.(\d+)\./.exec(name)?.[1] ?? -1);
  if (name.endsWith('.attn_v.weight') || name.endsWith('.attn_qkv.weight')) return moreBits(iWv.n++, nLayer) ? GGMLType.Q6_K : GGMLType.Q4_K;
  if (/\.ffn_down(_exps|_shexp)?\.weight$/.test(name)) return moreBits(layer, nLayer) ? GGMLType.Q6_K : GGMLType.Q4_K;
  return GGMLType.Q4_K;
}

const files = new Map<string, Promise<string>>();
function fileFor(o: SyntheticModelOptions, tag = ''): Promise<string> {
  const key = `${o.name}${tag}`;
  let p = files.get(key);
  if (!p) {
    p = writeSyntheticModel(join(dir, `${key}.gguf`), o).then((r) => r.path);
    files.set(key, p);
  }
  return p;
}

describe('synthetic model files', () => {
  for (const o of [DENSE, MOE]) {
    it(`${o.arch}: our reader and llama.cpp's agree on metadata, names, shapes and types; types follow Q4_K_M`, async () => {
      const path = await fileFor(o);
      const ours = await readGGUF(path);
      const theirs = await readGgufFileInfo(path, { logWarnings: false });
      const ti = theirs.tensorInfo!;
      expect(ti.map((t) => t.name)).toEqual(ours.tensors.map((t) => t.name));
      expect(ti.map((t) => t.dimensions.map(Number))).toEqual(ours.tensors.map((t) => [...t.shape]));
      expect(ti.map((t) => Number(t.ggmlType))).toEqual(ours.tensors.map((t) => t.type));
      const md = theirs.metadata as unknown as Record<string, Record<string, unknown>>;
      expect(md.general!.architecture).toBe(o.arch);
      expect(Number(md[o.arch]!.block_count)).toBe(o.nTrunk);
      expect(Number(md[o.arch]!.vocab_size)).toBe(o.nVocab);
      expect((md.tokenizer!.ggml as { tokens: unknown[] }).tokens.length).toBe(o.nVocab);
      expect(ours.metadata.get(`${o.arch}.embedding_length`)?.value).toBe(o.nEmbd);

      const iWv = { n: 0 };
      for (const t of ours.tensors) {
        let want = expectedType(t.name, o.nTrunk, iWv);
        if (t.name.endsWith('.ssm_alpha.weight') && o.types?.roles?.ssm_alpha !== undefined) want = o.types.roles.ssm_alpha;
        expect(ggmlTypeName(t.type), t.name).toBe(ggmlTypeName(want));
      }
      expect(ours.tensors.find((t) => t.name === 'token_embd.weight')!.shape).toEqual([o.nEmbd, o.nVocab]);
      expect(ours.tensors.find((t) => t.name === 'output.weight')!.shape).toEqual([o.nEmbd, o.nVocab]);
    });
  }

  it('dequantized weights have the intended RMS and near-zero sub-block means (Q4_K, Q6_K, Q8_0)', async () => {
    const path = await fileFor(DENSE);
    const f = await readGGUF(path);
    const bytes = readFileSync(path);
    const checked = new Set<string>();
    for (const t of f.tensors) {
      if (t.type === GGMLType.F32) continue;
      const data = new Uint8Array(bytes.buffer, bytes.byteOffset + t.offset, t.byteSize);
      const x = dequantizeF32(t.type, data, t.elementCount);
      const want = t.name === 'token_embd.weight' ? 1 : t.name === 'output.weight' ? 2 / Math.sqrt(DENSE.nEmbd) : 1 / Math.sqrt(t.shape[0]!);
      let ss = 0;
      for (const v of x) ss += v * v;
      const rms = Math.sqrt(ss / x.length);
      // per-sub-block scales are random: a tensor of few sub-blocks (ssm_alpha/beta: 32) estimates its RMS coarsely
      const tol = t.elementCount >= 65536 ? 0.05 : 0.2;
      expect(Math.abs(rms / want - 1), `${t.name} RMS ${rms} vs ${want}`).toBeLessThan(tol);
      // Sub-block means: zero on average, and their spread that of independent samples (rms/sqrt(k)) —
      // random mins would make it comparable to rms itself.
      const k = t.type === GGMLType.Q6_K ? 16 : 32;
      let sumMean = 0;
      let sumMean2 = 0;
      const nb = x.length / k;
      for (let b = 0; b < nb; b++) {
        let m = 0;
        for (let i = 0; i < k; i++) m += x[b * k + i]!;
        m /= k;
        sumMean += m;
        sumMean2 += m * m;
      }
      // bias allowance 0.02·rms (Q4_K min rounding, Q6_K's −0.5 level offset) + 4σ of the sample mean
      expect(Math.abs(sumMean / nb) / rms, `${t.name} mean of sub-block means`).toBeLessThan(0.02 + 4 / Math.sqrt(x.length));
      expect(Math.sqrt(sumMean2 / nb) / (rms / Math.sqrt(k)), `${t.name} spread of sub-block means`).toBeLessThan(1.3);
      checked.add(ggmlTypeName(t.type));
    }
    expect([...checked].sort()).toEqual(['Q4_K', 'Q6_K', 'Q8_0']);
  });

  it('is deterministic per seed', async () => {
    const hash = (p: string): string => createHash('sha256').update(readFileSync(p)).digest('hex');
    const a = await fileFor(MOE);
    const b = await fileFor(MOE, '-again');
    const c = await fileFor({ ...MOE, seed: 6 }, '-seed6');
    expect(hash(b)).toBe(hash(a));
    expect(hash(c)).not.toBe(hash(a));
  });

  it('llama.cpp evaluates both variants to finite, non-degenerate logits', async () => {
    for (const o of [DENSE, MOE]) {
      // node-llama-cpp's default (F16) KV cache on a 64-cell context.
      await withLlamaSequence(await fileFor(o), { contextSize: 64, kvCache: 'default' }, async (seq) => {
        const prompt = [17, 300, 41, 999, 5, 1200, 77, 640, 88, 1001, 12, 400];
        const res = await seq.controlledEvaluate(prompt.map((t) => [t as Token, { generateNext: { logits: true } }] as [Token, { generateNext: { logits: true } }]));
        const argmaxes = new Set<number>();
        for (const r of res) {
          const m = r?.next?.logits;
          expect(m?.size).toBe(o.nVocab);
          let best = -Infinity;
          let bestId = -1;
          let ss = 0;
          for (const [id, v] of m!) {
            expect(Number.isFinite(v)).toBe(true);
            ss += v * v;
            if (v > best) { best = v; bestId = id; }
          }
          const std = Math.sqrt(ss / m!.size);
          expect(std).toBeGreaterThan(0.5); // LM head RMS 2/sqrt(n_embd) on a ~unit-RMS normed hidden state: std ≈ 2
          expect(std).toBeLessThan(8);
          argmaxes.add(bestId);
        }
        expect(argmaxes.size, `${o.arch}: distinct argmaxes over ${prompt.length} positions`).toBeGreaterThanOrEqual(6);
      });
    }
  }, 60_000);
});

describe('named shapes', () => {
  it('qwen35-0.5b: parameter count from the spec §1.2 shape formulas; every K-quant ne0 a multiple of 256', () => {
    const s = SYNTHETIC_SHAPES['qwen35-0.5b'];
    const c = syntheticModelConfig('qwen35-0.5b');
    const H = s.nEmbd;
    const kd = s.ssmNK * s.ssmHeadDim;
    const vd = s.ssmNV * s.ssmHeadDim;
    const ffn = 3 * H * s.nFF! + 2 * H; // gate, up, down + attn_norm, post_attention_norm
    const gdn = H * (2 * kd + vd) + 2 * H * vd + 2 * H * s.ssmNV + 4 * (2 * kd + vd) + 2 * s.ssmNV + s.ssmHeadDim;
    const attn = H * 2 * s.nHead * s.headDim + 2 * H * s.nHeadKv * s.headDim + s.nHead * s.headDim * H + 2 * s.headDim;
    const nAttn = Math.floor(s.nTrunk / 4);
    const want = 2 * H * s.nVocab! + H + s.nTrunk * ffn + (s.nTrunk - nAttn) * gdn + nAttn * attn;
    expect(c.paramCount).toBe(want);
    expect(c.paramCount).toBeGreaterThan(0.4e9);
    expect(c.paramCount).toBeLessThan(0.6e9);
    for (const t of c.tensors) if (t.type !== GGMLType.F32) expect(t.shape[0]! % 256, t.name).toBe(0);
  });

  it('qwen35moe-0.5b: ~0.5 B parameters, K-quant ne0 multiples of 256, active share from nExpertUsed', () => {
    const c = syntheticModelConfig('qwen35moe-0.5b');
    expect(c.paramCount).toBeGreaterThan(0.4e9);
    expect(c.paramCount).toBeLessThan(0.6e9);
    for (const t of c.tensors) if (t.type !== GGMLType.F32) expect(t.shape[0]! % 256, t.name).toBe(0);
    const exps = c.tensors.filter((t) => t.name.endsWith('_exps.weight')).reduce((a, t) => a + t.shape.reduce((x, y) => x * y, 1), 0);
    const embdRowsSaved = c.nEmbd * (c.nVocab - 1);
    expect(c.activeParamCount).toBe(c.paramCount - embdRowsSaved - exps + (exps * c.nExpertUsed) / c.nExpert);
  });

  // Real shapes: header + tensor table only (syntheticModelHeader generates no data), checked against spec §1.3-§1.4
  // and read back by our GGUF reader from the header bytes alone.
  it.each([
    ['qwen35-27b', 866, 26_895_998_464 + 424_699_392, 16.8e9, 15_088 * 2 ** 20 + 299 * 2 ** 20],
    ['qwen35moe-35b-a3b', 753, 34_660_610_688 + 844_640_768, 21.7e9, 1_884 * 2 ** 20 + 126 * 2 ** 20],
  ] as const)('%s: tensor table, parameters, Q4_K_M file size and bytes per decoded token as the spec computes them', (shape, nTensors, params, fileBytes, decodeBytes) => {
    const { config: c, header, totalSize, tensorOffsets } = syntheticModelHeader(shape);
    expect(c.tensors).toHaveLength(nTensors);
    expect(c.paramCount).toBe(params);
    expect(c.nVocab).toBe(248320);
    expect(totalSize / fileBytes).toBeGreaterThan(0.97);
    expect(totalSize / fileBytes).toBeLessThan(1.03);
    expect(c.decodeBytesPerToken / decodeBytes).toBeGreaterThan(0.98);
    expect(c.decodeBytesPerToken / decodeBytes).toBeLessThan(1.02);
    const iWv = { n: 0 };
    for (const t of c.tensors) {
      if (t.layer < c.nTrunk) expect(t.type, t.name).toBe(expectedType(t.name, c.nLayerAll, iWv)); // (MTP block: tiny-models' own test)
      if (t.type !== GGMLType.F32) expect(t.shape[0]! % 256, t.name).toBe(0);
    }
    expect(tensorOffsets).toHaveLength(nTensors);
    expect(tensorOffsets[0]).toBe(header.length);
    const g = parseGGUF(header, { fileSize: totalSize, name: `${shape}-header` });
    expect(g.tensors.map((t) => t.name)).toEqual(c.tensors.map((t) => t.name));
    expect(g.tensors.map((t) => [...t.shape])).toEqual(c.tensors.map((t) => [...t.shape]));
  });

  it('qwen35moe-35b-a3b: the router spreads varied hidden states over all 256 experts (top 8)', () => {
    const c = syntheticModelConfig('qwen35moe-35b-a3b');
    const router = syntheticTensors(c).find((t) => t.name === 'blk.0.ffn_gate_inp.weight')!;
    const chunks = [...(router.data as () => Iterable<Uint8Array>)()];
    const bytes = Buffer.concat(chunks);
    const w = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
    const H = c.nEmbd;
    const E = c.nExpert;
    expect(w.length).toBe(H * E);
    const rng = new Rng(11);
    const T = 512;
    const counts = new Array<number>(E).fill(0);
    const x = new Float32Array(H);
    for (let t = 0; t < T; t++) {
      for (let j = 0; j < H; j++) x[j] = rng.normal(); // unit-RMS hidden state, as after the pre-FFN RMS norm
      const logits = Array.from({ length: E }, (_, e) => {
        let s = 0;
        for (let j = 0; j < H; j++) s += w[e * H + j]! * x[j]!;
        return [s, e] as const;
      }).sort((a, b) => b[0] - a[0]);
      for (let k = 0; k < c.nExpertUsed; k++) counts[logits[k]![1]]!++;
    }
    const uniform = (T * c.nExpertUsed) / E; // 16
    expect(counts.filter((n) => n === 0)).toHaveLength(0);
    expect(Math.max(...counts)).toBeLessThan(3 * uniform);
  });

  it('rejects a vocabulary smaller than the tiny BPE vocab', () => {
    expect(() => syntheticModelConfig({ ...DENSE, nVocab: 100 })).toThrow(/nVocab/);
  });
});
