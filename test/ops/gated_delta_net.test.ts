/**
 * GATED_DELTA_NET (native/cpu/gated_delta_net.cc) against the float64 references of src/reference/gdn.ts.
 *
 * Tolerances (normalised max error = max|native - ref| / max|ref|, per output and per final state):
 * - native f32 vs f64: every output is a dk-term f32 dot of state and q, and the state is a running sum
 *   updated by f32 axpys each token; (I - beta k k^T) with |k| = 1, 0 <= beta <= 1 and e^g <= 1 is a
 *   contraction, so per-token rounding errors (~sqrt(dk) * 2^-24 relative to |S|) do not grow, they add
 *   up at most ~linearly in the effective memory 1/(1 - e^g) of the decay. With g in [-0.5, 0] (memory
 *   <= ~10^2 tokens at the slow end) that bounds the error well under 1e-5 of the output scale; measured
 *   values are ~1e-7..1e-6. Tolerance NATIVE_TOL = 2e-5.
 * - chunked vs serial (both native f32): the chunked form reassociates the same sums (triangular solve,
 *   GEMMs over the chunk); same bound, CHUNK_TOL = 2e-5. The f64 chunked reference vs the f64 serial one
 *   checks the algorithm itself at 1e-11.
 * - SIMD vs scalar (same algorithm, different summation order / FMA contraction): SIMD_TOL = 2e-6.
 * - threads 1 vs 4, decode vs batched serial: the per-head arithmetic does not depend on the thread count or
 *   on T (token tiles only reorder which columns are processed when), so those are bit-exact.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { OpKind } from '../../src/model/graph/index.js';
import { gatedDeltaNetChunked, gatedDeltaNetSerial, type GdnDims, type GdnInputs } from '../../src/reference/gdn.js';
import type { CpuBackend } from '../../src/runtime/backend.js';
import { QwenHybridError } from '../../src/errors.js';
import { backendPool, bitsEqual, compileOneOp, firstMismatch, normMaxErr, normals, Rng, uniforms, unitRows } from './gdnmoe-util.js';

const NATIVE_TOL = 2e-5;
const CHUNK_TOL = 2e-5;
const SIMD_TOL = 2e-6;
const TS = [1, 15, 63, 64, 65, 300];

interface Shape {
  dk: number;
  dv: number;
  nk: number;
  nv: number;
  headMap: 0 | 1;
}
// dk = dv = 128 (the real head size) with ratios 3 and 2 and both head maps; a small non-power-of-two shape
// (dk 20: 8-wide SIMD plus a 4-element tail; dv 13: 4-column blocks plus single columns) with both maps.
const SHAPES: Shape[] = [
  { dk: 128, dv: 128, nk: 2, nv: 6, headMap: 0 },
  { dk: 128, dv: 128, nk: 2, nv: 4, headMap: 1 },
  { dk: 20, dv: 13, nk: 3, nv: 6, headMap: 1 },
  { dk: 20, dv: 13, nk: 2, nv: 6, headMap: 0 },
];

type F32Inputs = { q: Float32Array; k: Float32Array; v: Float32Array; g: Float32Array; beta: Float32Array; state: Float32Array };

function makeInputs(seed: number, s: Shape, T: number): F32Inputs {
  const rng = new Rng(seed);
  return {
    q: unitRows(rng, s.nk * T, s.dk, 1 / Math.sqrt(s.dk)),
    k: unitRows(rng, s.nk * T, s.dk),
    v: normals(rng, s.dv * s.nv * T),
    g: uniforms(rng, s.nv * T, -0.5, 0),
    beta: uniforms(rng, s.nv * T, 0, 1),
    state: normals(rng, s.dk * s.dv * s.nv, 0.5), // non-zero incoming state
  };
}

const pool = backendPool();
afterAll(() => pool.disposeAll());

/** mode: 0 auto, 1 serial, 2 chunked. */
async function runNative(be: CpuBackend, s: Shape, T: number, x: F32Inputs, mode: number, chunk = 0) {
  const { dk, dv, nk, nv } = s;
  const op = compileOneOp(be, {
    kind: OpKind.GATED_DELTA_NET,
    inputs: [
      { name: 'q', dtype: 'f32', shape: [dk, nk, T] },
      { name: 'k', dtype: 'f32', shape: [dk, nk, T] },
      { name: 'v', dtype: 'f32', shape: [dv, nv, T] },
      { name: 'g', dtype: 'f32', shape: [nv, T] },
      { name: 'beta', dtype: 'f32', shape: [nv, T] },
    ],
    states: [{ name: 'S', dtype: 'f32', shape: [dk, dv, nv] }],
    outputs: [{ dtype: 'f32', shape: [dv, nv, T] }],
    i: [s.headMap, mode, chunk],
  });
  const state = op.plan.createState();
  state.write('S', x.state);
  const [out] = await op.run({ q: x.q, k: x.k, v: x.v, g: x.g, beta: x.beta }, state);
  const S = state.read('S') as Float32Array;
  state.dispose();
  op.plan.dispose();
  return { out: out as Float32Array, state: S };
}

const dims = (s: Shape, T: number): GdnDims => ({ ...s, T });
const label = (s: Shape) => `dk${s.dk} dv${s.dv} nk${s.nk} nv${s.nv} ${s.headMap ? 'grouped' : 'tiled'}`;

describe('GATED_DELTA_NET float64 references', () => {
  it('chunked (zero-padded, explicit (I+A)^-1) == token-serial in f64', () => {
    for (const s of [SHAPES[2]!, SHAPES[3]!]) {
      for (const T of [1, 15, 63, 64, 65, 130]) {
        for (const chunk of [64, 16]) {
          const x: GdnInputs = makeInputs(7 + T, s, T);
          const a = gatedDeltaNetSerial(x, dims(s, T));
          const b = gatedDeltaNetChunked(x, dims(s, T), chunk);
          expect(normMaxErr(b.out, a.out), `${label(s)} T${T} L${chunk} out`).toBeLessThan(1e-11);
          expect(normMaxErr(b.state, a.state), `${label(s)} T${T} L${chunk} state`).toBeLessThan(1e-11);
        }
      }
    }
    const s = SHAPES[0]!;
    const x = makeInputs(3, s, 65);
    const a = gatedDeltaNetSerial(x, dims(s, 65));
    const b = gatedDeltaNetChunked(x, dims(s, 65));
    expect(normMaxErr(b.out, a.out)).toBeLessThan(1e-11);
    expect(normMaxErr(b.state, a.state)).toBeLessThan(1e-11);
  });
});

describe('GATED_DELTA_NET native', () => {
  // Spec §7: state 0, beta = 1, g = 0, k = e_0, q = e_0 / sqrt(dk) (q arrives L2-normed and scaled). Then
  // S <- 1 * 0 = 0; delta = 1 * (v - 0^T e_0) = v; S <- e_0 v^T; o = S^T q = v (e_0 . e_0) / sqrt(dk) = v / sqrt(dk).
  // The state holds v_j in key row 0: S_j(0, c) = v_j[c], i.e. op layout [j][c][0], zeros elsewhere.
  it('degenerate case: o_j = v_j / sqrt(128), S_j = e_0 v_j^T (serial and chunked, both maps)', async () => {
    const dk = 128, dv = 128, nk = 2, nv = 6, T = 1;
    const rng = new Rng(11);
    const q = new Float32Array(dk * nk), k = new Float32Array(dk * nk);
    for (let h = 0; h < nk; h++) {
      q[h * dk] = 1 / Math.sqrt(dk);
      k[h * dk] = 1;
    }
    const x: F32Inputs = { q, k, v: normals(rng, dv * nv), g: new Float32Array(nv), beta: new Float32Array(nv).fill(1), state: new Float32Array(dk * dv * nv) };
    for (const headMap of [0, 1] as const) {
      for (const mode of [1, 2]) {
        const { out, state } = await runNative(pool.get(2), { dk, dv, nk, nv, headMap }, T, x, mode);
        // o = fl(v_c * fl(1/sqrt(128))) in f32: within 2 ulps of v_c / sqrt(128).
        const want = Float64Array.from(x.v, (vc) => vc / Math.sqrt(128));
        expect(firstMismatch(out, want, 0, 2.5e-7), `map ${headMap} mode ${mode}`).toBeNull();
        const wantS = new Float32Array(dk * dv * nv);
        for (let j = 0; j < nv; j++) for (let c = 0; c < dv; c++) wantS[j * dk * dv + c * dk] = x.v[j * dv + c]!;
        expect(firstMismatch(state, wantS, 0, 0), `map ${headMap} mode ${mode} state`).toBeNull();
      }
    }
  });

  it('token-serial and chunked vs the f64 serial reference, T in {1,15,63,64,65,300}, non-zero state', async () => {
    const be = pool.get(2);
    for (const s of SHAPES) {
      for (const T of TS) {
        const x = makeInputs(1000 + T + s.dk, s, T);
        const ref = gatedDeltaNetSerial(x, dims(s, T));
        const serial = await runNative(be, s, T, x, 1);
        const chunked = await runNative(be, s, T, x, 2);
        const tag = `${label(s)} T${T}`;
        expect(normMaxErr(serial.out, ref.out), `${tag} serial out`).toBeLessThan(NATIVE_TOL);
        expect(normMaxErr(serial.state, ref.state), `${tag} serial state`).toBeLessThan(NATIVE_TOL);
        expect(normMaxErr(chunked.out, ref.out), `${tag} chunked out`).toBeLessThan(NATIVE_TOL);
        expect(normMaxErr(chunked.state, ref.state), `${tag} chunked state`).toBeLessThan(NATIVE_TOL);
        expect(normMaxErr(chunked.out, serial.out), `${tag} chunked vs serial out`).toBeLessThan(CHUNK_TOL);
        expect(normMaxErr(chunked.state, serial.state), `${tag} chunked vs serial state`).toBeLessThan(CHUNK_TOL);
      }
    }
  });

  it('chunk length p.i[2] (16, 100) and auto mode agree with serial', async () => {
    const be = pool.get(2);
    const s = SHAPES[2]!;
    for (const T of [15, 64, 65, 300]) {
      const x = makeInputs(50 + T, s, T);
      const serial = await runNative(be, s, T, x, 1);
      for (const [mode, chunk] of [[2, 16], [2, 100], [0, 0]] as const) {
        const r = await runNative(be, s, T, x, mode, chunk);
        expect(normMaxErr(r.out, serial.out), `T${T} mode${mode} L${chunk}`).toBeLessThan(CHUNK_TOL);
        expect(normMaxErr(r.state, serial.state), `T${T} mode${mode} L${chunk} state`).toBeLessThan(CHUNK_TOL);
      }
    }
  });

  it('state carried across calls: decoding token by token == one batched call', async () => {
    const be = pool.get(2);
    for (const s of [SHAPES[0]!, SHAPES[2]!]) {
      const T = 65;
      const x = makeInputs(77, s, T);
      const batchedSerial = await runNative(be, s, T, x, 1);
      const batchedChunked = await runNative(be, s, T, x, 2);
      const { dk, dv, nk, nv } = s;
      const step = compileOneOp(be, {
        kind: OpKind.GATED_DELTA_NET,
        inputs: [
          { name: 'q', dtype: 'f32', shape: [dk, nk, 1] },
          { name: 'k', dtype: 'f32', shape: [dk, nk, 1] },
          { name: 'v', dtype: 'f32', shape: [dv, nv, 1] },
          { name: 'g', dtype: 'f32', shape: [nv, 1] },
          { name: 'beta', dtype: 'f32', shape: [nv, 1] },
        ],
        states: [{ name: 'S', dtype: 'f32', shape: [dk, dv, nv] }],
        outputs: [{ dtype: 'f32', shape: [dv, nv, 1] }],
        i: [s.headMap, 0, 0], // auto: T = 1 takes the token-serial path
      });
      const state = step.plan.createState();
      state.write('S', x.state);
      const outs = new Float32Array(dv * nv * T);
      for (let t = 0; t < T; t++) {
        const sl = (a: Float32Array, n: number) => a.subarray(t * n, (t + 1) * n);
        const [o] = await step.run({ q: sl(x.q, dk * nk), k: sl(x.k, dk * nk), v: sl(x.v, dv * nv), g: sl(x.g, nv), beta: sl(x.beta, nv) }, state);
        outs.set(o as Float32Array, t * dv * nv);
      }
      const S = state.read('S') as Float32Array;
      expect(bitsEqual(outs, batchedSerial.out), `${label(s)} decode == batched serial (bit-exact)`).toBe(true);
      expect(bitsEqual(S, batchedSerial.state)).toBe(true);
      expect(normMaxErr(outs, batchedChunked.out)).toBeLessThan(CHUNK_TOL);
      expect(normMaxErr(S, batchedChunked.state)).toBeLessThan(CHUNK_TOL);
      state.dispose();
      step.plan.dispose();
    }
  });

  it('SIMD == scalar (serial and chunked)', async (ctx) => {
    const auto = pool.get(1);
    if (auto.info.isa === 'scalar') ctx.skip(); // no AVX2 on this CPU: nothing to compare
    const scalar = pool.get(1, 'scalar');
    expect(scalar.info.isa).toBe('scalar');
    for (const s of [SHAPES[0]!, SHAPES[3]!]) {
      for (const T of [1, 65]) {
        const x = makeInputs(5 + T, s, T);
        for (const mode of [1, 2]) {
          const a = await runNative(auto, s, T, x, mode);
          const b = await runNative(scalar, s, T, x, mode);
          expect(normMaxErr(a.out, b.out), `${label(s)} T${T} mode${mode}`).toBeLessThan(SIMD_TOL);
          expect(normMaxErr(a.state, b.state)).toBeLessThan(SIMD_TOL);
        }
      }
    }
  });

  it('1 thread == 4 threads, bit-exact (serial and chunked)', async () => {
    const s = SHAPES[1]!;
    for (const T of [1, 65]) {
      const x = makeInputs(9 + T, s, T);
      for (const mode of [1, 2]) {
        const a = await runNative(pool.get(1), s, T, x, mode);
        const b = await runNative(pool.get(4), s, T, x, mode);
        expect(bitsEqual(a.out, b.out), `T${T} mode${mode}`).toBe(true);
        expect(bitsEqual(a.state, b.state)).toBe(true);
      }
    }
  });

  it('invalid shapes and params are rejected at compile time with INVALID_ARGUMENT', () => {
    const be = pool.get(1);
    const base = { dk: 8, dv: 8, nk: 2, nv: 4, T: 3 };
    const build = (o: Partial<typeof base> & { sShape?: number[]; i?: number[] }) => {
      const d = { ...base, ...o };
      return () =>
        compileOneOp(be, {
          kind: OpKind.GATED_DELTA_NET,
          inputs: [
            { name: 'q', dtype: 'f32', shape: [d.dk, d.nk, d.T] },
            { name: 'k', dtype: 'f32', shape: [d.dk, d.nk, d.T] },
            { name: 'v', dtype: 'f32', shape: [d.dv, d.nv, d.T] },
            { name: 'g', dtype: 'f32', shape: [d.nv, d.T] },
            { name: 'beta', dtype: 'f32', shape: [d.nv, d.T] },
          ],
          states: [{ name: 'S', dtype: 'f32', shape: o.sShape ?? [d.dk, d.dv, d.nv] }],
          outputs: [{ dtype: 'f32', shape: [d.dv, d.nv, d.T] }],
          i: o.i ?? [0, 0, 0],
        }).plan.dispose();
    };
    expect(build({})).not.toThrow();
    const cases: [string, () => void, RegExp][] = [
      ['nv not a multiple of nk', build({ nv: 5 }), /GATED_DELTA_NET.*input 2 \(v\)/],
      ['state shape', build({ sShape: [8, 8, 3] }), /GATED_DELTA_NET.*state S/],
      ['head map', build({ i: [2, 0, 0] }), /GATED_DELTA_NET.*p\.i\[0\]/],
      ['algorithm', build({ i: [0, 3, 0] }), /GATED_DELTA_NET.*p\.i\[1\]/],
      ['chunk length', build({ i: [0, 2, -4] }), /GATED_DELTA_NET.*p\.i\[2\]/],
    ];
    for (const [what, f, re] of cases) {
      let err: unknown;
      try {
        f();
      } catch (e) {
        err = e;
      }
      expect(err, what).toBeInstanceOf(QwenHybridError);
      expect((err as QwenHybridError).code, what).toBe('INVALID_ARGUMENT');
      expect((err as Error).message, what).toMatch(re);
    }
  });
});
