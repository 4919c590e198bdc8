/**
 * Op microbenchmarks on the caller's shapes: benchOp builds a one-op graph on the CPU or CUDA backend, checks it
 * against a float64 reference (the correctness gate: a case that fails is never timed, BenchGateError), times it on
 * tinybench and returns a BenchCase with GB/s, TFLOP/s and % of the floor measured in the same process.
 *
 *   const r = await benchOp({ op: 'MATMUL', weightType: 'Q4_K', shape: { k: 5120, m: 17408 }, backend: 'cpu', threads: 8 });
 *   r.case.gbs, r.case.pct_of_floor   // weight bytes read / s, and that ÷ memcpy bandwidth at the same threads
 *
 * MATMUL y{m, T} = W{k, m}ᵀ·x{k, T}: weights are random but valid blocks (synthetic.ts generators: small positive f16
 * scales, random quants; no quantizer for Q4_K / Q6_K / Q8_0), activations N(0, 1). A matvec (T = 1) plan holds
 * `copies` MATMUL ops over distinct copies of the weight (≥ rotateBytes read per run, at most 64 copies) so the weights
 * stream from DRAM, not cache; per-op time = run time ÷ copies (run overhead included: a conservative figure).
 * Gate: 12 sampled output rows × up to 3 tokens vs Σ w·x in float64 over the dequantized rows, bound
 *   exact f32 path      (k + 2)·2⁻²⁴·Σ|w·x|
 *   q8 activations      2⁻¹⁴·Σ|w·x_q| against the quantized activations (CPU; as llama.cpp's int8 dots)
 *   CUDA fp16 GEMM      (2⁻¹⁰ + 2⁻²¹ + (k + 4)·2⁻²³)·Σ|w·x| + 2⁻²⁴·(Σ|x| + Σ|w|)   (T > 1, variant ≠ exact GEMV)
 * `reference` replaces the float64 dot (tests use it to prove the gate can fail).
 * Floors: T = 1 → pct_of_floor = GB/s ÷ copy bandwidth (CPU memcpy at the same threads, or device-to-device copy);
 * CUDA T > 1 → TFLOP/s ÷ dense fp16 GEMM rate. CPU T > 1 has no measured compute floor: pct_of_floor null.
 *
 * Every other op (MATMUL_ID, GET_ROWS, norms, elementwise, ROPE_NEOX, ATTENTION, SSM_CONV, GATED_DELTA_NET, MoE
 * routing, LOG_SOFTMAX, ARGMAX, TOP_K, SAMPLE): the case of src/bench/op-cases.ts (inputs, one-op graph, state from
 * plan.createState(), gate vs src/reference with the op tests' tolerance, bytes and flops), one op per run; GB/s =
 * bytes the op must read + write ÷ median time; pct_of_floor = GB/s ÷ copy bandwidth, except ATTENTION / GDN with
 * T > 1 (TFLOP/s ÷ GEMM rate on CUDA, null on the CPU). `corrupt` alters the gate run's outputs (tests: every gate
 * can fail).
 */
import { QwenHybridError } from '../errors.js';
import { GGMLType, ggmlTensorBytes, ggmlTypeFromName, ggmlTypeName, ggmlTypeTraits } from '../gguf/types.js';
import { GraphBuilder, OpKind } from '../model/graph/index.js';
import { syntheticMatrixBytes } from '../model/synthetic.js';
import { dequantizeRows } from '../quant/dequant.js';
import { Rng } from '../quant/rng.js';
import { activationFormat, quantizeActivations } from '../reference/matmul.js';
import type { TensorArray } from '../native/types.js';
import { createCpuBackend, type Backend, type CpuIsa, type Plan, type SessionState, type WeightTensor } from '../runtime/backend.js';
import { createCudaBackend } from '../runtime/cuda.js';
import { measureCopyBandwidth, measureGemmF16Rate, measureMemcpyBandwidth } from './floors.js';
import { buildCase, CASE_OPS, type BuiltCase, type CaseExtras, type CaseOpName, type CaseShapes } from './op-cases.js';
import { benchCase, type BenchCase } from './report.js';
import { gatedBench } from './runner.js';

export const BENCH_OPS = ['MATMUL', ...CASE_OPS] as const;
export type BenchOpName = (typeof BENCH_OPS)[number];

/** Options every op case takes. */
export interface BenchCommonOptions {
  backend?: 'cpu' | 'cuda';
  /** CPU worker threads (default: all usable). */
  threads?: number;
  /** CPU ISA (default 'auto'). */
  isa?: 'auto' | CpuIsa;
  /** CUDA device index (default 0). */
  device?: number;
  /** CUDA kernel variant of the op (createCudaBackend variants; MATMUL: native/cuda/matmul.cuh 0 auto, 1 exact GEMV, 2 fp16 mma GEMM). */
  variant?: number;
  /** Milliseconds of timing (default 500). */
  time?: number;
  /** Floors measured elsewhere in the same run; measured here when absent. */
  floor?: { copyGBs?: number; gemmTflops?: number };
  seed?: number;
  /** Case name (default derived from op, shape and variant). */
  name?: string;
  /** Alters the outputs of the gate run before they are checked (tests use it to prove every gate can fail). */
  corrupt?: (outputs: Record<string, TensorArray>) => void;
}

export interface MatmulBenchOptions extends BenchCommonOptions {
  op: 'MATMUL';
  /** GGMLType or its name ('Q4_K', 'Q6_K', 'Q8_0', 'F16', ...). */
  weightType: GGMLType | string;
  /** k = input features (ne0, a multiple of the type's block size), m = outputs, t = tokens (default 1). */
  shape: { k: number; m: number; t?: number };
  /** 'q8': quantized activations (MATMUL p.i[1] = 1; CPU only). Default 'f32'. */
  activations?: 'f32' | 'q8';
  /** Weight bytes a matvec run reads through distinct copies (default 96 MiB CPU, 256 MiB CUDA; 0 = one copy). */
  rotateBytes?: number;
  /** Replaces the float64 dot of the gate: value expected for output `row` of token `t`. */
  reference?: (w: Float64Array, x: Float32Array, row: number, t: number) => number;
}

/** Options of every other op: its shape (CaseShapes, src/bench/op-cases.ts) and family extras. */
export type CaseBenchOptions = { [K in CaseOpName]: BenchCommonOptions & CaseExtras & { op: K; shape: CaseShapes[K] } }[CaseOpName];

export type BenchOpOptions = MatmulBenchOptions | CaseBenchOptions;

export interface BenchOpResult {
  case: BenchCase;
  /** Bytes of the weights the op reads per run (MATMUL: one copy; 0 for ops without weights). */
  weight_bytes: number;
  /** Bytes the op must read + write per run: what GB/s counts (MATMUL: the weights). */
  bytes: number;
  copies: number;
  copy_bw_gbs: number | null;
  gemm_tflops: number | null;
}

const U = 2 ** -24;
const FP16_REL = 2 ** -10 + 2 ** -21;
const MAX_COPIES = 64;

function bad(message: string, parameter: string): never {
  throw new QwenHybridError('INVALID_ARGUMENT', `benchOp: ${message}`, { parameter });
}

function posInt(v: unknown, name: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) bad(`${name} must be a positive integer, got ${String(v)}`, name);
  return v;
}

/** Validated options (throws INVALID_ARGUMENT naming the parameter). */
function resolve(o: MatmulBenchOptions): { type: GGMLType; k: number; m: number; T: number; backend: 'cpu' | 'cuda'; act: 0 | 1 } {
  const type = typeof o.weightType === 'string' ? ggmlTypeFromName(o.weightType.toUpperCase()) : o.weightType;
  const traits = type === undefined ? undefined : ggmlTypeTraits(type);
  if (type === undefined || !traits) bad(`unknown weight type ${JSON.stringify(o.weightType)}`, 'weightType');
  if (typeof o.shape !== 'object' || o.shape === null) bad('shape must be { k, m, t? }', 'shape');
  const k = posInt(o.shape.k, 'shape.k');
  const m = posInt(o.shape.m, 'shape.m');
  const T = posInt(o.shape.t ?? 1, 'shape.t');
  if (k % traits.blockSize !== 0) bad(`shape.k = ${k} must be a multiple of ${ggmlTypeName(type)}'s block size ${traits.blockSize}`, 'shape.k');
  const backend = o.backend ?? 'cpu';
  if (backend !== 'cpu' && backend !== 'cuda') bad(`backend must be 'cpu' or 'cuda', got ${JSON.stringify(backend)}`, 'backend');
  const activations = o.activations ?? 'f32';
  if (activations !== 'f32' && activations !== 'q8') bad(`activations must be 'f32' or 'q8', got ${JSON.stringify(activations)}`, 'activations');
  if (activations === 'q8' && backend !== 'cpu') bad(`activations 'q8' is a CPU path`, 'activations');
  if (activations === 'q8' && activationFormat(type) === null) bad(`${ggmlTypeName(type)} has no quantized-activation path`, 'activations');
  if (o.threads !== undefined) posInt(o.threads, 'threads');
  if (o.time !== undefined && !(o.time > 0)) bad(`time must be > 0 ms, got ${String(o.time)}`, 'time');
  return { type, k, m, T, backend, act: activations === 'q8' ? 1 : 0 };
}

/** Benchmarks one op case; see the file comment. Disposes everything it created. */
export async function benchOp(o: BenchOpOptions): Promise<BenchOpResult> {
  if (!(BENCH_OPS as readonly string[]).includes(o.op)) bad(`op ${JSON.stringify(o.op)} is not benchmarkable (known: ${BENCH_OPS.join(', ')})`, 'op');
  return o.op === 'MATMUL' ? benchMatmul(o) : benchCaseOp(o);
}

function commonChecks(o: BenchCommonOptions): 'cpu' | 'cuda' {
  const backend = o.backend ?? 'cpu';
  if (backend !== 'cpu' && backend !== 'cuda') bad(`backend must be 'cpu' or 'cuda', got ${JSON.stringify(backend)}`, 'backend');
  if (o.threads !== undefined) posInt(o.threads, 'threads');
  if (o.time !== undefined && !(o.time > 0)) bad(`time must be > 0 ms, got ${String(o.time)}`, 'time');
  return backend;
}

function makeBackend(o: BenchCommonOptions, op: BenchOpName, cuda: boolean): { be: Backend; variant: Record<string, string | number | boolean> } {
  if (cuda) {
    const be = createCudaBackend({ device: o.device ?? 0, variants: o.variant ? { [op]: o.variant } : undefined });
    return { be, variant: { backend: 'cuda', device: o.device ?? 0, variant: o.variant ?? 0 } };
  }
  const be = createCpuBackend({ threads: o.threads, isa: o.isa ?? 'auto' });
  return { be, variant: { backend: 'cpu', isa: be.info.isa, threads: be.info.threads } };
}

/** The cases of src/bench/op-cases.ts: gate, time, figures (file comment there). */
async function benchCaseOp(o: CaseBenchOptions): Promise<BenchOpResult> {
  const backend = commonChecks(o);
  const cuda = backend === 'cuda';
  const { be, variant } = makeBackend(o, o.op, cuda);
  const rng = new Rng(o.seed ?? 2025);
  let built: BuiltCase | undefined;
  let plan: Plan | undefined;
  let state: SessionState | undefined;
  try {
    if (typeof o.shape !== 'object' || o.shape === null) bad('shape must be an object of positive integers', 'shape');
    built = buildCase(o.op, o.shape as Record<string, number | undefined>, o, { be, cuda, rng, bad, int: posInt });
    const c = built;
    const p = be.compile(c.graph);
    plan = p;
    if (c.state) {
      state = p.createState();
      for (const [k, v] of Object.entries(c.state)) state.write(k, v);
    }
    const runOpts = state ? { state } : undefined;
    Object.assign(variant, c.variant);
    const name = o.name ?? `${o.op} ${c.label} ${cuda ? `cuda v${o.variant ?? 0}` : `${variant.isa} ${variant.threads}t`}`;
    const check = async (): Promise<string | Error> => {
      const out = await p.run(c.feed, runOpts);
      o.corrupt?.(out);
      return c.check(out);
    };
    const [row] = await gatedBench([{ name, fn: () => p.run(c.feed, runOpts), check }], { time: o.time ?? 500 });
    const sec = row!.p50Ms / 1e3;
    const gbs = c.bytes / sec / 1e9;
    const tflops = c.flops === null ? null : c.flops / sec / 1e12;
    let copyGBs = o.floor?.copyGBs ?? null;
    let gemm = o.floor?.gemmTflops ?? null;
    let pct: number | null;
    if (c.computeBound) {
      if (cuda && gemm === null) gemm = measureGemmF16Rate({ device: o.device ?? 0, repeats: 3 }).tflops;
      pct = cuda ? (100 * tflops!) / gemm! : null;
    } else {
      copyGBs ??= cuda ? measureCopyBandwidth({ device: o.device ?? 0, repeats: 3 }).gbPerSec : measureMemcpyBandwidth({ threads: Number(variant.threads), repeats: 3 }).gbPerSec;
      pct = (100 * gbs) / copyGBs;
    }
    return {
      case: benchCase({
        name, kind: 'op', variant, shape: c.shape, samples: row!.samples, median_ms: row!.p50Ms, min_ms: row!.minMs, max_ms: row!.maxMs,
        gbs, tflops, pct_of_floor: pct, gate: row!.gate,
      }),
      weight_bytes: c.weightBytes,
      bytes: c.bytes,
      copies: 1,
      copy_bw_gbs: copyGBs,
      gemm_tflops: gemm,
    };
  } finally {
    state?.dispose();
    plan?.dispose();
    built?.dispose();
    be.dispose();
  }
}

async function benchMatmul(o: MatmulBenchOptions): Promise<BenchOpResult> {
  const { type, k, m, T, backend, act } = resolve(o);
  const cuda = backend === 'cuda';
  const rng = new Rng(o.seed ?? 2025);
  const bytes = syntheticMatrixBytes(type, k, m, 1 / Math.sqrt(k), rng.fork('weights'));
  const weightBytes = ggmlTensorBytes(type, [k, m]);
  const rotate = o.rotateBytes ?? (cuda ? 256 : 96) * 2 ** 20;
  const copies = T === 1 ? Math.min(MAX_COPIES, Math.max(1, Math.ceil(rotate / weightBytes))) : 1;
  const x = new Float32Array(k * T);
  for (let i = 0; i < x.length; i++) x[i] = rng.normal();

  let cpuInfo: { threads: number; isa: string } | null = null;
  let be: Backend;
  if (cuda) {
    be = createCudaBackend({ device: o.device ?? 0, variants: o.variant ? { MATMUL: o.variant } : undefined });
  } else {
    const cpu = createCpuBackend({ threads: o.threads, isa: o.isa ?? 'auto' });
    cpuInfo = cpu.info;
    be = cpu;
  }
  const ws: WeightTensor[] = [];
  let plan: Plan | undefined;
  try {
    for (let i = 0; i < copies; i++) ws.push(be.weightFromBytes(type, [k, m], bytes, `${ggmlTypeName(type)} ${k}x${m} #${i}`));
    const g = new GraphBuilder();
    const xi = g.input('x', 'f32', [k, T]);
    ws.forEach((w, i) => {
      const [y] = g.op(OpKind.MATMUL, [g.weight(w), xi], [{ dtype: 'f32', shape: [m, T] }], { i: [0, act] });
      g.output(`y${i}`, y!);
    });
    plan = be.compile(g.build());
    const p = plan;
    const variant: Record<string, string | number | boolean> = cuda
      ? { backend: 'cuda', device: o.device ?? 0, variant: o.variant ?? 0 }
      : { backend: 'cpu', isa: cpuInfo?.isa ?? 'unknown', threads: cpuInfo?.threads ?? 0 };
    variant.activations = act ? 'q8' : 'f32';
    const name = o.name ?? `${o.op} ${ggmlTypeName(type)} ${k}→${m} T=${T} ${cuda ? `cuda v${o.variant ?? 0}` : `${variant.isa} ${variant.threads}t`}${act ? ' q8' : ''}`;
    const fp16 = cuda && T > 1 && o.variant !== 1;
    const check = async (): Promise<string | Error> => {
      const out = await p.run({ x });
      o.corrupt?.(out);
      return checkMatmul({ type, k, m, T, act, fp16, bytes, x, ys: ws.map((_, i) => out[`y${i}`] as Float32Array), rng: rng.fork('gate'), reference: o.reference });
    };
    const [row] = await gatedBench([{ name, fn: () => p.run({ x }), check }], { time: o.time ?? 500 });

    const perOpMs = row!.p50Ms / copies;
    const s = perOpMs / 1e3;
    const gbs = weightBytes / s / 1e9;
    const tflops = (2 * k * m * T) / s / 1e12;
    let copyGBs = o.floor?.copyGBs ?? null;
    let gemm = o.floor?.gemmTflops ?? null;
    if (T === 1 && copyGBs === null) {
      copyGBs = cuda ? measureCopyBandwidth({ device: o.device ?? 0, repeats: 3 }).gbPerSec : measureMemcpyBandwidth({ threads: cpuInfo?.threads, repeats: 3 }).gbPerSec;
    }
    if (cuda && T > 1 && gemm === null) gemm = measureGemmF16Rate({ device: o.device ?? 0, repeats: 3 }).tflops;
    const pct = T === 1 ? (100 * gbs) / copyGBs! : cuda ? (100 * tflops) / gemm! : null;
    return {
      case: benchCase({
        name,
        kind: 'op',
        variant,
        shape: { op: o.op, type: ggmlTypeName(type), k, m, T },
        samples: row!.samples,
        median_ms: perOpMs,
        min_ms: row!.minMs / copies,
        max_ms: row!.maxMs / copies,
        gbs: T === 1 ? gbs : null,
        tflops,
        pct_of_floor: pct,
        gate: row!.gate,
      }),
      weight_bytes: weightBytes,
      bytes: weightBytes,
      copies,
      copy_bw_gbs: copyGBs,
      gemm_tflops: gemm,
    };
  } finally {
    plan?.dispose();
    for (const w of ws) w.dispose();
    be.dispose();
  }
}

interface MatmulCheck {
  type: GGMLType;
  k: number;
  m: number;
  T: number;
  act: 0 | 1;
  fp16: boolean;
  bytes: Uint8Array;
  x: Float32Array;
  ys: Float32Array[];
  rng: Rng;
  reference: MatmulBenchOptions['reference'];
}

/** The gate of a MATMUL case (file comment); returns what passed, or an Error naming the first bad output. */
function checkMatmul(c: MatmulCheck): string | Error {
  const { k, m, T } = c;
  const fmt = c.act === 1 ? activationFormat(c.type) : null;
  let xs: ArrayLike<number> = c.x;
  if (fmt === 'q8k' || fmt === 'q8a') {
    const xq = new Float64Array(k * T);
    for (let t = 0; t < T; t++) {
      const q = quantizeActivations(fmt, c.x.subarray(t * k, (t + 1) * k), k);
      for (let j = 0; j < k; j++) xq[t * k + j] = q.d[Math.floor(j / q.block)]! * q.q[j]!;
    }
    xs = xq;
  }
  const rows = [...new Set([0, m - 1, ...Array.from({ length: 10 }, () => c.rng.int(m))])];
  const toks = [...new Set([0, T - 1, c.rng.int(T)])];
  const w = dequantizeRows(c.type, c.bytes, k, rows);
  let worst = 0;
  let checked = 0;
  for (const [i, r] of rows.entries()) {
    const wr = w[i]!;
    let wAbs = 0;
    for (let j = 0; j < k; j++) wAbs += Math.abs(wr[j]!);
    for (const t of toks) {
      let s = 0;
      let a = 0;
      let xAbs = 0;
      for (let j = 0; j < k; j++) {
        const pr = wr[j]! * xs[t * k + j]!;
        s += pr;
        a += Math.abs(pr);
        xAbs += Math.abs(xs[t * k + j]!);
      }
      const want = c.reference ? c.reference(wr, c.x.subarray(t * k, (t + 1) * k), r, t) : s;
      const tol = c.fp16 ? (FP16_REL + (k + 4) * 2 ** -23) * a + U * (xAbs + wAbs) : fmt ? 2 ** -14 * a : (k + 2) * U * a;
      for (const [copy, y] of c.ys.entries()) {
        const got = y[t * m + r]!;
        const err = Math.abs(got - want);
        if (!(err <= tol)) return new Error(`y[${t}][${r}] (copy ${copy}) = ${got}, reference ${want}: error ${err} > bound ${tol} (Σ|w·x| ${a})`);
        worst = Math.max(worst, err / tol);
        checked++;
      }
    }
  }
  return `${checked} outputs within ${c.fp16 ? 'the fp16 GEMM' : fmt ? 'the q8 (2^-14)' : 'the exact (k+2)·2^-24'} bound (worst ${(100 * worst).toFixed(1)} % of it)`;
}
