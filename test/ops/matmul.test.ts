/**
 * MATMUL (native/cpu/matmul.cc) against the float64 reference (src/reference/matmul.ts) for every weight type
 * and T ∈ {1, 2, 7, 15, 64, 65, 300} (T = 1 is the fused decode matvec, T > 1 the dequantized-panel path; 65
 * and 300 cross the 4-token and 16-row tiles), odd m; SIMD == scalar; 1 thread == 4 threads (bit-exact: the
 * row split never changes a row's arithmetic); invalid shapes; a real-shape 5120-column Q4_K matvec.
 * Tolerance: (k + 2)·2^-24·Σ|w·x| per output, justified in matmul-util.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { GGMLType } from '../../src/gguf/types.js';
import { GraphBuilder, OpKind } from '../../src/model/graph/index.js';
import { Rng } from '../../src/quant/index.js';
import { matmul } from '../../src/reference/matmul.js';
import { createCpuBackend, type CpuBackend } from '../../src/runtime/backend.js';
import { QwenHybridError } from '../../src/errors.js';
import { WEIGHT_TYPES, expectClose, expectWithinBound, randn, runMatmul, weightBytes } from './matmul-util.js';

const TS = [1, 2, 7, 15, 64, 65, 300];
const M = 33;

let be: CpuBackend;
let scalar: CpuBackend;
let be1: CpuBackend;
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

describe('MATMUL vs float64 reference', () => {
  for (const { type, name, k } of WEIGHT_TYPES) {
    it(`${name}: k=${k}, m=${M}, T ∈ {${TS.join(', ')}}; scalar, SIMD, 1 vs 4 threads`, async () => {
      const w = weightBytes(type, [k, M], 1000 + type);
      const rng = new Rng(7 + type);
      for (const T of TS) {
        const x = randn(rng, k * T);
        const ref = matmul(type, w, [k, M], x, T);
        const yScalar = await runMatmul(scalar, type, [k, M], w, x, T);
        expectWithinBound(yScalar, ref, k, `${name} T=${T} scalar`);
        const y4 = await runMatmul(be, type, [k, M], w, x, T);
        expectWithinBound(y4, ref, k, `${name} T=${T} ${be.info.isa} 4 threads`);
        expectClose(y4, yScalar, ref.absSum, k, `${name} T=${T} SIMD vs scalar`);
        const y1 = await runMatmul(be1, type, [k, M], w, x, T);
        expect(Array.from(y1), `${name} T=${T}: 1 thread == 4 threads`).toEqual(Array.from(y4));
      }
    });
  }

  it('every available SIMD ISA (forced) matches the reference, K-quants and F16 at m = 257', async () => {
    for (const isa of simdIsas) {
      const b = createCpuBackend({ threads: 2, isa: isa as 'avx2' | 'avx512' });
      try {
        expect(b.info.isa).toBe(isa);
        for (const { type, name, k } of WEIGHT_TYPES) {
          const m = type === GGMLType.Q4_K || type === GGMLType.Q6_K || type === GGMLType.F16 ? 257 : M;
          const w = weightBytes(type, [k, m], 2000 + type);
          const rng = new Rng(11 + type);
          for (const T of [1, 5, 17]) {
            const x = randn(rng, k * T);
            expectWithinBound(await runMatmul(b, type, [k, m], w, x, T), matmul(type, w, [k, m], x, T), k, `${name} ${isa} T=${T} m=${m}`);
          }
        }
      } finally {
        b.dispose();
      }
    }
  });

  it('real shape: Q4_K 5120 -> 96 matvec (T = 1) and T = 3', async () => {
    const k = 5120, m = 96;
    const w = weightBytes(GGMLType.Q4_K, [k, m], 99);
    const rng = new Rng(5);
    for (const T of [1, 3]) {
      const x = randn(rng, k * T);
      const ref = matmul(GGMLType.Q4_K, w, [k, m], x, T);
      expectWithinBound(await runMatmul(be, GGMLType.Q4_K, [k, m], w, x, T), ref, k, `Q4_K 5120 T=${T}`);
      expectWithinBound(await runMatmul(scalar, GGMLType.Q4_K, [k, m], w, x, T), ref, k, `Q4_K 5120 T=${T} scalar`);
    }
  });

  it('a row-dependent weight pattern lands in the right outputs (row r of W -> y[t][r])', async () => {
    // W[r][c] = (r + 1) if c == r else 0 (F32), x[t][c] = t·1000 + c: y[t][r] = (r + 1)·(t·1000 + r), exact.
    const k = 40, m = 37, T = 3;
    const wf = new Float32Array(k * m);
    for (let r = 0; r < m; r++) wf[r * k + r] = r + 1;
    const x = new Float32Array(k * T);
    for (let t = 0; t < T; t++) for (let c = 0; c < k; c++) x[t * k + c] = t * 1000 + c;
    const y = await runMatmul(be, GGMLType.F32, [k, m], new Uint8Array(wf.buffer), x, T);
    for (let t = 0; t < T; t++) for (let r = 0; r < m; r++) expect(y[t * m + r]).toBe((r + 1) * (t * 1000 + r));
  });
});

describe('MATMUL validation', () => {
  function compileErr(build: (g: GraphBuilder) => void): QwenHybridError {
    const g = new GraphBuilder();
    build(g);
    try {
      be.compile(g.build());
    } catch (e) {
      expect(e).toBeInstanceOf(QwenHybridError);
      return e as QwenHybridError;
    }
    throw new Error('compile did not throw');
  }

  it('x with k != W.ne0, y of the wrong shape, and non-f32 x are INVALID_ARGUMENT naming MATMUL', () => {
    const wt = be.weightFromBytes(GGMLType.Q8_0, [64, 8], weightBytes(GGMLType.Q8_0, [64, 8], 1));
    try {
      let e = compileErr((g) => {
        const [y] = g.op(OpKind.MATMUL, [g.weight(wt), g.input('x', 'f32', [96, 2])], [{ dtype: 'f32', shape: [8, 2] }]);
        g.output('y', y!);
      });
      expect(e.code).toBe('INVALID_ARGUMENT');
      expect(e.message).toMatch(/MATMUL op: input 1 \(x\) must be f32 \{k, T\} with k = W\.ne0 = 64/);
      e = compileErr((g) => {
        const [y] = g.op(OpKind.MATMUL, [g.weight(wt), g.input('x', 'f32', [64, 2])], [{ dtype: 'f32', shape: [9, 2] }]);
        g.output('y', y!);
      });
      expect(e.code).toBe('INVALID_ARGUMENT');
      expect(e.message).toMatch(/MATMUL op: output 0 must be F32 \{8, 2\}/);
      e = compileErr((g) => {
        const [y] = g.op(OpKind.MATMUL, [g.weight(wt), g.input('x', 'f16', [64, 2])], [{ dtype: 'f32', shape: [8, 2] }]);
        g.output('y', y!);
      });
      expect(e.message).toMatch(/MATMUL op: input 1 \(x\)/);
    } finally {
      wt.dispose();
    }
  });
});
