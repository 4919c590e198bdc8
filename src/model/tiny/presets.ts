/**
 * Named tiny-model option sets. Together they cover every structural variant of Qwen3.5/3.6 and every
 * weight type of a real Q4_K_M file (F32, Q4_K, Q5_K, Q6_K, Q8_0, F16, BF16):
 *
 * | preset            | arch      | layers    | GDN nk/nv×d (ratio) | attn heads/kv×d, rot | FFN                        | head   |
 * |-------------------|-----------|-----------|---------------------|----------------------|----------------------------|--------|
 * | dense-r2          | qwen35    | 4         | 4/8×32 (2)          | 4/2×64, 16           | dense 512                  | untied |
 * | dense-r3-tied-mtp | qwen35    | 8 + MTP   | 2/6×64 (3)          | 6/2×64, 32           | dense 512                  | tied   |
 * | moe-r2            | qwen35moe | 4         | 2/4×64 (2)          | 8/2×32, 8            | 8 experts top-2 ×256, sh 256 | untied |
 * | moe-r3-mtp        | qwen35moe | 8 + MTP   | 2/6×128 (3)         | 6/2×128, 32          | 16 experts top-4 ×64, sh 256 | untied |
 *
 * Types start from llama.cpp's Q4_K_M rule (spec §4.6), then:
 *   dense-r2:          attn_qkv Q5_K (older llama.cpp Q4_K_M), ssm_alpha/ssm_beta Q8_0 ("UD" mixes)
 *   dense-r3-tied-mtp: token_embd Q6_K (tied rule); ssm_out BF16 and attn_output F16 (ne0 = 384, no K-quant)
 *   moe-r2:            ssm_alpha F16, ssm_beta BF16
 *   moe-r3-mtp:        ffn_down_exps Q8_0 (ne0 = 64), ssm_alpha/ssm_beta Q8_0
 */
import { GGMLType } from '../../gguf/types.js';
import type { TinyModelOptions } from './tiny-models.js';

export type TinyPresetName = 'dense-r2' | 'dense-r3-tied-mtp' | 'moe-r2' | 'moe-r3-mtp';

export const TINY_PRESETS: Readonly<Record<TinyPresetName, TinyModelOptions>> = {
  'dense-r2': {
    name: 'dense-r2',
    arch: 'qwen35',
    seed: 1001,
    nEmbd: 256,
    nTrunk: 4,
    nHead: 4,
    nHeadKv: 2,
    headDim: 64,
    nRot: 16,
    ropeSections: [3, 3, 2, 0],
    ssmNK: 4,
    ssmNV: 8,
    ssmHeadDim: 32,
    nFF: 512,
    types: { mix: 'q4_k_m', roles: { attn_qkv: GGMLType.Q5_K, ssm_alpha: GGMLType.Q8_0, ssm_beta: GGMLType.Q8_0 } },
  },
  'dense-r3-tied-mtp': {
    name: 'dense-r3-tied-mtp',
    arch: 'qwen35',
    seed: 1002,
    nEmbd: 256,
    nTrunk: 8,
    mtp: true,
    tied: true,
    nHead: 6,
    nHeadKv: 2,
    headDim: 64,
    nRot: 32,
    ropeSections: [6, 6, 4, 0],
    ssmNK: 2,
    ssmNV: 6,
    ssmHeadDim: 64,
    nFF: 512,
    types: { mix: 'q4_k_m', roles: { ssm_out: GGMLType.BF16, attn_output: GGMLType.F16 } },
  },
  'moe-r2': {
    name: 'moe-r2',
    arch: 'qwen35moe',
    seed: 1003,
    nEmbd: 256,
    nTrunk: 4,
    nHead: 8,
    nHeadKv: 2,
    headDim: 32,
    nRot: 8,
    ropeSections: [2, 1, 1, 0],
    ssmNK: 2,
    ssmNV: 4,
    ssmHeadDim: 64,
    nExpert: 8,
    nExpertUsed: 2,
    nFFExp: 256,
    nFFShexp: 256,
    types: { mix: 'q4_k_m', roles: { ssm_alpha: GGMLType.F16, ssm_beta: GGMLType.BF16 } },
  },
  'moe-r3-mtp': {
    name: 'moe-r3-mtp',
    arch: 'qwen35moe',
    seed: 1004,
    nEmbd: 256,
    nTrunk: 8,
    mtp: true,
    nHead: 6,
    nHeadKv: 2,
    headDim: 128,
    nRot: 32,
    ropeSections: [6, 6, 4, 0],
    ssmNK: 2,
    ssmNV: 6,
    ssmHeadDim: 128,
    nExpert: 16,
    nExpertUsed: 4,
    nFFExp: 64,
    nFFShexp: 256,
    types: { mix: 'q4_k_m', roles: { ffn_down_exps: GGMLType.Q8_0, ssm_alpha: GGMLType.Q8_0, ssm_beta: GGMLType.Q8_0 } },
  },
};

export const TINY_PRESET_NAMES = Object.keys(TINY_PRESETS) as TinyPresetName[];
