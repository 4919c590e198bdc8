/**
 * Lifecycle and concurrency: dispose() is idempotent and use after it is DISPOSED; an in-flight run survives
 * the dispose of its plan/backend; runs are asynchronous (the event loop keeps ticking during a long step);
 * concurrent runs (two backends at once, and many queued runs of one backend) each get their own inputs' answer.
 * Ops: SCALE chains (y = f0 * x + f1); expected values are the closed form of the chain, computed in JS.
 */
import { describe, expect, it } from 'vitest';

import { GraphBuilder, OpKind } from '../../src/model/graph/index.js';
import { loadNativeAddon } from '../../src/native/index.js';
import type { PlanHandle } from '../../src/native/index.js';
import { createCpuBackend } from '../../src/runtime/index.js';
import type { CpuBackend } from '../../src/runtime/index.js';
import { rejected, thrown } from './core-helpers.js';

/** nOps x SCALE(1, 1) over {n}: y = x + nOps exactly for small integers. */
function chain(be: CpuBackend, n: number, nOps: number, f0 = 1, f1 = 1) {
  const g = new GraphBuilder();
  let t = g.input('x', 'f32', [n]);
  for (let i = 0; i < nOps; i++) [t] = g.op(OpKind.SCALE, [t], [{ dtype: 'f32', shape: [n] }], { f: [f0, f1] }) as [typeof t];
  g.output('y', t);
  return be.compile(g.build());
}

describe('dispose', () => {
  it('is idempotent; use after dispose is DISPOSED for backend, plan and state', async () => {
    const be = createCpuBackend({ threads: 1 });
    const plan = chain(be, 4, 2);
    const g = new GraphBuilder();
    g.output('s', g.state('s', 'f32', [2]));
    const sp = be.compile(g.build());
    const st = sp.createState();
    st.dispose();
    st.dispose();
    expect(thrown(() => st.read('s')).code).toBe('DISPOSED');
    expect(thrown(() => st.write('s', new Float32Array(2))).code).toBe('DISPOSED');
    expect((await rejected(sp.run({}, { state: st }))).code).toBe('DISPOSED');
    plan.dispose();
    plan.dispose();
    expect((await rejected(plan.run({ x: new Float32Array(4) }))).message).toBe('plan was disposed');
    expect(thrown(() => plan.createState()).code).toBe('DISPOSED');
    await be[Symbol.asyncDispose]();
    expect(thrown(() => be.compile(new GraphBuilder().build())).code).toBe('DISPOSED');
    expect(thrown(() => be.weightFromBytes(0, [1], new Uint8Array(4))).code).toBe('DISPOSED');
    // A plan compiled before the backend's dispose still runs (it holds the thread pool).
    const sp2 = sp.createState();
    expect([...((await sp.run({}, { state: sp2 })).s as Float32Array)]).toEqual([0, 0]);
    await sp[Symbol.asyncDispose]();
    await sp2[Symbol.asyncDispose]();
    expect(thrown(() => sp2.read('s')).code).toBe('DISPOSED');
  });

  it('the raw addon refuses a handle of the wrong kind with INVALID_ARGUMENT (no crash)', () => {
    const addon = loadNativeAddon();
    const be = addon.cpuBackendCreate(1, 'scalar');
    let err: unknown;
    try {
      addon.planInfo(be as unknown as PlanHandle);
    } catch (e) {
      err = e;
    }
    expect((err as { code?: string }).code).toBe('INVALID_ARGUMENT');
    expect((err as Error).message).toBe('planInfo(plan) must be a plan handle');
    err = undefined;
    try {
      addon.planInfo({} as PlanHandle);
    } catch (e) {
      err = e;
    }
    expect((err as { code?: string }).code).toBe('INVALID_ARGUMENT');
    addon.cpuBackendDispose(be);
  });

  it('disposing a plan while its run is in flight lets the run finish correctly', async () => {
    const be = createCpuBackend({ threads: 2 });
    const plan = chain(be, 1 << 18, 40);
    const p = plan.run({ x: new Float32Array(1 << 18).fill(2) });
    plan.dispose();
    be.dispose();
    const y = (await p).y as Float32Array;
    expect(y[0]).toBe(42);
    expect(y[(1 << 18) - 1]).toBe(42);
  });
});

describe('async execution', () => {
  it('the event loop keeps ticking while a long step runs on a worker thread', async () => {
    const be = createCpuBackend({ threads: 1 });
    const n = 1 << 20;
    const plan = chain(be, n, 150);
    const x = new Float32Array(n).fill(1);
    let ticks = 0;
    let running = true;
    const tick = () => {
      ticks++;
      if (running) setImmediate(tick);
    };
    const t0 = performance.now();
    const p = plan.run({ x });
    const callMs = performance.now() - t0;
    setImmediate(tick);
    const y = (await p).y as Float32Array;
    running = false;
    const runMs = performance.now() - t0;
    expect(y[0]).toBe(151);
    // ~150 x 8 MiB of memory traffic: tens of ms at least; the call itself returns at once.
    expect(runMs).toBeGreaterThan(20);
    expect(callMs).toBeLessThan(runMs / 4);
    expect(ticks, `${ticks} event-loop turns in ${runMs.toFixed(0)} ms`).toBeGreaterThan(10);
    plan.dispose();
    be.dispose();
  });

  it('two backends run concurrently; each run gets its own answer', async () => {
    const a = createCpuBackend({ threads: 1 });
    const b = createCpuBackend({ threads: 1 });
    const n = 1 << 16;
    const pa = chain(a, n, 30, 1, 1);
    const pb = chain(b, n, 20, 1, -1);
    const xs = Float32Array.from({ length: n }, (_, i) => i % 1000);
    const [ya, yb] = await Promise.all([pa.run({ x: xs }), pb.run({ x: xs })]);
    for (const i of [0, 1, 999, n - 1]) {
      expect((ya.y as Float32Array)[i]).toBe((i % 1000) + 30);
      expect((yb.y as Float32Array)[i]).toBe((i % 1000) - 20);
    }
    for (const o of [pa, pb, a, b]) o.dispose();
  });

  it('many runs queued on one backend (two plans) each see the inputs given at call time', async () => {
    const be = createCpuBackend({ threads: 2 });
    const p1 = chain(be, 1000, 5, 2, 0); // y = 32 x
    const p2 = chain(be, 1000, 3, 1, 7); // y = x + 21
    const x = new Float32Array(1000);
    const runs: Promise<Record<string, unknown>>[] = [];
    for (let k = 0; k < 20; k++) {
      x.fill(k); // the same array, rewritten after each call
      runs.push(k % 2 ? p1.run({ x }) : p2.run({ x }));
    }
    const outs = await Promise.all(runs);
    outs.forEach((o, k) => {
      const y = o.y as Float32Array;
      const want = k % 2 ? 32 * k : k + 21;
      expect(y[0]).toBe(want);
      expect(y[999]).toBe(want);
    });
    for (const o of [p1, p2, be]) o.dispose();
  });

  it('a run error rejects that run only; the next runs still work', async () => {
    const be = createCpuBackend({ threads: 1 });
    const plan = chain(be, 4, 1);
    const bad = plan.run({ x: new Float32Array(3) });
    const good = plan.run({ x: new Float32Array(4) });
    expect((await rejected(bad)).code).toBe('INVALID_ARGUMENT');
    expect([...((await good).y as Float32Array)]).toEqual([1, 1, 1, 1]);
    plan.dispose();
    be.dispose();
  });
});
