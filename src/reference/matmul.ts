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
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from '../quant/half.js';

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

// ---------------------------------------------------------------------------------------------------------------
// Activation-quantized MATMUL (p.i[1] = 1; native/cpu/quant_q8.h): x is quantized exactly as the kernel does (f32
// arithmetic emulated with Math.fround, round half to even), then y = Σ_c W[c]·d_b·q_c in float64.

/**
 * Activation format of weight type `type` in q8 mode: 'q8k' (per 256), 'q8a' (per 32), 'f16' / 'bf16' (x rounded,
 * then exact), or null (stays exact).
 */
export function activationFormat(type: GGMLType): 'q8k' | 'q8a' | 'f16' | 'bf16' | null {
  switch (type) {
    case GGMLType.Q4_K:
    case GGMLType.Q5_K:
    case GGMLType.Q6_K:
      return 'q8k';
    case GGMLType.Q8_0:
    case GGMLType.Q4_0:
      return 'q8a';
    case GGMLType.F16:
      return 'f16';
    case GGMLType.BF16:
      return 'bf16';
    default:
      return null;
  }
}

/** Round half to even (the kernel's nearbyint in the default rounding mode). */
function rne(v: number): number {
  const r = Math.round(v); // half up
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

export interface QuantizedActivations {
  /** Block size (256 for Q8_K, 32 for Q8_0-style). */
  block: number;
  /** Per-block f32 scale. */
  d: Float32Array;
  /** Quants in [-127, 127]. */
  q: Int8Array;
}

/**
 * Quantizes k activations. Q8_K (per 256): amax = max|x|, mx = first x with |x| = amax, iscale = fl(−127/mx),
 * q = min(127, rne(fl(iscale·x))), d = fl(1/iscale) (amax = 0: d = 0, q = 0). Q8_0-style (per 32):
 * d = fl(amax/127), id = d ? fl(1/d) : 0, q = rne(fl(x·id)), stored scale f16(d) (as llama.cpp's block_q8_0).
 */
export function quantizeActivations(format: 'q8k' | 'q8a', x: ArrayLike<number>, k: number): QuantizedActivations {
  const f = Math.fround;
  const block = format === 'q8k' ? 256 : 32;
  if (k % block !== 0) throw bad(`quantizeActivations: k = ${k} must be a multiple of ${block}`, { parameter: 'k' });
  const nb = k / block;
  const d = new Float32Array(nb);
  const q = new Int8Array(k);
  for (let b = 0; b < nb; b++) {
    const o = b * block;
    let amax = 0;
    let mx = 0;
    for (let j = 0; j < block; j++) {
      const v = f(x[o + j]!);
      if (Math.abs(v) > amax) {
        amax = Math.abs(v);
        mx = v;
      }
    }
    if (format === 'q8k') {
      if (amax === 0) continue;
      const iscale = f(-127 / mx);
      for (let j = 0; j < block; j++) q[o + j] = Math.min(127, rne(f(iscale * f(x[o + j]!))));
      d[b] = f(1 / iscale);
    } else {
      const db = f(amax / 127);
      const id = db !== 0 ? f(1 / db) : 0;
      d[b] = f16ToF32(f32ToF16(db));
      for (let j = 0; j < block; j++) q[o + j] = rne(f(f(x[o + j]!) * id));
    }
  }
  return { block, d, q };
}

export interface MatmulQ8Result extends MatmulResult {
  /** Σ_c (|W[r][c]| + |mn_c|)·|xq_c|, mn_c = dmin·m of c's sub-block (Q4_K/Q5_K; else 0): scale of the f32 error. */
  absSumExt: Float64Array;
  /** Σ_c |W[r][c]|·|d_b(c)|/2: bound on |Σ_c W[r][c]·(xq_c − x_c)| (each x_c is rounded to the nearest step). */
  quantBound: Float64Array;
}

/** |dmin·m_s| of each element of a Q4_K/Q5_K tensor (the sub-block min term), else zeros. */
function minTerms(type: GGMLType, data: Uint8Array, n: number): Float64Array {
  const out = new Float64Array(n);
  if (type !== GGMLType.Q4_K && type !== GGMLType.Q5_K) return out;
  const bb = type === GGMLType.Q4_K ? 144 : 176;
  for (let b = 0; b < n / 256; b++) {
    const o = b * bb;
    const dmin = f16ToF32(data[o + 2]! | (data[o + 3]! << 8));
    const sc = data.subarray(o + 4, o + 16);
    for (let s = 0; s < 8; s++) {
      const m = s < 4 ? sc[s + 4]! & 63 : (sc[s + 4]! >> 4) | ((sc[s]! >> 6) << 4);
      for (let l = 0; l < 32; l++) out[b * 256 + s * 32 + l] = Math.abs(dmin * m);
    }
  }
  return out;
}

/** Runs of more than this many tokens stay exact in q8 mode (native kQ8MaxTokens: prefill uses the exact GEMM). */
export const Q8_MAX_TOKENS = 8;

/**
 * MATMUL with quantized activations: y[t][r] = Σ_c W[r][c]·xq_t[c], xq = dequant(quantizeActivations(x_t)), for
 * the q8 weight types and T ≤ Q8_MAX_TOKENS; otherwise `matmul` (the kernel stays exact).
 */
export function matmulQ8(type: GGMLType, data: Uint8Array, shape: readonly [number, number], x: ArrayLike<number>, T: number): MatmulQ8Result {
  const [k, m] = shape;
  const fmt = T <= Q8_MAX_TOKENS ? activationFormat(type) : null;
  if (fmt === 'f16' || fmt === 'bf16') {
    // x rounded to f16 / bf16 (RNE), then the exact product; quantBound: half an ulp of each x (2^-11 resp. 2^-8
    // relative, + 2^-25 absolute for f16 subnormals).
    const rel = fmt === 'f16' ? 2 ** -11 : 2 ** -8;
    const xr = Float64Array.from({ length: k * T }, (_, i) => {
      const v = Math.fround(x[i]!);
      return fmt === 'f16' ? f16ToF32(f32ToF16(v)) : bf16ToF32(f32ToBf16(v));
    });
    const r = matmul(type, data, shape, xr, T);
    const w = weights('matmulQ8', type, data, shape);
    const quantBound = new Float64Array(m * T);
    for (let t = 0; t < T; t++) {
      for (let row = 0; row < m; row++) {
        let qb = 0;
        for (let c = 0; c < k; c++) qb += Math.abs(w[row * k + c]!) * (Math.abs(x[t * k + c]!) * rel + 2 ** -25);
        quantBound[t * m + row] = qb;
      }
    }
    return { ...r, absSumExt: r.absSum, quantBound };
  }
  if (!fmt) {
    const r = matmul(type, data, shape, x, T);
    return { ...r, absSumExt: r.absSum, quantBound: new Float64Array(m * T) };
  }
  const w = weights('matmulQ8', type, data, shape);
  checkLen('matmulQ8', 'x', x, k * T);
  const mn = minTerms(type, data, k * m);
  const res: MatmulQ8Result = { y: new Float64Array(m * T), absSum: new Float64Array(m * T), absSumExt: new Float64Array(m * T), quantBound: new Float64Array(m * T) };
  const xq = new Float64Array(k);
  const halfStep = new Float64Array(k);
  for (let t = 0; t < T; t++) {
    const qa = quantizeActivations(fmt, Array.prototype.slice.call(x, t * k, (t + 1) * k) as number[], k);
    for (let c = 0; c < k; c++) {
      const db = qa.d[Math.floor(c / qa.block)]!;
      xq[c] = db * qa.q[c]!;
      halfStep[c] = Math.abs(db) / 2;
    }
    for (let r = 0; r < m; r++) {
      let s = 0, a = 0, ae = 0, qb = 0;
      for (let c = 0; c < k; c++) {
        const wv = w[r * k + c]!;
        s += wv * xq[c]!;
        a += Math.abs(wv * xq[c]!);
        ae += (Math.abs(wv) + mn[r * k + c]!) * Math.abs(xq[c]!);
        qb += Math.abs(wv) * halfStep[c]!;
      }
      const i = t * m + r;
      res.y[i] = s;
      res.absSum[i] = a;
      res.absSumExt[i] = ae;
      res.quantBound[i] = qb;
    }
  }
  return res;
}
