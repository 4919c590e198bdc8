// Dequantization (src/quant/dequant.ts) on hand-built blocks: bytes laid out here from the block structs of
// spec §4.1 (ggml-common.h), expected values derived by hand from the formulas of spec §4.2–4.4.
import { describe, expect, it } from 'vitest';
import { DEQUANT_TYPES, dequantize, dequantizeF32, dequantizeRows } from '../../src/quant/dequant.js';
import { randomTensorData } from '../../src/quant/random-blocks.js';
import { Rng } from '../../src/quant/rng.js';
import { GGMLType, ggmlTypeTraits } from '../../src/gguf/types.js';
import { QwenHybridError } from '../../src/errors.js';

const H_HALF = 0x3800; // 0.5
const H_QUARTER = 0x3400; // 0.25
const H_ONE = 0x3c00; // 1
const H_EIGHTH = 0x3000; // 0.125

/** Concatenates little-endian fields: ['h', bits] = u16, ['b', bytes] = raw bytes. */
function block(...fields: Array<['h', number] | ['b', ArrayLike<number>]>): Uint8Array {
  const out: number[] = [];
  for (const [kind, v] of fields) {
    if (kind === 'h') out.push(v & 0xff, v >>> 8);
    else for (let i = 0; i < v.length; i++) out.push(v[i]! & 0xff);
  }
  return Uint8Array.from(out);
}
const zeros = (n: number) => new Array<number>(n).fill(0);

function expectBoth(type: GGMLType, data: Uint8Array, expected: number[]): void {
  const got = dequantize(type, data, expected.length);
  expect(Array.from(got)).toEqual(expected);
  // Hand values are small dyadic numbers: exact in f32 too.
  expect(Array.from(dequantizeF32(type, data, expected.length))).toEqual(expected);
}

describe('dequantize: float types', () => {
  it('F32 little-endian', () => {
    // 1.5 = 0x3FC00000, -0.1 = 0xBDCCCCCD
    const d = Uint8Array.from([0x00, 0x00, 0xc0, 0x3f, 0xcd, 0xcc, 0xcc, 0xbd]);
    expect(Array.from(dequantize(GGMLType.F32, d, 2))).toEqual([1.5, Math.fround(-0.1)]);
  });

  it('F16 including subnormals, inf, NaN', () => {
    const bits = [0x3c00, 0xc000, 0x0001, 0x03ff, 0x0400, 0x7bff, 0x7c00, 0xfc00, 0x7e00, 0x3555];
    const y = dequantize(GGMLType.F16, block(...bits.map((b) => ['h', b] as ['h', number])), bits.length);
    expect(Array.from(y.subarray(0, 8))).toEqual([1, -2, 2 ** -24, 1023 * 2 ** -24, 2 ** -14, 65504, Infinity, -Infinity]);
    expect(y[8]).toBeNaN();
    expect(y[9]).toBe((1 + 341 / 1024) / 4); // 0x3555: e = 13, m = 0x155
  });

  it('BF16 = upper half of an f32', () => {
    const y = dequantize(GGMLType.BF16, block(['h', 0x3f80], ['h', 0xc040], ['h', 0x3eab], ['h', 0x7f80]), 4);
    expect(Array.from(y)).toEqual([1, -3, 0.333984375, Infinity]);
  });
});

describe('dequantize: 32-element blocks', () => {
  it('Q4_0: x[j] = d·(lo − 8), x[j+16] = d·(hi − 8)', () => {
    const qs = zeros(16);
    qs[0] = 0x0f; // el 0: 15−8 = 7 → 3.5; el 16: 0−8 → −4
    qs[3] = 0xa2; // el 3: 2−8 → −3;  el 19: 10−8 → 1
    const exp = new Array(32).fill(-4); // nibble 0 → −8·0.5
    exp[0] = 3.5; exp[16] = -4; exp[3] = -3; exp[19] = 1;
    expectBoth(GGMLType.Q4_0, block(['h', H_HALF], ['b', qs]), exp);
  });

  it('Q4_1: x = d·q + m', () => {
    const qs = zeros(16);
    qs[5] = 0x7c; // el 5: 12·0.25 − 1.5 = 1.5; el 21: 7·0.25 − 1.5 = 0.25
    const exp = new Array(32).fill(-1.5);
    exp[5] = 1.5; exp[21] = 0.25;
    expectBoth(GGMLType.Q4_1, block(['h', H_QUARTER], ['h', 0xbe00 /* −1.5 */], ['b', qs]), exp);
  });

  it('Q5_0: 5th bit of element j is bit j of qh (u32 LE), of j+16 bit j+16', () => {
    const qh = [0x08, 0x00, 0x08, 0x80]; // bits 3, 19, 31
    const qs = zeros(16);
    qs[3] = 0x21; // el 3: (1|16)−16 = 1 → 0.5;  el 19: (2|16)−16 = 2 → 1
    qs[15] = 0xf0; // el 15: 0−16 → −8;  el 31: (15|16)−16 = 15 → 7.5
    const exp = new Array(32).fill(-8);
    exp[3] = 0.5; exp[19] = 1; exp[15] = -8; exp[31] = 7.5;
    expectBoth(GGMLType.Q5_0, block(['h', H_HALF], ['b', qh], ['b', qs]), exp);
  });

  it('Q5_1: x = d·q + m with the high bits of elements 0 and 16', () => {
    const qh = [0x01, 0x00, 0x01, 0x00]; // bits 0, 16
    const qs = zeros(16);
    qs[0] = 0x3a; // el 0: (10|16) + 0.5 = 26.5; el 16: (3|16) + 0.5 = 19.5
    const exp = new Array(32).fill(0.5);
    exp[0] = 26.5; exp[16] = 19.5;
    expectBoth(GGMLType.Q5_1, block(['h', H_ONE], ['h', H_HALF], ['b', qh], ['b', qs]), exp);
  });

  it('Q8_0: x = d·qs (int8)', () => {
    const qs = zeros(32);
    qs[0] = 0x80; qs[7] = 0xff; qs[31] = 127;
    const exp = new Array(32).fill(0);
    exp[0] = -16; exp[7] = -0.125; exp[31] = 15.875;
    expectBoth(GGMLType.Q8_0, block(['h', H_EIGHTH], ['b', qs]), exp);
  });
});

// K-quant scale bytes shared by the Q4_K and Q5_K cases. By spec §4.4:
//   sc = [3, 5, 7, 9, 10|3<<4 = 58, 11|2<<4 = 43, 1|0<<4 = 1, 12|1<<4 = 28]
//   m  = [2, 4, 6, 8,  2|1<<4 = 18,  5|0<<4 = 5, 15|3<<4 = 63, 3|0<<4 = 3]
const K_SCALES = [0xc3, 0x85, 0x07, 0x49, 0x42, 0x04, 0xc6, 0x08, 0x2a, 0x5b, 0xf1, 0x3c];
const K_SC = [3, 5, 7, 9, 58, 43, 1, 28];
const K_M = [2, 4, 6, 8, 18, 5, 63, 3];

describe('dequantize: K-quants', () => {
  it('Q4_K: 6-bit scales/mins incl. sub-blocks 4–7 from the high bits, nibble placement', () => {
    const qs = zeros(128);
    qs[0] = 0x9f; // el 0 (sub 0): q 15 → 0.5·3·15 − 0.25·2 = 22;  el 32 (sub 1): q 9 → 0.5·5·9 − 0.25·4 = 21.5
    qs[64 + 5] = 0xe3; // el 133 (sub 4): q 3 → 0.5·58·3 − 0.25·18 = 82.5;  el 165 (sub 5): q 14 → 0.5·43·14 − 0.25·5 = 299.75
    qs[96 + 31] = 0x70; // el 223 (sub 6): q 0 → −0.25·63 = −15.75;  el 255 (sub 7): q 7 → 0.5·28·7 − 0.25·3 = 97.25
    const exp = Array.from({ length: 256 }, (_, i) => -0.25 * K_M[i >> 5]!);
    exp[0] = 22; exp[32] = 21.5; exp[133] = 82.5; exp[165] = 299.75; exp[223] = -15.75; exp[255] = 97.25;
    expectBoth(GGMLType.Q4_K, block(['h', H_HALF], ['h', H_QUARTER], ['b', K_SCALES], ['b', qs]), exp);
  });

  it('Q5_K: 5th bit of element 64p+l is bit 2p of qh[l], of 64p+32+l bit 2p+1', () => {
    const qh = zeros(32);
    qh[5] = 0x30; // bits 4, 5: el 133 and el 165 (p = 2)
    qh[0] = 0x81; // bit 0: el 0 (p = 0 low); bit 7: el 224 (p = 3 high)
    const qs = zeros(128);
    qs[0] = 0x9f; // el 0: 15+16 = 31 → 0.5·3·31 − 0.5 = 46;  el 32: 9 (bit 1 clear) → 21.5
    qs[64 + 5] = 0xe3; // el 133: 3+16 = 19 → 0.5·58·19 − 4.5 = 546.5;  el 165: 14+16 = 30 → 0.5·43·30 − 1.25 = 643.75
    const exp = Array.from({ length: 256 }, (_, i) => -0.25 * K_M[i >> 5]!);
    exp[0] = 46; exp[32] = 21.5; exp[133] = 546.5; exp[165] = 643.75;
    exp[224] = 0.5 * 28 * 16 - 0.75; // 223.25: q = 0 + 16
    exp[192] = -15.75; // bit 6 of qh[0] clear, nibble 0 (sub 6)
    expectBoth(GGMLType.Q5_K, block(['h', H_HALF], ['h', H_QUARTER], ['b', K_SCALES], ['b', qh], ['b', qs]), exp);
  });

  it('Q6_K: ql/qh placement, signed int8 scales, d at the END of the block', () => {
    const sc = [1, -2, 3, 4, 5, 6, 7, -128, 9, 10, 11, 12, 13, 14, 15, 127];
    const ql = zeros(128), qh = zeros(64);
    ql[0] = 0x5a; qh[0] = 0xe7; // el 0: 10|3<<4 = 58; el 32: 0|1<<4 = 16; el 64: 5|2<<4 = 37; el 96: 0|3<<4 = 48
    ql[81] = 0x0f; // half 1, l = 17 (is = 1): el 145 (sub 9): 15;  el 209 (sub 13): 0
    ql[48] = 0x30; qh[16] = 0x40; // half 0, l = 16: el 48 (sub 3): 0; el 112 (sub 7): 3|1<<4 = 19
    ql[127] = 0xf0; qh[63] = 0xc0; // half 1, l = 31: el 191 (sub 11): 0; el 255 (sub 15): 15|3<<4 = 63
    const exp = Array.from({ length: 256 }, (_, i) => 0.5 * sc[i >> 4]! * -32);
    exp[0] = 0.5 * 1 * 26; // 13
    exp[32] = 0.5 * 3 * -16; // −24
    exp[64] = 0.5 * 5 * 5; // 12.5
    exp[96] = 0.5 * 7 * 16; // 56
    exp[145] = 0.5 * 10 * -17; // −85
    exp[112] = 0.5 * -128 * -13; // 832
    exp[255] = 0.5 * 127 * 31; // 1968.5
    const data = block(['b', ql], ['b', qh], ['b', sc.map((s) => s & 0xff)], ['h', H_HALF]);
    expect(data.length).toBe(210);
    expectBoth(GGMLType.Q6_K, data, exp);
  });
});

describe('dequantizeF32 follows ggml f32 operation order', () => {
  it('Q4_1 rounds q·d and then + m in f32', () => {
    const d = 0x2e66, m = 0x3555; // 0.0999755859375, 0.333251953125
    const qs = new Array(16).fill(0x77); // q = 7 everywhere
    const data = block(['h', d], ['h', m], ['b', qs]);
    const dv = 0.0999755859375, mv = 0.333251953125;
    expect(dequantize(GGMLType.Q4_1, data, 32)[0]).toBe(7 * dv + mv);
    expect(dequantizeF32(GGMLType.Q4_1, data, 32)[0]).toBe(Math.fround(Math.fround(7 * dv) + mv));
  });

  it('Q4_K: fround(fround(fround(d·sc)·q) − fround(dmin·m)) on a non-dyadic block', () => {
    const d = 0x2e66, dmin = 0x1f0b; // 0.0999755859375, ≈0.00742
    const qs = new Array(128).fill(0xb5);
    const data = block(['h', d], ['h', dmin], ['b', K_SCALES], ['b', qs]);
    const dv = 0.0999755859375, dminv = (1 + 0x30b / 1024) * 2 ** (7 - 15);
    const y = dequantizeF32(GGMLType.Q4_K, data, 256);
    const f = Math.fround;
    for (let s = 0; s < 8; s++) {
      const q = s % 2 === 0 ? 5 : 11;
      expect(y[32 * s]).toBe(f(f(f(dv * K_SC[s]!) * q) - f(dminv * K_M[s]!)));
    }
  });

  it('equals fround(float64 reference) bit for bit on random valid blocks and on random bytes (within 1e-6 rel.)', () => {
    const rng = new Rng(3);
    for (const type of DEQUANT_TYPES) {
      const t = ggmlTypeTraits(type)!;
      const n = 4 * 256;
      const datas = [randomTensorData(type, [n], rng.fork(`v${type}`))];
      if (t.blockSize > 1) {
        // Arbitrary bytes with half fields forced finite (exponent < 31) in every block.
        const raw = new Uint8Array((n / t.blockSize) * t.blockBytes);
        for (let i = 0; i < raw.length; i++) raw[i] = rng.int(256);
        const halfOffsets = type === GGMLType.Q6_K ? [208] : type === GGMLType.Q4_1 || type === GGMLType.Q5_1 || type === GGMLType.Q4_K || type === GGMLType.Q5_K ? [0, 2] : [0];
        for (let b = 0; b < raw.length; b += t.blockBytes) for (const o of halfOffsets) raw[b + o + 1] = raw[b + o + 1]! & 0x7b;
        datas.push(raw);
      }
      for (const data of datas) {
        const y64 = dequantize(type, data, n);
        const y32 = dequantizeF32(type, data, n);
        for (let i = 0; i < n; i++) {
          const a = y64[i]!, b = y32[i]!;
          if (!Object.is(Math.fround(a), b) && !(Number.isNaN(a) && Number.isNaN(b))) expect.fail(`${t.name} element ${i}: f32 ${b} vs f64 ${a}`);
          if (Math.abs(a - b) > 1e-6 * Math.abs(a) + 1e-30) expect.fail(`${t.name} element ${i}: relative difference`);
        }
      }
    }
  });
});

describe('dequantizeRows and argument checks', () => {
  it('returns the selected rows of a 2-D tensor', () => {
    const rng = new Rng(5);
    const data = randomTensorData(GGMLType.Q4_K, [512, 6], rng);
    const all = dequantize(GGMLType.Q4_K, data, 512 * 6);
    const rows = dequantizeRows(GGMLType.Q4_K, data, 512, [5, 0, 3]);
    expect(rows.map((r) => r.length)).toEqual([512, 512, 512]);
    expect(Array.from(rows[0]!)).toEqual(Array.from(all.subarray(5 * 512, 6 * 512)));
    expect(Array.from(rows[1]!)).toEqual(Array.from(all.subarray(0, 512)));
    expect(Array.from(rows[2]!)).toEqual(Array.from(all.subarray(3 * 512, 4 * 512)));
    expect(() => dequantizeRows(GGMLType.Q4_K, data, 512, [6])).toThrow(/row 6 out of range/);
    expect(() => dequantizeRows(GGMLType.Q4_K, data, 500, [0])).toThrow(/ne0 500/);
    expect(() => dequantizeRows(GGMLType.Q4_K, data.subarray(1), 512, [0])).toThrow(/not a multiple of the row size 288/);
  });

  it('rejects unsupported types, wrong sizes and bad counts with INVALID_ARGUMENT', () => {
    const code = (f: () => unknown) => {
      try { f(); } catch (e) { expect(e).toBeInstanceOf(QwenHybridError); return (e as QwenHybridError).code; }
      return 'no error';
    };
    expect(code(() => dequantize(GGMLType.Q2_K, new Uint8Array(84), 256))).toBe('INVALID_ARGUMENT');
    expect(code(() => dequantize(GGMLType.I32, new Uint8Array(4), 1))).toBe('INVALID_ARGUMENT');
    expect(code(() => dequantize(GGMLType.Q4_K, new Uint8Array(143), 256))).toBe('INVALID_ARGUMENT');
    expect(code(() => dequantize(GGMLType.Q8_0, new Uint8Array(34), 31))).toBe('INVALID_ARGUMENT');
    expect(code(() => dequantizeF32(GGMLType.Q6_K, new Uint8Array(211), 256))).toBe('INVALID_ARGUMENT');
    expect(() => dequantize(GGMLType.Q4_K, new Uint8Array(143), 256)).toThrow(/Q4_K data of 256 elements must be 144 bytes, got 143/);
    expect(() => dequantize(GGMLType.Q2_K, new Uint8Array(84), 256)).toThrow(/unsupported tensor type Q2_K/);
    expect(dequantize(GGMLType.Q4_K, new Uint8Array(0), 0).length).toBe(0);
  });
});
