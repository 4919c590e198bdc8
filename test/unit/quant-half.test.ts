// Half conversions (src/quant/half.ts) against IEEE-754 definitions computed here independently, and the
// seeded RNG (src/quant/rng.ts) against the xoshiro128** reference outputs.
import { describe, expect, it } from 'vitest';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16, roundToF32 } from '../../src/quant/half.js';
import { Rng } from '../../src/quant/rng.js';
import { QwenHybridError } from '../../src/errors.js';

/** binary16 value from its definition: (-1)^s · 2^(e−15) · (1 + m/1024), subnormal 2^−14 · m/1024. */
function f16Def(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 31;
  const m = h & 1023;
  if (e === 31) return m ? NaN : s * Infinity;
  if (e === 0) return s * Math.pow(2, -14) * (m / 1024);
  return s * Math.pow(2, e - 15) * (1 + m / 1024);
}

/** f32 bits → value via DataView (independent of the module's Float32Array aliasing). */
function f32FromBitsDV(bits: number): number {
  const dv = new DataView(new ArrayBuffer(4));
  dv.setUint32(0, bits >>> 0);
  return dv.getFloat32(0);
}
function f32BitsDV(x: number): number {
  const dv = new DataView(new ArrayBuffer(4));
  dv.setFloat32(0, x);
  return dv.getUint32(0);
}

describe('f16ToF32', () => {
  it('matches the binary16 definition for all 65536 patterns', () => {
    for (let h = 0; h < 65536; h++) {
      const want = f16Def(h);
      const got = f16ToF32(h);
      if (Number.isNaN(want)) expect(got).toBeNaN();
      else if (!Object.is(got, want)) expect.fail(`h=0x${h.toString(16)}: ${got} != ${want}`);
    }
  });

  it('decodes landmark values', () => {
    expect(f16ToF32(0x3c00)).toBe(1);
    expect(f16ToF32(0xc000)).toBe(-2);
    expect(f16ToF32(0x7bff)).toBe(65504);
    expect(f16ToF32(0x0400)).toBe(6.103515625e-5); // smallest normal 2^-14
    expect(f16ToF32(0x0001)).toBe(2 ** -24); // smallest subnormal 5.96e-8
    expect(f16ToF32(0x03ff)).toBe(1023 * 2 ** -24); // largest subnormal
    expect(f16ToF32(0x3555)).toBe(0.333251953125);
    expect(f16ToF32(0x7c00)).toBe(Infinity);
    expect(f16ToF32(0xfc00)).toBe(-Infinity);
    expect(f16ToF32(0x7e00)).toBeNaN();
    expect(f16ToF32(0x7c01)).toBeNaN();
    expect(Object.is(f16ToF32(0x8000), -0)).toBe(true);
  });
});

describe('f32ToF16', () => {
  it('round-trips every non-NaN pattern; NaN stays NaN (0x7E00 with the sign)', () => {
    for (let h = 0; h < 65536; h++) {
      const isNaN = (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
      const back = f32ToF16(f16ToF32(h));
      if (isNaN) expect(back & 0x7fff).toBe(0x7e00);
      else if (back !== h) expect.fail(`h=0x${h.toString(16)} -> 0x${back.toString(16)}`);
    }
    expect(f32ToF16(NaN)).toBe(0x7e00);
  });

  it('encodes known values', () => {
    expect(f32ToF16(1 / 3)).toBe(0x3555);
    expect(f32ToF16(65504)).toBe(0x7bff);
    expect(f32ToF16(65519)).toBe(0x7bff); // below the midpoint to 65536
    expect(f32ToF16(65520)).toBe(0x7c00); // midpoint 65504|65536: ties to even (65536 = inf)
    expect(f32ToF16(1e6)).toBe(0x7c00);
    expect(f32ToF16(-1e6)).toBe(0xfc00);
    expect(f32ToF16(6.1035e-5)).toBe(0x0400); // nearest half is 2^-14
    expect(f32ToF16(5.96e-8)).toBe(0x0001);
    expect(f32ToF16(2 ** -25)).toBe(0x0000); // exactly half the smallest subnormal: ties to even (0)
    expect(f32ToF16(2 ** -25 * 1.0001)).toBe(0x0001);
    expect(f32ToF16(3 * 2 ** -25)).toBe(0x0002); // 1.5 units: ties to even (2)
    expect(f32ToF16(1e-10)).toBe(0x0000);
    expect(f32ToF16(-1e-10)).toBe(0x8000);
    expect(f32ToF16(-0)).toBe(0x8000);
    expect(f32ToF16(Infinity)).toBe(0x7c00);
    expect(f32ToF16(1 + 2 ** -11)).toBe(0x3c00); // tie between 1 and 1+2^-10: even is 1
    expect(f32ToF16(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie between 1+2^-10 and 1+2^-9: even is 0x3c02
    expect(f32ToF16(2047 * 2 ** -25)).toBe(0x0400); // rounds up from the largest subnormal into the normals
  });

  it('rounds every midpoint between neighbouring halves to the even one, and neighbours of it to the nearest', () => {
    for (let h = 0; h < 0x7bff; h++) {
      const lo = f16Def(h), hi = f16Def(h + 1);
      const mid = (lo + hi) / 2; // exact in f32 (12 significant bits)
      expect(roundToF32(mid)).toBe(mid);
      const even = h % 2 === 0 ? h : h + 1;
      if (f32ToF16(mid) !== even) expect.fail(`midpoint after 0x${h.toString(16)}`);
      const below = f32FromBitsDV(f32BitsDV(mid) - 1), above = f32FromBitsDV(f32BitsDV(mid) + 1);
      if (f32ToF16(below) !== h || f32ToF16(above) !== h + 1) expect.fail(`neighbours of midpoint after 0x${h.toString(16)}`);
      if (f32ToF16(-mid) !== (even | 0x8000)) expect.fail(`negative midpoint after 0x${h.toString(16)}`);
    }
  });

  it('agrees with a nearest-value search over the half table on random f32 inputs', () => {
    const table: number[] = [];
    for (let h = 0; h <= 0x7bff; h++) table.push(f16Def(h)); // increasing
    const rng = new Rng(7);
    for (let k = 0; k < 20000; k++) {
      // random f32 with exponent spread over the half range and beyond
      const x = roundToF32((rng.float() * 2 - 1) * Math.pow(2, rng.int(46) - 30));
      const ax = Math.abs(x);
      let want: number;
      if (ax >= 65520) want = 0x7c00;
      else {
        let a = 0, b = table.length - 1;
        while (b - a > 1) { const m = (a + b) >> 1; if (table[m]! <= ax) a = m; else b = m; }
        const da = ax - table[a]!, db = table[b]! - ax;
        want = da < db ? a : db < da ? b : a % 2 === 0 ? a : b;
      }
      const got = f32ToF16(x);
      expect((got & 0x7fff) >>> 0).toBe(want);
      if (x < 0) expect(got & 0x8000).toBe(0x8000);
    }
  });
});

describe('bf16', () => {
  it('bf16ToF32 is the f32 with those upper bits, for all patterns', () => {
    for (let h = 0; h < 65536; h++) {
      const want = f32FromBitsDV(h << 16);
      const got = bf16ToF32(h);
      if (Number.isNaN(want)) expect(got).toBeNaN();
      else if (!Object.is(got, want)) expect.fail(`0x${h.toString(16)}`);
    }
    expect(bf16ToF32(0x3f80)).toBe(1);
    expect(bf16ToF32(0xc040)).toBe(-3);
    expect(bf16ToF32(0x0001)).toBe(2 ** -133); // f32 subnormal
  });

  it('f32ToBf16 rounds to nearest even, overflows to inf and keeps NaN quiet', () => {
    expect(f32ToBf16(1)).toBe(0x3f80);
    expect(f32ToBf16(1 / 3)).toBe(0x3eab); // f32 0x3EAAAAAB: dropped 0xAAAB > half
    expect(f32ToBf16(f32FromBitsDV(0x3f808000))).toBe(0x3f80); // tie, even
    expect(f32ToBf16(f32FromBitsDV(0x3f818000))).toBe(0x3f82); // tie, even (up)
    expect(f32ToBf16(f32FromBitsDV(0x3f808001))).toBe(0x3f81);
    expect(f32ToBf16(f32FromBitsDV(0x7f7fffff))).toBe(0x7f80); // max f32 rounds to inf
    expect(f32ToBf16(-0)).toBe(0x8000);
    expect(f32ToBf16(f32FromBitsDV(0x7fc00000))).toBe(0x7fc0);
    expect(f32ToBf16(f32FromBitsDV(0x7f800001))).toBe(0x7fc0); // signalling NaN forced quiet, stays NaN
    expect(f32ToBf16(f32FromBitsDV(0xff800001))).toBe(0xffc0);
    for (let h = 0; h < 65536; h++) {
      if ((h & 0x7f80) === 0x7f80 && (h & 0x7f) !== 0) continue; // NaN
      if (f32ToBf16(bf16ToF32(h)) !== h) expect.fail(`round trip 0x${h.toString(16)}`);
    }
  });
});

describe('Rng', () => {
  it('produces the xoshiro128** reference outputs for state {1,2,3,4}', () => {
    // First outputs of the reference C implementation (Blackman & Vigna) for s = {1, 2, 3, 4};
    // the first three follow by hand: rotl(2·5, 7)·9 = 11520, then s1 = 0 → 0, then s1 = 1029 → 5927040.
    const r = Rng.fromState([1, 2, 3, 4]);
    expect([r.nextU32(), r.nextU32(), r.nextU32(), r.nextU32(), r.nextU32(), r.nextU32()]).toEqual([11520, 0, 5927040, 70819200, 2031721883, 1637235492]);
  });

  it('is deterministic for a seed, number and bigint seeds agree, different seeds differ', () => {
    const a = new Rng(42), b = new Rng(42n), c = new Rng(43);
    const sa = Array.from({ length: 8 }, () => a.nextU32());
    expect(Array.from({ length: 8 }, () => b.nextU32())).toEqual(sa);
    expect(Array.from({ length: 8 }, () => c.nextU32())).not.toEqual(sa);
    expect(new Rng(2n ** 64n + 5n).nextU32()).toBe(new Rng(5).nextU32()); // low 64 bits
    expect(new Rng(2n ** 40n).nextU32()).not.toBe(new Rng(0).nextU32());
    expect(() => new Rng(1.5)).toThrow(QwenHybridError);
  });

  it('float, int and normal have the right ranges and moments', () => {
    const r = new Rng(1);
    let s = 0, s2 = 0, fmin = 1, fmax = 0;
    const N = 200000;
    for (let i = 0; i < N; i++) {
      const f = r.float();
      fmin = Math.min(fmin, f); fmax = Math.max(fmax, f);
      const z = r.normal();
      s += z; s2 += z * z;
    }
    expect(fmin).toBeGreaterThanOrEqual(0);
    expect(fmax).toBeLessThan(1);
    expect(Math.abs(s / N)).toBeLessThan(0.01); // σ/√N = 0.0022
    expect(Math.abs(s2 / N - 1)).toBeLessThan(0.02); // sd of the estimate ≈ √(2/N) = 0.0032
    const counts = new Array(7).fill(0);
    for (let i = 0; i < 70000; i++) counts[r.int(7)]++;
    for (const c of counts) expect(Math.abs(c - 10000)).toBeLessThan(500); // sd ≈ 93
    expect(() => r.int(0)).toThrow(QwenHybridError);
    expect(r.int(1)).toBe(0);
  });

  it('fork gives labelled, reproducible, independent streams without advancing the parent', () => {
    const p = new Rng(9);
    const a1 = p.fork('a').nextU32(), a2 = p.fork('a').nextU32(), b = p.fork('b').nextU32();
    expect(a1).toBe(a2);
    expect(a1).not.toBe(b);
    expect(p.nextU32()).toBe(new Rng(9).nextU32());
  });
});
