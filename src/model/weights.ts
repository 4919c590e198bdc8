/**
 * The tensor table a qwen35 / qwen35moe forward pass reads (spec §2.4), derived from the config alone, and
 * its validation against a file's tensor infos before any compute: every required tensor present (MISSING_TENSOR),
 * with the expected shape and a type our kernels accept in that role (BAD_TENSOR). MTP tensors (blk.{n_trunk}.*)
 * are never required and never mapped.
 */
import { QwenHybridError } from '../errors.js';
import { GGMLType, ggmlTypeName } from '../gguf/types.js';
import type { GGUFTensorInfo } from '../gguf/types.js';
import type { Qwen35Config } from './config.js';

/** Types the matmul / get_rows kernels implement (native/core/validate_matmul.cc is_weight_type). */
export const MATMUL_WEIGHT_TYPES: readonly GGMLType[] = [
  GGMLType.F32, GGMLType.F16, GGMLType.BF16, GGMLType.Q4_0, GGMLType.Q4_1, GGMLType.Q5_0, GGMLType.Q5_1, GGMLType.Q8_0,
  GGMLType.Q4_K, GGMLType.Q5_K, GGMLType.Q6_K,
];
/** Norm weights, conv kernel, ssm_a, dt bias, router and shared-expert gate are read as f32 activations. */
const F32_ONLY: readonly GGMLType[] = [GGMLType.F32];

export interface TensorRequirement {
  readonly name: string;
  /** ne0 first. */
  readonly shape: readonly number[];
  readonly types: readonly GGMLType[];
}

/**
 * Required tensors of the trunk. `nVocab` = rows of token_embd; `tied` = no output.weight (LM head = token_embd).
 */
export function requiredTensors(c: Qwen35Config, nVocab: number, tied: boolean): TensorRequirement[] {
  const H = c.nEmbd;
  const out: TensorRequirement[] = [];
  const mm = (name: string, shape: number[]) => out.push({ name, shape, types: MATMUL_WEIGHT_TYPES });
  const f32 = (name: string, shape: number[]) => out.push({ name, shape, types: F32_ONLY });
  mm('token_embd.weight', [H, nVocab]);
  f32('output_norm.weight', [H]);
  if (!tied) mm('output.weight', [H, nVocab]);
  const s = c.ssm;
  const kd = s.nKHeads * s.stateSize;
  for (let i = 0; i < c.nTrunk; i++) {
    const p = `blk.${i}.`;
    f32(`${p}attn_norm.weight`, [H]);
    f32(`${p}post_attention_norm.weight`, [H]);
    if (c.layerKinds[i] === 'gdn') {
      mm(`${p}attn_qkv.weight`, [H, s.convChannels]);
      mm(`${p}attn_gate.weight`, [H, s.innerSize]);
      mm(`${p}ssm_beta.weight`, [H, s.nVHeads]);
      mm(`${p}ssm_alpha.weight`, [H, s.nVHeads]);
      f32(`${p}ssm_conv1d.weight`, [s.convKernel, 2 * kd + s.innerSize]);
      f32(`${p}ssm_dt.bias`, [s.nVHeads]);
      f32(`${p}ssm_a`, [s.nVHeads]);
      f32(`${p}ssm_norm.weight`, [s.headDimV]);
      mm(`${p}ssm_out.weight`, [s.innerSize, H]);
    } else {
      mm(`${p}attn_q.weight`, [H, 2 * c.nHead * c.headDimK]);
      mm(`${p}attn_k.weight`, [H, c.nHeadKv * c.headDimK]);
      mm(`${p}attn_v.weight`, [H, c.nHeadKv * c.headDimV]);
      mm(`${p}attn_output.weight`, [c.nHead * c.headDimV, H]);
      f32(`${p}attn_q_norm.weight`, [c.headDimK]);
      f32(`${p}attn_k_norm.weight`, [c.headDimK]);
    }
    if (c.ffn.kind === 'dense') {
      mm(`${p}ffn_gate.weight`, [H, c.ffn.nFf]);
      mm(`${p}ffn_up.weight`, [H, c.ffn.nFf]);
      mm(`${p}ffn_down.weight`, [c.ffn.nFf, H]);
    } else {
      const { nExpert: E, nFfExpert: ff, nFfShared: sh } = c.ffn;
      f32(`${p}ffn_gate_inp.weight`, [H, E]);
      mm(`${p}ffn_gate_exps.weight`, [H, ff, E]);
      mm(`${p}ffn_up_exps.weight`, [H, ff, E]);
      mm(`${p}ffn_down_exps.weight`, [ff, H, E]);
      if (sh > 0) {
        f32(`${p}ffn_gate_inp_shexp.weight`, [H]);
        mm(`${p}ffn_gate_shexp.weight`, [H, sh]);
        mm(`${p}ffn_up_shexp.weight`, [H, sh]);
        mm(`${p}ffn_down_shexp.weight`, [sh, H]);
      }
    }
  }
  return out;
}

function shapeEq(a: readonly number[], b: readonly number[]): boolean {
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) if ((a[i] ?? 1) !== (b[i] ?? 1)) return false;
  return true;
}

const fmtShape = (s: readonly number[]): string => `{${s.join(', ')}}`;

/**
 * Checks the tensor table and returns the required tensors' infos by name (table order of `requiredTensors`).
 * Vocabulary size = token_embd ne1 (it must be 2-D); the head is tied when output.weight is absent.
 */
export function validateTensorTable<T extends GGUFTensorInfo>(c: Qwen35Config, tensors: readonly T[], file = '<gguf>'): { tensors: Map<string, T>; nVocab: number; tied: boolean } {
  const byName = new Map<string, T>();
  for (const t of tensors) byName.set(t.name, t);
  const embd = byName.get('token_embd.weight');
  if (!embd) throw new QwenHybridError('MISSING_TENSOR', `${file}: required tensor 'token_embd.weight' is missing`, { file, tensor: 'token_embd.weight' });
  if (embd.shape.length !== 2 || embd.shape[0] !== c.nEmbd) {
    throw new QwenHybridError('BAD_TENSOR', `${file}: tensor 'token_embd.weight' has shape ${fmtShape(embd.shape)}, expected {${c.nEmbd}, n_vocab}`, { file, tensor: 'token_embd.weight', expected: [c.nEmbd, 'n_vocab'], found: embd.shape });
  }
  const nVocab = embd.shape[1] as number;
  if (c.vocabSize !== undefined && c.vocabSize !== nVocab) {
    throw new QwenHybridError('BAD_TENSOR', `${file}: tensor 'token_embd.weight' has ${nVocab} rows but ${c.arch}.vocab_size is ${c.vocabSize}`, { file, tensor: 'token_embd.weight', expected: c.vocabSize, found: nVocab });
  }
  const tied = !byName.has('output.weight');
  const out = new Map<string, T>();
  for (const req of requiredTensors(c, nVocab, tied)) {
    const t = byName.get(req.name);
    if (!t) throw new QwenHybridError('MISSING_TENSOR', `${file}: required tensor '${req.name}' (shape ${fmtShape(req.shape)}) is missing`, { file, tensor: req.name, expected: req.shape });
    if (!shapeEq(t.shape, req.shape)) {
      throw new QwenHybridError('BAD_TENSOR', `${file}: tensor '${req.name}' has shape ${fmtShape(t.shape)}, expected ${fmtShape(req.shape)}`, { file, tensor: req.name, expected: req.shape, found: t.shape });
    }
    if (!req.types.includes(t.type)) {
      throw new QwenHybridError('BAD_TENSOR', `${file}: tensor '${req.name}' has type ${ggmlTypeName(t.type)}, expected ${req.types.map(ggmlTypeName).join(' or ')}`, { file, tensor: req.name, expected: req.types.map(ggmlTypeName), found: ggmlTypeName(t.type) });
    }
    out.set(req.name, t);
  }
  return { tensors: out, nVocab, tied };
}
