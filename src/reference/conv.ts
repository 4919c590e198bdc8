/**
 * Float64 reference of SSM_CONV (native/core/op_list.h; spec §3.2 step 2): depthwise causal conv1d with K taps
 * over [conv_state; x], then SiLU; the new conv_state is the last K-1 RAW input rows.
 *   x {C, T} (row t = token t), w {K, C} (w[c][k] at k + K c; tap K-1 multiplies the current token),
 *   state {C, K-1} (row r = input at t-(K-1)+r, oldest first), out {C, T}.
 */
export interface SsmConvResult {
  out: Float64Array;
  state: Float64Array;
}

export function ssmConv(x: ArrayLike<number>, w: ArrayLike<number>, state: ArrayLike<number>, C: number, T: number, K: number): SsmConvResult {
  // xin = [state; x]: K-1+T rows of C.
  const xin = (r: number, c: number): number => (r < K - 1 ? state[r * C + c]! : x[(r - (K - 1)) * C + c]!);
  const out = new Float64Array(C * T);
  for (let t = 0; t < T; t++) {
    for (let c = 0; c < C; c++) {
      let acc = 0;
      for (let k = 0; k < K; k++) acc += w[c * K + k]! * xin(t + k, c);
      out[t * C + c] = acc / (1 + Math.exp(-acc));
    }
  }
  const next = new Float64Array(C * (K - 1));
  for (let r = 0; r < K - 1; r++) for (let c = 0; c < C; c++) next[r * C + c] = xin(T + r, c);
  return { out, state: next };
}
