/**
 * GPU test harness: runs ONE op graph on the CPU backend (the oracle: its ops are tested against float64
 * references and llama.cpp in test/ops) and on the CUDA backend with the same seeded inputs and the same weight
 * tensors (weights are host objects; each backend uploads or maps them itself), and compares.
 *
 * No CUDA device → cudaBackends() throws QwenHybridError NO_CUDA_DEVICE, so every GPU test FAILS on such a machine
 * (like require-gpu.test.ts), never skips.
 */
import { expect } from 'vitest';

import { GraphBuilder, type OpKind, type TensorDType, type TensorRef } from '../../src/model/graph/index.js';
import type { TensorArray } from '../../src/native/types.js';
import type { Rng } from '../../src/quant/index.js';
import { createCpuBackend, type Backend, type CpuBackend, type WeightTensor } from '../../src/runtime/backend.js';
import { createCudaBackend, type CudaBackend, type CudaBackendOptions } from '../../src/runtime/cuda.js';

export interface Backends {
  cpu: CpuBackend;
  gpu: CudaBackend;
  dispose(): void;
}

/** A CPU oracle and a CUDA backend on device 0 (variants forced as given). Throws NO_CUDA_DEVICE without a GPU. */
export function cudaBackends(opts: CudaBackendOptions = {}): Backends {
  const gpu = createCudaBackend({ device: 0, ...opts });
  const cpu = createCpuBackend({});
  return {
    cpu,
    gpu,
    dispose() {
      gpu.dispose();
      cpu.dispose();
    },
  };
}

export interface InSpec {
  name: string;
  dtype: TensorDType;
  shape: readonly number[];
  data: TensorArray;
}

export interface OpSpec {
  kind: OpKind;
  /** Graph inputs, in op input order, interleaved with weights by `order` when given. */
  inputs: readonly InSpec[];
  /** Weight operands (created once, shared by both backends). */
  weights?: readonly WeightTensor[];
  /** Op input order as 'i<k>' (k-th input) / 'w<k>' (k-th weight); default: inputs then weights. */
  order?: readonly string[];
  outputs: readonly { dtype: TensorDType; shape: readonly number[] }[];
  params?: { i?: number[]; f?: number[] };
}

/** Builds, compiles and runs the one-op graph on `be`; outputs o0, o1, ... */
export async function runOpOn(be: Backend, spec: OpSpec): Promise<TensorArray[]> {
  const g = new GraphBuilder();
  const ins: TensorRef[] = spec.inputs.map((s) => g.input(s.name, s.dtype, s.shape));
  const ws: TensorRef[] = (spec.weights ?? []).map((w) => g.weight(w));
  const order = spec.order ?? [...ins.map((_, k) => `i${k}`), ...ws.map((_, k) => `w${k}`)];
  const refs = order.map((o) => {
    const k = Number(o.slice(1));
    const r = o[0] === 'i' ? ins[k] : ws[k];
    if (!r) throw new Error(`harness: bad operand '${o}'`);
    return r;
  });
  const ys = g.op(spec.kind, refs, spec.outputs, spec.params ?? {});
  ys.forEach((y, k) => g.output(`o${k}`, y));
  const plan = be.compile(g.build());
  try {
    const feed: Record<string, TensorArray> = {};
    for (const s of spec.inputs) feed[s.name] = s.data;
    const r = await plan.run(feed);
    return ys.map((_, k) => r[`o${k}`] as TensorArray);
  } finally {
    plan.dispose();
  }
}

/** The op on the CPU oracle and on the GPU. */
export async function runBoth(b: Backends, spec: OpSpec): Promise<{ cpu: TensorArray[]; gpu: TensorArray[] }> {
  const cpu = await runOpOn(b.cpu, spec);
  const gpu = await runOpOn(b.gpu, spec);
  return { cpu, gpu };
}

export interface Tol {
  /** |gpu - cpu| <= atol + rtol * |cpu| per element. */
  atol: number;
  rtol: number;
}

/**
 * Per element |actual - expected| <= atol + rtol·|expected|; NaN must match NaN, ±inf must match exactly. Fails
 * naming the worst element. Returns the largest |actual - expected| seen.
 */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: Tol, label: string): number {
  expect(actual.length, `${label}: length`).toBe(expected.length);
  let maxErr = 0;
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (Number.isNaN(e) || Number.isNaN(a) || !Number.isFinite(e) || !Number.isFinite(a)) {
      if (!Object.is(a, e) && !(Number.isNaN(a) && Number.isNaN(e))) {
        worst = i;
        worstExcess = Infinity;
      }
      continue;
    }
    const err = Math.abs(a - e);
    maxErr = Math.max(maxErr, err);
    const excess = err - (tol.atol + tol.rtol * Math.abs(e));
    if (excess > worstExcess) {
      worstExcess = excess;
      worst = i;
    }
  }
  if (worst >= 0) {
    expect.fail(`${label}: element ${worst}: gpu ${actual[worst]} vs cpu ${expected[worst]} (atol ${tol.atol}, rtol ${tol.rtol}; max |err| ${maxErr})`);
  }
  return maxErr;
}

/** Bit-for-bit equality (f32 compared as raw bits, so -0 vs +0 and NaN payloads count). */
export function expectSameBits(actual: TensorArray, expected: TensorArray, label: string): void {
  expect(actual.length, `${label}: length`).toBe(expected.length);
  const a = new Uint32Array(actual.buffer, actual.byteOffset, (actual.byteLength / 4) | 0);
  const e = new Uint32Array(expected.buffer, expected.byteOffset, (expected.byteLength / 4) | 0);
  if (actual.BYTES_PER_ELEMENT !== 4 || expected.BYTES_PER_ELEMENT !== 4) {
    for (let i = 0; i < expected.length; i++) if (actual[i] !== expected[i]) expect.fail(`${label}: element ${i}: gpu ${actual[i]} vs cpu ${expected[i]}`);
    return;
  }
  for (let i = 0; i < e.length; i++) {
    if (a[i] !== e[i]) expect.fail(`${label}: element ${i}: gpu ${actual[i]} (0x${a[i]!.toString(16)}) vs cpu ${expected[i]} (0x${e[i]!.toString(16)})`);
  }
}

// ---- seeded input data ----

/** n samples of N(0, sd²). */
export function randn(rng: Rng, n: number, sd = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal() * sd;
  return a;
}

/** n samples uniform in [lo, hi). */
export function uniform(rng: Rng, n: number, lo: number, hi: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = lo + (hi - lo) * rng.float();
  return a;
}
