/**
 * The CUDA backend's plumbing on a real device: weight upload (progress reaches the total, residency is counted,
 * release drops it), plans reading weights uploaded earlier or on compile, session state on the device (write →
 * run → read, views into state, state-rooted outputs) against the CPU backend running the same graph, handle
 * separation (a CPU state cannot run a CUDA plan), and the reference-rate benches (the fp16 GEMM self-checks its
 * result exactly before it reports a time).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { QwenHybridError } from '../../src/errors.js';
import { GGMLType } from '../../src/gguf/types.js';
import { GraphBuilder, OpKind } from '../../src/model/graph/index.js';
import { loadNativeAddon } from '../../src/native/index.js';
import { Rng, randomTensorData } from '../../src/quant/index.js';
import type { Backend } from '../../src/runtime/backend.js';
import type { Backends } from './harness.js';
import { cudaBackends, expectClose, expectSameBits, randn } from './harness.js';

let b: Backends;
beforeAll(() => {
  b = cudaBackends();
});
afterAll(() => b?.dispose());

describe('CUDA backend', () => {
  it('reports the device it runs on', () => {
    const info = b.gpu.info();
    const dev = loadNativeAddon().cudaDevices().devices[0]!;
    expect(info.name).toBe(dev.name);
    expect(info.computeCapability).toBe(dev.computeCapability);
    expect(info.freeMemoryBytes).toBeGreaterThan(0);
    expect(info.freeMemoryBytes).toBeLessThanOrEqual(info.totalMemoryBytes);
  });

  it('uploads weights with progress up to the total, counts them resident, and releases them', async () => {
    const rng = new Rng(1);
    const shapes: [GGMLType, number[]][] = [
      [GGMLType.Q4_K, [5120, 1700]], // 4.9 MB: one staging chunk
      [GGMLType.Q6_K, [5120, 17408]], // 73 MB: three 32 MiB staging chunks, both staging buffers reused
      [GGMLType.F32, [33]],
    ];
    const ws = shapes.map(([t, s], i) => b.gpu.weightFromBytes(t, s, randomTensorData(t, s, rng), `w${i}`));
    const total = ws.reduce((a, w) => a + w.byteSize, 0);
    const before = b.gpu.info();
    const ticks: [number, number][] = [];
    await b.gpu.uploadWeights(ws, { onProgress: (d, t) => ticks.push([d, t]) });
    expect(ticks.length).toBeGreaterThan(0);
    expect(ticks.at(-1)).toEqual([total, total]);
    for (let i = 1; i < ticks.length; i++) expect(ticks[i]![0]).toBeGreaterThanOrEqual(ticks[i - 1]![0]);
    const after = b.gpu.info();
    expect(after.weightsResident - before.weightsResident).toBe(3);
    expect(after.weightBytesResident - before.weightBytesResident).toBe(total);
    // Uploading again moves nothing.
    const again: [number, number][] = [];
    await b.gpu.uploadWeights(ws, { onProgress: (d, t) => again.push([d, t]) });
    expect(again.every(([, t]) => t === 0)).toBe(true);
    b.gpu.releaseWeights(ws);
    expect(b.gpu.info().weightsResident).toBe(before.weightsResident);
    for (const w of ws) w.dispose();
  });

  it('a plan whose buffers exceed the free device memory is OUT_OF_MEMORY naming the numbers, before allocating', () => {
    // {2^28, 100} f32 in and out: 2 × 107 GB of arena, more than any current GPU has.
    const shape = [2 ** 28, 100];
    const g = new GraphBuilder();
    const [y] = g.op(OpKind.SCALE, [g.input('x', 'f32', shape)], [{ dtype: 'f32', shape }], { f: [1, 0] });
    g.output('y', y!);
    let err: unknown;
    try {
      b.gpu.compile(g.build()).dispose();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(QwenHybridError);
    expect((err as QwenHybridError).code).toBe('OUT_OF_MEMORY');
    expect((err as Error).message).toMatch(/needs .* of plan buffers.* free of /);
  });

  it('state on the device: write → run (reads a view of the state, outputs the state) → read, same as the CPU', async () => {
    const n = 64;
    const rng = new Rng(7);
    const s0 = randn(rng, n * 3);
    const x = randn(rng, n);
    const run = async (be: Backend) => {
      const g = new GraphBuilder();
      const s = g.state('s', 'f32', [n, 3]);
      const row1 = g.view(s, [n], { byteOffset: n * 4 });
      const xi = g.input('x', 'f32', [n]);
      const [y] = g.op(OpKind.ADD, [row1, xi], [{ dtype: 'f32', shape: [n] }]);
      const [z] = g.op(OpKind.SCALE, [y!], [{ dtype: 'f32', shape: [n] }], { f: [2, 1] });
      g.output('z', z!);
      g.output('s', s);
      g.output('row2', g.view(s, [n], { byteOffset: 2 * n * 4 }));
      const plan = be.compile(g.build());
      const st = plan.createState();
      expect(Array.from(st.read('s') as Float32Array).every((v) => v === 0)).toBe(true);
      st.write('s', s0);
      const out = await plan.run({ x }, { state: st });
      const back = st.read('s') as Float32Array;
      st.dispose();
      plan.dispose();
      return { out, back };
    };
    const cpu = await run(b.cpu);
    const gpu = await run(b.gpu);
    expectSameBits(gpu.out.z as Float32Array, cpu.out.z as Float32Array, 'z');
    expectSameBits(gpu.out.s as Float32Array, s0, 'state output');
    expectSameBits(gpu.out.row2 as Float32Array, s0.subarray(2 * n), 'state view output');
    expectSameBits(gpu.back, s0, 'state read back');
  });

  it('a multi-op graph (arena reuse across op lifetimes, weights + inputs + views) matches the CPU', async () => {
    // embd → RMS_NORM(w) → ×gate → SILU → + residual → SCALE, T = 3, n = 5120 (27B width), plus a second branch
    // that reads the embedding after other activations were freed (arena slots reused).
    const n = 5120;
    const T = 3;
    const rng = new Rng(97);
    const embd = b.cpu.weightFromBytes(GGMLType.Q8_0, [n, 50], randomTensorData(GGMLType.Q8_0, [n, 50], rng), 'token_embd.weight');
    const normW = b.cpu.weightFromBytes(GGMLType.F32, [n], new Uint8Array(randn(rng, n).buffer), 'attn_norm.weight');
    const ids = Int32Array.from([3, 49, 0]);
    const gate = randn(rng, n * T);
    const run = async (be: Backend) => {
      const g = new GraphBuilder();
      const [x] = g.op(OpKind.GET_ROWS, [g.weight(embd), g.input('ids', 'i32', [T])], [{ dtype: 'f32', shape: [n, T] }]);
      const [h] = g.op(OpKind.RMS_NORM, [x!, g.weight(normW)], [{ dtype: 'f32', shape: [n, T] }], { f: [1e-6] });
      const [m] = g.op(OpKind.MUL, [h!, g.input('gate', 'f32', [n, T])], [{ dtype: 'f32', shape: [n, T] }]);
      const [a] = g.op(OpKind.SILU, [m!], [{ dtype: 'f32', shape: [n, T] }]);
      const [r] = g.op(OpKind.ADD, [a!, x!], [{ dtype: 'f32', shape: [n, T] }]);
      const [y] = g.op(OpKind.SCALE, [r!], [{ dtype: 'f32', shape: [n, T] }], { f: [0.5, 0] });
      const last = g.view(y!, [n], { byteOffset: (T - 1) * n * 4 });
      const [l2] = g.op(OpKind.L2_NORM, [last], [{ dtype: 'f32', shape: [n] }], { f: [1e-6] });
      g.output('y', y!);
      g.output('l2', l2!);
      const plan = be.compile(g.build());
      const out = await plan.run({ ids, gate });
      const info = plan.info;
      plan.dispose();
      return { out, info };
    };
    const cpu = await run(b.cpu);
    const gpu = await run(b.gpu);
    expect(gpu.info.arenaBytes).toBe(cpu.info.arenaBytes); // same plan layout on both backends
    expect(gpu.info.arenaBytes).toBeLessThan(gpu.info.activationBytes); // and it does reuse slots
    expectClose(gpu.out.y as Float32Array, cpu.out.y as Float32Array, { atol: 1e-5, rtol: 4e-5 }, 'y');
    expectClose(gpu.out.l2 as Float32Array, cpu.out.l2 as Float32Array, { atol: 1e-6, rtol: 4e-5 }, 'l2');
    embd.dispose();
    normW.dispose();
  });

  it('a CPU state cannot run with a CUDA plan', async () => {
    const mk = (be: Backend) => {
      const g = new GraphBuilder();
      const s = g.state('s', 'f32', [8]);
      const [y] = g.op(OpKind.SCALE, [s], [{ dtype: 'f32', shape: [8] }], { f: [1, 0] });
      g.output('y', y!);
      return be.compile(g.build());
    };
    const pc = mk(b.cpu);
    const pg = mk(b.gpu);
    const st = pc.createState();
    await expect(pg.run({}, { state: st })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    st.dispose();
    pc.dispose();
    pg.dispose();
  });
});

describe('reference-rate benches', () => {
  it('device-to-device copy runs and reports a plausible time', () => {
    const s = loadNativeAddon().cudaBenchCopy(0, 256 * 2 ** 20, 4);
    expect(s).toBeGreaterThan(0);
    const gbps = (2 * 256 * 2 ** 20 * 4) / s / 1e9;
    expect(gbps).toBeGreaterThan(50); // any sm_80+ GPU copies far faster than this
    expect(gbps).toBeLessThan(20000);
  });
  it('dense fp16 GEMM passes its exact self-check (a wrong fragment layout throws) and times', () => {
    for (const [m, n, k] of [
      [128, 128, 32],
      [256, 384, 4096],
      [1024, 1024, 1024],
    ] as const) {
      const s = loadNativeAddon().cudaBenchGemmF16(0, m, n, k, 2);
      expect(s).toBeGreaterThan(0);
    }
  });
});
