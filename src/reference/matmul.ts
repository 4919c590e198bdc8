/**
 * Float64 references of the weight ops GET_ROWS, MATMUL and MATMUL_ID (native/core/op_list.h), written from
 * the formulas over the float64 dequantization of src/quant (`dequantize`: the exact value of every weight).
 * Layouts are ggml's (ne0 first): a weight {k, m} is m rows of k elements; x {k, T} is T rows of k; y {m, T}.
 *
 * Besides the result, matmul/matmulId return absSum[t][r] = Σ_c |W[r][c]·x[t][c]|: the scale an f32
 * implementation's rounding error is bounded by (|y − y_ref| ≤ (k + 1)·2^-24·absSum for any summation order,
 * products rounded or fused, weights rounded once to f32), which the op tests use as their tolerance.
 */
import { QwenHybridError } from '../errors.js';
import { GGMLType, ggmlTypeName, ggmlTypeTraits } from '../gguf/types.js';
import { dequantize } from '../quant/dequant.js';

export interface MatmulResult {
  /** {m, T} (MATMUL) or {m, K, T} (MATMUL_ID), ne0 first. */
  y: Float64Array;
  /** Same layout: Σ_c |W[r][c]·x[c]| of each output. */
  absSum: Float64Array;
}

function bad(msg: string, details: Record<string, unknown> = {}): QwenHybridError {
  return new QwenHybridError('INVALID_ARGUMENT', msg, details);
}

/** Float64 weights of a {ne0, rows...} tensor of `type` (row r at [r·ne0, (r+1)·ne0)). */
function weights(fn: string, type: GGMLType, data: Uint8Array, shape: readonly number[]): Float64Array {
  const t = ggmlTypeTraits(type);
  if (!t) throw bad(`${fn}: unknown weight type ${ggmlTypeName(type)}`, { parameter: 'type', type });
  let n = 1;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d <= 0) throw bad(`${fn}: weight shape [${shape.join(', ')}] must be positive integers`, { parameter: 'shape' });
    n *= d;
  }
  return dequantize(type, data, n); // validates type, block multiple and byte length
}

function checkLen(fn: string, what: string, a: ArrayLike<number>, n: number): void {
  if (a.length !== n) throw bad(`${fn}: ${what} must have ${n} elements, got ${a.length}`, { parameter: what, expected: n, actual: a.length });
}

/**
 * GET_ROWS: out[t] = dequant(W[ids[t]]) for W {n, rows}; returns {n, T} float64.
 * @throws QwenHybridError INVALID_ARGUMENT for bad shapes or an id outside [0, rows).
 */
export function getRows(type: GGMLType, data: Uint8Array, shape: readonly [number, number], ids: ArrayLike<number>): Float64Array {
  const [n, rows] = shape;
  const w = weights('getRows', type, data, shape);
  const out = new Float64Array(n * ids.length);
  for (let t = 0; t < ids.length; t++) {
    const r = ids[t]!;
    if (!Number.isInteger(r) || r < 0 || r >= rows) throw bad(`getRows: ids[${t}] = ${r} is not a row in [0, ${rows})`, { parameter: 'ids', index: t });
    out.set(w.subarray(r * n, (r + 1) * n), t * n);
  }
  return out;
}

/** y[r] = Σ_c w[wo + c]·x[xo + c] and its absolute sum, written at index `o`. */
function dotInto(w: Float64Array, wo: number, x: ArrayLike<number>, xo: number, k: number, res: MatmulResult, o: number): void {
  let s = 0;
  let a = 0;
  for (let c = 0; c < k; c++) {
    const p = w[wo + c]! * x[xo + c]!;
    s += p;
    a += Math.abs(p);
  }
  res.y[o] = s;
  res.absSum[o] = a;
}

/**
 * MATMUL: y[t][r] = Σ_c W[r][c]·x[t][c] for W {k, m} and x {k, T}; returns y {m, T}.
 * @throws QwenHybridError INVALID_ARGUMENT for bad shapes / lengths.
 */
export function matmul(type: GGMLType, data: Uint8Array, shape: readonly [number, number], x: ArrayLike<number>, T: number): MatmulResult {
  const [k, m] = shape;
  const w = weights('matmul', type, data, shape);
  checkLen('matmul', 'x', x, k * T);
  const res: MatmulResult = { y: new Float64Array(m * T), absSum: new Float64Array(m * T) };
  for (let t = 0; t < T; t++) for (let r = 0; r < m; r++) dotInto(w, r * k, x, t * k, k, res, t * m + r);
  return res;
}

/**
 * MATMUL_ID: y[t][s] = W[ids[t][s]] · (perSlot ? x[t][s] : x[t]) for W {k, m, E}, ids {K, T},
 * x {k, T} or {k, K, T}; returns y {m, K, T}.
 * @throws QwenHybridError INVALID_ARGUMENT for bad shapes / lengths or an id outside [0, E).
 */
export function matmulId(
  type: GGMLType,
  data: Uint8Array,
  shape: readonly [number, number, number],
  x: ArrayLike<number>,
  ids: ArrayLike<number>,
  K: number,
  T: number,
  perSlot: boolean,
): MatmulResult {
  const [k, m, E] = shape;
  const w = weights('matmulId', type, data, shape);
  checkLen('matmulId', 'ids', ids, K * T);
  checkLen('matmulId', 'x', x, perSlot ? k * K * T : k * T);
  const res: MatmulResult = { y: new Float64Array(m * K * T), absSum: new Float64Array(m * K * T) };
  for (let t = 0; t < T; t++) {
    for (let s = 0; s < K; s++) {
      const e = ids[t * K + s]!;
      if (!Number.isInteger(e) || e < 0 || e >= E) throw bad(`matmulId: ids[${t}][${s}] = ${e} is not an expert in [0, ${E})`, { parameter: 'ids' });
      const xo = (perSlot ? t * K + s : t) * k;
      for (let r = 0; r < m; r++) dotInto(w, (e * m + r) * k, x, xo, k, res, (t * K + s) * m + r);
    }
  }
  return res;
}
