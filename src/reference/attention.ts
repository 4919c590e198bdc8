/**
 * Float64 reference of ATTENTION (native/core/op_list.h; spec §3.3 steps 5-6): causal grouped-query softmax
 * attention over a per-session KV cache.
 *   q {d, Hq, T}, k {d, Hkv, T}, v {dv, Hkv, T}, pos[T]; cache rows {d|dv, Hkv, nCtx}.
 *   1. cache row pos[t] of KV head g := k[t][g], v[t][g] (rounded to f16 first for an f16 cache);
 *   2. for token t, query head h, g = floor(h / (Hq / Hkv)):
 *        s_tau = scale * q[t][h] . K[tau][g] for tau in [0, pos[t]];  p = softmax(s);
 *        out[t][h] = sum_tau p_tau V[tau][g].
 */
import { f16ToF32, f32ToF16 } from '../quant/half.js';

export interface KvCacheRef {
  d: number;
  dv: number;
  nKv: number;
  nCtx: number;
  type: 'f32' | 'f16';
  /** [nCtx][nKv][d] */
  k: Float64Array;
  /** [nCtx][nKv][dv] */
  v: Float64Array;
}

export function createKvCacheRef(d: number, dv: number, nKv: number, nCtx: number, type: 'f32' | 'f16'): KvCacheRef {
  return { d, dv, nKv, nCtx, type, k: new Float64Array(nCtx * nKv * d), v: new Float64Array(nCtx * nKv * dv) };
}

/** The value an f32 (already) or f16 cache stores for x. */
function stored(x: number, type: 'f32' | 'f16'): number {
  return type === 'f16' ? f16ToF32(f32ToF16(x)) : Math.fround(x);
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
      for (let i = 0; i < d; i++) cache.k[(p * nKv + g) * d + i] = stored(k[(t * nKv + g) * d + i]!, cache.type);
      for (let i = 0; i < dv; i++) cache.v[(p * nKv + g) * dv + i] = stored(v[(t * nKv + g) * dv + i]!, cache.type);
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
