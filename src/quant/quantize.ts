/**
 * Quantizers from float data into the GGUF block formats of spec §4 (layouts as in `dequant.ts`).
 * Not bit-identical with llama.cpp's quantizers, but of comparable quality (unweighted, no imatrix):
 *   - Q8_0: d = amax/127, q = round(x/d) (as ggml; the search below gains nothing at 8 bits);
 *   - symmetric types (Q4_0, Q5_0, Q6_K sub-blocks): the extreme element maps to the most negative
 *     level (range [-2^(b-1), 2^(b-1)-1] is asymmetric), a small search over candidate inverse scales,
 *     each followed by the least-squares scale for the chosen levels (as ggml's make_qx_quants);
 *   - scale+min types (Q4_1, Q5_1, Q4_K, Q5_K sub-blocks): candidate inverse scales over [min, max], each
 *     followed by the 2-parameter least-squares fit x ≈ a·L + b (as ggml's make_qkx2_quants);
 *   - K-quant super-blocks: 6-bit (Q4_K/Q5_K) or int8 (Q6_K) sub-block scales relative to an f16 `d`, then
 *     levels re-chosen for the stored (rounded) scales, then a joint least-squares refit of d/dmin kept
 *     only if it lowers the error.
 * Stored half fields are always finite (clamped to ±65504); levels are always chosen against the values
 * the decoder will actually see (after f16 rounding), so no NaN can come out of finite input.
 */
import { GGMLType, ggmlTypeName, ggmlTypeTraits } from '../gguf/types.js';
import { QwenHybridError } from '../errors.js';
import { f16ToF32, f32ToF16, f32ToBf16, f32Bits } from './half.js';

export const QUANTIZE_TYPES: readonly GGMLType[] = [
  GGMLType.F32, GGMLType.F16, GGMLType.BF16,
  GGMLType.Q4_0, GGMLType.Q4_1, GGMLType.Q5_0, GGMLType.Q5_1, GGMLType.Q8_0,
  GGMLType.Q4_K, GGMLType.Q5_K, GGMLType.Q6_K,
];

const F16_MAX_BITS = 0x7bff; // 65504

/** f16 bits of a non-negative-or-signed finite value, clamped to the finite range. */
function h16(x: number): number {
  const h = f32ToF16(x);
  return (h & 0x7fff) >= 0x7c00 ? (h & 0x8000) | F16_MAX_BITS : h;
}

function putHalf(out: Uint8Array, o: number, h: number): void {
  out[o] = h & 0xff;
  out[o + 1] = h >>> 8;
}

function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}

// Scratch (module-level, reused: no per-block allocation).
const X = new Float64Array(256); // current block values
const L = new Int32Array(256); // chosen levels (unsigned: 0..2^b-1)
const T = new Float64Array(32); // shifted values x − min
const SC = new Float64Array(16); // sub-block scales
const MN = new Float64Array(16); // sub-block mins (as the positive amount subtracted)
let fitA = 0;
let fitB = 0;
/** Smallest magnitude for stored f16 scales (2^-14 = smallest normal half with `normalScales`, else 0). */
let MIN_SCALE = 0;

/** |a| raised to MIN_SCALE keeping the sign (0 → +MIN_SCALE). */
function floorScale(a: number): number {
  return Math.abs(a) >= MIN_SCALE ? a : a < 0 ? -MIN_SCALE : MIN_SCALE;
}

/**
 * Symmetric fit of X[o..o+n) ≈ a·q with q ∈ [−bias, bias−1] (bias = 2^(bits−1)); returns a (also in fitA).
 * Candidates iscale = −(bias + 0.15·s)/max for s ∈ [−steps, steps], where max is the largest-magnitude
 * element (so s = 0 maps it to −bias); each scored by its least-squares scale. Levels: levelsSymmetric.
 */
function fitSymmetric(o: number, n: number, bias: number, steps: number): number {
  let amax = 0, max = 0;
  for (let i = 0; i < n; i++) {
    const v = X[o + i]!, av = Math.abs(v);
    if (av > amax) { amax = av; max = v; }
  }
  if (amax < 1e-30) {
    for (let i = 0; i < n; i++) L[o + i] = bias;
    return (fitA = 0);
  }
  const top = 2 * bias - 1; // levels shifted to [0, top]; floor(y + bias + 0.5) = round(y) + bias
  const half = bias + 0.5;
  let bestA = -max / bias, bestScore = -1;
  for (let s = -steps; s <= steps; s++) {
    const iscale = -(bias + 0.15 * s) / max;
    let sxl = 0, sll = 0;
    for (let i = 0; i < n; i++) {
      const v = X[o + i]!;
      let l = ((iscale * v + half) | 0) - bias;
      if (l < -bias) l = -bias;
      else if (l > top - bias) l = top - bias;
      sxl += v * l;
      sll += l * l;
    }
    // Least-squares a = Σxl/Σl² reduces the error by (Σxl)²/Σl²: maximize that.
    if (sll > 0) {
      const score = (sxl * sxl) / sll;
      if (score > bestScore) { bestScore = score; bestA = sxl / sll; }
    }
  }
  fitA = bestA;
  return bestA;
}

/** Levels for a given symmetric scale a: L = clamp(round(x/a), −bias, bias−1) + bias. Returns Σ squared error. */
function levelsSymmetric(o: number, n: number, bias: number, a: number): number {
  const ia = a !== 0 ? 1 / a : 0;
  let err = 0;
  for (let i = 0; i < n; i++) {
    const v = X[o + i]!;
    const l = clamp(Math.round(v * ia), -bias, bias - 1);
    L[o + i] = l + bias;
    const e = v - a * l;
    err += e * e;
  }
  return err;
}

/**
 * Fit of X[o..o+n) ≈ a·L + b, L ∈ [0, nmax], a ≥ 0; with `minNonPositive` b ≤ 0 (K-quants store the offset
 * as −dmin·m with dmin, m ≥ 0). Candidate inverse scales (nmax + rmin + rdelta·s)/(max − min), each with the
 * 2-parameter least-squares (a, b) for its levels; the best by squared error wins. Sets fitA, fitB.
 */
function fitAffine(o: number, n: number, nmax: number, minNonPositive: boolean, rmin: number, rdelta: number, nstep: number): void {
  let min = Infinity, max = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = X[o + i]!;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  if (minNonPositive && min > 0) min = 0;
  if (max - min <= Math.max(Math.abs(max), Math.abs(min)) * 1e-12 || max - min < 1e-35) {
    // Constant block (or all zero). With the b ≤ 0 constraint max == min only when both are ≤ 0
    // (a positive constant c has min clamped to 0 and is fitted below as a = c/nmax), so b carries it.
    fitA = 0;
    fitB = min;
    return;
  }
  // Work on t = x − min ≥ 0 (fit t ≈ a·L + b', then b = b' + min): rounding is then (t·iscale + 0.5) | 0.
  let sx = 0, sxx = 0;
  for (let i = 0; i < n; i++) {
    const t = X[o + i]! - min;
    T[i] = t;
    sx += t;
    sxx += t * t;
  }
  const range = max - min;
  let bestA = range / nmax, bestB = 0, bestErr = Infinity;
  for (let s = 0; s <= nstep; s++) {
    const iscale = (nmax + rmin + rdelta * s) / range; // (nmax + rmin)/range … (nmax + rmin + rdelta·nstep)/range
    let sl = 0, sll = 0, sxl = 0;
    for (let i = 0; i < n; i++) {
      const t = T[i]!;
      let l = (t * iscale + 0.5) | 0;
      if (l > nmax) l = nmax;
      sl += l; sll += l * l; sxl += t * l;
    }
    const D = n * sll - sl * sl;
    if (D <= 0) continue;
    let a = (n * sxl - sl * sx) / D;
    let b = (sll * sx - sl * sxl) / D;
    // b is relative to min; the K-quant constraint b + min ≤ 0 becomes b ≤ −min.
    if (minNonPositive && b + min > 0) { b = -min; a = (sxl - b * sl) / sll; }
    if (a < 0) continue;
    // Σ(aL + b − t)² expanded in the sums.
    const err = sxx + a * a * sll + n * b * b + 2 * a * b * sl - 2 * a * sxl - 2 * b * sx;
    if (err < bestErr) { bestErr = err; bestA = a; bestB = b; }
  }
  bestB += min;
  fitA = bestA;
  fitB = bestB;
}

/** Levels for x ≈ a·L + b, L ∈ [0, nmax]. Returns Σ squared error. */
function levelsAffine(o: number, n: number, nmax: number, a: number, b: number): number {
  const ia = a > 0 ? 1 / a : 0;
  let err = 0;
  for (let i = 0; i < n; i++) {
    const v = X[o + i]!;
    const l = clamp(Math.round((v - b) * ia), 0, nmax);
    L[o + i] = l;
    const e = v - (a * l + b);
    err += e * e;
  }
  return err;
}

/** Loads block `blk` of `bs` values into X, rejecting non-finite input. */
function load(values: ArrayLike<number>, blk: number, bs: number): void {
  const base = blk * bs;
  let s = 0;
  for (let i = 0; i < bs; i++) {
    const v = values[base + i]!;
    X[i] = v;
    s += v * 0;
  }
  if (s !== 0) {
    for (let i = 0; i < bs; i++) {
      if (!Number.isFinite(values[base + i]!)) {
        throw new QwenHybridError('INVALID_ARGUMENT', `quantize: value at index ${base + i} is ${values[base + i]} (only finite values can be quantized)`, { parameter: 'values', index: base + i });
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// 32-element formats

function qQ8_0(values: ArrayLike<number>, nb: number, out: Uint8Array): void {
  for (let i = 0; i < nb; i++) {
    load(values, i, 32);
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(X[j]!));
    const dh = h16(floorScale(amax / 127));
    const d = f16ToF32(dh);
    const id = d > 0 ? 1 / d : 0;
    const o = 34 * i;
    putHalf(out, o, dh);
    for (let j = 0; j < 32; j++) out[o + 2 + j] = clamp(Math.round(X[j]! * id), -127, 127) & 0xff;
  }
}

/** Q4_0 / Q5_0: symmetric, `bias` 8 or 16. */
function qQx_0(values: ArrayLike<number>, nb: number, out: Uint8Array, bias: number, blockBytes: number): void {
  for (let i = 0; i < nb; i++) {
    load(values, i, 32);
    fitSymmetric(0, 32, bias, 6);
    const dh = h16(floorScale(fitA));
    levelsSymmetric(0, 32, bias, f16ToF32(dh));
    const o = blockBytes * i;
    putHalf(out, o, dh);
    packQ32(out, bias === 16 ? o + 6 : o + 2, bias === 16 ? o + 2 : -1);
  }
}

/** Q4_1 / Q5_1: x = d·L + m, `nmax` 15 or 31. */
function qQx_1(values: ArrayLike<number>, nb: number, out: Uint8Array, nmax: number, blockBytes: number): void {
  for (let i = 0; i < nb; i++) {
    load(values, i, 32);
    fitAffine(0, 32, nmax, false, -1, 0.1, 20);
    const dh = h16(floorScale(fitA)), mh = h16(fitB);
    levelsAffine(0, 32, nmax, f16ToF32(dh), f16ToF32(mh));
    const o = blockBytes * i;
    putHalf(out, o, dh);
    putHalf(out, o + 2, mh);
    packQ32(out, nmax === 31 ? o + 8 : o + 4, nmax === 31 ? o + 4 : -1);
  }
}

/**
 * Packs L[0..32) of a 32-element block: qs[j] = L[j]&15 | (L[j+16]&15)<<4 at `qsOff`; for 5-bit types
 * (`hOff` ≥ 0) the u32 qh with bit j = 5th bit of L[j], bit j+16 = 5th bit of L[j+16].
 */
function packQ32(out: Uint8Array, qsOff: number, hOff: number): void {
  let H = 0;
  for (let j = 0; j < 16; j++) {
    const l0 = L[j]!, l1 = L[j + 16]!;
    out[qsOff + j] = (l0 & 15) | ((l1 & 15) << 4);
    H |= ((l0 >> 4) & 1) << j;
    H |= ((l1 >> 4) & 1) << (j + 16);
  }
  if (hOff >= 0) {
    out[hOff] = H & 0xff;
    out[hOff + 1] = (H >>> 8) & 0xff;
    out[hOff + 2] = (H >>> 16) & 0xff;
    out[hOff + 3] = (H >>> 24) & 0xff;
  }
}

// ---------------------------------------------------------------------------------------------------------
// K-quants

const LS = new Int32Array(16); // quantized sub-block scales
const LM = new Int32Array(16); // quantized sub-block mins

/**
 * Q4_K / Q5_K super-block (X[0..256)): 8 sub-blocks of 32 fitted as a·L − m; a_s, m_s quantized to 6 bits
 * against f16 d = max a/63, dmin = max m/63. Sets L, LS, LM and the f16 bits of d, dmin in DH, DMH.
 * (rmin, rdelta, nstep) = (−1, 0.3, 5) for Q4_K reaches ggml's 20-step search quality at a quarter of the cost.
 */
let DH = 0;
let DMH = 0;
function fitQxK(nmax: number, rmin: number, rdelta: number, nstep: number): void {
  let maxA = 0, maxM = 0;
  for (let s = 0; s < 8; s++) {
    fitAffine(32 * s, 32, nmax, true, rmin, rdelta, nstep);
    SC[s] = fitA;
    MN[s] = -fitB;
    if (fitA > maxA) maxA = fitA;
    if (-fitB > maxM) maxM = -fitB;
  }
  let dh = h16(floorScale(maxA / 63)), dmh = h16(floorScale(maxM / 63));
  let d = f16ToF32(dh), dmin = f16ToF32(dmh);
  for (let s = 0; s < 8; s++) {
    LS[s] = d > 0 ? clamp(Math.round(SC[s]! / d), 0, 63) : 0;
    LM[s] = dmin > 0 ? clamp(Math.round(MN[s]! / dmin), 0, 63) : 0;
  }
  let err = 0;
  for (let s = 0; s < 8; s++) err += levelsAffine(32 * s, 32, nmax, d * LS[s]!, -dmin * LM[s]!);

  // Joint refit of (d, dmin) for the chosen integers: x ≈ d·(sc·L) − dmin·m, 2×2 normal equations.
  let suu = 0, suv = 0, svv = 0, sxu = 0, sxv = 0;
  for (let s = 0; s < 8; s++) {
    const sc = LS[s]!, m = LM[s]!;
    for (let i = 32 * s; i < 32 * s + 32; i++) {
      const u = sc * L[i]!, v = -m, x = X[i]!;
      suu += u * u; suv += u * v; svv += v * v; sxu += x * u; sxv += x * v;
    }
  }
  const det = suu * svv - suv * suv;
  if (det > 0) {
    const d2 = (sxu * svv - sxv * suv) / det;
    const m2 = (suu * sxv - suv * sxu) / det;
    if (d2 > 0 && m2 >= 0) {
      const dh2 = h16(floorScale(d2)), dmh2 = h16(floorScale(m2));
      const dd = f16ToF32(dh2), dm = f16ToF32(dmh2);
      let err2 = 0;
      for (let i = 0; i < 256; i++) {
        const s = i >> 5;
        const e = X[i]! - (dd * LS[s]! * L[i]! - dm * LM[s]!);
        err2 += e * e;
      }
      if (err2 < err) {
        dh = dh2; dmh = dmh2; d = dd; dmin = dm;
        for (let s = 0; s < 8; s++) levelsAffine(32 * s, 32, nmax, d * LS[s]!, -dmin * LM[s]!);
      }
    }
  }
  DH = dh;
  DMH = dmh;
}

/** Packs LS/LM (6-bit) into scales[12] at `o` (inverse of spec §4.4 get_scale_min_k4). */
function packScalesK4(out: Uint8Array, o: number): void {
  for (let s = 0; s < 4; s++) {
    out[o + s] = (LS[s]! & 63) | ((LS[s + 4]! >> 4) << 6);
    out[o + s + 4] = (LM[s]! & 63) | ((LM[s + 4]! >> 4) << 6);
    out[o + s + 8] = (LS[s + 4]! & 15) | ((LM[s + 4]! & 15) << 4);
  }
}

function qQ4_K(values: ArrayLike<number>, nb: number, out: Uint8Array): void {
  for (let i = 0; i < nb; i++) {
    load(values, i, 256);
    fitQxK(15, -1, 0.3, 5);
    const o = 144 * i;
    putHalf(out, o, DH);
    putHalf(out, o + 2, DMH);
    packScalesK4(out, o + 4);
    for (let p = 0; p < 4; p++) {
      for (let l = 0; l < 32; l++) out[o + 16 + 32 * p + l] = L[64 * p + l]! | (L[64 * p + 32 + l]! << 4);
    }
  }
}

function qQ5_K(values: ArrayLike<number>, nb: number, out: Uint8Array): void {
  for (let i = 0; i < nb; i++) {
    load(values, i, 256);
    fitQxK(31, -0.5, 0.3, 5);
    const o = 176 * i;
    putHalf(out, o, DH);
    putHalf(out, o + 2, DMH);
    packScalesK4(out, o + 4);
    for (let l = 0; l < 32; l++) {
      let h = 0;
      for (let p = 0; p < 4; p++) {
        const l0 = L[64 * p + l]!, l1 = L[64 * p + 32 + l]!;
        out[o + 48 + 32 * p + l] = (l0 & 15) | ((l1 & 15) << 4);
        h |= ((l0 >> 4) << (2 * p)) | ((l1 >> 4) << (2 * p + 1));
      }
      out[o + 16 + l] = h;
    }
  }
}

/**
 * Q6_K: 16 sub-blocks of 16, symmetric 6-bit levels; sub-block scales a_s as int8 against f16 d, with the
 * largest-magnitude scale mapped to −128 (int8 range is asymmetric, like the level range).
 */
function qQ6_K(values: ArrayLike<number>, nb: number, out: Uint8Array): void {
  for (let i = 0; i < nb; i++) {
    load(values, i, 256);
    let maxAbs = 0, maxS = 0;
    for (let s = 0; s < 16; s++) {
      const a = fitSymmetric(16 * s, 16, 32, 6);
      SC[s] = a;
      if (Math.abs(a) > maxAbs) { maxAbs = Math.abs(a); maxS = a; }
    }
    const o = 210 * i;
    let dh = 0;
    if (maxAbs > 0 || MIN_SCALE > 0) {
      dh = h16(floorScale(maxS / -128));
      const d = f16ToF32(dh);
      const id = d !== 0 ? 1 / d : 0;
      for (let s = 0; s < 16; s++) {
        const sc = clamp(Math.round(SC[s]! * id), -128, 127);
        LS[s] = sc;
        levelsSymmetric(16 * s, 16, 32, d * sc);
      }
    } else {
      for (let s = 0; s < 16; s++) { LS[s] = 0; levelsSymmetric(16 * s, 16, 32, 0); }
    }
    for (let n = 0; n < 2; n++) {
      for (let l = 0; l < 32; l++) {
        const e = 128 * n + l;
        const q1 = L[e]!, q2 = L[e + 32]!, q3 = L[e + 64]!, q4 = L[e + 96]!;
        out[o + 64 * n + l] = (q1 & 15) | ((q3 & 15) << 4);
        out[o + 64 * n + 32 + l] = (q2 & 15) | ((q4 & 15) << 4);
        out[o + 128 + 32 * n + l] = (q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6);
      }
    }
    for (let s = 0; s < 16; s++) out[o + 192 + s] = LS[s]! & 0xff;
    putHalf(out, o + 208, dh);
  }
}

// ---------------------------------------------------------------------------------------------------------

export interface QuantizeOptions {
  /**
   * Keep every stored f16 scale (d, dmin) a normal half (|d| ≥ 2^-14, never 0 or subnormal) by using
   * smaller integer sub-block scales when the data is tiny. Costs some precision for tiny data.
   */
  normalScales?: boolean;
}

/**
 * Encodes `values` (length a multiple of the type's block size) as `type`. Float types round to nearest even
 * (values are first rounded to f32; F16/BF16 overflow to ±inf, NaN stays NaN). Quantized types require
 * finite values.
 * @throws QwenHybridError INVALID_ARGUMENT for an unsupported type, a bad length or a non-finite value.
 */
export function quantize(type: GGMLType, values: ArrayLike<number>, opts?: QuantizeOptions): Uint8Array {
  if (!QUANTIZE_TYPES.includes(type)) {
    throw new QwenHybridError('INVALID_ARGUMENT', `quantize: unsupported tensor type ${ggmlTypeName(type)} (supported: ${QUANTIZE_TYPES.map(ggmlTypeName).join(', ')})`, { parameter: 'type', type });
  }
  const t = ggmlTypeTraits(type)!;
  const n = values.length;
  if (n % t.blockSize !== 0) {
    throw new QwenHybridError('INVALID_ARGUMENT', `quantize: ${n} values is not a multiple of the ${t.name} block size ${t.blockSize}`, { parameter: 'values', type, length: n });
  }
  const nb = n / t.blockSize;
  MIN_SCALE = opts?.normalScales ? 2 ** -14 : 0;
  const out = new Uint8Array(nb * t.blockBytes);
  switch (type) {
    case GGMLType.F32: {
      const dv = new DataView(out.buffer);
      for (let i = 0; i < n; i++) dv.setUint32(4 * i, f32Bits(values[i]!), true);
      break;
    }
    case GGMLType.F16:
      for (let i = 0; i < n; i++) putHalf(out, 2 * i, f32ToF16(values[i]!));
      break;
    case GGMLType.BF16:
      for (let i = 0; i < n; i++) putHalf(out, 2 * i, f32ToBf16(values[i]!));
      break;
    case GGMLType.Q4_0: qQx_0(values, nb, out, 8, 18); break;
    case GGMLType.Q5_0: qQx_0(values, nb, out, 16, 22); break;
    case GGMLType.Q4_1: qQx_1(values, nb, out, 15, 20); break;
    case GGMLType.Q5_1: qQx_1(values, nb, out, 31, 24); break;
    case GGMLType.Q8_0: qQ8_0(values, nb, out); break;
    case GGMLType.Q4_K: qQ4_K(values, nb, out); break;
    case GGMLType.Q5_K: qQ5_K(values, nb, out); break;
    case GGMLType.Q6_K: qQ6_K(values, nb, out); break;
    default: throw new Error(`unreachable: ${type}`);
  }
  return out;
}
