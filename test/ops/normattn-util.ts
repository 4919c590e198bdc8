/**
 * Shared helpers of the NORMATTN op tests (rms_norm, l2_norm, unary, scale, binary, swiglu, copy_strided,
 * rope_neox, attention, log_softmax, argmax, top_k): seeded data, one-op graphs, tolerance checks.
 */
import { expect } from 'vitest';

import type { GGMLType } from '../../src/gguf/types.js';
import { GraphBuilder, TensorRole, type GraphDesc, type OpKind, type TensorDType, type TensorRef } from '../../src/model/graph/index.js';
import { Rng } from '../../src/quant/rng.js';
import type { CpuBackend, SessionState } from '../../src/runtime/backend.js';
import type { TensorArray } from '../../src/native/types.js';

/** f32 values ~ N(0, sd^2), rounded to f32. */
export function randn(rng: Rng, n: number, sd = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal() * sd;
  return a;
}

/** f32 values uniform in [lo, hi). */
export function uniform(rng: Rng, n: number, lo: number, hi: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = lo + (hi - lo) * rng.float();
  return a;
}

export interface InSpec {
  name: string;
  dtype: TensorDType;
  shape: readonly number[];
  data: TensorArray;
}

/**
 * Builds, compiles and runs a graph of ONE op with all operands as graph inputs; returns its outputs (o0, o1, ...).
 */
export async function runOp(
  be: CpuBackend,
  kind: OpKind,
  ins: readonly InSpec[],
  outs: readonly { dtype: TensorDType; shape: readonly number[] }[],
  params: { i?: number[]; f?: number[] } = {},
): Promise<TensorArray[]> {
  const g = new GraphBuilder();
  const refs: TensorRef[] = ins.map((s) => g.input(s.name, s.dtype, s.shape));
  const ys = g.op(kind, refs, outs, params);
  ys.forEach((y, k) => g.output(`o${k}`, y));
  const plan = be.compile(g.build());
  try {
    const feed: Record<string, TensorArray> = {};
    for (const s of ins) feed[s.name] = s.data;
    const r = await plan.run(feed);
    return ys.map((_, k) => r[`o${k}`] as TensorArray);
  } finally {
    plan.dispose();
  }
}

/**
 * Per element |actual - expected| <= atol + rtol * |expected|; fails with the worst element named.
 * Returns the largest |actual - expected| (for reporting).
 */
export function expectClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: { atol: number; rtol: number },
  label = '',
): number {
  expect(actual.length, `${label}: length`).toBe(expected.length);
  let worst = -1;
  let worstExcess = -Infinity;
  let maxErr = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (Number.isNaN(e) || Number.isNaN(a)) {
      if (Number.isNaN(e) !== Number.isNaN(a)) {
        worst = i;
        worstExcess = Infinity;
      }
      continue;
    }
    if (a === e) continue; // covers equal infinities
    const err = Math.abs(a - e);
    maxErr = Math.max(maxErr, err);
    const excess = err - (tol.atol + tol.rtol * Math.abs(e));
    if (excess > worstExcess) {
      worstExcess = excess;
      worst = i;
    }
  }
  if (worstExcess > 0) {
    expect.fail(
      `${label}: element ${worst}: got ${actual[worst]}, expected ${expected[worst]} ` +
        `(|diff| ${Math.abs(actual[worst]! - expected[worst]!)} > ${tol.atol} + ${tol.rtol}·|expected|)`,
    );
  }
  return maxErr;
}

/** Bitwise equality of two f32/i32 arrays, with the first difference named. */
export function expectSameBits(a: TensorArray, b: TensorArray, label = ''): void {
  expect(a.length, `${label}: length`).toBe(b.length);
  const ua = new Uint32Array(a.buffer, a.byteOffset, (a.byteLength / 4) | 0);
  const ub = new Uint32Array(b.buffer, b.byteOffset, (b.byteLength / 4) | 0);
  for (let i = 0; i < ua.length; i++) {
    if (ua[i] !== ub[i]) expect.fail(`${label}: element ${i} differs: ${a[i]} vs ${b[i]}`);
  }
}

export type { SessionState };

/** Exact element equality (numbers compared with ===), with the first difference named. Fast on large arrays. */
export function expectEqualArrays(a: ArrayLike<number>, b: ArrayLike<number>, label = ''): void {
  expect(a.length, `${label}: length`).toBe(b.length);
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) expect.fail(`${label}: element ${i} differs: ${a[i]} vs ${b[i]}`);
  }
}

/**
 * Retypes named state tensors of a built graph, bypassing GraphBuilder's dtype checks: build with a placeholder
 * dtype, then give the native description another ggml type. For tests of the native validators only (e.g. a Q8_0
 * cache whose rows are not whole blocks, which GraphBuilder.state refuses); a valid q8_0 state is declared directly
 * with g.state(name, 'q8_0', shape). The byte size follows from the new type natively.
 */
export function retypeStates(desc: GraphDesc, types: Readonly<Record<string, GGMLType>>): GraphDesc {
  const n = desc.native;
  for (const [name, type] of Object.entries(types)) {
    const id = n.tensorNames.findIndex((s, j) => s === name && n.tensorRoles[j] === TensorRole.State);
    if (id < 0) throw new Error(`retypeStates: no state tensor '${name}'`);
    n.tensorTypes[id] = type;
  }
  return desc;
}
