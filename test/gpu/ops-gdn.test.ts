/**
 * CUDA Gated DeltaNet family (native/cuda/ssm_conv.cu, gated_delta_net.cu + gdn_kernels.cuh, gated_rms_norm.cu)
 * vs the CPU backend on the same seeded inputs, at T = 1, 63, 64, 65, 300, 4096 and the real layer shapes of
 * Qwen3.6-27B (conv channels 10240, nk 16, nv 48, dk = dv = 128) and 35B-A3B (8192, nk 16, nv 32), both GDN head
 * maps; plus the GPU's chunked GATED_DELTA_NET against its own token-serial kernel (variants forced). Ops with
 * state run TWICE on the same session state (the second run continues from the first's state), and the state
 * after both runs is compared too.
 *
 * Tolerances:
 *   SSM_CONV out  the K-tap sum is the same fmaf chain in k order on both (the CPU's AVX2 path) and SiLU differs
 *                 by CUDA expf (<= 2 ulp) vs the CPU's polynomial exp (~2 ulp): atol 1e-6 + rtol 2e-6, the bound
 *                 test/ops/ssm_conv.test.ts holds each backend to vs float64.
 *   SSM_CONV state  a copy of raw inputs: bit-exact.
 *   GATED_RMS_NORM  sums of n squares in different orders (relative error ~sqrt(n)·2^-24 each, < 1e-6 at n = 128),
 *                 the sqrt/divide and three products (a few ulp) and SiLU (expf vs polynomial exp, ~2 ulp each):
 *                 rtol 1e-5, atol 1e-6 (outputs O(1)).
 *   GATED_DELTA_NET  normalised max error max|a - b| / max|b| per output and per final state, 2e-5: the bound
 *                 test/ops/gated_delta_net.test.ts uses for the CPU's f32 paths vs float64 and for its chunked vs
 *                 token-serial comparison (the chunked form reassociates the same sums: Gram products, a
 *                 triangular solve, chunk GEMMs; the state update is a contraction, so rounding errors do not
 *                 grow with T; measured ~1e-7..1e-6 on the CPU). The GPU serial kernel sums dot products in a
 *                 different order than the CPU's (warp trees), the GPU chunked kernel inverts I + A explicitly
 *                 where the CPU substitutes forward on [U | W]: same algebra, rounding-level differences.
 *   GPU decode (T = 1 per run) vs one batched GPU token-serial run: the same per-token arithmetic: bit-exact.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { GraphBuilder, OpKind } from '../../src/model/graph/index.js';
import type { TensorArray } from '../../src/native/types.js';
import { Rng } from '../../src/quant/index.js';
import type { Backend } from '../../src/runtime/backend.js';
import { createCudaBackend, type CudaBackend } from '../../src/runtime/cuda.js';
import type { Backends, Tol } from './harness.js';
import { cudaBackends, expectClose, expectSameBits, randn, uniform } from './harness.js';

const CONV_TOL: Tol = { atol: 1e-6, rtol: 2e-6 };
const NORM_TOL: Tol = { atol: 1e-6, rtol: 1e-5 };
const GDN_TOL = 2e-5;

/** GATED_DELTA_NET ctx.variant (native/cuda/gated_delta_net.cu): 1 forces token-serial, 2 chunked. */
const GDN_VARIANT = { serial: 1, chunked: 2 } as const;

let b: Backends;
let gpuSerial: CudaBackend;
let gpuChunked: CudaBackend;
beforeAll(() => {
  b = cudaBackends();
  gpuSerial = createCudaBackend({ device: 0, variants: { GATED_DELTA_NET: GDN_VARIANT.serial } });
  gpuChunked = createCudaBackend({ device: 0, variants: { GATED_DELTA_NET: GDN_VARIANT.chunked } });
});
afterAll(() => {
  gpuSerial?.dispose();
  gpuChunked?.dispose();
  b?.dispose();
});

/** rows × d, each row L2-normalised (in f64) then scaled: the q / k the GDN layer feeds the op. */
function unitRows(rng: Rng, rows: number, d: number, scale = 1): Float32Array {
  const a = new Float32Array(rows * d);
  for (let r = 0; r < rows; r++) {
    let ss = 0;
    const row = new Float64Array(d);
    for (let i = 0; i < d; i++) ss += (row[i] = rng.normal()) ** 2;
    for (let i = 0; i < d; i++) a[r * d + i] = (row[i]! * scale) / Math.sqrt(ss);
  }
  return a;
}
/** max |a - b| / max |b|. */
function normMaxErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let e = 0;
  let m = 1e-30;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    e = Number.isNaN(d) ? Infinity : Math.max(e, d);
    m = Math.max(m, Math.abs(b[i]!));
  }
  return e / m;
}

interface StatefulOp {
  kind: OpKind;
  inputs: { name: string; shape: number[] }[]; // f32, in op order before the states
  states: { name: string; shape: number[] }[]; // f32, in op order after the inputs
  out: number[]; // f32 output shape
  params?: { i?: number[]; f?: number[] };
}

/**
 * Compiles the one-op graph on `be`, writes the initial states, runs it once per feed on the SAME session state,
 * and returns every run's output and the states after the last run.
 */
async function runStateful(
  be: Backend,
  op: StatefulOp,
  states0: Record<string, Float32Array>,
  feeds: Record<string, Float32Array>[],
): Promise<{ outs: Float32Array[]; states: Record<string, Float32Array> }> {
  const g = new GraphBuilder();
  const refs = [...op.inputs.map((x) => g.input(x.name, 'f32', x.shape)), ...op.states.map((s) => g.state(s.name, 'f32', s.shape))];
  const [y] = g.op(op.kind, refs, [{ dtype: 'f32', shape: op.out }], op.params ?? {});
  g.output('y', y!);
  const plan = be.compile(g.build());
  const st = plan.createState();
  try {
    for (const s of op.states) st.write(s.name, states0[s.name]!);
    const outs: Float32Array[] = [];
    for (const feed of feeds) outs.push((await plan.run(feed as Record<string, TensorArray>, { state: st })).y as Float32Array);
    const states: Record<string, Float32Array> = {};
    for (const s of op.states) states[s.name] = st.read(s.name) as Float32Array;
    return { outs, states };
  } finally {
    st.dispose();
    plan.dispose();
  }
}

describe('SSM_CONV', () => {
  const cases: { C: number; K: number; Ts: number[] }[] = [
    { C: 10240, K: 4, Ts: [1, 2, 63, 64, 65, 300, 4096] }, // 27B conv channels (2 T < K-1 cases: T = 1, 2)
    { C: 8192, K: 4, Ts: [1, 65] }, // 35B-A3B
    { C: 1003, K: 3, Ts: [1, 64, 300] },
    { C: 37, K: 2, Ts: [1, 63] },
  ];
  for (const c of cases) {
    for (const T of c.Ts) {
      it(`C ${c.C}, K ${c.K}, T ${T}: two runs carrying the conv state`, async () => {
        const rng = new Rng(c.C + 31 * T + c.K);
        const op: StatefulOp = {
          kind: OpKind.SSM_CONV,
          inputs: [
            { name: 'x', shape: [c.C, T] },
            { name: 'w', shape: [c.K, c.C] },
          ],
          states: [{ name: 'conv', shape: [c.C, c.K - 1] }],
          out: [c.C, T],
        };
        const w = randn(rng, c.K * c.C, 0.5);
        const feeds = [0, 1].map(() => ({ x: randn(rng, c.C * T), w }));
        const s0 = { conv: randn(rng, c.C * (c.K - 1)) };
        const cpu = await runStateful(b.cpu, op, s0, feeds);
        const gpu = await runStateful(b.gpu, op, s0, feeds);
        for (let r = 0; r < 2; r++) expectClose(gpu.outs[r]!, cpu.outs[r]!, CONV_TOL, `SSM_CONV run ${r}`);
        expectSameBits(gpu.states.conv!, cpu.states.conv!, 'SSM_CONV state');
      });
    }
  }
});

describe('GATED_RMS_NORM', () => {
  const shapes: number[][] = [
    [128, 48, 1], // 27B decode
    [128, 48, 63],
    [128, 48, 64],
    [128, 48, 65],
    [128, 32, 300], // 35B-A3B
    [128, 48, 4096],
    [13, 5, 7], // fewer than 32 elements per row
    [300, 3, 2], // several elements per lane
  ];
  for (const shape of shapes) {
    it(`{${shape.join(', ')}}`, async () => {
      const rng = new Rng(shape[0]! * 7 + shape[1]! * 3 + shape[2]!);
      const n = shape[0]!;
      const count = shape[0]! * shape[1]! * shape[2]!;
      const x = randn(rng, count, 0.3);
      const w = randn(rng, n);
      const z = randn(rng, count, 2);
      const op: StatefulOp = {
        kind: OpKind.GATED_RMS_NORM,
        inputs: [
          { name: 'x', shape },
          { name: 'w', shape: [n] },
          { name: 'z', shape },
        ],
        states: [],
        out: shape,
        params: { f: [1e-6] },
      };
      const cpu = await runStateful(b.cpu, op, {}, [{ x, w, z }]);
      const gpu = await runStateful(b.gpu, op, {}, [{ x, w, z }]);
      expectClose(gpu.outs[0]!, cpu.outs[0]!, NORM_TOL, 'GATED_RMS_NORM');
    });
  }
});

interface GdnShape {
  name: string;
  dk: number;
  dv: number;
  nk: number;
  nv: number;
}
const GDN_27B: GdnShape = { name: '27B', dk: 128, dv: 128, nk: 16, nv: 48 };
const GDN_35B: GdnShape = { name: '35B-A3B', dk: 128, dv: 128, nk: 16, nv: 32 };
const GDN_SMALL: GdnShape = { name: 'small heads', dk: 128, dv: 128, nk: 2, nv: 6 };
const GDN_ODD: GdnShape = { name: 'odd', dk: 20, dv: 37, nk: 3, nv: 6 }; // partial warps, partial column slices

function gdnOp(s: GdnShape, T: number, headMap: 0 | 1, algo: number, chunk = 0): StatefulOp {
  return {
    kind: OpKind.GATED_DELTA_NET,
    inputs: [
      { name: 'q', shape: [s.dk, s.nk, T] },
      { name: 'k', shape: [s.dk, s.nk, T] },
      { name: 'v', shape: [s.dv, s.nv, T] },
      { name: 'g', shape: [s.nv, T] },
      { name: 'beta', shape: [s.nv, T] },
    ],
    states: [{ name: 'S', shape: [s.dk, s.dv, s.nv] }],
    out: [s.dv, s.nv, T],
    params: { i: [headMap, algo, chunk] },
  };
}

/** Inputs as the GDN layer makes them: q, k unit rows (q scaled by 1/sqrt(dk)), g = log decay in [gMin, 0]. */
function gdnFeed(rng: Rng, s: GdnShape, T: number, gMin = -0.5): Record<string, Float32Array> {
  return {
    q: unitRows(rng, s.nk * T, s.dk, 1 / Math.sqrt(s.dk)),
    k: unitRows(rng, s.nk * T, s.dk),
    v: randn(rng, s.dv * s.nv * T),
    g: uniform(rng, s.nv * T, gMin, 0),
    beta: uniform(rng, s.nv * T, 0, 1),
  };
}

function expectGdnClose(
  got: { outs: Float32Array[]; states: Record<string, Float32Array> },
  want: { outs: Float32Array[]; states: Record<string, Float32Array> },
  label: string,
): void {
  got.outs.forEach((o, r) => expect(normMaxErr(o, want.outs[r]!), `${label} out run ${r}`).toBeLessThan(GDN_TOL));
  expect(normMaxErr(got.states.S!, want.states.S!), `${label} state`).toBeLessThan(GDN_TOL);
}

describe('GATED_DELTA_NET vs the CPU', () => {
  const cases: { s: GdnShape; Ts: number[] }[] = [
    { s: GDN_27B, Ts: [1, 63, 64, 65, 300] },
    { s: GDN_35B, Ts: [1, 65] },
    { s: GDN_SMALL, Ts: [4096] },
    { s: GDN_ODD, Ts: [1, 63, 64, 65, 300] },
  ];
  for (const { s, Ts } of cases) {
    for (const T of Ts) {
      for (const headMap of [0, 1] as const) {
        // p.i[1]: 0 auto (token-serial below 128 tokens, chunked from 128 on, on both backends), 1 serial, 2 chunked
        for (const algo of [0, 1, 2]) {
          it(`${s.name} T ${T} ${headMap ? 'grouped' : 'tiled'} p.i[1]=${algo}: two runs carrying S`, async () => {
            const rng = new Rng(1000 * T + 10 * algo + headMap + s.nv);
            const feeds = [gdnFeed(rng, s, T), gdnFeed(rng, s, T)];
            const s0 = { S: randn(rng, s.dk * s.dv * s.nv, 0.5) };
            const op = gdnOp(s, T, headMap, algo);
            const cpu = await runStateful(b.cpu, op, s0, feeds);
            const gpu = await runStateful(b.gpu, op, s0, feeds);
            expectGdnClose(gpu, cpu, `${s.name} T${T} map${headMap} algo${algo}`);
          });
        }
      }
    }
  }

  it('chunk lengths p.i[2] = 16 and 100 (the GPU runs 100 as 64), and strong decays (g down to -5)', async () => {
    const s = GDN_SMALL;
    for (const [T, chunk, gMin] of [[300, 16, -0.5], [300, 100, -0.5], [65, 16, -0.5], [300, 0, -5]] as const) {
      const rng = new Rng(T + chunk);
      const feeds = [gdnFeed(rng, s, T, gMin), gdnFeed(rng, s, T, gMin)];
      const s0 = { S: randn(rng, s.dk * s.dv * s.nv, 0.5) };
      const op = gdnOp(s, T, 0, 2, chunk);
      const cpu = await runStateful(b.cpu, op, s0, feeds);
      const gpu = await runStateful(b.gpu, op, s0, feeds);
      expectGdnClose(gpu, cpu, `T${T} L${chunk} g>=${gMin}`);
    }
  });

  it('dk 300 (beyond the chunked kernels: runs token-serial on the GPU) matches the CPU chunked path', async () => {
    const s: GdnShape = { name: 'dk300', dk: 300, dv: 20, nk: 1, nv: 2 };
    const rng = new Rng(300);
    const feeds = [gdnFeed(rng, s, 65), gdnFeed(rng, s, 65)];
    const s0 = { S: randn(rng, s.dk * s.dv * s.nv, 0.5) };
    const op = gdnOp(s, 65, 0, 2);
    expectGdnClose(await runStateful(b.gpu, op, s0, feeds), await runStateful(b.cpu, op, s0, feeds), 'dk300');
  });
});

describe('GATED_DELTA_NET on the GPU: chunked vs token-serial (variants forced)', () => {
  const cases: { s: GdnShape; Ts: number[] }[] = [
    { s: GDN_27B, Ts: [1, 63, 64, 65, 300, 4096] },
    { s: GDN_ODD, Ts: [1, 63, 64, 65, 300, 4096] },
  ];
  for (const { s, Ts } of cases) {
    for (const T of Ts) {
      for (const headMap of [0, 1] as const) {
        it(`${s.name} T ${T} ${headMap ? 'grouped' : 'tiled'}`, async () => {
          const rng = new Rng(77 * T + headMap + s.dv);
          const feeds = [gdnFeed(rng, s, T), gdnFeed(rng, s, T)];
          const s0 = { S: randn(rng, s.dk * s.dv * s.nv, 0.5) };
          const op = gdnOp(s, T, headMap, 0);
          const serial = await runStateful(gpuSerial, op, s0, feeds);
          const chunked = await runStateful(gpuChunked, op, s0, feeds);
          expectGdnClose(chunked, serial, `${s.name} T${T} map${headMap} chunked vs serial`);
        });
      }
    }
  }

  it('decode token by token == one batched token-serial run (bit-exact, state too)', async () => {
    const s = GDN_27B;
    const T = 65;
    const rng = new Rng(65);
    const feed = gdnFeed(rng, s, T);
    const s0 = { S: randn(rng, s.dk * s.dv * s.nv, 0.5) };
    const batched = await runStateful(gpuSerial, gdnOp(s, T, 0, 1), s0, [feed]);
    const per = (name: string, n: number) => (t: number) => feed[name]!.subarray(t * n, (t + 1) * n);
    const slices = { q: per('q', s.dk * s.nk), k: per('k', s.dk * s.nk), v: per('v', s.dv * s.nv), g: per('g', s.nv), beta: per('beta', s.nv) };
    const steps = Array.from({ length: T }, (_, t) => ({ q: slices.q(t), k: slices.k(t), v: slices.v(t), g: slices.g(t), beta: slices.beta(t) }));
    const decode = await runStateful(b.gpu, gdnOp(s, 1, 0, 0), s0, steps);
    const outs = new Float32Array(s.dv * s.nv * T);
    decode.outs.forEach((o, t) => outs.set(o, t * s.dv * s.nv));
    expectSameBits(outs, batched.outs[0]!, 'decode vs batched out');
    expectSameBits(decode.states.S!, batched.states.S!, 'decode vs batched state');
  });
});
