/**
 * GET_ROWS (native/cpu/get_rows.cc): out[t] = dequant(W[ids[t]]) for every weight type. Dequantization in f32
 * is exact for every format (products d·q, d·sc·q fit in 24 bits; a min is subtracted with one rounding), so
 * the result must equal ggml's f32 dequantization (src/quant dequantizeF32) BIT FOR BIT, on the scalar path
 * and on every SIMD path, and be within 1 f32 rounding of the float64 reference (src/reference getRows).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { QwenHybridError } from '../../src/errors.js';
import { GGMLType } from '../../src/gguf/types.js';
import { GraphBuilder, OpKind } from '../../src/model/graph/index.js';
import { Rng, dequantizeF32 } from '../../src/quant/index.js';
import { getRows } from '../../src/reference/matmul.js';
import { createCpuBackend, type CpuBackend, type CpuIsa } from '../../src/runtime/backend.js';
import { WEIGHT_TYPES, weightBytes } from './matmul-util.js';

const ROWS = 37;
let backends: { label: string; be: CpuBackend }[] = [];

beforeAll(() => {
  const probe = createCpuBackend({ threads: 1 });
  const isas = probe.info.isaAvailable;
  probe.dispose();
  backends = isas.map((isa: CpuIsa) => ({ label: isa, be: createCpuBackend({ threads: 3, isa }) }));
});
afterAll(() => {
  for (const b of backends) b.be.dispose();
});

async function runGetRows(be: CpuBackend, type: GGMLType, shape: [number, number], w: Uint8Array, ids: Int32Array): Promise<Float32Array> {
  const wt = be.weightFromBytes(type, shape, w, 'embd');
  const g = new GraphBuilder();
  const [o] = g.op(OpKind.GET_ROWS, [g.weight(wt), g.input('ids', 'i32', [ids.length])], [{ dtype: 'f32', shape: [shape[0], ids.length] }]);
  g.output('o', o!);
  const plan = be.compile(g.build());
  try {
    return (await plan.run({ ids })).o as Float32Array;
  } finally {
    plan.dispose();
    wt.dispose();
  }
}

describe('GET_ROWS', () => {
  for (const { type, name, k } of WEIGHT_TYPES) {
    it(`${name}: n=${k}, ${ROWS} rows, T ∈ {1, 15, 300} with repeated ids, every ISA, == ggml f32 dequant bit for bit`, async () => {
      const w = weightBytes(type, [k, ROWS], 300 + type);
      const all = dequantizeF32(type, w, k * ROWS);
      const rng = new Rng(type);
      for (const T of [1, 15, 300]) {
        const ids = new Int32Array(T);
        for (let t = 0; t < T; t++) ids[t] = t === 1 ? ROWS - 1 : rng.int(ROWS); // last row, repeats for T > ROWS
        const expected = new Float32Array(k * T);
        for (let t = 0; t < T; t++) expected.set(all.subarray(ids[t]! * k, (ids[t]! + 1) * k), t * k);
        const ref64 = getRows(type, w, [k, ROWS], ids);
        for (const { label, be } of backends) {
          const out = await runGetRows(be, type, [k, ROWS], w, ids);
          expect(out.length).toBe(k * T);
          for (let i = 0; i < out.length; i++) {
            if (!Object.is(out[i], expected[i])) expect.fail(`${name} ${label} T=${T}: out[${i}] = ${out[i]}, ggml f32 dequant = ${expected[i]}`);
            // f32 rounding of the exact value: |out − exact| ≤ 2^-24·|exact|
            if (!(Math.abs(out[i]! - ref64[i]!) <= 2 ** -24 * Math.abs(ref64[i]!))) expect.fail(`${name} ${label}: out[${i}] = ${out[i]} vs exact ${ref64[i]}`);
          }
        }
      }
    });
  }

  it('an id outside [0, rows) rejects with INVALID_ARGUMENT naming GET_ROWS and the index', async () => {
    const be = backends[0]!.be;
    const w = weightBytes(GGMLType.Q8_0, [64, 4], 1);
    for (const bad of [4, -1]) {
      try {
        await runGetRows(be, GGMLType.Q8_0, [64, 4], w, new Int32Array([0, bad]));
        expect.fail('expected a rejection');
      } catch (e) {
        expect(e).toBeInstanceOf(QwenHybridError);
        expect((e as QwenHybridError).code).toBe('INVALID_ARGUMENT');
        expect((e as QwenHybridError).message).toMatch(new RegExp(`GET_ROWS op: input 1 \\(ids\\) \\[1\\] = ${bad} is not a row`));
      }
    }
  });

  it('ids that are not i32 {T}, or an output of the wrong shape, fail compile with INVALID_ARGUMENT', () => {
    const be = backends[0]!.be;
    const wt = be.weightFromBytes(GGMLType.F16, [8, 4], weightBytes(GGMLType.F16, [8, 4], 2));
    try {
      for (const [idsType, outShape, re] of [
        ['f32', [8, 3], /GET_ROWS op: input 1 \(ids\) must be i32 \{T\}/],
        ['i32', [8, 2], /GET_ROWS op: output 0 must be F32 \{8, 3\}/],
      ] as const) {
        const g = new GraphBuilder();
        const [o] = g.op(OpKind.GET_ROWS, [g.weight(wt), g.input('ids', idsType, [3])], [{ dtype: 'f32', shape: outShape }]);
        g.output('o', o!);
        try {
          be.compile(g.build());
          expect.fail('compile did not throw');
        } catch (e) {
          expect((e as QwenHybridError).code).toBe('INVALID_ARGUMENT');
          expect((e as QwenHybridError).message).toMatch(re);
        }
      }
    } finally {
      wt.dispose();
    }
  });
});
