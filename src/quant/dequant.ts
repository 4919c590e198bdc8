/**
 * Dequantization references for the GGUF block formats of spec §4 (ggml-common.h layouts).
 *
 * `dequantize` (float64) returns the exact real value of every element (each product below is exact in a
 * double; at most the final add/sub rounds, relative 2^-53). `dequantizeF32` mirrors ggml's CPU
 * `dequantize_row_*` f32 operation order (ggml-quants.c), Math.fround after every f32 op.
 *
 * Note on rounding: with ggml's order every f32 product is exact too (bit counts: f16 d has 11 significant
 * bits, 6-bit scales, ≤ 6-bit quants → ≤ 24 bits), so ggml's f32 result equals fround(exact) and the two
 * functions agree bit for bit after rounding. Other f32 implementations (other operation orders, half2
 * arithmetic, a min folded into a sum) may differ from the exact value by ~1 ulp: tests of those must allow
 * for it.
 *
 * Half fields are decoded exactly (subnormal, inf, NaN). All multi-byte fields are little-endian.
 */
import { GGMLType, ggmlTypeName, ggmlTypeTraits } from '../gguf/types.js';
import { QwenHybridError } from '../errors.js';
import { f16ToF32, bf16ToF32, f32FromBits } from './half.js';

export const DEQUANT_TYPES: readonly GGMLType[] = [
  GGMLType.F32, GGMLType.F16, GGMLType.BF16,
  GGMLType.Q4_0, GGMLType.Q4_1, GGMLType.Q5_0, GGMLType.Q5_1, GGMLType.Q8_0,
  GGMLType.Q4_K, GGMLType.Q5_K, GGMLType.Q6_K,
];

const fr = Math.fround;

/** Little-endian half at byte offset `o`. */
function half(b: Uint8Array, o: number): number {
  return f16ToF32(b[o]! | (b[o + 1]! << 8));
}

/**
 * Validates (type, byte length, element count) and returns the number of blocks.
 * @throws QwenHybridError INVALID_ARGUMENT naming the parameter.
 */
function checkArgs(fn: string, type: GGMLType, data: Uint8Array, nElements: number): number {
  if (!DEQUANT_TYPES.includes(type)) {
    throw new QwenHybridError('INVALID_ARGUMENT', `${fn}: unsupported tensor type ${ggmlTypeName(type)} (supported: ${DEQUANT_TYPES.map(ggmlTypeName).join(', ')})`, { parameter: 'type', type });
  }
  const t = ggmlTypeTraits(type)!;
  if (!Number.isSafeInteger(nElements) || nElements < 0 || nElements % t.blockSize !== 0) {
    throw new QwenHybridError('INVALID_ARGUMENT', `${fn}: nElements ${nElements} is not a non-negative multiple of the ${t.name} block size ${t.blockSize}`, { parameter: 'nElements', type, nElements });
  }
  const nb = nElements / t.blockSize;
  const expected = nb * t.blockBytes;
  if (data.length !== expected) {
    throw new QwenHybridError('INVALID_ARGUMENT', `${fn}: ${t.name} data of ${nElements} elements must be ${expected} bytes, got ${data.length}`, { parameter: 'data', type, nElements, expected, actual: data.length });
  }
  return nb;
}

/**
 * K-quant 6-bit scale/min of sub-block s ∈ [0,8) from `scales[12]` at byte offset `o` (spec §4.4):
 *   s < 4:  sc = scales[s] & 63,                               m = scales[s+4] & 63
 *   s ≥ 4:  sc = (scales[s+4] & 15) | ((scales[s-4] >> 6) << 4), m = (scales[s+4] >> 4) | ((scales[s] >> 6) << 4)
 * Writes sc into SCM[0], m into SCM[1].
 */
const SCM = new Int32Array(2);
function scaleMinK4(b: Uint8Array, o: number, s: number): void {
  if (s < 4) {
    SCM[0] = b[o + s]! & 63;
    SCM[1] = b[o + s + 4]! & 63;
  } else {
    SCM[0] = (b[o + s + 4]! & 15) | ((b[o + s - 4]! >> 6) << 4);
    SCM[1] = (b[o + s + 4]! >> 4) | ((b[o + s]! >> 6) << 4);
  }
}

// ---------------------------------------------------------------------------------------------------------
// float64 references, one per type. `y` receives nb·blockSize values.

/** F32: 4 bytes, IEEE binary32 little-endian. */
function dqF32(b: Uint8Array, n: number, y: Float64Array): void {
  for (let i = 0; i < n; i++) {
    const o = 4 * i;
    y[i] = f32FromBits(b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24));
  }
}

/** F16: 2 bytes, IEEE binary16. */
function dqF16(b: Uint8Array, n: number, y: Float64Array): void {
  for (let i = 0; i < n; i++) y[i] = half(b, 2 * i);
}

/** BF16: 2 bytes, the upper half of an f32. */
function dqBF16(b: Uint8Array, n: number, y: Float64Array): void {
  for (let i = 0; i < n; i++) y[i] = bf16ToF32(b[2 * i]! | (b[2 * i + 1]! << 8));
}

/** Q4_0 (18 B): half d; u8 qs[16]. x[j] = d·((qs[j]&15) − 8), x[j+16] = d·((qs[j]>>4) − 8). */
function dqQ4_0(b: Uint8Array, nb: number, y: Float64Array): void {
  for (let i = 0; i < nb; i++) {
    const o = 18 * i, yo = 32 * i;
    const d = half(b, o);
    for (let j = 0; j < 16; j++) {
      const q = b[o + 2 + j]!;
      y[yo + j] = d * ((q & 15) - 8);
      y[yo + j + 16] = d * ((q >> 4) - 8);
    }
  }
}

/** Q4_1 (20 B): half d; half m; u8 qs[16]. x[j] = d·(qs[j]&15) + m, x[j+16] = d·(qs[j]>>4) + m. */
function dqQ4_1(b: Uint8Array, nb: number, y: Float64Array): void {
  for (let i = 0; i < nb; i++) {
    const o = 20 * i, yo = 32 * i;
    const d = half(b, o), m = half(b, o + 2);
    for (let j = 0; j < 16; j++) {
      const q = b[o + 4 + j]!;
      y[yo + j] = d * (q & 15) + m;
      y[yo + j + 16] = d * (q >> 4) + m;
    }
  }
}

/**
 * Q5_0 (22 B): half d; u8 qh[4] (u32 H, bit j = 5th bit of element j); u8 qs[16].
 * x[j] = d·(((qs[j]&15) | bit_j·16) − 16), x[j+16] = d·(((qs[j]>>4) | bit_{j+16}·16) − 16).
 */
function dqQ5_0(b: Uint8Array, nb: number, y: Float64Array): void {
  for (let i = 0; i < nb; i++) {
    const o = 22 * i, yo = 32 * i;
    const d = half(b, o);
    const H = (b[o + 2]! | (b[o + 3]! << 8) | (b[o + 4]! << 16) | (b[o + 5]! << 24)) >>> 0;
    for (let j = 0; j < 16; j++) {
      const q = b[o + 6 + j]!;
      y[yo + j] = d * (((q & 15) | (((H >>> j) & 1) << 4)) - 16);
      y[yo + j + 16] = d * (((q >> 4) | (((H >>> (j + 16)) & 1) << 4)) - 16);
    }
  }
}

/** Q5_1 (24 B): half d; half m; u8 qh[4]; u8 qs[16]. As Q5_0 without the −16, plus m. */
function dqQ5_1(b: Uint8Array, nb: number, y: Float64Array): void {
  for (let i = 0; i < nb; i++) {
    const o = 24 * i, yo = 32 * i;
    const d = half(b, o), m = half(b, o + 2);
    const H = (b[o + 4]! | (b[o + 5]! << 8) | (b[o + 6]! << 16) | (b[o + 7]! << 24)) >>> 0;
    for (let j = 0; j < 16; j++) {
      const q = b[o + 8 + j]!;
      y[yo + j] = d * ((q & 15) | (((H >>> j) & 1) << 4)) + m;
      y[yo + j + 16] = d * ((q >> 4) | (((H >>> (j + 16)) & 1) << 4)) + m;
    }
  }
}

/** Q8_0 (34 B): half d; i8 qs[32]. x[i] = d·qs[i]. */
function dqQ8_0(b: Uint8Array, nb: number, y: Float64Array): void {
  for (let i = 0; i < nb; i++) {
    const o = 34 * i, yo = 32 * i;
    const d = half(b, o);
    for (let j = 0; j < 32; j++) y[yo + j] = d * ((b[o + 2 + j]! << 24) >> 24);
  }
}

/**
 * Q4_K (144 B): half d; half dmin; u8 scales[12]; u8 qs[128].
 * Group p ∈ [0,4): element 64p+l = low nibble of qs[32p+l] (sub-block 2p), 64p+32+l = high nibble (2p+1).
 * x = d·sc_s·q − dmin·m_s.
 */
function dqQ4_K(b: Uint8Array, nb: number, y: Float64Array): void {
  for (let i = 0; i < nb; i++) {
    const o = 144 * i, yo = 256 * i;
    const d = half(b, o), dmin = half(b, o + 2);
    for (let p = 0; p < 4; p++) {
      scaleMinK4(b, o + 4, 2 * p);
      const d1 = d * SCM[0]!, m1 = dmin * SCM[1]!;
      scaleMinK4(b, o + 4, 2 * p + 1);
      const d2 = d * SCM[0]!, m2 = dmin * SCM[1]!;
      const qo = o + 16 + 32 * p, e = yo + 64 * p;
      for (let l = 0; l < 32; l++) {
        const q = b[qo + l]!;
        y[e + l] = d1 * (q & 15) - m1;
        y[e + 32 + l] = d2 * (q >> 4) - m2;
      }
    }
  }
}

/**
 * Q5_K (176 B): half d; half dmin; u8 scales[12]; u8 qh[32]; u8 qs[128].
 * Low nibbles as Q4_K; 5th bit of element 64p+l is bit 2p of qh[l], of 64p+32+l bit 2p+1. q = nibble + 16·bit.
 */
function dqQ5_K(b: Uint8Array, nb: number, y: Float64Array): void {
  for (let i = 0; i < nb; i++) {
    const o = 176 * i, yo = 256 * i;
    const d = half(b, o), dmin = half(b, o + 2);
    for (let p = 0; p < 4; p++) {
      scaleMinK4(b, o + 4, 2 * p);
      const d1 = d * SCM[0]!, m1 = dmin * SCM[1]!;
      scaleMinK4(b, o + 4, 2 * p + 1);
      const d2 = d * SCM[0]!, m2 = dmin * SCM[1]!;
      const qo = o + 48 + 32 * p, e = yo + 64 * p;
      for (let l = 0; l < 32; l++) {
        const q = b[qo + l]!, h = b[o + 16 + l]!;
        y[e + l] = d1 * ((q & 15) + (((h >> (2 * p)) & 1) << 4)) - m1;
        y[e + 32 + l] = d2 * ((q >> 4) + (((h >> (2 * p + 1)) & 1) << 4)) - m2;
      }
    }
  }
}

/**
 * Q6_K (210 B): u8 ql[128]; u8 qh[64]; i8 scales[16]; half d (at the END, byte 208).
 * Half n ∈ {0,1} uses ql[64n..], qh[32n..], sc[8n..]; for l ∈ [0,32), is = l>>4:
 *   128n+l:    (ql[64n+l]&15)    | ((qh[32n+l]>>0)&3)<<4, sc[8n+is]
 *   128n+32+l: (ql[64n+32+l]&15) | ((qh[32n+l]>>2)&3)<<4, sc[8n+is+2]
 *   128n+64+l: (ql[64n+l]>>4)    | ((qh[32n+l]>>4)&3)<<4, sc[8n+is+4]
 *   128n+96+l: (ql[64n+32+l]>>4) | ((qh[32n+l]>>6)&3)<<4, sc[8n+is+6]
 * x = d·sc·(q − 32).
 */
function dqQ6_K(b: Uint8Array, nb: number, y: Float64Array): void {
  for (let i = 0; i < nb; i++) {
    const o = 210 * i, yo = 256 * i;
    const d = half(b, o + 208);
    for (let n = 0; n < 2; n++) {
      const ql = o + 64 * n, qh = o + 128 + 32 * n, sc = o + 192 + 8 * n, e = yo + 128 * n;
      for (let l = 0; l < 32; l++) {
        const is = l >> 4;
        const lo = b[ql + l]!, hi = b[ql + 32 + l]!, h = b[qh + l]!;
        y[e + l] = d * ((b[sc + is]! << 24) >> 24) * (((lo & 15) | ((h & 3) << 4)) - 32);
        y[e + 32 + l] = d * ((b[sc + is + 2]! << 24) >> 24) * (((hi & 15) | (((h >> 2) & 3) << 4)) - 32);
        y[e + 64 + l] = d * ((b[sc + is + 4]! << 24) >> 24) * (((lo >> 4) | (((h >> 4) & 3) << 4)) - 32);
        y[e + 96 + l] = d * ((b[sc + is + 6]! << 24) >> 24) * (((hi >> 4) | (((h >> 6) & 3) << 4)) - 32);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// f32 mirrors of ggml's dequantize_row_* (ggml-quants.c): same operation order, fround after every op.
// F32/F16/BF16 and the single-product types (Q4_0, Q5_0, Q8_0: `x*d`) need no extra rounding beyond the
// final store, so they reuse the float64 path and round on store.

/** Q4_1 / Q5_1: y = fround(fround(q·d) + m). `hOff` < 0 for Q4_1 (no qh). */
function dqQx_1F32(b: Uint8Array, nb: number, y: Float32Array, blockBytes: number, hOff: number, qsOff: number): void {
  for (let i = 0; i < nb; i++) {
    const o = blockBytes * i, yo = 32 * i;
    const d = half(b, o), m = half(b, o + 2);
    const H = hOff < 0 ? 0 : (b[o + hOff]! | (b[o + hOff + 1]! << 8) | (b[o + hOff + 2]! << 16) | (b[o + hOff + 3]! << 24)) >>> 0;
    for (let j = 0; j < 16; j++) {
      const q = b[o + qsOff + j]!;
      const x0 = (q & 15) | (((H >>> j) & 1) << 4);
      const x1 = (q >> 4) | (((H >>> (j + 16)) & 1) << 4);
      y[yo + j] = fr(fr(x0 * d) + m);
      y[yo + j + 16] = fr(fr(x1 * d) + m);
    }
  }
}

/** Q4_K / Q5_K: d1 = fround(d·sc), m1 = fround(dmin·m); y = fround(fround(d1·q) − m1). `qhOff` < 0 for Q4_K. */
function dqQxKF32(b: Uint8Array, nb: number, y: Float32Array, blockBytes: number, qhOff: number, qsOff: number): void {
  for (let i = 0; i < nb; i++) {
    const o = blockBytes * i, yo = 256 * i;
    const d = half(b, o), dmin = half(b, o + 2);
    for (let p = 0; p < 4; p++) {
      scaleMinK4(b, o + 4, 2 * p);
      const d1 = fr(d * SCM[0]!), m1 = fr(dmin * SCM[1]!);
      scaleMinK4(b, o + 4, 2 * p + 1);
      const d2 = fr(d * SCM[0]!), m2 = fr(dmin * SCM[1]!);
      const qo = o + qsOff + 32 * p, e = yo + 64 * p;
      for (let l = 0; l < 32; l++) {
        const q = b[qo + l]!;
        const h = qhOff < 0 ? 0 : b[o + qhOff + l]!;
        y[e + l] = fr(fr(d1 * ((q & 15) + (((h >> (2 * p)) & 1) << 4))) - m1);
        y[e + 32 + l] = fr(fr(d2 * ((q >> 4) + (((h >> (2 * p + 1)) & 1) << 4))) - m2);
      }
    }
  }
}

/** Q6_K: y = fround(fround(d·sc)·q) (C evaluates `d * sc[is] * q1` left to right in float). */
function dqQ6_KF32(b: Uint8Array, nb: number, y: Float32Array): void {
  for (let i = 0; i < nb; i++) {
    const o = 210 * i, yo = 256 * i;
    const d = half(b, o + 208);
    for (let n = 0; n < 2; n++) {
      const ql = o + 64 * n, qh = o + 128 + 32 * n, sc = o + 192 + 8 * n, e = yo + 128 * n;
      for (let l = 0; l < 32; l++) {
        const is = l >> 4;
        const lo = b[ql + l]!, hi = b[ql + 32 + l]!, h = b[qh + l]!;
        y[e + l] = fr(fr(d * ((b[sc + is]! << 24) >> 24)) * (((lo & 15) | ((h & 3) << 4)) - 32));
        y[e + 32 + l] = fr(fr(d * ((b[sc + is + 2]! << 24) >> 24)) * (((hi & 15) | (((h >> 2) & 3) << 4)) - 32));
        y[e + 64 + l] = fr(fr(d * ((b[sc + is + 4]! << 24) >> 24)) * (((lo >> 4) | (((h >> 4) & 3) << 4)) - 32));
        y[e + 96 + l] = fr(fr(d * ((b[sc + is + 6]! << 24) >> 24)) * (((hi >> 4) | (((h >> 6) & 3) << 4)) - 32));
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------------

function dispatch64(type: GGMLType, data: Uint8Array, nb: number, y: Float64Array): void {
  switch (type) {
    case GGMLType.F32: return dqF32(data, nb, y);
    case GGMLType.F16: return dqF16(data, nb, y);
    case GGMLType.BF16: return dqBF16(data, nb, y);
    case GGMLType.Q4_0: return dqQ4_0(data, nb, y);
    case GGMLType.Q4_1: return dqQ4_1(data, nb, y);
    case GGMLType.Q5_0: return dqQ5_0(data, nb, y);
    case GGMLType.Q5_1: return dqQ5_1(data, nb, y);
    case GGMLType.Q8_0: return dqQ8_0(data, nb, y);
    case GGMLType.Q4_K: return dqQ4_K(data, nb, y);
    case GGMLType.Q5_K: return dqQ5_K(data, nb, y);
    case GGMLType.Q6_K: return dqQ6_K(data, nb, y);
    default: throw new Error(`unreachable: ${type}`);
  }
}

/**
 * Float64 reference dequantization of `nElements` values of `type` stored in `data`
 * (exactly nElements/blockSize blocks).
 * @throws QwenHybridError INVALID_ARGUMENT for an unsupported type, a count that is not a multiple of the
 *   block size, or a byte length that does not match.
 */
export function dequantize(type: GGMLType, data: Uint8Array, nElements: number): Float64Array {
  const nb = checkArgs('dequantize', type, data, nElements);
  const y = new Float64Array(nElements);
  dispatch64(type, data, nb, y);
  return y;
}

/**
 * Dequantization into f32 in ggml's CPU operation order (bit-exact with `dequantize_row_*` compiled without
 * fast-math): what llama.cpp holds after converting a quantized tensor to F32.
 */
export function dequantizeF32(type: GGMLType, data: Uint8Array, nElements: number): Float32Array {
  const nb = checkArgs('dequantizeF32', type, data, nElements);
  const y = new Float32Array(nElements);
  switch (type) {
    case GGMLType.Q4_1: dqQx_1F32(data, nb, y, 20, -1, 4); break;
    case GGMLType.Q5_1: dqQx_1F32(data, nb, y, 24, 4, 8); break;
    case GGMLType.Q4_K: dqQxKF32(data, nb, y, 144, -1, 16); break;
    case GGMLType.Q5_K: dqQxKF32(data, nb, y, 176, 16, 48); break;
    case GGMLType.Q6_K: dqQ6_KF32(data, nb, y); break;
    default: {
      // One product (or a plain decode): the double result is exact, so rounding on store == f32 op.
      const t = new Float64Array(nElements);
      dispatch64(type, data, nb, t);
      y.set(t);
    }
  }
  return y;
}

/**
 * Float64 dequantization of selected rows of a 2-D tensor (`ne0` elements per row, rows contiguous).
 * @throws QwenHybridError INVALID_ARGUMENT for a bad type, ne0, byte length or row index.
 */
export function dequantizeRows(type: GGMLType, data: Uint8Array, ne0: number, rows: number[]): Float64Array[] {
  const t = ggmlTypeTraits(type);
  if (!t || !DEQUANT_TYPES.includes(type)) {
    throw new QwenHybridError('INVALID_ARGUMENT', `dequantizeRows: unsupported tensor type ${ggmlTypeName(type)}`, { parameter: 'type', type });
  }
  if (!Number.isSafeInteger(ne0) || ne0 <= 0 || ne0 % t.blockSize !== 0) {
    throw new QwenHybridError('INVALID_ARGUMENT', `dequantizeRows: ne0 ${ne0} is not a positive multiple of the ${t.name} block size ${t.blockSize}`, { parameter: 'ne0', type, ne0 });
  }
  const rowBytes = (ne0 / t.blockSize) * t.blockBytes;
  if (data.length % rowBytes !== 0) {
    throw new QwenHybridError('INVALID_ARGUMENT', `dequantizeRows: ${t.name} data length ${data.length} is not a multiple of the row size ${rowBytes} bytes (ne0 ${ne0})`, { parameter: 'data', type, ne0, rowBytes, actual: data.length });
  }
  const nRows = data.length / rowBytes;
  return rows.map((r) => {
    if (!Number.isInteger(r) || r < 0 || r >= nRows) {
      throw new QwenHybridError('INVALID_ARGUMENT', `dequantizeRows: row ${r} out of range [0, ${nRows})`, { parameter: 'rows', row: r, rows: nRows });
    }
    return dequantize(type, data.subarray(r * rowBytes, (r + 1) * rowBytes), ne0);
  });
}
