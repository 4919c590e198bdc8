/**
 * CUDA MATMUL and MATMUL_ID (native/cuda/matmul.cu, matmul_id.cu) against the float64 reference
 * (src/reference/matmul.ts) and the CPU backend, on seeded random inputs, for every weight type:
 *   - awkward shapes: k as in test/ops/matmul-util.ts (odd k for plain types, 9 blocks of 32, 2 super-blocks),
 *     m ∈ {33, 130} (partial 4-row GEMV blocks, partial 64-row GEMM tiles), T ∈ {1, 2, 8, 9, 64, 300}
 *     (GEMV tiles of 1/2/8 tokens, the 8→9 switch to the GEMM, partial 64-pair tiles);
 *   - every variant forced (ctx.variant 1 = exact GEMV, 2 = fp16 mma.sync GEMM) at every T, and auto, which must
 *     equal the forced variant it picks bit for bit (GEMV for T ≤ 8, GEMM above);
 *   - MATMUL_ID with E = 5 experts of which expert 0 is 0xFF bytes (NaN in every format) and never selected, so a
 *     read of an unselected expert turns outputs into NaN; repeated experts inside and across tokens; both x modes;
 *   - real shapes of Qwen3.6-27B (5120→17408 Q4_K, 17408→5120 Q6_K, 5120→10240 Q4_K, 5120→6144 Q5_K,
 *     6144→5120 Q8_0, 5120→248320 Q6_K) and of 35B-A3B (256 experts, 8 selected, 2048→512 Q4_K, 512→2048 Q6_K).
 *
 * Tolerances (per output y[t][r], absSum = Σ_c |w_c·x_c| from the float64 reference):
 *   exact GEMV: |y − y_ref| ≤ (k + 2)·2^-24·absSum (test/ops/matmul-util.ts: the weights are formed exactly as
 *     ggml's f32 dequantization — checked bit for bit on the host by test/unit/cuda-quant-traits.test.ts — and
 *     only the f32 summation order differs from the CPU's), and |y − y_cpu| ≤ twice that.
 *   fp16 GEMM: each weight and activation is rounded once to fp16 (unit roundoff 2^-11 in the normal range,
 *     absolute ≤ 2^-25 in the subnormal range below 2^-14); the fp16 products are exact in f32 and summed in
 *     f32 by the tensor core (≤ 1 ulp = 2^-23 per addition even if it truncates). So
 *       |y − y_ref| ≤ (2^-10 + 2^-21 + (k + 4)·2^-23)·absSum + 2^-24·(Σ_c |x_c| + Σ_c |w_c|)
 *     (first order in 2^-11; the 2^-21 term absorbs the second-order products). One wrong weight or
 *     activation (layout bug) moves y by ~absSum/k, above this bound for k ≤ ~512 and, as bugs are systematic,
 *     in many outputs at once; a wrong fragment mapping breaks every output.
 * No CUDA device (or an addon without CUDA): createCudaBackend throws NO_CUDA_DEVICE in beforeAll and every
 * test here FAILS (the GPU suite never passes vacuously; test/gpu/require-gpu.test.ts says why).
 */
import { randomFillSync } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { GGMLType, ggmlTensorBytes, ggmlTypeName, ggmlTypeTraits } from '../../src/gguf/types.js';
import { GraphBuilder, OpKind } from '../../src/model/graph/index.js';
import { dequantize, f32ToF16, Rng } from '../../src/quant/index.js';
import { matmul, matmulId, type MatmulResult } from '../../src/reference/matmul.js';
import type { Backend, CpuBackend } from '../../src/runtime/backend.js';
import { WEIGHT_TYPES, expectClose, expectWithinBound, poisonedExpertBytes, randn, repeatingExpertIds, weightBytes } from '../ops/matmul-util.js';
import { cudaBackends, type Backends } from './harness.js';

/** ctx.variant of MATMUL / MATMUL_ID (native/cuda/matmul.cuh MatmulVariant). */
const MM_VARIANT = { auto: 0, gemv: 1, mma: 2 } as const;
type OpBackend = Backend;

const TS = [1, 2, 8, 9, 64, 300];
const MS = [33, 130];
const E = 5, K = 3;

let cpu: CpuBackend;
const pairs: Partial<Record<keyof typeof MM_VARIANT, Backends>> = {};

// One harness pair (CPU oracle + CUDA on device 0) per forced variant; throws NO_CUDA_DEVICE without a GPU.
beforeAll(() => {
  for (const v of Object.keys(MM_VARIANT) as (keyof typeof MM_VARIANT)[]) {
    pairs[v] = cudaBackends({ variants: { MATMUL: MM_VARIANT[v], MATMUL_ID: MM_VARIANT[v] } });
  }
  cpu = pairs.auto!.cpu;
});
afterAll(() => {
  for (const b of Object.values(pairs)) b?.dispose();
});

function be(v: keyof typeof MM_VARIANT): OpBackend {
  const b = pairs[v];
  if (!b) throw new Error(`CUDA backend (${v}) was not created`);
  return b.gpu;
}

async function runMatmul(b: OpBackend, type: GGMLType, k: number, m: number, w: Uint8Array, x: Float32Array, T: number): Promise<Float32Array> {
  const wt = b.weightFromBytes(type, [k, m], w, 'W');
  const g = new GraphBuilder();
  const xi = g.input('x', 'f32', [k, T]);
  const [y] = g.op(OpKind.MATMUL, [g.weight(wt), xi], [{ dtype: 'f32', shape: [m, T] }]);
  g.output('y', y!);
  const plan = b.compile(g.build());
  try {
    return (await plan.run({ x })).y as Float32Array;
  } finally {
    plan.dispose();
    wt.dispose();
  }
}

async function runMatmulId(
  b: OpBackend, type: GGMLType, k: number, m: number, nExp: number, nSlot: number,
  w: Uint8Array, x: Float32Array, ids: Int32Array, T: number, perSlot: boolean,
): Promise<Float32Array> {
  const wt = b.weightFromBytes(type, [k, m, nExp], w, 'experts');
  const g = new GraphBuilder();
  const xi = g.input('x', 'f32', perSlot ? [k, nSlot, T] : [k, T]);
  const ii = g.input('ids', 'i32', [nSlot, T]);
  const [y] = g.op(OpKind.MATMUL_ID, [g.weight(wt), xi, ii], [{ dtype: 'f32', shape: [m, nSlot, T] }], { i: [perSlot ? 1 : 0] });
  g.output('y', y!);
  const plan = b.compile(g.build());
  try {
    return (await plan.run({ x, ids })).y as Float32Array;
  } finally {
    plan.dispose();
    wt.dispose();
  }
}

const FP16_REL = 2 ** -10 + 2 ** -21;

/**
 * fp16-GEMM bound (file comment). wAbs[r] = Σ_c |w[r][c]| of the weight row each output uses, xAbs[j] = Σ_c |x_j[c]|
 * of the activation row; out index o = j·m + r.
 */
function expectFp16Bound(y: Float32Array, ref: MatmulResult, k: number, m: number, rowOf: (o: number) => number, xOf: (o: number) => number,
  wAbs: Float64Array, xAbs: Float64Array, label: string): void {
  expect(y.length, label).toBe(ref.y.length);
  for (let o = 0; o < y.length; o++) {
    const tol = (FP16_REL + (k + 4) * 2 ** -23) * ref.absSum[o]! + 2 ** -24 * (xAbs[xOf(o)]! + wAbs[rowOf(o)]!);
    const err = Math.abs(y[o]! - ref.y[o]!);
    if (!(err <= tol)) {
      expect.fail(`${label}: y[${Math.floor(o / m)}][${o % m}] = ${y[o]} vs reference ${ref.y[o]}: error ${err} > fp16 bound ${tol} (Σ|w·x| = ${ref.absSum[o]})`);
    }
  }
}

/** Σ_c |v[r·n + c]| per row of n. */
function rowAbs(v: ArrayLike<number>, n: number): Float64Array {
  const rows = Math.floor(v.length / n);
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let c = 0; c < n; c++) s += Math.abs(v[r * n + c]!);
    out[r] = s;
  }
  return out;
}

function bitsEqual(a: Float32Array, b: Float32Array, label: string): void {
  expect(a.length, label).toBe(b.length);
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length), ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < ua.length; i++) if (ua[i] !== ub[i]) expect.fail(`${label}: [${i}] ${a[i]} !== ${b[i]}`);
}

describe('CUDA MATMUL vs float64 reference and the CPU backend (awkward shapes)', () => {
  for (const { type, name, k } of WEIGHT_TYPES) {
    it(`${name}: k=${k}, m ∈ {${MS.join(', ')}}, T ∈ {${TS.join(', ')}}; gemv, mma, auto`, async () => {
      for (const m of MS) {
        const w = weightBytes(type, [k, m], 3000 + type + m);
        const wAbs = rowAbs(dequantize(type, w, k * m), k);
        const rng = new Rng(40 + type + m);
        for (const T of TS) {
          const x = randn(rng, k * T);
          const xAbs = rowAbs(x, k);
          const ref = matmul(type, w, [k, m], x, T);
          const label = `${name} m=${m} T=${T}`;
          const yCpu = await runMatmul(cpu, type, k, m, w, x, T);
          const yGemv = await runMatmul(be('gemv'), type, k, m, w, x, T);
          expectWithinBound(yGemv, ref, k, `${label} gemv`);
          expectClose(yGemv, yCpu, ref.absSum, k, `${label} gemv vs CPU`);
          const yMma = await runMatmul(be('mma'), type, k, m, w, x, T);
          expectFp16Bound(yMma, ref, k, m, (o) => o % m, (o) => Math.floor(o / m), wAbs, xAbs, `${label} mma`);
          const yAuto = await runMatmul(be('auto'), type, k, m, w, x, T);
          bitsEqual(yAuto, T <= 8 ? yGemv : yMma, `${label}: auto == ${T <= 8 ? 'gemv' : 'mma'}`);
        }
      }
    });
  }
});


describe('CUDA MATMUL_ID vs float64 reference and the CPU backend', () => {
  for (const { type, name, k } of WEIGHT_TYPES) {
    it(`${name}: k=${k}, m=33, E=${E}, K=${K}, T ∈ {${TS.join(', ')}}, both x modes; gemv, mma, auto`, async () => {
      const m = 33;
      const w = poisonedExpertBytes(type, k, m, E, 700 + type);
      const wAll = dequantize(type, w.subarray(ggmlTensorBytes(type, [k, m])), k * m * (E - 1));
      const wAbs = new Float64Array(m * E);
      wAbs.set(rowAbs(wAll, k), m); // rows of expert e at e·m (expert 0 never used)
      const rng = new Rng(900 + type);
      for (const T of TS) {
        for (const perSlot of [false, true]) {
          const x = randn(rng, perSlot ? k * K * T : k * T);
          const xAbs = rowAbs(x, k);
          const ids = repeatingExpertIds(rng, K, E, T);
          const ref = matmulId(type, w, [k, m, E], x, ids, K, T, perSlot);
          const label = `${name} T=${T} mode ${perSlot ? 1 : 0}`;
          const yCpu = await runMatmulId(cpu, type, k, m, E, K, w, x, ids, T, perSlot);
          const yGemv = await runMatmulId(be('gemv'), type, k, m, E, K, w, x, ids, T, perSlot);
          expectWithinBound(yGemv, ref, k, `${label} gemv`);
          expectClose(yGemv, yCpu, ref.absSum, k, `${label} gemv vs CPU`);
          const yMma = await runMatmulId(be('mma'), type, k, m, E, K, w, x, ids, T, perSlot);
          // output o = (t·K + s)·m + r uses expert ids[t·K + s] row r and x row (perSlot ? t·K + s : t)
          const pairOf = (o: number) => Math.floor(o / m);
          expectFp16Bound(yMma, ref, k, m, (o) => ids[pairOf(o)]! * m + (o % m), (o) => (perSlot ? pairOf(o) : Math.floor(pairOf(o) / K)), wAbs, xAbs, `${label} mma`);
          const yAuto = await runMatmulId(be('auto'), type, k, m, E, K, w, x, ids, T, perSlot);
          bitsEqual(yAuto, T <= 8 ? yGemv : yMma, `${label}: auto == ${T <= 8 ? 'gemv' : 'mma'}`);
        }
      }
    });
  }

  it('an expert id outside [0, E) turns that pair\'s output row into NaN and leaves the others correct', async () => {
    const k = 64, m = 33, T = 2;
    const w = poisonedExpertBytes(GGMLType.Q8_0, k, m, E, 9);
    const ids = new Int32Array([1, 2, 3, 1, E, 2]); // token 1 slot 1 invalid
    const x = randn(new Rng(3), k * T);
    const ref = matmulId(GGMLType.Q8_0, w, [k, m, E], x, new Int32Array([1, 2, 3, 1, 1, 2]), K, T, false);
    for (const v of ['gemv', 'mma'] as const) {
      const y = await runMatmulId(be(v), GGMLType.Q8_0, k, m, E, K, w, x, ids, T, false);
      for (let o = 0; o < y.length; o++) {
        const pair = Math.floor(o / m);
        if (pair === 4) expect(Number.isNaN(y[o]!), `${v} invalid pair row ${o % m}`).toBe(true);
        else expect(Math.abs(y[o]! - ref.y[o]!), `${v} output ${o}`).toBeLessThanOrEqual(2 ** -9 * ref.absSum[o]! + 1e-6);
      }
    }
  });
});

// ---- real shapes ----

/** Random bytes of a {k, m, ...} tensor with every float field finite (scales ~2^-8..2^-7), fast for GB-sized weights. */
function randomWeights(type: GGMLType, shape: readonly number[], rng: Rng): Uint8Array {
  const bytes = new Uint8Array(ggmlTensorBytes(type, shape));
  for (let o = 0; o < bytes.length; o += 1 << 30) randomFillSync(bytes, o, Math.min(1 << 30, bytes.length - o));
  const halves = new Uint16Array(256);
  for (let i = 0; i < 256; i++) halves[i] = f32ToF16((1 + i / 256) * 2 ** -8 * (i & 1 ? -1 : 1));
  const t = ggmlTypeTraits(type)!;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (type === GGMLType.F16) {
    for (let i = 0; i < bytes.length; i += 2) dv.setUint16(i, (dv.getUint16(i, true) & 0x83ff) | (((((dv.getUint16(i, true) >> 10) & 7) + 8) << 10)), true);
    return bytes;
  }
  const dOff = type === GGMLType.Q6_K ? 208 : 0;
  const second = type === GGMLType.Q4_1 || type === GGMLType.Q5_1 || type === GGMLType.Q4_K || type === GGMLType.Q5_K;
  for (let o = 0; o < bytes.length; o += t.blockBytes) {
    dv.setUint16(o + dOff, halves[rng.nextU32() & 255]!, true);
    if (second) dv.setUint16(o + 2, halves[rng.nextU32() & 254]!, true);
  }
  return bytes;
}

/**
 * Checks y (rows `rowsOf(j)` of weight matrix `wOf(j)`) against float64 sums over every row, streaming the
 * dequantization 512 rows at a time. `pairs`: output row indices j to check (y[j] has m entries) with their
 * x row; `bound`: 'gemv' or 'mma'.
 */
function checkStreaming(type: GGMLType, w: Uint8Array, k: number, m: number, nMat: number, y: Float32Array, yCpu: Float32Array | null,
  pairs: { j: number; mat: number; x: Float32Array }[], bound: 'gemv' | 'mma', label: string): void {
  const rowBytes = ggmlTensorBytes(type, [k, 1]);
  const CH = 512;
  const xAbs = pairs.map((p) => p.x.reduce((s, v) => s + Math.abs(v), 0));
  for (let mat = 0; mat < nMat; mat++) {
    const mine = pairs.map((p, i) => ({ ...p, i })).filter((p) => p.mat === mat);
    if (mine.length === 0) continue;
    for (let r0 = 0; r0 < m; r0 += CH) {
      const rows = Math.min(CH, m - r0);
      const off = (mat * m + r0) * rowBytes;
      const wd = dequantize(type, w.subarray(off, off + rows * rowBytes), rows * k);
      for (let r = 0; r < rows; r++) {
        let wa = 0;
        for (let c = 0; c < k; c++) wa += Math.abs(wd[r * k + c]!);
        for (const p of mine) {
          let s = 0, a = 0;
          for (let c = 0; c < k; c++) {
            const q = wd[r * k + c]! * p.x[c]!;
            s += q;
            a += Math.abs(q);
          }
          const o = p.j * m + r0 + r;
          const got = y[o]!;
          const tol = bound === 'gemv' ? (k + 2) * 2 ** -24 * a : (FP16_REL + (k + 4) * 2 ** -23) * a + 2 ** -24 * (xAbs[p.i]! + wa);
          if (!(Math.abs(got - s) <= tol)) expect.fail(`${label}: output row ${p.j} [${r0 + r}] = ${got} vs float64 ${s}: error ${Math.abs(got - s)} > ${tol}`);
          if (yCpu && bound === 'gemv' && !(Math.abs(got - yCpu[o]!) <= 2 * (k + 2) * 2 ** -24 * a)) {
            expect.fail(`${label}: output row ${p.j} [${r0 + r}] = ${got} vs CPU ${yCpu[o]}: beyond 2·(k+2)·2^-24·Σ|w·x|`);
          }
        }
      }
    }
  }
}

const REAL_27B: [GGMLType, number, number][] = [
  [GGMLType.Q4_K, 5120, 17408],
  [GGMLType.Q6_K, 17408, 5120],
  [GGMLType.Q4_K, 5120, 10240],
  [GGMLType.Q5_K, 5120, 6144],
  [GGMLType.Q8_0, 6144, 5120],
  [GGMLType.Q6_K, 5120, 248320],
];

describe('CUDA MATMUL at Qwen3.6-27B shapes (T = 1 decode GEMV, T = 9 prefill GEMM) vs float64 and CPU', () => {
  for (const [type, k, m] of REAL_27B) {
    it(`${ggmlTypeName(type)} ${k}→${m}`, async () => {
      const rng = new Rng(k * 7 + m);
      const w = randomWeights(type, [k, m], rng);
      for (const T of [1, 9]) {
        const x = randn(rng, k * T);
        const y = await runMatmul(be('auto'), type, k, m, w, x, T);
        const yCpu = T === 1 ? await runMatmul(cpu, type, k, m, w, x, T) : null;
        const toks = T === 1 ? [0] : [0, 4, 8];
        checkStreaming(type, w, k, m, 1, y, yCpu, toks.map((t) => ({ j: t, mat: 0, x: x.subarray(t * k, (t + 1) * k) })), T === 1 ? 'gemv' : 'mma', `${ggmlTypeName(type)} ${k}→${m} T=${T}`);
      }
    }, 600_000);
  }
});

describe('CUDA MATMUL_ID at Qwen3.6-35B-A3B shapes (256 experts, 8 selected)', () => {
  const NE = 256, NK = 8;
  for (const [type, k, m] of [[GGMLType.Q4_K, 2048, 512], [GGMLType.Q6_K, 512, 2048]] as [GGMLType, number, number][]) {
    it(`${ggmlTypeName(type)} ${k}→${m}: T = 1 (decode) and T = 300 (prefill, grouped by expert)`, async () => {
      const rng = new Rng(k + m);
      const w = randomWeights(type, [k, m, NE], rng);
      for (const T of [1, 300]) {
        const ids = new Int32Array(NK * T);
        for (let t = 0; t < T; t++) {
          const seen = new Set<number>();
          for (let s = 0; s < NK; s++) {
            let e = rng.int(NE);
            while (seen.has(e)) e = rng.int(NE);
            seen.add(e);
            ids[t * NK + s] = e;
          }
        }
        const x = randn(rng, k * T);
        const y = await runMatmulId(be('auto'), type, k, m, NE, NK, w, x, ids, T, false);
        const yCpu = T === 1 ? await runMatmulId(cpu, type, k, m, NE, NK, w, x, ids, T, false) : null;
        const toks = T === 1 ? [0] : [0, 151, 299];
        const pairs = toks.flatMap((t) => Array.from({ length: NK }, (_, s) => ({ j: t * NK + s, mat: ids[t * NK + s]!, x: x.subarray(t * k, (t + 1) * k) })));
        checkStreaming(type, w, k, m, NE, y, yCpu, pairs, T === 1 ? 'gemv' : 'mma', `${ggmlTypeName(type)} ${k}→${m} E=${NE} T=${T}`);
        // every output (not only the checked tokens) is finite: no pair left unwritten (NaN poison) or read wrongly
        for (let o = 0; o < y.length; o++) {
          if (!Number.isFinite(y[o]!)) expect.fail(`output ${o} not finite: ${y[o]}`);
        }
      }
    }, 600_000);
  }
});
