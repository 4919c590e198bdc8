/**
 * GraphBuilder: structural checks (typed INVALID_ARGUMENT before anything reaches native) and the flattened
 * description's layout, decoded by hand here.
 */
import { describe, expect, it } from 'vitest';

import { QwenHybridError } from '../../src/errors.js';
import { GGMLType } from '../../src/gguf/types.js';
import { GraphBuilder, OpKind, TensorRole } from '../../src/model/graph/index.js';
import type { GraphWeight } from '../../src/model/graph/index.js';
import type { WeightHandle } from '../../src/native/types.js';

function fakeWeight(name: string, type: GGMLType, shape: number[]): GraphWeight {
  const handle = { fake: name } as unknown as WeightHandle;
  return { name, type, shape, nativeHandle: () => handle };
}

function code(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(QwenHybridError);
    return `${(e as QwenHybridError).code}: ${(e as Error).message}`;
  }
  return undefined;
}

describe('GraphBuilder', () => {
  it('flattens tensors, ops, params and outputs into the native layout', () => {
    const g = new GraphBuilder();
    const w = fakeWeight('blk.0.w', GGMLType.Q4_K, [256, 3]);
    const W = g.weight(w);
    expect(g.weight(w)).toBe(W); // one tensor per weight
    const x = g.input('x', 'f32', [256, 5]);
    const S = g.state('S', 'f16', [4, 2]);
    const [y] = g.op(OpKind.MATMUL, [W, x], [{ dtype: 'f32', shape: [3, 5] }]);
    const v = g.view(y!, [15], { byteOffset: 0 });
    const [ids, vals] = g.op(OpKind.TOP_K, [v], [{ dtype: 'i32', shape: [2] }, { dtype: 'f32', shape: [2] }], { i: [2], f: [0.5] });
    g.output('ids', ids!);
    g.output('vals', vals!);
    const d = g.build();
    const n = d.native;
    // tensors: W, x, S, y, v, ids, vals
    expect([...n.tensorRoles]).toEqual([TensorRole.Weight, TensorRole.Input, TensorRole.State, TensorRole.Activation, TensorRole.View, 0, 0]);
    expect([...n.tensorTypes]).toEqual([GGMLType.Q4_K, GGMLType.F32, GGMLType.F16, GGMLType.F32, GGMLType.F32, GGMLType.I32, GGMLType.F32]);
    expect([...n.tensorShapes]).toEqual([256, 3, 1, 1, 256, 5, 1, 1, 4, 2, 1, 1, 3, 5, 1, 1, 15, 1, 1, 1, 2, 1, 1, 1, 2, 1, 1, 1]);
    expect(n.tensorNames).toEqual(['blk.0.w', 'x', 'S', '', '', '', '']);
    expect(n.tensorWeights[0]).toEqual({ fake: 'blk.0.w' });
    expect(n.tensorWeights.slice(1)).toEqual([null, null, null, null, null, null]);
    expect([...n.tensorViewOf]).toEqual([-1, -1, -1, -1, 3, -1, -1]);
    expect([...n.opKinds]).toEqual([OpKind.MATMUL, OpKind.TOP_K]);
    expect([...n.opNumIn]).toEqual([2, 1]);
    expect([...n.opNumOut]).toEqual([1, 2]);
    expect([...n.opArgs]).toEqual([0, 1, 3, 4, 5, 6]);
    expect([...n.opParamsI]).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0]);
    expect(n.opParamsF[8]).toBe(0.5);
    expect(n.outputNames).toEqual(['ids', 'vals']);
    expect([...n.outputTensors]).toEqual([5, 6]);
    expect(d.inputs).toEqual([{ name: 'x', dtype: 'f32', shape: [256, 5] }]);
    expect(d.states).toEqual([{ name: 'S', dtype: 'f16', shape: [4, 2] }]);
    expect(d.weights).toEqual([w]);
  });

  it('a view of a view points at the base tensor with the summed byte offset', () => {
    const g = new GraphBuilder();
    const x = g.input('x', 'f32', [8, 4]);
    const a = g.view(x, [8, 2], { byteOffset: 32 });
    const b = g.view(a, [4], { byteOffset: 16 });
    const n = g.build().native;
    expect(n.tensorViewOf[b.id]).toBe(x.id);
    expect(n.tensorViewOffset[b.id]).toBe(48);
  });

  it('rejects structural mistakes with INVALID_ARGUMENT naming the op and what is wrong', () => {
    const g = new GraphBuilder();
    const x = g.input('x', 'f32', [4]);
    const other = new GraphBuilder().input('x', 'f32', [4]);
    expect(code(() => g.op(OpKind.ADD, [x], [{ dtype: 'f32', shape: [4] }]))).toMatch(/^INVALID_ARGUMENT: op #0 \(ADD\): takes 2 inputs, got 1/);
    expect(code(() => g.op(OpKind.TOP_K, [x], [{ dtype: 'f32', shape: [4] }]))).toMatch(/op #0 \(TOP_K\): has 2 outputs, got 1/);
    expect(code(() => g.op(99 as OpKind, [x], []))).toMatch(/unknown op kind 99/);
    expect(code(() => g.op(OpKind.RMS_NORM, [], [{ dtype: 'f32', shape: [4] }]))).toMatch(/takes 1 to 8 inputs, got 0/);
    expect(code(() => g.op(OpKind.SILU, [other], [{ dtype: 'f32', shape: [4] }]))).toMatch(/input 0: not a tensor of this GraphBuilder/);
    expect(code(() => g.op(OpKind.SILU, [x], [{ dtype: 'f32', shape: [0] }]))).toMatch(/not a positive integer/);
    expect(code(() => g.op(OpKind.SILU, [x], [{ dtype: 'f32', shape: [1, 1, 1, 1, 1] }]))).toMatch(/1 to 4 dims/);
    expect(code(() => g.op(OpKind.SILU, [x], [{ dtype: 'q4' as 'f32', shape: [4] }]))).toMatch(/dtype must be/);
    expect(code(() => g.op(OpKind.SCALE, [x], [{ dtype: 'f32', shape: [4] }], { i: [1.5] }))).toMatch(/not a safe integer/);
    expect(code(() => g.op(OpKind.SCALE, [x], [{ dtype: 'f32', shape: [4] }], { f: new Array(9).fill(0) }))).toMatch(/at most 8/);
    expect(code(() => g.input('x', 'f32', [4]))).toMatch(/duplicate input name 'x'/);
    expect(code(() => g.input('', 'f32', [4]))).toMatch(/non-empty/);
    expect(code(() => g.view(x, [8]))).toMatch(/exceed tensor #0/);
    g.output('y', x);
    expect(code(() => g.output('y', x))).toMatch(/duplicate output name 'y'/);
    expect(g.opCount).toBe(0); // nothing half-added
  });
});
