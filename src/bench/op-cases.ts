/**
 * The one-op cases of benchOp other than MATMUL (src/bench/op.ts): for each op family, the seeded inputs, the
 * one-op graph, the correctness gate against the float64 references of src/reference (or the Sampler, SAMPLE's
 * definition) and the bytes / flops the op must move. benchOp compiles the graph, runs the gate, times it and turns
 * bytes / flops into GB/s, TFLOP/s and % of the floor.
 *
 * Gate tolerances are the op tests' (cited per op below: test/ops/<op>.test.ts, the bound vs float64 on the CPU);
 * on CUDA the GPU tests' bound vs the CPU backend (test/gpu/ops-*.test.ts) is added, since CUDA is compared with
 * float64 here, not with the CPU. Per element |got − want| ≤ atol + rtol·|want| unless stated.
 *
 * Bytes (GB/s) = what the op must read + write once: every input, state read / written, every output (f32 = 4 B,
 * i32 = 4 B, weights at their GGUF size). Runs go through plan.run, so uploading inputs and reading outputs back are
 * inside the timed figure (conservative for tiny ops, where the run overhead dominates).
 */
import { GGMLType, ggmlTensorBytes, ggmlTypeFromName, ggmlTypeName, ggmlTypeTraits } from '../gguf/types.js';
import { GraphBuilder, OpKind, type StateDType, type TensorDType, type TensorRef } from '../model/graph/index.js';
import { syntheticMatrixBytes } from '../model/synthetic.js';
import type { TensorArray } from '../native/types.js';
import { dequantizeRows } from '../quant/dequant.js';
import { f16ToF32, f32ToF16 } from '../quant/half.js';
import { Rng } from '../quant/rng.js';
import { attentionRef, createKvCacheRef, dequantizeKvQ8_0, quantizeKvQ8_0, storedKvRow, type KvCacheType } from '../reference/attention.js';
import { ssmConv } from '../reference/conv.js';
import { broadcastBinary, scale as scaleRef, swiglu, unary, type UnaryKind } from '../reference/elementwise.js';
import { gatedDeltaNetSerial, gatedRmsNorm } from '../reference/gdn.js';
import { moeCombine, moeRouter } from '../reference/moe.js';
import { l2Norm, rmsNorm } from '../reference/norm.js';
import { ropeNeox } from '../reference/rope.js';
import { argmax, logSoftmax, topK } from '../reference/sampling.js';
import type { Backend } from '../runtime/backend.js';
import { SAMPLE_CFG_WIDTH, Sampler, type SamplingOptions } from '../runtime/sampler.js';

/** Ops benchOp times through this file (MATMUL has its own path in op.ts). */
export const CASE_OPS = [
  'MATMUL_ID', 'GET_ROWS', 'RMS_NORM', 'L2_NORM', 'GATED_RMS_NORM', 'SILU', 'SIGMOID', 'SOFTPLUS', 'EXP', 'SCALE', 'ADD',
  'MUL', 'SWIGLU', 'ROPE_NEOX', 'ATTENTION', 'SSM_CONV', 'GATED_DELTA_NET', 'MOE_ROUTER', 'MOE_COMBINE', 'LOG_SOFTMAX',
  'ARGMAX', 'TOP_K', 'SAMPLE',
] as const;
export type CaseOpName = (typeof CASE_OPS)[number];

/** Op shape of each family (all positive integers; see each op's comment in native/core/op_list.h). */
export interface CaseShapes {
  /** Experts {k, m, experts}, `used` slots per token, t tokens; x shared by a token's slots (p.i[0] = 0). */
  MATMUL_ID: { k: number; m: number; experts: number; used: number; t?: number };
  /** t rows of n gathered from a {n, rows} table. */
  GET_ROWS: { n: number; rows: number; t?: number };
  /** x {n, rows}: rows = heads × tokens for per-head norms. RMS_NORM multiplies by a weight {n}. */
  RMS_NORM: { n: number; rows: number };
  L2_NORM: { n: number; rows: number };
  GATED_RMS_NORM: { n: number; heads: number; t?: number };
  /** Elementwise {n, t}. ADD / MUL: b has the same shape (the residual add); SCALE: y = 0.5·x + 0.25. */
  SILU: { n: number; t?: number };
  SIGMOID: { n: number; t?: number };
  SOFTPLUS: { n: number; t?: number };
  EXP: { n: number; t?: number };
  SCALE: { n: number; t?: number };
  ADD: { n: number; t?: number };
  MUL: { n: number; t?: number };
  SWIGLU: { n: number; t?: number };
  /** x {d, heads, t} at positions pos, pos + 1, ...; n_rot (default 64), base 1e7. */
  ROPE_NEOX: { d: number; heads: number; t?: number; pos?: number; nRot?: number };
  /** t queries at positions [pos, pos + t) over a cache already holding rows [0, pos) (t = 1: decode). */
  ATTENTION: { d: number; dv?: number; hq: number; hkv: number; t?: number; pos: number };
  /** x {channels, t}, `taps` (default 4) per channel. */
  SSM_CONV: { channels: number; t?: number; taps?: number };
  GATED_DELTA_NET: { dk: number; dv: number; nk: number; nv: number; t?: number };
  MOE_ROUTER: { experts: number; used: number; t?: number };
  MOE_COMBINE: { n: number; used: number; t?: number };
  LOG_SOFTMAX: { v: number; t?: number };
  ARGMAX: { v: number; t?: number };
  TOP_K: { v: number; k: number; t?: number };
  /** `rows` rows of v logits; temperature 0.8, top-k 40, top-p 0.95, min-p 0.05, repeat penalty 1.1 over 64 tokens. */
  SAMPLE: { v: number; rows?: number };
}

/** Per-family extra options. */
export interface CaseExtras {
  /** MATMUL_ID / GET_ROWS: weight type (GGMLType or name). */
  weightType?: GGMLType | string;
  /** ATTENTION: KV cache type (default f16). */
  cache?: KvCacheType;
  /** GATED_DELTA_NET: p.i[1] = 1 token-serial or 2 chunked (default 'chunked'). */
  mode?: 'serial' | 'chunked';
}

/** What benchOp needs to gate and time one case. */
export interface BuiltCase {
  /** Name fragment: op, shape and case options. */
  label: string;
  shape: Record<string, string | number>;
  /** Extra variant fields (cache type, GDN mode). */
  variant: Record<string, string | number>;
  graph: ReturnType<GraphBuilder['build']>;
  feed: Record<string, TensorArray>;
  /** State tensors written before the gate run (created through plan.createState()). */
  state: Record<string, TensorArray> | null;
  /** Gate on the outputs of one run from the initial state: what passed, or an Error. */
  check: (out: Record<string, TensorArray>) => string | Error;
  bytes: number;
  /** Useful flops (ATTENTION, GATED_DELTA_NET); null where counting flops means nothing. */
  flops: number | null;
  /** Whether pct_of_floor compares flops with the GEMM rate (CUDA only) rather than bytes with copy bandwidth. */
  computeBound: boolean;
  /** Bytes of the weight tensors the case created (0: none). */
  weightBytes: number;
  dispose: () => void;
}

interface Tol {
  atol: number;
  rtol: number;
}

const add = (a: Tol, b: Tol): Tol => ({ atol: a.atol + b.atol, rtol: a.rtol + b.rtol });

/** Per-element closeness; an Error naming the worst element, or a description of the margin. */
export function closeCheck(what: string, got: ArrayLike<number>, want: ArrayLike<number>, tol: Tol): string | Error {
  if (got.length !== want.length) return new Error(`${what}: ${got.length} values, reference ${want.length}`);
  let worst = 0;
  for (let i = 0; i < want.length; i++) {
    const g = got[i]!;
    const w = want[i]!;
    if (g === w) continue;
    const bound = tol.atol + tol.rtol * Math.abs(w);
    const err = Math.abs(g - w);
    if (!(err <= bound)) return new Error(`${what}[${i}] = ${g}, reference ${w}: |diff| ${err} > ${tol.atol} + ${tol.rtol}·|ref|`);
    worst = Math.max(worst, err / bound);
  }
  return `${want.length} ${what} within atol ${tol.atol} + rtol ${tol.rtol} (worst ${(100 * worst).toFixed(1)} % of the bound)`;
}

/** Exact equality (ids, selections). */
function exactCheck(what: string, got: ArrayLike<number>, want: ArrayLike<number>): string | Error {
  if (got.length !== want.length) return new Error(`${what}: ${got.length} values, reference ${want.length}`);
  for (let i = 0; i < want.length; i++) if (got[i] !== want[i]) return new Error(`${what}[${i}] = ${got[i]}, reference ${want[i]}`);
  return `${want.length} ${what} equal`;
}

/** max|got − want| ÷ max|want| below `bound` (the GDN tests' normalised error). */
function normCheck(what: string, got: ArrayLike<number>, want: ArrayLike<number>, bound: number): string | Error {
  if (got.length !== want.length) return new Error(`${what}: ${got.length} values, reference ${want.length}`);
  let err = 0;
  let scale = 0;
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(got[i]! - want[i]!);
    err = Number.isNaN(d) ? Infinity : Math.max(err, d);
    scale = Math.max(scale, Math.abs(want[i]!));
  }
  const e = err / (scale || 1);
  if (!(e < bound)) return new Error(`${what}: normalised max error ${e} ≥ ${bound}`);
  return `${want.length} ${what} within normalised max error ${bound} (got ${e.toExponential(2)})`;
}

function all(...r: (string | Error)[]): string | Error {
  return r.find((x) => x instanceof Error) ?? r.join('; ');
}

function randn(rng: Rng, n: number, sd = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal() * sd;
  return a;
}

function uniform(rng: Rng, n: number, lo: number, hi: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = lo + (hi - lo) * rng.float();
  return a;
}

/** `rows` rows of length n with unit L2 norm, times s. */
function unitRows(rng: Rng, rows: number, n: number, s = 1): Float32Array {
  const a = randn(rng, rows * n);
  for (let r = 0; r < rows; r++) {
    let ss = 0;
    for (let i = 0; i < n; i++) ss += a[r * n + i]! ** 2;
    const f = s / Math.sqrt(ss);
    for (let i = 0; i < n; i++) a[r * n + i]! *= f;
  }
  return a;
}

const U = 2 ** -24;
const FP16_REL = 2 ** -10 + 2 ** -21;
const F32 = 4;

/** Type of a weight-type option (INVALID_ARGUMENT through `bad` when unknown). */
export function weightTypeOf(t: GGMLType | string | undefined, fallback: GGMLType, bad: (msg: string, p: string) => never): GGMLType {
  if (t === undefined) return fallback;
  const type = typeof t === 'string' ? ggmlTypeFromName(t.toUpperCase()) : t;
  if (type === undefined || !ggmlTypeTraits(type)) bad(`unknown weight type ${JSON.stringify(t)}`, 'weightType');
  return type;
}

/** A non-negative integer (a position). */
function nonNeg(v: unknown, name: string, ctx: Ctx): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) ctx.bad(`${name} must be a non-negative integer, got ${String(v)}`, name);
  return v;
}

interface Ctx {
  be: Backend;
  cuda: boolean;
  rng: Rng;
  bad: (msg: string, parameter: string) => never;
  int: (v: unknown, name: string) => number;
}

/** One-input one-output graph with all operands as inputs. */
function oneOp(kind: OpKind, ins: { name: string; dtype: TensorDType; shape: number[] }[], outs: { dtype: TensorDType; shape: number[] }[], params: { i?: number[]; f?: number[] } = {}, states: { name: string; dtype: StateDType; shape: number[] }[] = []): ReturnType<GraphBuilder['build']> {
  const g = new GraphBuilder();
  const refs: TensorRef[] = ins.map((s) => g.input(s.name, s.dtype, s.shape));
  for (const s of states) refs.push(g.state(s.name, s.dtype, s.shape));
  g.op(kind, refs, outs, params).forEach((y, i) => g.output(`o${i}`, y));
  return g.build();
}

type Partial0 = Omit<BuiltCase, 'dispose' | 'state' | 'flops' | 'computeBound' | 'variant' | 'weightBytes'> & Partial<Pick<BuiltCase, 'dispose' | 'state' | 'flops' | 'computeBound' | 'variant' | 'weightBytes'>>;

function done(c: Partial0): BuiltCase {
  return { state: null, flops: null, computeBound: false, variant: {}, weightBytes: 0, dispose: () => {}, ...c };
}

const UNARY: Partial<Record<CaseOpName, UnaryKind>> = { SILU: 'silu', SIGMOID: 'sigmoid', SOFTPLUS: 'softplus', EXP: 'exp' };

/**
 * Builds the case of `op` (shape validated: INVALID_ARGUMENT through ctx.bad naming the parameter). Weights are
 * created on ctx.be and released by the case's dispose().
 */
export function buildCase(op: CaseOpName, s: Record<string, number | undefined>, x: CaseExtras, ctx: Ctx): BuiltCase {
  const { rng, cuda } = ctx;
  const n = (k: string, dflt?: number): number => (s[k] === undefined && dflt !== undefined ? dflt : ctx.int(s[k], `shape.${k}`));
  const f32 = (name: string, shape: number[]) => ({ name, dtype: 'f32' as const, shape });
  const out = (shape: number[], dtype: TensorDType = 'f32') => ({ dtype, shape });

  switch (op) {
    case 'MATMUL_ID': {
      // Gate: test/ops/matmul_id.test.ts, (k + 2)·2⁻²⁴·Σ|w·x| per output (matmul-util.ts), on 12 sampled rows of
      // up to 3 (token, slot) pairs; CUDA T > 1 may take the fp16 GEMM path: MATMUL's fp16 bound (op.ts).
      const type = weightTypeOf(x.weightType, GGMLType.Q4_K, ctx.bad);
      const [k, m, E, K, T] = [n('k'), n('m'), n('experts'), n('used'), n('t', 1)];
      const bs = ggmlTypeTraits(type)!.blockSize;
      if (k % bs !== 0) ctx.bad(`shape.k = ${k} must be a multiple of ${ggmlTypeName(type)}'s block size ${bs}`, 'shape.k');
      if (K > E) ctx.bad(`shape.used = ${K} exceeds shape.experts = ${E}`, 'shape.used');
      const bytes = syntheticMatrixBytes(type, k, m * E, 1 / Math.sqrt(k), rng.fork('weights'));
      const w = ctx.be.weightFromBytes(type, [k, m, E], bytes, `experts ${ggmlTypeName(type)} ${k}x${m}x${E}`);
      const xs = randn(rng, k * T);
      const ids = new Int32Array(K * T);
      for (let t = 0; t < T; t++) {
        const pick = new Set<number>();
        while (pick.size < K) pick.add(rng.int(E));
        ids.set([...pick], t * K);
      }
      const g = new GraphBuilder();
      const [y] = g.op(OpKind.MATMUL_ID, [g.weight(w), g.input('x', 'f32', [k, T]), g.input('ids', 'i32', [K, T])], [out([m, K, T])], { i: [0, 0] });
      g.output('o0', y!);
      const fp16 = cuda && T > 1;
      const rowBytes = ggmlTensorBytes(type, [k, 1]);
      const distinct = new Set(ids).size;
      return done({
        label: `${ggmlTypeName(type)} ${k}→${m} E=${E} top${K} T=${T}`,
        shape: { op, type: ggmlTypeName(type), k, m, experts: E, used: K, T },
        graph: g.build(),
        feed: { x: xs, ids },
        check: (o) => {
          const yv = o.o0 as Float32Array;
          const pairs = [...new Set([0, K * T - 1, rng.int(K * T)])];
          const rowsOut = [...new Set([0, m - 1, ...Array.from({ length: 10 }, () => rng.int(m))])];
          let checked = 0;
          for (const p of pairs) {
            const t = Math.floor(p / K);
            const e = ids[p]!;
            const wr = dequantizeRows(type, bytes, k, rowsOut.map((r) => e * m + r));
            for (const [i, r] of rowsOut.entries()) {
              let sum = 0;
              let a = 0;
              let xa = 0;
              let wa = 0;
              for (let j = 0; j < k; j++) {
                const pr = wr[i]![j]! * xs[t * k + j]!;
                sum += pr;
                a += Math.abs(pr);
                xa += Math.abs(xs[t * k + j]!);
                wa += Math.abs(wr[i]![j]!);
              }
              const tol = fp16 ? (FP16_REL + (k + 4) * 2 ** -23) * a + U * (xa + wa) : (k + 2) * U * a;
              const got = yv[p * m + r]!;
              if (!(Math.abs(got - sum) <= tol)) return new Error(`y[${t}][slot ${p % K}][${r}] = ${got}, reference ${sum}: error ${Math.abs(got - sum)} > bound ${tol}`);
              checked++;
            }
          }
          return `${checked} outputs within the ${fp16 ? 'fp16 GEMM' : 'exact (k+2)·2^-24'} bound`;
        },
        // the selected experts' rows, x, ids and y
        bytes: distinct * m * rowBytes + F32 * (k * T + K * T + m * K * T),
        flops: 2 * k * m * K * T,
        weightBytes: bytes.byteLength,
        dispose: () => w.dispose(),
      });
    }
    case 'GET_ROWS': {
      // Gate: test/ops/get_rows.test.ts, within 1 f32 rounding of the float64 dequantization (rtol 1.2e-7);
      // test/gpu: CUDA is bit-exact with the CPU.
      const type = weightTypeOf(x.weightType, GGMLType.Q6_K, ctx.bad);
      const [nn, rows, T] = [n('n'), n('rows'), n('t', 1)];
      const bs = ggmlTypeTraits(type)!.blockSize;
      if (nn % bs !== 0) ctx.bad(`shape.n = ${nn} must be a multiple of ${ggmlTypeName(type)}'s block size ${bs}`, 'shape.n');
      const bytes = syntheticMatrixBytes(type, nn, rows, 0.02, rng.fork('weights'));
      const w = ctx.be.weightFromBytes(type, [nn, rows], bytes, `table ${ggmlTypeName(type)} ${nn}x${rows}`);
      const ids = new Int32Array(T);
      for (let t = 0; t < T; t++) ids[t] = rng.int(rows);
      const g = new GraphBuilder();
      const [y] = g.op(OpKind.GET_ROWS, [g.weight(w), g.input('ids', 'i32', [T])], [out([nn, T])]);
      g.output('o0', y!);
      return done({
        label: `${ggmlTypeName(type)} ${nn}x${rows} T=${T}`,
        shape: { op, type: ggmlTypeName(type), n: nn, rows, T },
        graph: g.build(),
        feed: { ids },
        check: (o) => {
          const want = new Float64Array(nn * T);
          dequantizeRows(type, bytes, nn, [...ids]).forEach((r, t) => want.set(r, t * nn));
          return closeCheck('rows', o.o0 as Float32Array, want, { atol: 0, rtol: 1.2e-7 });
        },
        bytes: T * ggmlTensorBytes(type, [nn, 1]) + F32 * (T + nn * T),
        weightBytes: bytes.byteLength,
        dispose: () => w.dispose(),
      });
    }
    case 'RMS_NORM':
    case 'L2_NORM': {
      // Gate: test/ops/rms_norm.test.ts atol 1e-6 + rtol 2e-5; test/ops/l2_norm.test.ts atol 1e-7 + rtol 1e-5;
      // CUDA + test/gpu/ops-elementwise.test.ts NORM_TOL (atol 1e-6 + rtol 2e-5).
      const [nn, rows] = [n('n'), n('rows')];
      const xs = randn(rng, nn * rows, 3);
      const rms = op === 'RMS_NORM';
      const w = rms ? randn(rng, nn) : null;
      const cpuTol = rms ? { atol: 1e-6, rtol: 2e-5 } : { atol: 1e-7, rtol: 1e-5 };
      const tol = cuda ? add(cpuTol, { atol: 1e-6, rtol: 2e-5 }) : cpuTol;
      return done({
        label: `${nn}x${rows}`,
        shape: { op, n: nn, rows },
        graph: oneOp(OpKind[op], [f32('x', [nn, rows]), ...(w ? [f32('w', [nn])] : [])], [out([nn, rows])], { f: [1e-6] }),
        feed: w ? { x: xs, w } : { x: xs },
        check: (o) => closeCheck('outputs', o.o0 as Float32Array, rms ? rmsNorm(xs, nn, 1e-6, w!) : l2Norm(xs, nn, 1e-6), tol),
        bytes: F32 * (2 * nn * rows + (w ? nn : 0)),
      });
    }
    case 'GATED_RMS_NORM': {
      // Gate: test/ops/gated_rms_norm.test.ts atol 1e-7 + rtol 2e-6; CUDA + test/gpu/ops-gdn.test.ts NORM_TOL
      // (atol 1e-6 + rtol 1e-5).
      const [nn, H, T] = [n('n'), n('heads'), n('t', 1)];
      const xs = randn(rng, nn * H * T);
      const w = randn(rng, nn);
      const z = randn(rng, nn * H * T);
      const tol = cuda ? { atol: 1.1e-6, rtol: 1.2e-5 } : { atol: 1e-7, rtol: 2e-6 };
      return done({
        label: `${nn}x${H} T=${T}`,
        shape: { op, n: nn, heads: H, T },
        graph: oneOp(OpKind.GATED_RMS_NORM, [f32('x', [nn, H, T]), f32('w', [nn]), f32('z', [nn, H, T])], [out([nn, H, T])], { f: [1e-6] }),
        feed: { x: xs, w, z },
        check: (o) => closeCheck('outputs', o.o0 as Float32Array, gatedRmsNorm(xs, w, z, nn, 1e-6), tol),
        bytes: F32 * (3 * nn * H * T + nn),
      });
    }
    case 'SILU':
    case 'SIGMOID':
    case 'SOFTPLUS':
    case 'EXP':
    case 'SCALE':
    case 'SWIGLU':
    case 'ADD':
    case 'MUL': {
      // Gates: test/ops/unary.test.ts atol 1e-37 + rtol 1e-6 (SILU..EXP); swiglu.test.ts the same; scale.test.ts
      // atol 1e-30 + rtol 1.2e-7 (one fma); binary.test.ts atol 1e-38 + rtol 6e-8 (one rounding). CUDA (test/gpu/
      // ops-elementwise.test.ts): transcendental ops + TRANSC_TOL (atol 1e-30 + rtol 2e-6); SCALE / ADD / MUL are
      // bit-exact with the CPU.
      const [nn, T] = [n('n'), n('t', 1)];
      const N = nn * T;
      const a = randn(rng, N, op === 'EXP' ? 2 : 3);
      const b = op === 'SWIGLU' || op === 'ADD' || op === 'MUL' ? randn(rng, N) : null;
      const kind = UNARY[op];
      const transc: Tol = cuda ? { atol: 1e-30 + 1e-37, rtol: 3e-6 } : { atol: 1e-37, rtol: 1e-6 };
      const want = (): Float64Array =>
        kind ? unary(kind, a)
        : op === 'SCALE' ? scaleRef(a, 0.5, 0.25)
        : op === 'SWIGLU' ? swiglu(a, b!)
        : broadcastBinary(op === 'ADD' ? 'add' : 'mul', a, [nn, T], b!, [nn, T]);
      const tol = kind || op === 'SWIGLU' ? transc : op === 'SCALE' ? { atol: 1e-30, rtol: 1.2e-7 } : { atol: 1e-38, rtol: 6e-8 };
      const ins = b ? [f32(op === 'SWIGLU' ? 'gate' : 'a', [nn, T]), f32(op === 'SWIGLU' ? 'up' : 'b', [nn, T])] : [f32('x', [nn, T])];
      const feed: Record<string, TensorArray> = {};
      ins.forEach((s, i) => (feed[s.name] = i === 0 ? a : b!));
      return done({
        label: `${nn}x${T}`,
        shape: { op, n: nn, T },
        graph: oneOp(OpKind[op], ins, [out([nn, T])], op === 'SCALE' ? { f: [0.5, 0.25] } : {}),
        feed,
        check: (o) => closeCheck('outputs', o.o0 as Float32Array, want(), tol),
        bytes: F32 * N * (b ? 3 : 2),
      });
    }
    case 'ROPE_NEOX': {
      // Gate: test/ops/rope_neox.test.ts atol 1e-6 + rtol 3e-7; CUDA + test/gpu/ops-attention.test.ts ROPE_TOL
      // (atol 1e-12 + rtol 2.4e-7).
      const [d, H, T, p0, nRot] = [n('d'), n('heads'), n('t', 1), s.pos === undefined ? 0 : nonNeg(s.pos, 'shape.pos', ctx), n('nRot', 64)];
      if (nRot % 2 !== 0 || nRot > d) ctx.bad(`shape.nRot = ${nRot} must be even and ≤ d = ${d}`, 'shape.nRot');
      const xs = randn(rng, d * H * T, 2);
      const pos = Int32Array.from({ length: T }, (_, t) => p0 + t);
      const tol = cuda ? { atol: 1e-6, rtol: 5.4e-7 } : { atol: 1e-6, rtol: 3e-7 };
      return done({
        label: `${d}x${H} T=${T} @${p0}`,
        shape: { op, d, heads: H, T, pos: p0, n_rot: nRot },
        graph: oneOp(OpKind.ROPE_NEOX, [f32('x', [d, H, T]), { name: 'pos', dtype: 'i32', shape: [T] }], [out([d, H, T])], { i: [nRot], f: [1e7] }),
        feed: { x: xs, pos },
        check: (o) => closeCheck('outputs', o.o0 as Float32Array, ropeNeox(xs, d, H, pos, nRot, 1e7), tol),
        bytes: F32 * (2 * d * H * T + T),
      });
    }
    case 'ATTENTION':
      return attentionCase(s, x, ctx);
    case 'SSM_CONV': {
      // Gate: test/ops/ssm_conv.test.ts atol 1e-6 + rtol 2e-6; CUDA + test/gpu/ops-gdn.test.ts CONV_TOL (the same).
      const [C, T, K] = [n('channels'), n('t', 1), n('taps', 4)];
      if (K < 2) ctx.bad(`shape.taps = ${K} must be ≥ 2`, 'shape.taps');
      const xs = randn(rng, C * T);
      const w = randn(rng, K * C, 0.5);
      const st = randn(rng, C * (K - 1));
      const tol = cuda ? { atol: 2e-6, rtol: 4e-6 } : { atol: 1e-6, rtol: 2e-6 };
      return done({
        label: `C=${C} K=${K} T=${T}`,
        shape: { op, channels: C, taps: K, T },
        graph: oneOp(OpKind.SSM_CONV, [f32('x', [C, T]), f32('w', [K, C])], [out([C, T])], {}, [{ name: 'conv', dtype: 'f32', shape: [C, K - 1] }]),
        feed: { x: xs, w },
        state: { conv: st },
        check: (o) => closeCheck('outputs', o.o0 as Float32Array, ssmConv(xs, w, st, C, T, K).out, tol),
        bytes: F32 * (2 * C * T + K * C + 2 * C * (K - 1)),
      });
    }
    case 'GATED_DELTA_NET': {
      // Gate: test/ops/gated_delta_net.test.ts NATIVE_TOL, max|got − ref| ÷ max|ref| < 2e-5 vs the serial f64
      // reference (the chunked form is the same recurrence reassociated, CHUNK_TOL 2e-5); CUDA + test/gpu/
      // ops-gdn.test.ts GDN_TOL (2e-5 vs the CPU): 4e-5. Inputs as that test: unit-norm q (÷ √dk) and k, g in
      // [−0.5, 0], beta in [0, 1], incoming state N(0, 0.25).
      const [dk, dv, nk, nv, T] = [n('dk'), n('dv'), n('nk'), n('nv'), n('t', 1)];
      if (nv % nk !== 0) ctx.bad(`shape.nv = ${nv} must be a multiple of shape.nk = ${nk}`, 'shape.nv');
      const mode = x.mode ?? 'chunked';
      if (mode !== 'serial' && mode !== 'chunked') ctx.bad(`mode must be 'serial' or 'chunked', got ${JSON.stringify(mode)}`, 'mode');
      const inp = {
        q: unitRows(rng, nk * T, dk, 1 / Math.sqrt(dk)), k: unitRows(rng, nk * T, dk), v: randn(rng, dv * nv * T),
        g: uniform(rng, nv * T, -0.5, 0), beta: uniform(rng, nv * T, 0, 1), state: randn(rng, dk * dv * nv, 0.5),
      };
      const bound = cuda ? 4e-5 : 2e-5;
      return done({
        label: `${nk}/${nv}x${dk}/${dv} T=${T} ${mode}`,
        shape: { op, dk, dv, nk, nv, T },
        variant: { mode },
        graph: oneOp(OpKind.GATED_DELTA_NET,
          [f32('q', [dk, nk, T]), f32('k', [dk, nk, T]), f32('v', [dv, nv, T]), f32('g', [nv, T]), f32('beta', [nv, T])],
          [out([dv, nv, T])], { i: [0, mode === 'serial' ? 1 : 2, 64] }, [{ name: 'S', dtype: 'f32', shape: [dk, dv, nv] }]),
        feed: { q: inp.q, k: inp.k, v: inp.v, g: inp.g, beta: inp.beta },
        state: { S: inp.state },
        check: (o) => normCheck('outputs', o.o0 as Float32Array, gatedDeltaNetSerial(inp, { dk, dv, nk, nv, T, headMap: 0 }).out, bound),
        bytes: F32 * (2 * dk * nk * T + 2 * dv * nv * T + 2 * nv * T + 2 * dk * dv * nv),
        // per token and V head: decay (dk·dv), Sᵀk (2·dk·dv), rank-1 update (2·dk·dv), Sᵀq (2·dk·dv)
        flops: 7 * dk * dv * nv * T,
        computeBound: T > 1,
      });
    }
    case 'MOE_ROUTER': {
      // Gate: test/ops/moe_router.test.ts ids equal, weights rtol 1e-6; CUDA: test/gpu ids equal, weights rtol 1e-6
      // vs the CPU (2e-6 vs float64).
      const [E, K, T] = [n('experts'), n('used'), n('t', 1)];
      if (K > E) ctx.bad(`shape.used = ${K} exceeds shape.experts = ${E}`, 'shape.used');
      const logits = randn(rng, E * T, 2);
      return done({
        label: `E=${E} top${K} T=${T}`,
        shape: { op, experts: E, used: K, T },
        graph: oneOp(OpKind.MOE_ROUTER, [f32('logits', [E, T])], [out([K, T], 'i32'), out([K, T])], { i: [K] }),
        feed: { logits },
        check: (o) => {
          const r = moeRouter(logits, E, T, K);
          return all(exactCheck('ids', o.o0 as Int32Array, r.ids), closeCheck('weights', o.o1 as Float32Array, r.weights, { atol: 0, rtol: cuda ? 2e-6 : 1e-6 }));
        },
        bytes: F32 * (E * T + 2 * K * T),
      });
    }
    case 'MOE_COMBINE': {
      // Gate: test/ops/moe_combine.test.ts atol 4e-6 (K = 8: K·2⁻²⁴·Σ|w·y|, Σ|w·y| < ~5), scaled by K/8; CUDA is
      // bit-exact with the CPU (test/gpu/ops-elementwise.test.ts).
      const [nn, K, T] = [n('n'), n('used'), n('t', 1)];
      const y = randn(rng, nn * K * T);
      const w = uniform(rng, K * T, 0, 1);
      for (let t = 0; t < T; t++) {
        let z = 0;
        for (let j = 0; j < K; j++) z += w[t * K + j]!;
        for (let j = 0; j < K; j++) w[t * K + j]! /= z;
      }
      return done({
        label: `${nn} top${K} T=${T}`,
        shape: { op, n: nn, used: K, T },
        graph: oneOp(OpKind.MOE_COMBINE, [f32('y', [nn, K, T]), f32('w', [K, T])], [out([nn, T])]),
        feed: { y, w },
        check: (o) => closeCheck('outputs', o.o0 as Float32Array, moeCombine(y, w, nn, K, T), { atol: 4e-6 * Math.max(1, K / 8), rtol: 0 }),
        bytes: F32 * (nn * K * T + K * T + nn * T),
      });
    }
    case 'LOG_SOFTMAX':
    case 'ARGMAX':
    case 'TOP_K': {
      // Gates: test/ops/log_softmax.test.ts atol 1e-6 + rtol 2e-7 (CUDA + LSM_TOL atol 2e-6 + rtol 1e-6);
      // argmax.test.ts / top_k.test.ts exact ids and values (CUDA: the same, test/gpu/ops-elementwise.test.ts).
      const [V, T] = [n('v'), n('t', 1)];
      const K = op === 'TOP_K' ? n('k') : 0;
      if (K > V) ctx.bad(`shape.k = ${K} exceeds shape.v = ${V}`, 'shape.k');
      const xs = randn(rng, V * T, 3);
      const outs = op === 'LOG_SOFTMAX' ? [out([V, T])] : op === 'ARGMAX' ? [out([T], 'i32')] : [out([K, T], 'i32'), out([K, T])];
      return done({
        label: `V=${V}${K ? ` k=${K}` : ''} T=${T}`,
        shape: K ? { op, v: V, k: K, T } : { op, v: V, T },
        graph: oneOp(OpKind[op], [f32('x', [V, T])], outs, K ? { i: [K] } : {}),
        feed: { x: xs },
        check: (o) => {
          if (op === 'LOG_SOFTMAX') return closeCheck('outputs', o.o0 as Float32Array, logSoftmax(xs, V), cuda ? { atol: 3e-6, rtol: 1.2e-6 } : { atol: 1e-6, rtol: 2e-7 });
          if (op === 'ARGMAX') return exactCheck('ids', o.o0 as Int32Array, argmax(xs, V));
          const r = topK(xs, V, K);
          return all(exactCheck('ids', o.o0 as Int32Array, r.ids), exactCheck('values', o.o1 as Float32Array, r.values));
        },
        bytes: F32 * (V * T + (op === 'LOG_SOFTMAX' ? V * T : op === 'ARGMAX' ? T : 2 * K * T)),
      });
    }
    case 'SAMPLE':
      return sampleCase(s, ctx);
  }
}

/**
 * ATTENTION. Gate: test/ops/attention.test.ts TOL atol 1e-5 + rtol 2e-5 vs attentionRef fed the values the cache
 * stores; CUDA + test/gpu/ops-attention.test.ts ATTN_TOL (atol 2e-5 + rtol 4e-5). Prefill checks up to 3 tokens
 * (first, last, one between): the reference cache gets the stored rows of the tokens before each checked one.
 * Bytes: q, k, v, out, and the KV rows [0, pos + t) of every KV head at the cache's storage size (f32 4 B, f16 2 B,
 * q8_0 34 B per 32) read once, the t new rows written. Flops: 2·Hq·(d + dv)·Σ_t (pos + t + 1).
 */
function attentionCase(s: Record<string, number | undefined>, x: CaseExtras, ctx: Ctx): BuiltCase {
  const { rng, cuda } = ctx;
  const n = (k: string, dflt?: number): number => (s[k] === undefined && dflt !== undefined ? dflt : ctx.int(s[k], `shape.${k}`));
  const [d, hq, hkv, T] = [n('d'), n('hq'), n('hkv'), n('t', 1)];
  const dv = n('dv', d);
  const P = nonNeg(s.pos, 'shape.pos', ctx);
  const cache = x.cache ?? 'f16';
  if (cache !== 'f32' && cache !== 'f16' && cache !== 'q8_0') ctx.bad(`cache must be 'f32', 'f16' or 'q8_0', got ${JSON.stringify(cache)}`, 'cache');
  if (hq % hkv !== 0) ctx.bad(`shape.hq = ${hq} must be a multiple of shape.hkv = ${hkv}`, 'shape.hq');
  if (cache === 'q8_0' && (d % 32 !== 0 || dv % 32 !== 0)) ctx.bad(`a q8_0 cache needs d and dv multiples of 32`, 'cache');
  const nCtx = P + T;
  const q = randn(rng, d * hq * T);
  const k = randn(rng, d * hkv * T);
  const v = randn(rng, dv * hkv * T);
  const pos = Int32Array.from({ length: T }, (_, t) => P + t);
  // rows [0, P): stored values (for the reference) and the raw cache contents (for the state)
  const pre = (rowElems: number): { values: Float64Array; raw: TensorArray } => {
    const a = randn(rng, P * hkv * rowElems);
    const raw = cache === 'q8_0' ? new Uint8Array((nCtx * hkv * rowElems / 32) * 34) : cache === 'f16' ? new Uint16Array(nCtx * hkv * rowElems) : new Float32Array(nCtx * hkv * rowElems);
    if (cache === 'q8_0') {
      const blocks = quantizeKvQ8_0(a);
      (raw as Uint8Array).set(blocks);
      return { values: dequantizeKvQ8_0(blocks), raw };
    }
    if (cache === 'f16') {
      const r = raw as Uint16Array;
      for (let i = 0; i < a.length; i++) r[i] = f32ToF16(a[i]!);
      return { values: Float64Array.from(r.subarray(0, a.length), f16ToF32), raw };
    }
    (raw as Float32Array).set(a);
    return { values: Float64Array.from(a), raw };
  };
  const kp = pre(d);
  const vp = pre(dv);
  const elem = cache === 'q8_0' ? 34 / 32 : cache === 'f16' ? 2 : 4;
  const g = new GraphBuilder();
  const refs = [g.input('q', 'f32', [d, hq, T]), g.input('k', 'f32', [d, hkv, T]), g.input('v', 'f32', [dv, hkv, T]), g.input('pos', 'i32', [T]), g.state('k_cache', cache, [d, hkv, nCtx]), g.state('v_cache', cache, [dv, hkv, nCtx])];
  const [o0] = g.op(OpKind.ATTENTION, refs, [{ dtype: 'f32', shape: [dv, hq, T] }], { f: [1 / Math.sqrt(d)] });
  g.output('o0', o0!);
  const tol = cuda ? { atol: 3e-5, rtol: 6e-5 } : { atol: 1e-5, rtol: 2e-5 };
  let flops = 0;
  for (let t = 0; t < T; t++) flops += 2 * hq * (d + dv) * (P + t + 1);
  return done({
    label: `${hq}/${hkv}x${d}${dv !== d ? `/${dv}` : ''} ${cache} ${T === 1 ? 'decode' : `prefill T=${T}`} @${P}`,
    shape: { op: 'ATTENTION', d, dv, hq, hkv, T, pos: P },
    variant: { cache },
    graph: g.build(),
    feed: { q, k, v, pos },
    state: { k_cache: kp.raw, v_cache: vp.raw },
    check: (o) => {
      const got = o.o0 as Float32Array;
      const ref = createKvCacheRef(d, dv, hkv, nCtx, cache);
      ref.k.set(kp.values);
      ref.v.set(vp.values);
      const checkT = new Set([0, T - 1, rng.int(T)]);
      const qs = d * hq;
      const parts: string[] = [];
      for (let t = 0; t < T; t++) {
        const kt = k.subarray(t * d * hkv, (t + 1) * d * hkv);
        const vt = v.subarray(t * dv * hkv, (t + 1) * dv * hkv);
        if (!checkT.has(t)) {
          ref.k.set(storedKvRow(kt, cache), (P + t) * hkv * d);
          ref.v.set(storedKvRow(vt, cache), (P + t) * hkv * dv);
          continue;
        }
        const want = attentionRef(q.subarray(t * qs, (t + 1) * qs), kt, vt, [P + t], hq, 1 / Math.sqrt(d), ref);
        const r = closeCheck(`outputs of token ${t}`, got.subarray(t * dv * hq, (t + 1) * dv * hq), want, tol);
        if (r instanceof Error) return r;
        parts.push(r);
      }
      return parts.join('; ');
    },
    bytes: F32 * (d * hq * T + d * hkv * T + dv * hkv * T + T + dv * hq * T) + elem * hkv * (d + dv) * (nCtx + T),
    flops,
    computeBound: T > 1,
  });
}

/**
 * SAMPLE. Gate: test/ops/sample.test.ts, the token EQUAL to Sampler.sampleWith (the op's definition) for every row;
 * the CPU op computes in f64 as the Sampler does. CUDA computes in f32 (test/gpu/sample.test.ts compares only rows
 * that are robust at margin 1e-12); a random row is fragile with negligible probability, so the same equality is
 * asked of CUDA. Bytes: logits, the history window and the config read, one id per row written.
 */
function sampleCase(s: Record<string, number | undefined>, ctx: Ctx): BuiltCase {
  const { rng } = ctx;
  const V = ctx.int(s.v, 'shape.v');
  const R = s.rows === undefined ? 1 : ctx.int(s.rows, 'shape.rows');
  const N = 64;
  const opts: SamplingOptions = { temperature: Math.fround(0.8), topK: 40, topP: Math.fround(0.95), minP: Math.fround(0.05), repeatPenalty: Math.fround(1.1), penaltyLastN: N };
  const sampler = new Sampler({ vocabSize: V, seed: 0, ...opts });
  const logits = randn(rng, V * R, 2);
  const hist = new Int32Array(N * R);
  const cfg = new Float32Array(SAMPLE_CFG_WIDTH * R);
  const histories: number[][] = [];
  const us: number[] = [];
  for (let r = 0; r < R; r++) {
    const h = Array.from({ length: N }, () => rng.int(V));
    const u = Math.floor(rng.float() * 16777216) / 16777216;
    sampler.fillSampleRow(cfg, hist, r, R, h, u);
    histories.push(h);
    us.push(u);
  }
  return done({
    label: `V=${V} rows=${R}`,
    shape: { op: 'SAMPLE', v: V, rows: R },
    graph: oneOp(OpKind.SAMPLE, [{ name: 'logits', dtype: 'f32', shape: [V, R] }, { name: 'hist', dtype: 'i32', shape: [N, R] }, { name: 'cfg', dtype: 'f32', shape: [SAMPLE_CFG_WIDTH, R] }], [{ dtype: 'i32', shape: [R] }]),
    feed: { logits, hist, cfg },
    check: (o) => {
      const want = Int32Array.from({ length: R }, (_, r) => sampler.sampleWith(logits.subarray(r * V, (r + 1) * V), histories[r]!, us[r]!));
      return exactCheck('sampled ids', o.o0 as Int32Array, want);
    },
    bytes: F32 * (V * R + N * R + SAMPLE_CFG_WIDTH * R + R),
  });
}
