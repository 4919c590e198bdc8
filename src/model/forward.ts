/**
 * The qwen35 / qwen35moe forward pass (spec §3) as one graph of our ops, for T tokens of one session.
 *
 *   inputs:  tokens i32 {T}, pos i32 {T} (absolute positions, increasing; the caches hold [0, pos[0]))
 *   states:  blk.N.k_cache {dk, Hkv, nCtx}, blk.N.v_cache {dv, Hkv, nCtx}   (attention layers; f16, f32 or q8_0)
 *            blk.N.conv_state f32 {C, K-1}, blk.N.ssm_state f32 {dk, dv, nv} (GDN layers)
 *   output:  logits f32 {V, R}: R = T ('all'), 1 ('last': the last row, taken after the last layer's mixer, so
 *            that layer's FFN runs on one row), none ('none': the last layer stops at its state-updating op)
 *   sampling ('last' with `sample`): inputs sample_hist i32 {N, 1} and sample_cfg f32 {8, 1} (Sampler.fillSampleRow),
 *            and the output is token i32 {1} from the SAMPLE op instead of the logits: only the id leaves the device
 *
 * With `debug`, the spec §7 checkpoints (llama.cpp node names, suffixed "-N" for layer N) are graph outputs too.
 */
import { QwenHybridError } from '../errors.js';
import { GraphBuilder, type GraphDesc, type GraphWeight, type TensorRef } from './graph/builder.js';
import { OpKind } from './graph/ops.js';
import type { Qwen35Config } from './config.js';

export type LogitsMode = 'none' | 'last' | 'all';

/** KV cache element type: 'q8_0' stores each 32 values as an f16 scale + 32 int8 (as llama.cpp --cache-type-k/v q8_0). */
export type KvCacheType = 'f16' | 'f32' | 'q8_0';

/** Bytes per cached element: q8_0 is 34 bytes per 32 values. */
export const KV_BYTES_PER_ELEMENT: Readonly<Record<KvCacheType, number>> = { f32: 4, f16: 2, q8_0: 34 / 32 };

/**
 * `type` if it is a KvCacheType this model can use, else INVALID_ARGUMENT: q8_0 rows are whole 32-value blocks, so
 * both head dims (the k_cache and v_cache ne0) must be multiples of 32.
 */
export function checkKvCacheType(c: Qwen35Config, type: unknown): KvCacheType {
  if (type !== 'f16' && type !== 'f32' && type !== 'q8_0') {
    throw new QwenHybridError('INVALID_ARGUMENT', `kvCacheType must be 'f16', 'f32' or 'q8_0', got ${JSON.stringify(type)}`, { parameter: 'kvCacheType' });
  }
  if (type === 'q8_0' && (c.headDimK % 32 !== 0 || c.headDimV % 32 !== 0)) {
    throw new QwenHybridError(
      'INVALID_ARGUMENT',
      `kvCacheType 'q8_0' needs head dims that are multiples of 32 (whole q8_0 blocks per cache row); this model has key_length ${c.headDimK}, value_length ${c.headDimV}`,
      { parameter: 'kvCacheType', headDimK: c.headDimK, headDimV: c.headDimV },
    );
  }
  return type;
}

export interface ForwardGraphOptions {
  /** Tokens per run (micro-batch). */
  T: number;
  logits: LogitsMode;
  /** KV cache rows. */
  nCtx: number;
  kvType: KvCacheType;
  /** Also output the named intermediates. */
  debug?: boolean;
  /** MATMUL / MATMUL_ID activations (p.i[1]): 'f32' exact (default) or 'q8' quantized (op_list.h). */
  activations?: 'f32' | 'q8';
  /** With logits 'last': end in the SAMPLE op with a penalty window of this many tokens (output 'token'). */
  sample?: number;
}

/** Session state tensors (name, dtype, shape) the forward graph declares. */
export function stateTensorNames(c: Qwen35Config): string[] {
  const out: string[] = [];
  c.layerKinds.forEach((k, i) => {
    if (k === 'attention') out.push(`blk.${i}.k_cache`, `blk.${i}.v_cache`);
    else out.push(`blk.${i}.conv_state`, `blk.${i}.ssm_state`);
  });
  return out;
}

/**
 * Builds the graph. `weight(name)` returns the mapped tensor (validated by weights.ts); `headName` is
 * 'output.weight' or 'token_embd.weight' (tied).
 */
export function buildForwardGraph(c: Qwen35Config, weight: (name: string) => GraphWeight, headName: string, nVocab: number, o: ForwardGraphOptions): GraphDesc {
  const { T } = o;
  if (!Number.isSafeInteger(T) || T < 1) throw new QwenHybridError('INVALID_ARGUMENT', `forward graph: T must be a positive integer, got ${T}`);
  if (o.sample !== undefined && (o.logits !== 'last' || !Number.isSafeInteger(o.sample) || o.sample < 1)) {
    throw new QwenHybridError('INVALID_ARGUMENT', `forward graph: sample needs logits 'last' and a positive window, got ${o.logits} / ${o.sample}`);
  }
  const g = new GraphBuilder();
  const H = c.nEmbd;
  const eps = c.rmsEps;
  const f32 = (shape: readonly number[]) => ({ dtype: 'f32' as const, shape });
  const W = (name: string): TensorRef => g.weight(weight(name));
  const op1 = (kind: OpKind, ins: TensorRef[], shape: readonly number[], p: { i?: number[]; f?: number[] } = {}): TensorRef => g.op(kind, ins, [f32(shape)], p)[0] as TensorRef;
  const tap = (name: string, t: TensorRef): TensorRef => {
    if (o.debug) g.output(name, t);
    return t;
  };
  const rms = (x: TensorRef, w: TensorRef | null): TensorRef => op1(OpKind.RMS_NORM, w ? [x, w] : [x], x.shape, { f: [eps] });
  /** W {k, rows} · x {k, n} → {rows, n}. */
  const act = o.activations === 'q8' ? 1 : 0;
  const matmul = (w: string, x: TensorRef, rows: number): TensorRef => op1(OpKind.MATMUL, [W(w), x], [rows, x.shape[1] ?? 1], { i: [0, act] });

  const tokens = g.input('tokens', 'i32', [T]);
  const pos = g.input('pos', 'i32', [T]);
  let x = tap('inp_embd', op1(OpKind.GET_ROWS, [W('token_embd.weight'), tokens], [H, T]));

  const s = c.ssm;
  const dk = s.stateSize;
  const dv = s.headDimV;
  const nk = s.nKHeads;
  const nv = s.nVHeads;
  const C = s.convChannels;
  const vd = s.innerSize;
  const d = c.headDimK;
  const dV = c.headDimV;
  const Hq = c.nHead;
  const Hkv = c.nHeadKv;

  for (let il = 0; il < c.nTrunk; il++) {
    const p = `blk.${il}.`;
    // 'none': the last layer only has to update its state (the mixer core op); nothing after it is read.
    const stateOnly = o.logits === 'none' && il === c.nTrunk - 1 && !o.debug;
    const u = tap(`attn_norm-${il}`, rms(x, W(`${p}attn_norm.weight`)));
    let mixer: TensorRef;
    if (c.layerKinds[il] === 'gdn') {
      const qkv = tap(`linear_attn_qkv_mixed-${il}`, matmul(`${p}attn_qkv.weight`, u, C));
      const z = tap(`z-${il}`, matmul(`${p}attn_gate.weight`, u, vd));
      const b = matmul(`${p}ssm_beta.weight`, u, nv);
      const a = matmul(`${p}ssm_alpha.weight`, u, nv);
      const convState = g.state(`${p}conv_state`, 'f32', [C, s.convKernel - 1]);
      const y = tap(`conv_output_silu-${il}`, op1(OpKind.SSM_CONV, [qkv, W(`${p}ssm_conv1d.weight`), convState], [C, T]));
      // y rows are [q (nk·dk) ; k (nk·dk) ; v (nv·dv)], row stride C.
      const qRaw = op1(OpKind.COPY_STRIDED, [y], [dk, nk, T], { i: [0, dk, C, 0] });
      const kRaw = op1(OpKind.COPY_STRIDED, [y], [dk, nk, T], { i: [nk * dk, dk, C, 0] });
      const v = tap(`v_conv_predelta-${il}`, op1(OpKind.COPY_STRIDED, [y], [dv, nv, T], { i: [2 * nk * dk, dv, C, 0] }));
      const q = tap(`q_conv_predelta-${il}`, op1(OpKind.SCALE, [op1(OpKind.L2_NORM, [qRaw], qRaw.shape, { f: [eps] })], qRaw.shape, { f: [1 / Math.sqrt(dk), 0] }));
      const k = tap(`k_conv_predelta-${il}`, op1(OpKind.L2_NORM, [kRaw], kRaw.shape, { f: [eps] }));
      const beta = tap(`beta_sigmoid-${il}`, op1(OpKind.SIGMOID, [b], b.shape));
      const sp = tap(`a_softplus-${il}`, op1(OpKind.SOFTPLUS, [op1(OpKind.ADD, [a, W(`${p}ssm_dt.bias`)], a.shape)], a.shape));
      const gate = tap(`gate-${il}`, op1(OpKind.MUL, [sp, W(`${p}ssm_a`)], a.shape));
      const S = g.state(`${p}ssm_state`, 'f32', [dk, dv, nv]);
      // p.i[0] = 0: GGUF tiled V→K head map (spec pitfall 4); p.i[1] = 0: serial/chunked chosen by the backend.
      const core = tap(`attn_output-${il}`, op1(OpKind.GATED_DELTA_NET, [q, k, v, gate, beta, S], [dv, nv, T], { i: [0, 0, 0] }));
      if (stateOnly) break;
      const normed = tap(`final_output-${il}`, op1(OpKind.GATED_RMS_NORM, [core, W(`${p}ssm_norm.weight`), g.view(z, [dv, nv, T])], [dv, nv, T], { f: [eps] }));
      mixer = tap(`linear_attn_out-${il}`, matmul(`${p}ssm_out.weight`, g.view(normed, [vd, T]), H));
    } else {
      const qg = matmul(`${p}attn_q.weight`, u, 2 * d * Hq);
      // attn_q rows per head h: [q_h (d) | gate_h (d)] (spec pitfall 5).
      const qRaw = op1(OpKind.COPY_STRIDED, [qg], [d, Hq, T], { i: [0, 2 * d, 2 * d * Hq, 0] });
      const gateRaw = op1(OpKind.COPY_STRIDED, [qg], [d, Hq, T], { i: [d, 2 * d, 2 * d * Hq, 0] });
      const rope = (t: TensorRef) => op1(OpKind.ROPE_NEOX, [t, pos], t.shape, { i: [c.nRot], f: [c.ropeBase] });
      const q = tap(`Qcur_normed-${il}`, rope(rms(qRaw, W(`${p}attn_q_norm.weight`))));
      const kFlat = matmul(`${p}attn_k.weight`, u, d * Hkv);
      const k = tap(`Kcur_normed-${il}`, rope(rms(g.view(kFlat, [d, Hkv, T]), W(`${p}attn_k_norm.weight`))));
      const v = g.view(matmul(`${p}attn_v.weight`, u, dV * Hkv), [dV, Hkv, T]);
      const kc = g.state(`${p}k_cache`, o.kvType, [d, Hkv, o.nCtx]);
      const vc = g.state(`${p}v_cache`, o.kvType, [dV, Hkv, o.nCtx]);
      const att = tap(`attn_output-${il}`, op1(OpKind.ATTENTION, [q, k, v, pos, kc, vc], [dV, Hq, T], { f: [1 / Math.sqrt(d)] }));
      if (stateOnly) break;
      const sg = tap(`gate_sigmoid-${il}`, op1(OpKind.SIGMOID, [gateRaw], gateRaw.shape));
      const gated = tap(`attn_gated-${il}`, op1(OpKind.MUL, [att, sg], att.shape));
      mixer = matmul(`${p}attn_output.weight`, g.view(gated, [dV * Hq, T]), H);
    }
    // 'last': after the last mixer only the last row matters (llama.cpp's inp_out_ids); FFN on that row only.
    const lastRowOnly = o.logits === 'last' && il === c.nTrunk - 1 && T > 1 && !o.debug;
    if (lastRowOnly) {
      const off = { byteOffset: (T - 1) * H * 4 };
      x = g.view(x, [H, 1], off);
      mixer = g.view(mixer, [H, 1], off);
    }
    const n = x.shape[1] ?? 1; // rows from here on: T, or 1
    const h = tap(`attn_residual-${il}`, op1(OpKind.ADD, [x, mixer], [H, n]));
    const f = tap(`attn_post_norm-${il}`, rms(h, W(`${p}post_attention_norm.weight`)));
    let ffn: TensorRef;
    if (c.ffn.kind === 'dense') {
      const nFf = c.ffn.nFf;
      ffn = matmul(`${p}ffn_down.weight`, op1(OpKind.SWIGLU, [matmul(`${p}ffn_gate.weight`, f, nFf), matmul(`${p}ffn_up.weight`, f, nFf)], [nFf, n]), H);
    } else {
      const { nExpert: E, nExpertUsed: K, nFfExpert: ff, nFfShared: sh } = c.ffn;
      const logits = tap(`ffn_moe_logits-${il}`, matmul(`${p}ffn_gate_inp.weight`, f, E));
      const [ids, w] = g.op(OpKind.MOE_ROUTER, [logits], [{ dtype: 'i32', shape: [K, n] }, f32([K, n])], { i: [K] }) as [TensorRef, TensorRef];
      tap(`ffn_moe_weights_norm-${il}`, w);
      const ge = op1(OpKind.MATMUL_ID, [W(`${p}ffn_gate_exps.weight`), f, ids], [ff, K, n], { i: [0, act] });
      const ue = op1(OpKind.MATMUL_ID, [W(`${p}ffn_up_exps.weight`), f, ids], [ff, K, n], { i: [0, act] });
      const ye = op1(OpKind.MATMUL_ID, [W(`${p}ffn_down_exps.weight`), op1(OpKind.SWIGLU, [ge, ue], [ff, K, n]), ids], [H, K, n], { i: [1, act] });
      const routed = tap(`ffn_moe_out-${il}`, op1(OpKind.MOE_COMBINE, [ye, w], [H, n]));
      if (sh > 0) {
        // ffn_gate_inp_shexp {H} is a 1-row matrix {H, 1}: one sigmoid gate per token, broadcast over H.
        const sgate = op1(OpKind.SIGMOID, [matmul(`${p}ffn_gate_inp_shexp.weight`, f, 1)], [1, n]);
        const ys = matmul(`${p}ffn_down_shexp.weight`, op1(OpKind.SWIGLU, [matmul(`${p}ffn_gate_shexp.weight`, f, sh), matmul(`${p}ffn_up_shexp.weight`, f, sh)], [sh, n]), H);
        const shared = tap(`ffn_shexp_gated-${il}`, op1(OpKind.MUL, [ys, sgate], [H, n]));
        ffn = op1(OpKind.ADD, [routed, shared], [H, n]);
      } else {
        ffn = routed;
      }
    }
    tap(`ffn_out-${il}`, ffn);
    x = tap(`l_out-${il}`, op1(OpKind.ADD, [h, ffn], [H, n]));
  }

  if (o.logits !== 'none') {
    // x is {H, T} ('all') or already the last row {H, 1} ('last').
    const last = o.logits === 'last' && x.shape[1] !== 1 ? g.view(x, [H, 1], { byteOffset: (T - 1) * H * 4 }) : x;
    const normed = tap('result_norm', rms(last, W('output_norm.weight')));
    const logits = matmul(headName, normed, nVocab);
    if (o.sample !== undefined) {
      const hist = g.input('sample_hist', 'i32', [o.sample, 1]);
      const cfg = g.input('sample_cfg', 'f32', [8, 1]);
      g.output('token', g.op(OpKind.SAMPLE, [logits, hist, cfg], [{ dtype: 'i32', shape: [1] }])[0] as TensorRef);
    } else {
      g.output('logits', logits);
    }
  }
  return g.build();
}
