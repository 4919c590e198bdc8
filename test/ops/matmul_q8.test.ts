/**
 * MATMUL / MATMUL_ID with quantized activations (p.i[1] = 1; native/cpu/quant_q8.h) against the float64 q8
 * reference (src/reference/matmul.ts matmulQ8: x quantized to Q8_K / Q8_0 exactly as the kernel does, then an exact
 * dot), for every q8 weight type (Q4_K, Q5_K, Q6_K → Q8_K; Q8_0, Q4_0 → Q8_0-style) and T ∈ {1, 2, 7}; scalar ==
 * SIMD (within twice the bound); F16/BF16 weights: x rounded to f16/bf16 then exact (llama.cpp's vec_dot_type for
 * them; tolerance (k + 2)·u·Σ|w·x| as in matmul-util.ts); 1 thread == 4 threads (bit-exact: a row's dot never depends on the split); q8 vs
 * exact within the activation-quantization bound; T > 8 (prefill) stays exact; other types ignore the flag (bit-identical to exact mode).
 *
 * Tolerance vs the q8 reference: |y − y_ref| ≤ 2·(k/32 + 8)·u·S, u = 2^-24, S = Σ_c (|w_c| + |mn_c|)·|xq_c|
 * (mn_c = dmin·m of c's sub-block for Q4_K/Q5_K, else 0). Why: the integer block sums are exact (i32, no
 * saturation: maddubs pairs ≤ 2·63·127 resp. 2·128·127); per block the kernel rounds fl(xd·d), fl(xd·dmin), the
 * i32 → f32 conversion (|isum| may exceed 2^24), the products and the min subtraction (≤ 5u of |A_b| + |B_b|,
 * A_b = xd·d·Σ sc·q·q8 ≤ Σ (|w| + |mn|)·|xq|, B_b = xd·dmin·Σ m·bsum ≤ Σ |mn|·|xq|), then adds ≤ k/32 block terms
 * (SIMD: 8 lanes + a 3-step horizontal sum). A wrong nibble/scale/bit moves y by ~S/k ≫ (k/32 + 8)·u·S.
 *
 * Tolerance vs exact: |y_q8 − y| ≤ Σ_c |w_c|·|d_b(c)|/2 + f32 terms: every x_c is replaced by d_b·rne(x_c/d_b)
 * (or the clamp at 127, which only touches the element that defines the scale, error ≤ rounding), so
 * |x_c − xq_c| ≤ |d_b|/2 (1 + O(u)); the weight is the same exact value in both modes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { QwenHybridError } from '../../src/errors.js';
import { GGMLType, ggmlTensorBytes } from '../../src/gguf/types.js';
import { GraphBuilder, OpKind } from '../../src/model/graph/index.js';
import { Rng } from '../../src/quant/index.js';
import { Q8_MAX_TOKENS, matmul, matmulQ8, quantizeActivations } from '../../src/reference/matmul.js';
import { createCpuBackend, type CpuBackend } from '../../src/runtime/backend.js';
import { U, expectWithinBound, randn, runMatmul, weightBytes } from './matmul-util.js';

const Q8_TYPES: readonly { type: GGMLType; name: string; k: number }[] = [
  { type: GGMLType.Q4_K, name: 'Q4_K', k: 768 },
  { type: GGMLType.Q5_K, name: 'Q5_K', k: 768 },
  { type: GGMLType.Q6_K, name: 'Q6_K', k: 512 },
  { type: GGMLType.Q8_0, name: 'Q8_0', k: 32 * 9 },
  { type: GGMLType.Q4_0, name: 'Q4_0', k: 32 * 9 },
  { type: GGMLType.F16, name: 'F16', k: 291 },
  { type: GGMLType.BF16, name: 'BF16', k: 291 },
];
/** x rounded to f16 / bf16, then the exact f32 path: the exact-mode bound (k + 2)·u·Σ|w·x| applies. */
const ROUNDING = new Set<GGMLType>([GGMLType.F16, GGMLType.BF16]);
const TS = [1, 2, 7];
const M = 33;

let be: CpuBackend;
let be1: CpuBackend;
let scalar: CpuBackend;
let simdIsas: string[] = [];

beforeAll(() => {
  be = createCpuBackend({ threads: 4 });
  be1 = createCpuBackend({ threads: 1 });
  scalar = createCpuBackend({ threads: 2, isa: 'scalar' });
  simdIsas = be.info.isaAvailable.filter((i) => i !== 'scalar');
});
afterAll(() => {
  be.dispose();
  be1.dispose();
  scalar.dispose();
});

async function runQ8(b: CpuBackend, type: GGMLType, shape: readonly [number, number], w: Uint8Array, x: Float32Array, T: number, act = 1): Promise<Float32Array> {
  const wt = b.weightFromBytes(type, shape, w, 'W');
  const g = new GraphBuilder();
  const xi = g.input('x', 'f32', [shape[0], T]);
  const [y] = g.op(OpKind.MATMUL, [g.weight(wt), xi], [{ dtype: 'f32', shape: [shape[1], T] }], { i: [0, act] });
  g.output('y', y!);
  const plan = b.compile(g.build());
  try {
    return (await plan.run({ x })).y as Float32Array;
  } finally {
    plan.dispose();
    wt.dispose();
  }
}

let tolType: GGMLType = GGMLType.Q4_K;
function tolQ8(k: number, absSumExt: number): number {
  return ROUNDING.has(tolType) ? (k + 2) * U * absSumExt : 2 * (k / 32 + 8) * U * absSumExt;
}

function expectQ8(y: ArrayLike<number>, ref: { y: Float64Array; absSumExt: Float64Array }, k: number, label: string): void {
  expect(y.length, label).toBe(ref.y.length);
  for (let i = 0; i < y.length; i++) {
    const err = Math.abs((y[i] as number) - ref.y[i]!);
    if (!(err <= tolQ8(k, ref.absSumExt[i]!))) expect.fail(`${label}: y[${i}] = ${y[i]} vs q8 reference ${ref.y[i]}: |Δ| = ${err} > ${tolQ8(k, ref.absSumExt[i]!)}`);
  }
}

/** Hand-derived quantizations: with max |x| = 127 the scale is exactly 1, so q = rne(±x). */
const HAND_X = [-127, 127, 1.5, 2.5, -2.5, 3.5, 0.5, -0.5, 126.5, 0.49, -1.5, 7];
// Q8_K: mx = x[0] = −127 (x[1] ties in |x| but is not first), iscale = −127/−127 = 1, d = 1, q = min(127, rne(x)).
const HAND_Q8K = [-127, 127, 2, 2, -2, 4, 0, 0, 126, 0, -2, 7];
// Q8_0-style: d = 127/127 = 1, q = rne(x).
const HAND_Q8A = [-127, 127, 2, 2, -2, 4, 0, 0, 126, 0, -2, 7];

describe('activation quantization, hand-derived', () => {
  it('reference: Q8_K maps the first max-|x| element mx to −127 (iscale = −127/mx); zero block → d = 0, q = 0', () => {
    const x = new Float32Array(512);
    x.set(HAND_X);
    const q = quantizeActivations('q8k', x, 512);
    expect(q.d[0]).toBe(1);
    expect(Array.from(q.q.subarray(0, HAND_X.length), (v) => v + 0)).toEqual(HAND_Q8K);
    expect(q.d[1]).toBe(0);
    expect(q.q.subarray(256).every((v) => v === 0)).toBe(true);
  });
  it('reference: Q8_0-style d = amax/127, q = rne(x/d) (halves to even)', () => {
    const x = new Float32Array(32);
    x.set(HAND_X);
    const q = quantizeActivations('q8a', x, 32);
    expect(q.d[0]).toBe(1);
    expect(Array.from(q.q.subarray(0, HAND_X.length), (v) => v + 0)).toEqual(HAND_Q8A);
  });

  // One-hot weight rows read the native quantized activations back: y[r] = 1·xq[r] = d·q[r].
  function oneHotQ4K(): Uint8Array {
    const out = new Uint8Array(144 * 256);
    for (let r = 0; r < 256; r++) {
      const b = out.subarray(r * 144, (r + 1) * 144);
      b[1] = 0x3c; // d = 1.0 (f16 0x3C00), dmin = 0
      for (let s = 0; s < 4; s++) b[4 + s] = 1; // sc_s = 1 (s < 4), m_s = 0
      for (let s = 8; s < 12; s++) b[4 + s] = 1; // sc_s = 1 (s ≥ 4: low nibble of scales[s+4]), m_s = 0
      const p = r >> 6, l = r & 63;
      if (l < 32) b[16 + 32 * p + l] = 1;
      else b[16 + 32 * p + l - 32] = 0x10;
    }
    return out;
  }
  function oneHotQ80(): Uint8Array {
    const out = new Uint8Array(34 * 32);
    for (let r = 0; r < 32; r++) {
      out[r * 34 + 1] = 0x3c; // d = 1.0
      out[r * 34 + 2 + r] = 1;
    }
    return out;
  }
  for (const isa of ['scalar', 'auto'] as const) {
    it(`native (${isa}): Q4_K one-hot rows read back the Q8_K activations; Q8_0 one-hot rows the Q8_0 ones`, async () => {
      const b = createCpuBackend({ threads: 2, isa });
      try {
        const x = new Float32Array(256);
        x.set(HAND_X);
        const y = await runQ8(b, GGMLType.Q4_K, [256, 256], oneHotQ4K(), x, 1);
        expect(Array.from(y.subarray(0, HAND_X.length), (v) => v + 0)).toEqual(HAND_Q8K);
        expect(y.subarray(HAND_X.length).every((v) => v === 0)).toBe(true);
        const x32 = new Float32Array(32);
        x32.set(HAND_X);
        const y32 = await runQ8(b, GGMLType.Q8_0, [32, 32], oneHotQ80(), x32, 1);
        expect(Array.from(y32.subarray(0, HAND_X.length), (v) => v + 0)).toEqual(HAND_Q8A);
      } finally {
        b.dispose();
      }
    });
  }
});

describe('MATMUL q8 vs float64 q8 reference', () => {
  for (const { type, name, k } of Q8_TYPES) {
    it(`${name}: k=${k}, m=${M}, T ∈ {${TS.join(', ')}}; scalar, SIMD, 1 vs 4 threads; q8 vs exact bound`, async () => {
      tolType = type;
      const w = weightBytes(type, [k, M], 3000 + type);
      const rng = new Rng(70 + type);
      for (const T of TS) {
        const x = randn(rng, k * T);
        const ref = matmulQ8(type, w, [k, M], x, T);
        const ys = await runQ8(scalar, type, [k, M], w, x, T);
        expectQ8(ys, ref, k, `${name} T=${T} scalar`);
        const y4 = await runQ8(be, type, [k, M], w, x, T);
        expectQ8(y4, ref, k, `${name} T=${T} ${be.info.isa} 4 threads`);
        for (let i = 0; i < y4.length; i++) {
          const err = Math.abs(y4[i]! - ys[i]!);
          if (!(err <= 2 * tolQ8(k, ref.absSumExt[i]!))) expect.fail(`${name} T=${T} SIMD vs scalar [${i}]: ${y4[i]} vs ${ys[i]}`);
        }
        const y1 = await runQ8(be1, type, [k, M], w, x, T);
        expect(Array.from(y1), `${name} T=${T}: 1 thread == 4 threads`).toEqual(Array.from(y4));

        // q8 vs exact (float64, unquantized x): within the quantization bound, and actually different from the
        // exact-mode native result (the flag took the q8 path).
        const exact = matmul(type, w, [k, M], x, T);
        const yExact = await runMatmul(be, type, [k, M], w, x, T);
        let differs = 0;
        for (let i = 0; i < y4.length; i++) {
          const bound = ref.quantBound[i]! * (1 + 2 ** -20) + (k + 2) * U * exact.absSum[i]! + tolQ8(k, ref.absSumExt[i]!);
          const err = Math.abs(y4[i]! - exact.y[i]!);
          if (!(err <= bound)) expect.fail(`${name} T=${T} [${i}]: q8 ${y4[i]} vs exact ${exact.y[i]}: |Δ| = ${err} > quantization bound ${bound}`);
          if (Math.abs(y4[i]! - yExact[i]!) > (k + 2) * U * exact.absSum[i]!) differs++;
        }
        // (f16 rounding moves x by ≤ 2^-12 relative: detectable on some outputs only.)
        expect(differs, `${name} T=${T}: q8 outputs that differ from exact mode beyond f32 rounding`).toBeGreaterThanOrEqual(ROUNDING.has(type) ? 1 : y4.length / 2);
      }
    });
  }

  it('every available SIMD ISA (forced) matches the q8 reference at a real row length (k = 5120, Q4_K, Q5_K and Q6_K)', async () => {
    for (const isa of simdIsas) {
      const b = createCpuBackend({ threads: 2, isa: isa as 'avx2' | 'avx512' });
      try {
        for (const type of [GGMLType.Q4_K, GGMLType.Q5_K, GGMLType.Q6_K]) {
          tolType = type;
          const k = 5120, m = 24;
          const w = weightBytes(type, [k, m], 77 + type);
          const x = randn(new Rng(5 + type), k * 2);
          expectQ8(await runQ8(b, type, [k, m], w, x, 2), matmulQ8(type, w, [k, m], x, 2), k, `${isa} type ${type} k=5120`);
        }
      } finally {
        b.dispose();
      }
    }
  });

  it('T = 9 and T = 64 (beyond the decode limit Q8_MAX_TOKENS = 8) stay exact: bit-identical to exact mode', async () => {
    expect(Q8_MAX_TOKENS).toBe(8);
    for (const { type, name, k } of Q8_TYPES) {
      const w = weightBytes(type, [k, M], 21 + type);
      for (const T of [9, 64]) {
        const x = randn(new Rng(T + type), k * T);
        expect(Array.from(await runQ8(be, type, [k, M], w, x, T)), `${name} T=${T}`).toEqual(Array.from(await runMatmul(be, type, [k, M], w, x, T)));
      }
    }
  });

  it('types without an activation format ignore the flag: bit-identical to exact mode (F32, Q5_1, Q4_1)', async () => {
    for (const [type, k] of [[GGMLType.F32, 291], [GGMLType.Q5_1, 32 * 9], [GGMLType.Q4_1, 32 * 9]] as const) {
      const w = weightBytes(type, [k, M], 11 + type);
      const x = randn(new Rng(3), k * 2);
      const a = await runQ8(be, type, [k, M], w, x, 2, 1);
      const e = await runMatmul(be, type, [k, M], w, x, 2);
      expect(Array.from(a)).toEqual(Array.from(e));
      expectWithinBound(a, matmul(type, w, [k, M], x, 2), k, `type ${type}`);
    }
  });

  it('p.i[1] outside {0, 1} → INVALID_ARGUMENT naming the parameter (MATMUL and MATMUL_ID)', () => {
    const wt = be.weightFromBytes(GGMLType.Q4_K, [256, 4], weightBytes(GGMLType.Q4_K, [256, 4], 1), 'W');
    const we = be.weightFromBytes(GGMLType.Q4_K, [256, 4, 2], weightBytes(GGMLType.Q4_K, [256, 4, 2], 2), 'E');
    try {
      const g = new GraphBuilder();
      const [y] = g.op(OpKind.MATMUL, [g.weight(wt), g.input('x', 'f32', [256, 1])], [{ dtype: 'f32', shape: [4, 1] }], { i: [0, 2] });
      g.output('y', y!);
      let err: unknown;
      try {
        be.compile(g.build());
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(QwenHybridError);
      expect((err as QwenHybridError).code).toBe('INVALID_ARGUMENT');
      expect(String((err as Error).message)).toMatch(/MATMUL op: p\.i\[1\] \(activations\)/);

      const g2 = new GraphBuilder();
      const [y2] = g2.op(OpKind.MATMUL_ID, [g2.weight(we), g2.input('x', 'f32', [256, 1]), g2.input('ids', 'i32', [1, 1])], [{ dtype: 'f32', shape: [4, 1, 1] }], { i: [0, -1] });
      g2.output('y', y2!);
      expect(() => be.compile(g2.build())).toThrow(/MATMUL_ID op: p\.i\[1\] \(activations\)/);
    } finally {
      wt.dispose();
      we.dispose();
    }
  });
});

describe('MATMUL_ID q8 vs float64 q8 reference', () => {
  const E = 4, K = 2;
  for (const { type, name, k } of Q8_TYPES) {
    it(`${name}: E=${E}, K=${K}, T ∈ {1, 7}, both x modes; scalar, SIMD, 1 vs 4 threads; expert 0 never read`, async () => {
      tolType = type;
      const per = ggmlTensorBytes(type, [k, M]);
      const w = new Uint8Array(per * E);
      w.fill(0xff, 0, per); // expert 0 poisoned (NaN scales) and never selected
      w.set(weightBytes(type, [k, M, E - 1], 900 + type), per);
      const rng = new Rng(40 + type);
      for (const T of [1, 7]) {
        for (const perSlot of [false, true]) {
          const x = randn(rng, perSlot ? k * K * T : k * T);
          const ids = new Int32Array(K * T);
          for (let j = 0; j < K * T; j++) ids[j] = 1 + rng.int(E - 1);
          const run = async (b: CpuBackend): Promise<Float32Array> => {
            const wt = b.weightFromBytes(type, [k, M, E], w, 'experts');
            const g = new GraphBuilder();
            const [y] = g.op(OpKind.MATMUL_ID, [g.weight(wt), g.input('x', 'f32', perSlot ? [k, K, T] : [k, T]), g.input('ids', 'i32', [K, T])], [{ dtype: 'f32', shape: [M, K, T] }], { i: [perSlot ? 1 : 0, 1] });
            g.output('y', y!);
            const plan = b.compile(g.build());
            try {
              return (await plan.run({ x, ids })).y as Float32Array;
            } finally {
              plan.dispose();
              wt.dispose();
            }
          };
          const y4 = await run(be), ys = await run(scalar), y1 = await run(be1);
          for (let t = 0; t < T; t++) {
            for (let s = 0; s < K; s++) {
              const e = ids[t * K + s]!;
              const xs = perSlot ? x.subarray((t * K + s) * k, (t * K + s + 1) * k) : x.subarray(t * k, (t + 1) * k);
              const ref = matmulQ8(type, w.subarray(e * per, (e + 1) * per), [k, M], xs, 1);
              const o = (t * K + s) * M;
              const label = `${name} T=${T} mode ${perSlot ? 1 : 0} t=${t} s=${s}`;
              expectQ8(y4.subarray(o, o + M), ref, k, `${label} SIMD`);
              expectQ8(ys.subarray(o, o + M), ref, k, `${label} scalar`);
            }
          }
          expect(Array.from(y1), `${name} T=${T}: 1 thread == 4 threads`).toEqual(Array.from(y4));
        }
      }
    });
  }
});
