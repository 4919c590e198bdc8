// Quantizers (src/quant/quantize.ts): quantize → dequantize error against llama.cpp's reference quantizers,
// awkward inputs, exact round trips of representable blocks, argument checks.
import { describe, expect, it } from 'vitest';
import { QUANTIZE_TYPES, quantize } from '../../src/quant/quantize.js';
import { dequantize } from '../../src/quant/dequant.js';
import { f16ToF32, f32ToF16 } from '../../src/quant/half.js';
import { Rng } from '../../src/quant/rng.js';
import { GGMLType, ggmlTypeName, ggmlTypeTraits } from '../../src/gguf/types.js';
import { QwenHybridError } from '../../src/errors.js';

const Q_TYPES = QUANTIZE_TYPES.filter((t) => ggmlTypeTraits(t)!.blockSize > 1);

// Relative RMSE of llama.cpp's own reference quantizers (ggml-quants.c quantize_row_*_ref, no imatrix) on
// N(0, 0.011²) data, 2^20 values, measured by compiling /tmp/llama-src/ggml/src/ggml-quants.c. Ours must
// be at most 3 % worse.
const GGML_REL_RMSE: Partial<Record<GGMLType, number>> = {
  [GGMLType.Q8_0]: 0.00534,
  [GGMLType.Q4_0]: 0.08589,
  [GGMLType.Q4_1]: 0.07817,
  [GGMLType.Q5_0]: 0.04269,
  [GGMLType.Q5_1]: 0.03781,
  [GGMLType.Q4_K]: 0.0713,
  [GGMLType.Q5_K]: 0.03609,
  [GGMLType.Q6_K]: 0.0178,
};

function normals(n: number, sigma: number, seed: number): Float64Array {
  const r = new Rng(seed);
  const x = new Float64Array(n);
  for (let i = 0; i < n; i++) x[i] = sigma * r.normal();
  return x;
}

function relRmse(x: ArrayLike<number>, y: ArrayLike<number>): number {
  let se = 0, sx = 0;
  for (let i = 0; i < x.length; i++) { se += (y[i]! - x[i]!) ** 2; sx += x[i]! ** 2; }
  return Math.sqrt(se / sx);
}

/**
 * Worst-case error bound per block (loose; the RMSE check above is the quality check):
 *   - with a min (Q4_1, Q5_1, Q4_K, Q5_K): 1.5 steps of the plain min/max quantizer, step = (max − min)/nmax
 *     (K-quants: the range including 0, their offset is ≤ 0): candidate inverse scales up to
 *     (nmax + 1)/range clip the extremes by up to a step, and the least-squares fit shifts the offset;
 *   - symmetric (q ∈ [−B, B−1]): the block extreme maps to −B with a candidate inverse scale up to
 *     (B + 0.9)/amax, so the other sign clips at (B−1)/(B+0.9)·amax: error ≤ amax·(1 − (B−1)/(B+0.9));
 *     Q8_0 (±127, no search): half a step amax/254; Q6_K: 16-element sub-blocks whose int8 scales are
 *     rounded against the super-block d: two steps of the super-block, amax/16.
 */
function maxErrorBound(type: GGMLType, x: ArrayLike<number>, off: number): number {
  const bs = ggmlTypeTraits(type)!.blockSize;
  let min = Infinity, max = -Infinity, amax = 0;
  for (let i = off; i < off + bs; i++) { min = Math.min(min, x[i]!); max = Math.max(max, x[i]!); amax = Math.max(amax, Math.abs(x[i]!)); }
  const steps: Partial<Record<GGMLType, number>> = {
    [GGMLType.Q8_0]: amax / 254, [GGMLType.Q4_0]: amax * (1 - 7 / 8.9), [GGMLType.Q5_0]: amax * (1 - 15 / 16.9), [GGMLType.Q6_K]: amax / 16,
    [GGMLType.Q4_1]: (1.5 * (max - min)) / 15, [GGMLType.Q5_1]: (1.5 * (max - min)) / 31,
    [GGMLType.Q4_K]: (1.5 * (Math.max(max, 0) - Math.min(min, 0))) / 15, [GGMLType.Q5_K]: (1.5 * (Math.max(max, 0) - Math.min(min, 0))) / 31,
  };
  return steps[type]! * 1.01 + amax * 2e-3;
}

function checkBlocks(type: GGMLType, x: ArrayLike<number>, y: ArrayLike<number>): void {
  const bs = ggmlTypeTraits(type)!.blockSize;
  for (let off = 0; off < x.length; off += bs) {
    const bound = maxErrorBound(type, x, off);
    for (let i = off; i < off + bs; i++) {
      if (!Number.isFinite(y[i]!)) expect.fail(`${ggmlTypeName(type)} element ${i} is ${y[i]}`);
      if (Math.abs(y[i]! - x[i]!) > bound) expect.fail(`${ggmlTypeName(type)} element ${i}: |${y[i]} − ${x[i]}| > ${bound}`);
    }
  }
}

describe('quantize → dequantize on normal data', () => {
  const x = normals(1 << 18, 0.011, 11);
  for (const type of Q_TYPES) {
    it(`${ggmlTypeName(type)}: relative RMSE within 3 % of llama.cpp's reference quantizer, per-block error bounded`, () => {
      const y = dequantize(type, quantize(type, x), x.length);
      const e = relRmse(x, y);
      expect(e).toBeLessThanOrEqual(GGML_REL_RMSE[type]! * 1.03);
      checkBlocks(type, x, y);
      // Same on values ×1e4 (scales far from 1, still within f16 range).
      const big = x.map((v) => v * 1e4 / 0.011);
      const yb = dequantize(type, quantize(type, big), big.length);
      expect(relRmse(big, yb)).toBeLessThanOrEqual(GGML_REL_RMSE[type]! * 1.03);
      checkBlocks(type, big, yb);
    });
  }

  it('float encodings: F32 exact after fround, F16 within 2^-11 relative, BF16 within 2^-8', () => {
    const v = normals(4096, 1, 12);
    const f32 = dequantize(GGMLType.F32, quantize(GGMLType.F32, v), v.length);
    const f16 = dequantize(GGMLType.F16, quantize(GGMLType.F16, v), v.length);
    const bf = dequantize(GGMLType.BF16, quantize(GGMLType.BF16, v), v.length);
    for (let i = 0; i < v.length; i++) {
      expect(f32[i]).toBe(Math.fround(v[i]!));
      expect(Math.abs(f16[i]! - v[i]!)).toBeLessThanOrEqual(Math.abs(v[i]!) * 2 ** -11 + 2 ** -25);
      expect(Math.abs(bf[i]! - v[i]!)).toBeLessThanOrEqual(Math.abs(v[i]!) * 2 ** -8);
    }
  });
});

describe('quantize: awkward data', () => {
  const n = 512;
  const cases: Array<[string, (i: number, r: Rng) => number]> = [
    ['all zeros', () => 0],
    ['constant 0.7', () => 0.7],
    ['constant −0.7', () => -0.7],
    ['one outlier', (i, r) => (i === 77 ? 100 : 0.01 * r.normal())],
    ['tiny 1e-30', (_, r) => 1e-30 * r.normal()],
    ['large 1e4', (_, r) => 1e4 * r.normal()],
    ['beyond f16·levels 1e9', (_, r) => 1e9 * (1 + r.float())],
    ['alternating ±1', (i) => (i % 2 ? 1 : -1)],
  ];
  for (const type of Q_TYPES) {
    it(`${ggmlTypeName(type)}: no NaN, halves finite, errors bounded`, () => {
      for (const [name, gen] of cases) {
        const r = new Rng(name.length);
        const x = Float64Array.from({ length: n }, (_, i) => gen(i, r));
        for (const normalScales of [false, true]) {
          const y = dequantize(type, quantize(type, x, { normalScales }), n);
          for (let i = 0; i < n; i++) if (!Number.isFinite(y[i]!)) expect.fail(`${name}: element ${i} = ${y[i]}`);
          if (name.startsWith('beyond')) continue; // saturates: only finiteness is promised
          if (name === 'all zeros') expect(Array.from(y).every((v) => v === 0)).toBe(true);
          else if (name.startsWith('constant')) for (let i = 0; i < n; i++) expect(Math.abs(y[i]! - x[i]!)).toBeLessThanOrEqual(0.7 * 2e-3);
          else if (name.startsWith('tiny')) for (let i = 0; i < n; i++) expect(Math.abs(y[i]! - x[i]!)).toBeLessThanOrEqual(1e-29);
          else checkBlocks(type, x, y);
        }
      }
    });
  }

  it('rejects non-finite input, bad lengths and unsupported types with INVALID_ARGUMENT', () => {
    const x = new Float64Array(256);
    x[100] = NaN;
    expect(() => quantize(GGMLType.Q4_K, x)).toThrow(/index 100 is NaN/);
    x[100] = Infinity;
    expect(() => quantize(GGMLType.Q8_0, x)).toThrow(/index 100 is Infinity/);
    expect(() => quantize(GGMLType.Q4_K, new Float64Array(255))).toThrow(/255 values is not a multiple of the Q4_K block size 256/);
    expect(() => quantize(GGMLType.Q2_K, new Float64Array(256))).toThrow(/unsupported tensor type Q2_K/);
    try { quantize(GGMLType.Q2_K, new Float64Array(256)); } catch (e) { expect((e as QwenHybridError).code).toBe('INVALID_ARGUMENT'); }
    // Float types encode non-finite values as IEEE does.
    expect(Array.from(dequantize(GGMLType.F16, quantize(GGMLType.F16, [Infinity, -1e6]), 2))).toEqual([Infinity, -Infinity]);
  });
});

describe('quantize: representable blocks round-trip exactly', () => {
  const r = new Rng(21);
  const half = (x: number) => f16ToF32(f32ToF16(x));

  it('Q8_0 / Q4_0 / Q5_0: x = d·q with an extreme level present', () => {
    for (const [type, lo, hi] of [[GGMLType.Q8_0, -127, 127], [GGMLType.Q4_0, -8, 7], [GGMLType.Q5_0, -16, 15]] as const) {
      const x: number[] = [];
      for (let b = 0; b < 16; b++) {
        const d = half(0.01 + r.float());
        const q = Array.from({ length: 32 }, () => lo + 1 + r.int(hi - lo - 1)); // strictly inside
        q[r.int(32)] = lo; // the unique largest magnitude (Q8_0: ±127 symmetric)
        x.push(...q.map((v) => d * v));
      }
      expect(Array.from(dequantize(type, quantize(type, x), x.length))).toEqual(x);
    }
  });

  it('Q4_1 / Q5_1: x = d·q + m with levels 0 and nmax present', () => {
    for (const [type, nmax] of [[GGMLType.Q4_1, 15], [GGMLType.Q5_1, 31]] as const) {
      const x: number[] = [];
      for (let b = 0; b < 16; b++) {
        const d = half(0.01 + r.float()), m = half(r.normal());
        const q = Array.from({ length: 32 }, () => r.int(nmax + 1));
        q[0] = 0; q[31] = nmax;
        x.push(...q.map((v) => d * v + m));
      }
      expect(Array.from(dequantize(type, quantize(type, x), x.length))).toEqual(x);
    }
  });

  it('Q4_K / Q5_K: x = d·sc·q − dmin·m with sc = m = 63 in one sub-block and levels 0, nmax in each', () => {
    for (const [type, nmax] of [[GGMLType.Q4_K, 15], [GGMLType.Q5_K, 31]] as const) {
      const x: number[] = [];
      for (let b = 0; b < 4; b++) {
        const d = half(0.001 + 0.01 * r.float()), dmin = half(0.001 + 0.01 * r.float());
        for (let s = 0; s < 8; s++) {
          const sc = s === 0 ? 63 : 20 + r.int(44), m = s === 0 ? 63 : 1 + r.int(63);
          const q = Array.from({ length: 32 }, () => r.int(nmax + 1));
          q[r.int(16)] = 0; q[16 + r.int(16)] = nmax;
          x.push(...q.map((v) => d * sc * v - dmin * m));
        }
      }
      expect(Array.from(dequantize(type, quantize(type, x), x.length))).toEqual(x);
    }
  });

  it('Q6_K: x = d·sc·(q − 32) with sc = −128 in one sub-block and q = 0 (the largest magnitude) in each', () => {
    const x: number[] = [];
    for (let b = 0; b < 4; b++) {
      const d = half(0.0001 + 0.001 * r.float());
      for (let s = 0; s < 16; s++) {
        const sc = s === 3 ? -128 : (r.int(2) ? 1 : -1) * (30 + r.int(97));
        const q = Array.from({ length: 16 }, () => 1 + r.int(63));
        q[r.int(16)] = 0;
        x.push(...q.map((v) => d * sc * (v - 32)));
      }
    }
    expect(Array.from(dequantize(GGMLType.Q6_K, quantize(GGMLType.Q6_K, x), x.length))).toEqual(x);
  });
});

describe('quantize: speed', () => {
  it('Q4_K and Q6_K handle 2^20 values well under a few seconds', () => {
    const x = normals(1 << 20, 0.01, 31);
    for (const type of [GGMLType.Q4_K, GGMLType.Q6_K]) {
      const t0 = performance.now();
      const q = quantize(type, x);
      const t1 = performance.now();
      dequantize(type, q, x.length);
      const t2 = performance.now();
      // Measured ≈ 0.06–0.1 s quantize, 0.01 s dequantize on an idle core; generous for shared CI.
      expect(t1 - t0).toBeLessThan(3000);
      expect(t2 - t1).toBeLessThan(1000);
    }
  });
});
