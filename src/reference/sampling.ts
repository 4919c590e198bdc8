/**
 * Float64 references of the sampling-side ops (native/core/op_list.h LOG_SOFTMAX, ARGMAX, TOP_K), per row of
 * V contiguous values (ggml {V, T}).
 */

/** y = x - max - log(sum e^(x - max)) per row. */
export function logSoftmax(x: ArrayLike<number>, V: number): Float64Array {
  const y = new Float64Array(x.length);
  for (let r = 0; r * V < x.length; r++) {
    let m = -Infinity;
    for (let i = 0; i < V; i++) m = Math.max(m, x[r * V + i]!);
    let sum = 0;
    for (let i = 0; i < V; i++) sum += Math.exp(x[r * V + i]! - m);
    const lse = m + Math.log(sum);
    for (let i = 0; i < V; i++) y[r * V + i] = x[r * V + i]! - lse;
  }
  return y;
}

/** Index of the maximum per row, lowest index on ties. */
export function argmax(x: ArrayLike<number>, V: number): Int32Array {
  const R = x.length / V;
  const out = new Int32Array(R);
  for (let r = 0; r < R; r++) {
    let best = -Infinity;
    let idx = 0;
    for (let i = 0; i < V; i++) {
      if (x[r * V + i]! > best) {
        best = x[r * V + i]!;
        idx = i;
      }
    }
    out[r] = idx;
  }
  return out;
}

/** The K largest per row, best first; equal values rank by lower id. */
export function topK(x: ArrayLike<number>, V: number, K: number): { ids: Int32Array; values: Float64Array } {
  const R = x.length / V;
  const ids = new Int32Array(R * K);
  const values = new Float64Array(R * K);
  for (let r = 0; r < R; r++) {
    const order = Array.from({ length: V }, (_, i) => i);
    order.sort((a, b) => {
      const va = x[r * V + a]!;
      const vb = x[r * V + b]!;
      return va !== vb ? vb - va : a - b;
    });
    for (let j = 0; j < K; j++) {
      ids[r * K + j] = order[j]!;
      values[r * K + j] = x[r * V + order[j]!]!;
    }
  }
  return { ids, values };
}
