/**
 * Float64 references of MOE_ROUTER and MOE_COMBINE (native/core/op_list.h; spec §3.5 steps 2-5).
 */

export interface MoeRouterResult {
  /** {K, T}: selected experts per token, best first. */
  ids: Int32Array;
  /** {K, T}: renormalised weights (sum 1 per token). */
  weights: Float64Array;
}

/**
 * logits {E, T}: p = softmax(logits) over all E; the K largest p, descending, equal p ordered by lower id;
 * w_s = p_{id_s} / sum of the selected p.
 */
export function moeRouter(logits: ArrayLike<number>, E: number, T: number, K: number): MoeRouterResult {
  const ids = new Int32Array(K * T);
  const weights = new Float64Array(K * T);
  for (let t = 0; t < T; t++) {
    let mx = -Infinity;
    for (let e = 0; e < E; e++) mx = Math.max(mx, logits[t * E + e]!);
    const p = new Float64Array(E);
    let Z = 0;
    for (let e = 0; e < E; e++) Z += p[e] = Math.exp(logits[t * E + e]! - mx);
    for (let e = 0; e < E; e++) p[e] = p[e]! / Z;
    const order = Array.from({ length: E }, (_, e) => e).sort((a, b) => p[b]! - p[a]! || a - b);
    let sel = 0;
    for (let s = 0; s < K; s++) sel += p[order[s]!]!;
    for (let s = 0; s < K; s++) {
      ids[t * K + s] = order[s]!;
      weights[t * K + s] = p[order[s]!]! / sel;
    }
  }
  return { ids, weights };
}

/** y {n, K, T}, w {K, T} -> out {n, T}: out[t] = sum_s w[t][s] y[t][s]. */
export function moeCombine(y: ArrayLike<number>, w: ArrayLike<number>, n: number, K: number, T: number): Float64Array {
  const out = new Float64Array(n * T);
  for (let t = 0; t < T; t++)
    for (let s = 0; s < K; s++) {
      const ws = w[t * K + s]!;
      for (let i = 0; i < n; i++) out[t * n + i] = out[t * n + i]! + ws * y[(t * K + s) * n + i]!;
    }
  return out;
}
