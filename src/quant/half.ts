/**
 * IEEE binary16 (F16) and bfloat16 (BF16) conversions, bit-exact with ggml's scalar paths
 * (`ggml_compute_fp16_to_fp32`, `ggml_compute_fp32_to_fp16`, `ggml_compute_fp32_to_bf16`).
 * Half values are passed around as their 16 raw bits in a number (0..0xFFFF).
 */

// One shared 4-byte scratch for f32 <-> bits reinterpretation (no per-call allocation).
const F32 = new Float32Array(1);
const U32 = new Uint32Array(F32.buffer);

/** Raw bits of the f32 nearest to `x` (Math.fround semantics). */
export function f32Bits(x: number): number {
  F32[0] = x;
  return U32[0]!;
}

/** f32 whose raw bits are `bits`. */
export function f32FromBits(bits: number): number {
  U32[0] = bits >>> 0;
  return F32[0]!;
}

// f16ToF32 of every pattern, built once: decoding is then one table read.
const F16_TABLE = new Float64Array(65536);
for (let h = 0; h < 65536; h++) F16_TABLE[h] = decodeF16(h);

/**
 * binary16 layout: sign(1) | exponent(5, bias 15) | mantissa(10).
 *   e = 0:      (-1)^s · 2^-14 · m/1024      (subnormal, incl. ±0)
 *   0 < e < 31: (-1)^s · 2^(e-15) · (1 + m/1024)
 *   e = 31:     ±inf (m = 0) or NaN
 */
function decodeF16(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return sign * m * 2 ** -24;
  if (e === 31) return m === 0 ? sign * Infinity : NaN;
  return sign * (1024 + m) * 2 ** (e - 25);
}

/** IEEE binary16 bits → value (exact; every half is an f32 and a double). */
export function f16ToF32(bits: number): number {
  return F16_TABLE[bits & 0xffff]!;
}

/**
 * Value → binary16 bits, round-to-nearest-even, overflow to ±inf, NaN → 0x7E00 (sign kept), as ggml's
 * scalar `ggml_compute_fp32_to_fp16` and F16C `vcvtps2ph` (RNE). The input is first rounded to f32
 * (ggml converts f32 → f16), so `f32ToF16(x) === f32ToF16(Math.fround(x))`.
 */
export function f32ToF16(x: number): number {
  const b = f32Bits(x);
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  const mant = b & 0x7fffff;
  if (exp === 0xff) return sign | (mant !== 0 ? 0x7e00 : 0x7c00);
  const e = exp - 127; // unbiased exponent; value = 1.mant · 2^e for normal f32
  if (e > 15) return sign | 0x7c00;
  if (e >= -14) {
    // Normal half: keep the top 10 of 23 mantissa bits, round on the 13 dropped ones.
    let h = ((e + 15) << 10) | (mant >>> 13);
    const rem = mant & 0x1fff;
    if (rem > 0x1000 || (rem === 0x1000 && (h & 1) !== 0)) h++; // carry may reach 0x7C00 = inf: correct
    return sign | h;
  }
  if (exp === 0) return sign; // f32 subnormal (< 2^-126): far below half a half-subnormal ulp (2^-25)
  // Half subnormal: units of 2^-24. value = m · 2^(e-23) with m = 1.mant as a 24-bit integer,
  // so units = m · 2^(e+1) = m >> shift with shift = -e-1 ∈ [14, ∞).
  const shift = -e - 1;
  if (shift > 24) return sign; // < 2^-25: rounds to 0
  const m = mant | 0x800000;
  let h = m >>> shift;
  const rem = m & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  if (rem > half || (rem === half && (h & 1) !== 0)) h++; // may become 0x400 = smallest normal: correct
  return sign | h;
}

/** bfloat16 bits → value: the upper 16 bits of an f32. */
export function bf16ToF32(bits: number): number {
  return f32FromBits((bits & 0xffff) << 16);
}

/**
 * Value → bfloat16 bits as ggml's `ggml_compute_fp32_to_bf16`: NaN keeps its upper bits and is forced
 * quiet (| 0x40); everything else rounds to nearest even on the dropped 16 bits (overflow → ±inf).
 * Input is first rounded to f32.
 */
export function f32ToBf16(x: number): number {
  const b = f32Bits(x);
  if ((b & 0x7fffffff) >>> 0 > 0x7f800000) return ((b >>> 16) | 0x40) & 0xffff;
  return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
}

/** Round to the nearest f32 (RNE). */
export function roundToF32(x: number): number {
  return Math.fround(x);
}
