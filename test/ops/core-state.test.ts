/**
 * Session state: zero-initialised buffers per plan state tensor; read/write round trips; a state is shared by
 * any plan whose state tensors match by name/type/shape (prefill and decode plans of one session); updates made
 * by ops persist across runs.
 *
 * Persistence uses SSM_CONV (op_list.h: out[t][c] = SiLU(sum_k w[c][k] * xin[t-(K-1)+k][c]), xin = [state; x],
 * state <- last K-1 input rows). Reference: float64 over the whole history; tolerance 1e-5 relative (a K-term
 * f32 dot plus f32 expf, errors ~K ulp).
 */
import { afterAll, describe, expect, it } from 'vitest';

import { GraphBuilder, OpKind } from '../../src/model/graph/index.js';
import { GGMLType } from '../../src/gguf/types.js';
import { createCpuBackend } from '../../src/runtime/index.js';
import type { WeightTensor } from '../../src/runtime/index.js';
import { maxRelErr, randomF32, rejected, thrown } from './core-helpers.js';

const be = createCpuBackend({ threads: 2 });
afterAll(() => be.dispose());

/** y = S + x (reads the state S f32 {n}); also outputs S itself. */
function addStatePlan(n: number, stateName = 'S') {
  const g = new GraphBuilder();
  const x = g.input('x', 'f32', [n]);
  const S = g.state(stateName, 'f32', [n]);
  g.state('kv', 'f16', [4, 2]);
  const [y] = g.op(OpKind.ADD, [x, S], [{ dtype: 'f32', shape: [n] }]);
  g.output('y', y!);
  g.output('S', S);
  return be.compile(g.build());
}

describe('session state', () => {
  it('is zero-initialised, typed per dtype, and round-trips through write/read', () => {
    const plan = addStatePlan(5);
    expect(plan.info.states.map((s) => [s.name, s.type, s.shape])).toEqual([['S', GGMLType.F32, [5]], ['kv', GGMLType.F16, [4, 2]]]);
    const st = plan.createState();
    const s0 = st.read('S');
    expect(s0).toBeInstanceOf(Float32Array);
    expect([...s0]).toEqual([0, 0, 0, 0, 0]);
    const kv = st.read('kv');
    expect(kv).toBeInstanceOf(Uint16Array);
    expect(kv.length).toBe(8);
    expect([...kv].every((v) => v === 0)).toBe(true);
    st.write('S', Float32Array.of(1, 2, 3, 4, 5));
    st.write('kv', Uint16Array.from({ length: 8 }, (_, i) => 0x3c00 + i));
    expect([...st.read('S')]).toEqual([1, 2, 3, 4, 5]);
    expect([...st.read('kv')]).toEqual([0x3c00, 0x3c01, 0x3c02, 0x3c03, 0x3c04, 0x3c05, 0x3c06, 0x3c07]);
    // Reads are copies.
    (st.read('S') as Float32Array)[0] = 99;
    expect(st.read('S')[0]).toBe(1);
    st.dispose();
    plan.dispose();
  });

  it('bad names, kinds and sizes are INVALID_ARGUMENT naming the state tensor', () => {
    const plan = addStatePlan(3);
    const st = plan.createState();
    expect(thrown(() => st.read('T')).message).toBe("stateRead: no state tensor 'T' (has 'S', 'kv')");
    expect(thrown(() => st.write('S', new Float32Array(4))).message).toBe("stateWrite: state 'S': expected 3 elements (F32 {3}), got 4");
    expect(thrown(() => st.write('kv', new Float32Array(8))).message).toBe("stateWrite: state 'kv': expected a Uint16Array (F16 {4, 2})");
    st.dispose();
    plan.dispose();
  });

  it('ops read the state; a plan without its state, or with a mismatched one, is refused', async () => {
    const plan = addStatePlan(3);
    const st = plan.createState();
    st.write('S', Float32Array.of(10, 20, 30));
    const out = await plan.run({ x: Float32Array.of(1, 2, 3) }, { state: st });
    expect([...(out.y as Float32Array)]).toEqual([11, 22, 33]);
    expect([...(out.S as Float32Array)]).toEqual([10, 20, 30]);
    expect((await rejected(plan.run({ x: new Float32Array(3) }))).message).toMatch(/^planRun: the plan has state tensors \('S', \.\.\.\) but no state was given/);
    const other = addStatePlan(4);
    const e = await rejected(other.run({ x: new Float32Array(4) }, { state: st }));
    expect(e.code).toBe('INVALID_ARGUMENT');
    expect(e.message).toBe("plan run: state 'S' is F32 {3} but the plan needs F32 {4}");
    const renamed = addStatePlan(3, 'R');
    expect((await rejected(renamed.run({ x: new Float32Array(3) }, { state: st }))).message).toBe("plan run: the state has no tensor 'R'");
    for (const p of [plan, other, renamed]) p.dispose();
    st.dispose();
  });

  describe('updates persist across runs and across plans sharing the state (SSM_CONV)', () => {
    const C = 3, K = 4;
    const wData = randomF32(K * C, 11); // {K, C}: w[c][k] at c*K + k
    let w: WeightTensor;
    const conv = (T: number) => {
      const g = new GraphBuilder();
      const x = g.input('x', 'f32', [C, T]);
      const W = g.weight(w);
      const S = g.state('conv', 'f32', [C, K - 1]);
      const [y] = g.op(OpKind.SSM_CONV, [x, W, S], [{ dtype: 'f32', shape: [C, T] }]);
      g.output('y', y!);
      return be.compile(g.build());
    };
    /** float64 reference over the whole history xs (rows of C), zeros before it. */
    const reference = (xs: Float32Array[]) =>
      xs.map((_, t) =>
        Array.from({ length: C }, (_, c) => {
          let acc = 0;
          for (let k = 0; k < K; k++) {
            const src = t - (K - 1) + k;
            if (src >= 0) acc += (wData[c * K + k] as number) * (xs[src]![c] as number);
          }
          return acc / (1 + Math.exp(-acc));
        }),
      );

    it('prefill of 5 tokens, then 4 decode steps, equals the reference over the full history', async () => {
      w = be.weightFromBytes(GGMLType.F32, [K, C], new Uint8Array(wData.buffer.slice(0)), 'conv1d.weight');
      const prefill = conv(5);
      const decode = conv(1);
      const st = prefill.createState();
      const xs = Array.from({ length: 9 }, (_, t) => randomF32(C, 100 + t));
      const want = reference(xs);
      const pre = new Float32Array(5 * C);
      xs.slice(0, 5).forEach((r, t) => pre.set(r, t * C));
      const y0 = (await prefill.run({ x: pre }, { state: st })).y as Float32Array;
      expect(maxRelErr(y0, want.slice(0, 5).flat())).toBeLessThan(1e-5);
      // The state now holds the last K-1 raw inputs, oldest first.
      expect(maxRelErr(st.read('conv'), [...xs[2]!, ...xs[3]!, ...xs[4]!])).toBe(0);
      for (let t = 5; t < 9; t++) {
        const y = (await decode.run({ x: xs[t]! }, { state: st })).y as Float32Array;
        expect(maxRelErr(y, want[t]!), `token ${t}`).toBeLessThan(1e-5);
      }
      // A fresh state starts from zeros again: the same decode step gives the t=0 answer for x = xs[0].
      const fresh = decode.createState();
      const y = (await decode.run({ x: xs[0]! }, { state: fresh })).y as Float32Array;
      expect(maxRelErr(y, want[0]!)).toBeLessThan(1e-5);
      for (const o of [prefill, decode, st, fresh, w]) o.dispose();
    });
  });
});
