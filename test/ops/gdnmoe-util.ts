/**
 * Shared helpers of the GDN / MoE op tests (ssm_conv, gated_delta_net, gated_rms_norm, moe_router,
 * moe_combine): seeded inputs, error metrics, and a one-op graph runner over the CPU backend.
 */
import { GraphBuilder, type OpKind, type TensorDType } from '../../src/model/graph/index.js';
import { Rng } from '../../src/quant/index.js';
import { createCpuBackend, type CpuBackend, type SessionState } from '../../src/runtime/backend.js';

export { Rng };

export type Arr = Float32Array | Int32Array;

export interface OneOpSpec {
  kind: OpKind;
  inputs: { name: string; dtype: TensorDType; shape: number[] }[];
  /** State tensors, in op-input order after the inputs (the op reads inputs then states, in this order). */
  states?: { name: string; dtype: TensorDType; shape: number[] }[];
  /** Input order of the op, by name, when it interleaves inputs and states (default: inputs then states). */
  order?: string[];
  outputs: { dtype: TensorDType; shape: number[] }[];
  i?: number[];
  f?: number[];
}

/** Compiles one op into a plan; run() feeds inputs (and an optional state to carry across calls). */
export function compileOneOp(be: CpuBackend, spec: OneOpSpec) {
  const g = new GraphBuilder();
  const refs = new Map<string, ReturnType<GraphBuilder['input']>>();
  for (const x of spec.inputs) refs.set(x.name, g.input(x.name, x.dtype, x.shape));
  for (const s of spec.states ?? []) refs.set(s.name, g.state(s.name, s.dtype, s.shape));
  const order = spec.order ?? [...spec.inputs.map((x) => x.name), ...(spec.states ?? []).map((s) => s.name)];
  const outs = g.op(spec.kind, order.map((n) => refs.get(n)!), spec.outputs, { i: spec.i ?? [], f: spec.f ?? [] });
  outs.forEach((o, n) => g.output(`out${n}`, o));
  const plan = be.compile(g.build());
  return {
    plan,
    async run(inputs: Record<string, Arr>, state?: SessionState): Promise<Arr[]> {
      const r = await plan.run(inputs, state ? { state } : {});
      return spec.outputs.map((_, n) => r[`out${n}`] as Arr);
    },
  };
}

/** Backends keyed by "threads/isa", created once per test file. */
export function backendPool() {
  const made = new Map<string, CpuBackend>();
  return {
    get(threads: number, isa: 'auto' | 'scalar' = 'auto'): CpuBackend {
      const key = `${threads}/${isa}`;
      let be = made.get(key);
      if (!be) made.set(key, (be = createCpuBackend({ threads, isa })));
      return be;
    },
    disposeAll(): void {
      for (const be of made.values()) be.dispose();
      made.clear();
    },
  };
}

export function normals(rng: Rng, n: number, scale = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal() * scale;
  return a;
}

export function uniforms(rng: Rng, n: number, lo: number, hi: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = lo + (hi - lo) * rng.float();
  return a;
}

/** Rows of d made unit-length (L2) then scaled, computed in f64 and stored f32. */
export function unitRows(rng: Rng, rows: number, d: number, scale = 1): Float32Array {
  const a = new Float32Array(rows * d);
  const tmp = new Float64Array(d);
  for (let r = 0; r < rows; r++) {
    let ss = 0;
    for (let i = 0; i < d; i++) ss += (tmp[i] = rng.normal()) ** 2;
    const f = scale / Math.sqrt(ss);
    for (let i = 0; i < d; i++) a[r * d + i] = tmp[i]! * f;
  }
  return a;
}

/** max |a - b| / max(max |b|, floor): the normalised max error used by the tolerances. */
export function normMaxErr(a: ArrayLike<number>, b: ArrayLike<number>, floor = 1e-30): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let e = 0, m = floor;
  for (let i = 0; i < a.length; i++) {
    e = Math.max(e, Math.abs(a[i]! - b[i]!));
    m = Math.max(m, Math.abs(b[i]!));
  }
  return e / m;
}

/** Element-wise |a - b| <= atol + rtol |b|; returns the first violation, or null. */
export function firstMismatch(a: ArrayLike<number>, b: ArrayLike<number>, atol: number, rtol: number): string | null {
  if (a.length !== b.length) return `length ${a.length} != ${b.length}`;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!, y = b[i]!;
    if (!(Math.abs(x - y) <= atol + rtol * Math.abs(y))) return `index ${i}: got ${x}, want ${y}`;
  }
  return null;
}

export function bitsEqual(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length), ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < ua.length; i++) if (ua[i] !== ub[i]) return false;
  return true;
}
