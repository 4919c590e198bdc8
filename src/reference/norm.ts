/**
 * Float64 references of the norm ops (native/core/op_list.h RMS_NORM, L2_NORM), written from the formulas.
 * Layout: x is rows of n contiguous elements (ggml {n, R...}); results are Float64Array of the same length.
 */

/** y = x / sqrt(mean(x^2) + eps) (* w) per row of n. */
export function rmsNorm(x: ArrayLike<number>, n: number, eps: number, w?: ArrayLike<number>): Float64Array {
  const y = new Float64Array(x.length);
  for (let r = 0; r * n < x.length; r++) {
    let ss = 0;
    for (let i = 0; i < n; i++) ss += x[r * n + i]! * x[r * n + i]!;
    const inv = 1 / Math.sqrt(ss / n + eps);
    for (let i = 0; i < n; i++) y[r * n + i] = x[r * n + i]! * inv * (w ? w[i]! : 1);
  }
  return y;
}

/** y = x / max(||x||_2, eps) per row of n. */
export function l2Norm(x: ArrayLike<number>, n: number, eps: number): Float64Array {
  const y = new Float64Array(x.length);
  for (let r = 0; r * n < x.length; r++) {
    let ss = 0;
    for (let i = 0; i < n; i++) ss += x[r * n + i]! * x[r * n + i]!;
    const inv = 1 / Math.max(Math.sqrt(ss), eps);
    for (let i = 0; i < n; i++) y[r * n + i] = x[r * n + i]! * inv;
  }
  return y;
}
