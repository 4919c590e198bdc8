/**
 * Float64 reference of ATTENTION (native/core/op_list.h; spec §3.3 steps 5-6): causal grouped-query softmax
 * attention over a per-session KV cache.
 *   q {d, Hq, T}, k {d, Hkv, T}, v {dv, Hkv, T}, pos[T]; cache rows {d|dv, Hkv, nCtx}.
 *   1. cache row pos[t] of KV head g := k[t][g], v[t][g] (rounded to f16 first for an f16 cache; for a q8_0 cache
 *      the values a q8_0 row holds after quantizeKvQ8_0 below);
 *   2. for token t, query head h, g = floor(h / (Hq / Hkv)):
 *        s_tau = scale * q[t][h] . K[tau][g] for tau in [0, pos[t]];  p = softmax(s);
 *        out[t][h] = sum_tau p_tau V[tau][g].
 */
import { f16ToF32, f32ToF16 } from '../quant/half.js';

export type KvCacheType = 'f32' | 'f16' | 'q8_0';

export interface KvCacheRef {
  d: number;
  dv: number;
  nKv: number;
  nCtx: number;
  type: KvCacheType;
  /** [nCtx][nKv][d] */
  k: Float64Array;
  /** [nCtx][nKv][dv] */
  v: Float64Array;
}

export function createKvCacheRef(d: number, dv: number, nKv: number, nCtx: number, type: KvCacheType): KvCacheRef {
  return { d, dv, nKv, nCtx, type, k: new Float64Array(nCtx * nKv * d), v: new Float64Array(nCtx * nKv * dv) };
}

/** roundf: to nearest, halves away from zero (exact in f64 for f32 inputs). */
function roundAway(v: number): number {
  return v < 0 ? -Math.floor(-v + 0.5) : Math.floor(v + 0.5);
}

/**
 * q8_0 KV-cache quantization of x (length a multiple of 32) into raw ggml blocks (34 B: f16 d, 32 x i8), as ggml's
 * quantize_row_q8_0 reference and native/cpu/attention.cc: per block, in f32 arithmetic, amax = max |x_i|,
 * d = amax / 127, id = d != 0 ? 1 / d : 0, q_i = roundf(x_i * id) clamped to [-127, 127]; the stored scale is f16(d).
 */
export function quantizeKvQ8_0(x: ArrayLike<number>): Uint8Array {
  if (x.length % 32 !== 0) throw new RangeError(`quantizeKvQ8_0: length ${x.length} is not a multiple of 32`);
  const out = new Uint8Array((x.length / 32) * 34);
  for (let b = 0; b < x.length / 32; b++) {
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(Math.fround(x[32 * b + j]!)));
    const d = Math.fround(amax / 127);
    const id = d !== 0 ? Math.fround(1 / d) : 0;
    const h = f32ToF16(d);
    out[34 * b] = h & 0xff;
    out[34 * b + 1] = h >>> 8;
    for (let j = 0; j < 32; j++) {
      const q = roundAway(Math.fround(Math.fround(x[32 * b + j]!) * id));
      out[34 * b + 2 + j] = Math.min(127, Math.max(-127, q)) & 0xff;
    }
  }
  return out;
}

/** Values of raw q8_0 blocks: f16(d) * q_i (one f32 product, as the native readers). */
export function dequantizeKvQ8_0(blocks: Uint8Array): Float64Array {
  const nb = blocks.length / 34;
  const out = new Float64Array(nb * 32);
  for (let b = 0; b < nb; b++) {
    const d = f16ToF32(blocks[34 * b]! | (blocks[34 * b + 1]! << 8));
    for (let j = 0; j < 32; j++) out[32 * b + j] = Math.fround(d * ((blocks[34 * b + 2 + j]! << 24) >> 24));
  }
  return out;
}

/** The values a cache of `type` stores for the row x. */
export function storedKvRow(x: ArrayLike<number>, type: KvCacheType): Float64Array {
  if (type === 'q8_0') return dequantizeKvQ8_0(quantizeKvQ8_0(x));
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = type === 'f16' ? f16ToF32(f32ToF16(x[i]!)) : Math.fround(x[i]!);
  return out;
}

function rowOf(a: ArrayLike<number>, start: number, n: number): number[] {
  const r = new Array<number>(n);
  for (let i = 0; i < n; i++) r[i] = a[start + i]!;
  return r;
}

/** Runs one ATTENTION call: updates `cache` and returns out {dv, Hq, T} as Float64Array. */
export function attentionRef(
  q: ArrayLike<number>,
  k: ArrayLike<number>,
  v: ArrayLike<number>,
  pos: ArrayLike<number>,
  nHeadQ: number,
  scale: number,
  cache: KvCacheRef,
): Float64Array {
  const { d, dv, nKv, nCtx } = cache;
  const T = pos.length;
  for (let t = 0; t < T; t++) {
    const p = pos[t]!;
    if (p < 0 || p >= nCtx) throw new RangeError(`attentionRef: position ${p} outside [0, ${nCtx})`);
    for (let g = 0; g < nKv; g++) {
      cache.k.set(storedKvRow(rowOf(k, (t * nKv + g) * d, d), cache.type), (p * nKv + g) * d);
      cache.v.set(storedKvRow(rowOf(v, (t * nKv + g) * dv, dv), cache.type), (p * nKv + g) * dv);
    }
  }
  const group = nHeadQ / nKv;
  const out = new Float64Array(dv * nHeadQ * T);
  for (let t = 0; t < T; t++) {
    const n = pos[t]! + 1;
    const s = new Float64Array(n);
    for (let h = 0; h < nHeadQ; h++) {
      const g = Math.floor(h / group);
      const qo = (t * nHeadQ + h) * d;
      let m = -Infinity;
      for (let tau = 0; tau < n; tau++) {
        let dot = 0;
        const ko = (tau * nKv + g) * d;
        for (let i = 0; i < d; i++) dot += q[qo + i]! * cache.k[ko + i]!;
        s[tau] = scale * dot;
        m = Math.max(m, s[tau]!);
      }
      let sum = 0;
      for (let tau = 0; tau < n; tau++) {
        s[tau] = Math.exp(s[tau]! - m);
        sum += s[tau]!;
      }
      const oo = (t * nHeadQ + h) * dv;
      for (let tau = 0; tau < n; tau++) {
        const w = s[tau]! / sum;
        const vo = (tau * nKv + g) * dv;
        for (let c = 0; c < dv; c++) out[oo + c] = out[oo + c]! + w * cache.v[vo + c]!;
      }
    }
  }
  return out;
}
