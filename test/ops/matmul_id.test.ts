/**
 * MATMUL_ID (native/cpu/matmul_id.cc): y[t][s] = W[ids[t][s]] · x, x shared per token (p.i[0] = 0) or per slot
 * (p.i[0] = 1), against the float64 reference (src/reference/matmul.ts) for every weight type and
 * T ∈ {1, 2, 7, 15, 64, 65, 300}, with repeated expert ids inside a token and across tokens.
 * "Reads only the selected experts": expert 0 is all 0xFF bytes (a NaN scale / NaN values in every format) and is
 * never selected, so any read of it would turn outputs into NaN. SIMD == scalar; 1 thread == 4 threads exactly.
 * Tolerance: (k + 2)·2^-24·Σ|w·x| per output (matmul-util.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { QwenHybridError } from '../../src/errors.js';
import { GGMLType, ggmlTensorBytes } from '../../src/gguf/types.js';
import { GraphBuilder, OpKind } from '../../src/model/graph/index.js';
import { Rng } from '../../src/quant/index.js';
import { matmulId } from '../../src/reference/matmul.js';
import { createCpuBackend, type CpuBackend } from '../../src/runtime/backend.js';
import { WEIGHT_TYPES, expectClose, expectWithinBound, poisonedExpertBytes, randn, repeatingExpertIds, weightBytes } from './matmul-util.js';

const TS = [1, 2, 7, 15, 64, 65, 300];
const M = 33, E = 5, K = 3;

let be: CpuBackend;
let be1: CpuBackend;
let scalar: CpuBackend;

beforeAll(() => {
  be = createCpuBackend({ threads: 4 });
  be1 = createCpuBackend({ threads: 1 });
  scalar = createCpuBackend({ threads: 2, isa: 'scalar' });
});
afterAll(() => {
  be.dispose();
  be1.dispose();
  scalar.dispose();
});


async function runMatmulId(b: CpuBackend, type: GGMLType, k: number, w: Uint8Array, x: Float32Array, ids: Int32Array, T: number, perSlot: boolean): Promise<Float32Array> {
  const wt = b.weightFromBytes(type, [k, M, E], w, 'experts');
  const g = new GraphBuilder();
  const xi = g.input('x', 'f32', perSlot ? [k, K, T] : [k, T]);
  const ii = g.input('ids', 'i32', [K, T]);
  const [y] = g.op(OpKind.MATMUL_ID, [g.weight(wt), xi, ii], [{ dtype: 'f32', shape: [M, K, T] }], { i: [perSlot ? 1 : 0] });
  g.output('y', y!);
  const plan = b.compile(g.build());
  try {
    return (await plan.run({ x, ids })).y as Float32Array;
  } finally {
    plan.dispose();
    wt.dispose();
  }
}

describe('MATMUL_ID vs float64 reference', () => {
  for (const { type, name, k } of WEIGHT_TYPES) {
    it(`${name}: k=${k}, m=${M}, E=${E}, K=${K}, T ∈ {${TS.join(', ')}}, both x modes; scalar, SIMD, 1 vs 4 threads`, async () => {
      const w = poisonedExpertBytes(type, k, M, E, 500 + type);
      const rng = new Rng(100 + type);
      for (const T of TS) {
        for (const perSlot of [false, true]) {
          const x = randn(rng, perSlot ? k * K * T : k * T);
          const ids = repeatingExpertIds(rng, K, E, T);
          const ref = matmulId(type, w, [k, M, E], x, ids, K, T, perSlot);
          const label = `${name} T=${T} mode ${perSlot ? 1 : 0}`;
          const y4 = await runMatmulId(be, type, k, w, x, ids, T, perSlot);
          expectWithinBound(y4, ref, k, `${label} ${be.info.isa}`);
          const ys = await runMatmulId(scalar, type, k, w, x, ids, T, perSlot);
          expectWithinBound(ys, ref, k, `${label} scalar`);
          expectClose(y4, ys, ref.absSum, k, `${label} SIMD vs scalar`);
          const y1 = await runMatmulId(be1, type, k, w, x, ids, T, perSlot);
          expect(Array.from(y1), `${label}: 1 thread == 4 threads`).toEqual(Array.from(y4));
        }
      }
    });
  }

  it('an expert id outside [0, E) rejects with INVALID_ARGUMENT naming the slot and token', async () => {
    const k = 64;
    const w = poisonedExpertBytes(GGMLType.Q8_0, k, M, E, 9);
    const ids = new Int32Array([1, 2, 3, 1, E, 2]);
    try {
      await runMatmulId(be, GGMLType.Q8_0, k, w, new Float32Array(k * 2), ids, 2, false);
      expect.fail('expected a rejection');
    } catch (e) {
      expect(e).toBeInstanceOf(QwenHybridError);
      expect((e as QwenHybridError).code).toBe('INVALID_ARGUMENT');
      expect((e as QwenHybridError).message).toMatch(/MATMUL_ID op: input 2 \(ids\) \[slot 1, token 1\] = 5 is not an expert index in \[0, 5\)/);
    }
  });
});

describe('MATMUL_ID validation', () => {
  it('bad x mode, x shape for the mode, ids type and output shape are INVALID_ARGUMENT at compile', () => {
    const k = 64, T = 2;
    const wt = be.weightFromBytes(GGMLType.Q8_0, [k, M, E], poisonedExpertBytes(GGMLType.Q8_0, k, M, E, 3));
    try {
      const cases: { mode: number; x: number[]; idsType: 'i32' | 'f32'; y: number[]; re: RegExp }[] = [
        { mode: 2, x: [k, T], idsType: 'i32', y: [M, K, T], re: /MATMUL_ID op: p\.i\[0\] \(x mode\) must be 0/ },
        { mode: 1, x: [k, T], idsType: 'i32', y: [M, K, T], re: /MATMUL_ID op: input 1 \(x\) must be F32 \{64, 3, 2\}/ },
        { mode: 0, x: [k, K, T], idsType: 'i32', y: [M, K, T], re: /MATMUL_ID op: input 1 \(x\) must be F32 \{64, 2\}/ },
        { mode: 0, x: [k, T], idsType: 'f32', y: [M, K, T], re: /MATMUL_ID op: input 2 \(ids\) must be i32 \{K, T\}/ },
        { mode: 0, x: [k, T], idsType: 'i32', y: [M, T], re: /MATMUL_ID op: output 0 must be F32 \{33, 3, 2\}/ },
      ];
      for (const c of cases) {
        const g = new GraphBuilder();
        const [y] = g.op(OpKind.MATMUL_ID, [g.weight(wt), g.input('x', 'f32', c.x), g.input('ids', c.idsType, [K, T])], [{ dtype: 'f32', shape: c.y }], { i: [c.mode] });
        g.output('y', y!);
        try {
          be.compile(g.build());
          expect.fail(`compile did not throw for ${String(c.re)}`);
        } catch (e) {
          expect(e).toBeInstanceOf(QwenHybridError);
          expect((e as QwenHybridError).code).toBe('INVALID_ARGUMENT');
          expect((e as QwenHybridError).message).toMatch(c.re);
        }
      }
    } finally {
      wt.dispose();
    }
  });
});
