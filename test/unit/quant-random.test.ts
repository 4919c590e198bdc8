// randomTensorData (src/quant/random-blocks.ts): valid blocks, target RMS, zero-mean sub-blocks, normal half
// scales, every level used, determinism. Raw fields are read here from the spec §4 layouts.
import { describe, expect, it } from 'vitest';
import { randomTensorData } from '../../src/quant/random-blocks.js';
import { QUANTIZE_TYPES } from '../../src/quant/quantize.js';
import { dequantize } from '../../src/quant/dequant.js';
import { Rng } from '../../src/quant/rng.js';
import { GGMLType, ggmlTensorBytes, ggmlTypeName, ggmlTypeTraits } from '../../src/gguf/types.js';
import { QwenHybridError } from '../../src/errors.js';

/** Byte offsets (within a block) of the half fields that are scales (d, dmin), per spec §4.1. */
const SCALE_HALVES: Partial<Record<GGMLType, number[]>> = {
  [GGMLType.Q4_0]: [0], [GGMLType.Q5_0]: [0], [GGMLType.Q8_0]: [0],
  [GGMLType.Q4_1]: [0], [GGMLType.Q5_1]: [0],
  [GGMLType.Q4_K]: [0, 2], [GGMLType.Q5_K]: [0, 2], [GGMLType.Q6_K]: [208],
};

describe('randomTensorData', () => {
  for (const type of QUANTIZE_TYPES) {
    const name = ggmlTypeName(type);
    it(`${name}: valid, RMS ≈ target, sub-blocks zero-mean, scale halves normal`, () => {
      for (const [shape, rms] of [[[256, 64], undefined], [[8192, 4], undefined], [[512, 8], 0.5]] as const) {
        const data = randomTensorData(type, shape, new Rng(1), rms === undefined ? undefined : { rms });
        const n = shape[0] * shape[1];
        expect(data.length).toBe(ggmlTensorBytes(type, shape));
        const y = dequantize(type, data, n);
        const target = rms ?? 1 / Math.sqrt(shape[0]);
        let ss = 0;
        for (let i = 0; i < n; i++) {
          if (!Number.isFinite(y[i]!)) expect.fail(`${name} element ${i} = ${y[i]}`);
          ss += y[i]! ** 2;
        }
        const got = Math.sqrt(ss / n);
        expect(got).toBeGreaterThan(0.8 * target);
        expect(got).toBeLessThan(1.2 * target);
        const t = ggmlTypeTraits(type)!;
        if (t.blockSize === 1) continue;
        const sub = type === GGMLType.Q6_K ? 16 : 32;
        let worst = 0;
        for (let o = 0; o < n; o += sub) {
          let m = 0;
          for (let i = o; i < o + sub; i++) m += y[i]!;
          worst = Math.max(worst, Math.abs(m / sub));
        }
        // An uncentred normal sub-block mean has sd target/√32 ≈ 0.18·target (max over thousands ≈ 0.7).
        expect(worst).toBeLessThan(0.1 * target);
        const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
        for (let b = 0; b < data.length; b += t.blockBytes) {
          for (const off of SCALE_HALVES[type]!) {
            const h = dv.getUint16(b + off, true);
            const e = (h >> 10) & 31;
            if (e === 0 || e === 31) expect.fail(`${name} block ${b / t.blockBytes}: scale half at +${off} = 0x${h.toString(16)} not a normal number`);
          }
        }
      }
    });
  }

  it('uses every level: Q4_0/Q4_K nibbles 0–15, Q5_K 5-bit 0–31, Q6_K 6-bit 0–63', () => {
    const levels = (type: GGMLType): Set<number> => {
      const data = randomTensorData(type, [4096, 4], new Rng(2));
      const t = ggmlTypeTraits(type)!;
      const seen = new Set<number>();
      for (let b = 0; b < data.length; b += t.blockBytes) {
        if (type === GGMLType.Q4_0) for (let j = 0; j < 16; j++) { seen.add(data[b + 2 + j]! & 15); seen.add(data[b + 2 + j]! >> 4); }
        if (type === GGMLType.Q4_K) for (let j = 0; j < 128; j++) { seen.add(data[b + 16 + j]! & 15); seen.add(data[b + 16 + j]! >> 4); }
        if (type === GGMLType.Q5_K) {
          for (let p = 0; p < 4; p++) for (let l = 0; l < 32; l++) {
            const q = data[b + 48 + 32 * p + l]!, h = data[b + 16 + l]!;
            seen.add((q & 15) + 16 * ((h >> (2 * p)) & 1));
            seen.add((q >> 4) + 16 * ((h >> (2 * p + 1)) & 1));
          }
        }
        if (type === GGMLType.Q6_K) {
          for (let n = 0; n < 2; n++) for (let l = 0; l < 32; l++) {
            const a = data[b + 64 * n + l]!, c = data[b + 64 * n + 32 + l]!, h = data[b + 128 + 32 * n + l]!;
            seen.add((a & 15) | ((h & 3) << 4)); seen.add((c & 15) | (((h >> 2) & 3) << 4));
            seen.add((a >> 4) | (((h >> 4) & 3) << 4)); seen.add((c >> 4) | (((h >> 6) & 3) << 4));
          }
        }
      }
      return seen;
    };
    expect(levels(GGMLType.Q4_0).size).toBe(16);
    expect(levels(GGMLType.Q4_K).size).toBe(16);
    expect(levels(GGMLType.Q5_K).size).toBe(32);
    expect(levels(GGMLType.Q6_K).size).toBe(64);
  });

  it('Q4_K mins are realistic: the sub-block offset dmin·m is close to the level midpoint d·sc·7.5', () => {
    // Zero-mean sub-blocks ⇒ dmin·m ≈ d·sc·mean(q); with roughly symmetric levels mean(q) ≈ 7.5.
    const data = randomTensorData(GGMLType.Q4_K, [1024, 8], new Rng(4));
    const dv = new DataView(data.buffer);
    const f16 = (h: number) => { const e = (h >> 10) & 31, m = h & 1023; return e ? 2 ** (e - 15) * (1 + m / 1024) : 2 ** -14 * (m / 1024); };
    let ratioSum = 0, count = 0;
    for (let b = 0; b < data.length; b += 144) {
      const d = f16(dv.getUint16(b, true)), dmin = f16(dv.getUint16(b + 2, true));
      for (let s = 0; s < 4; s++) { // sub-blocks 0–3: plain 6-bit fields
        const sc = data[b + 4 + s]! & 63, m = data[b + 8 + s]! & 63;
        if (sc > 0) { ratioSum += (dmin * m) / (d * sc); count++; }
      }
    }
    const meanRatio = ratioSum / count;
    expect(meanRatio).toBeGreaterThan(6);
    expect(meanRatio).toBeLessThan(9);
  });

  it('is deterministic for a seed and differs between seeds', () => {
    for (const type of [GGMLType.Q4_K, GGMLType.Q6_K, GGMLType.F16]) {
      const a = randomTensorData(type, [256, 3], new Rng(10));
      const b = randomTensorData(type, [256, 3], new Rng(10));
      const c = randomTensorData(type, [256, 3], new Rng(11));
      expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
      expect(Buffer.from(a).equals(Buffer.from(c))).toBe(false);
    }
  });

  it('rejects bad arguments with INVALID_ARGUMENT', () => {
    const r = new Rng(1);
    const cases: Array<[() => unknown, RegExp]> = [
      [() => randomTensorData(GGMLType.Q4_K, [100, 2], r), /ne0 100 is not a multiple of the Q4_K block size 256/],
      [() => randomTensorData(GGMLType.Q2_K, [256], r), /unsupported tensor type Q2_K/],
      [() => randomTensorData(GGMLType.F32, [0, 2], r), /shape/],
      [() => randomTensorData(GGMLType.F32, [4], r, { rms: -1 }), /rms/],
    ];
    for (const [f, re] of cases) {
      expect(f).toThrow(re);
      try { f(); } catch (e) { expect((e as QwenHybridError).code).toBe('INVALID_ARGUMENT'); }
    }
  });
});
