/**
 * Plan compile and execution plumbing: arena reuse (lifetime-planned buffers give the same values as a float
 * reference computed op by op), views, 1 vs N threads, graph-level validation errors naming op#/kind/tensor,
 * run-time argument errors, ISA selection.
 *
 * Ops used: SCALE (y = f0 * x + f1, one f32 fma per element), ADD, MUL (f32). Reference: the same formulas in
 * float64 rounded to f32 after each op (Math.fround), so add/mul match exactly and SCALE's fused multiply-add
 * is within 1 ulp per op (double rounding of a 48-bit product plus an f32). Tolerance 1e-5 relative over a
 * 60-op chain: 60 ops x 1 ulp (6e-8) of growth per op, with margin.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';

import { GraphBuilder, OpKind } from '../../src/model/graph/index.js';
import type { TensorRef } from '../../src/model/graph/index.js';
import { loadNativeAddon, nativeAddonPath } from '../../src/native/index.js';
import { Rng } from '../../src/quant/index.js';
import { createCpuBackend } from '../../src/runtime/index.js';
import { maxRelErr, randomF32, rejected, thrown } from './core-helpers.js';

const fr = Math.fround;
const be = createCpuBackend({ threads: 2 });
afterAll(() => be.dispose());

interface Chain {
  g: GraphBuilder;
  ref: Map<string, Float32Array>;
  x: Float32Array;
}

/**
 * A random DAG of SCALE/ADD/MUL ops over {n} tensors: each op reads recent tensors and, now and then, x or an
 * early tensor (long lifetimes interleaved with short ones, so the arena must reuse and must not clobber).
 */
function randomChain(n: number, nOps: number, seed: number): Chain {
  const rng = new Rng(seed);
  const g = new GraphBuilder();
  const x = randomF32(n, seed + 1);
  const xt = g.input('x', 'f32', [n]);
  const ts: TensorRef[] = [xt];
  const vals: Float32Array[] = [x];
  const pick = () => {
    const r = rng.float();
    const k = r < 0.15 ? 0 : r < 0.25 ? rng.int(ts.length) : Math.max(0, ts.length - 1 - rng.int(3));
    return k;
  };
  for (let i = 0; i < nOps; i++) {
    const r = rng.float();
    const a = pick();
    const va = vals[a] as Float32Array;
    const out = new Float32Array(n);
    let t: TensorRef;
    if (r < 0.4) {
      const s = fr(0.5 + rng.float()), b = fr(rng.float() - 0.5);
      [t] = g.op(OpKind.SCALE, [ts[a]!], [{ dtype: 'f32', shape: [n] }], { f: [s, b] }) as [TensorRef];
      for (let j = 0; j < n; j++) out[j] = fr(s * va[j]! + b);
    } else {
      const b = pick();
      const vb = vals[b] as Float32Array;
      const add = r < 0.75;
      [t] = g.op(add ? OpKind.ADD : OpKind.MUL, [ts[a]!, ts[b]!], [{ dtype: 'f32', shape: [n] }]) as [TensorRef];
      // Renormalise by a SCALE-free trick: keep magnitudes bounded with MUL by values in [-1, 1]-ish tensors.
      for (let j = 0; j < n; j++) out[j] = add ? fr(va[j]! + vb[j]!) : fr(va[j]! * vb[j]!);
    }
    ts.push(t);
    vals.push(out);
  }
  const ref = new Map<string, Float32Array>();
  // Outputs: the last tensor, and two early ones that must survive to the end.
  for (const k of [ts.length - 1, 1, Math.floor(ts.length / 3)]) {
    g.output(`t${k}`, ts[k]!);
    ref.set(`t${k}`, vals[k]!);
  }
  return { g, ref, x };
}

describe('plan: arena and execution', () => {
  it('a 60-op DAG with reused buffers equals the op-by-op reference; the arena is smaller than all activations', async () => {
    for (const [n, seed] of [[1, 1], [15, 2], [65, 3], [1000, 4]] as const) {
      const c = randomChain(n, 60, seed);
      const plan = be.compile(c.g.build());
      expect(plan.info.ops).toBe(60);
      expect(plan.info.activationBytes).toBe(61 * n * 4);
      // Reuse: a handful of live tensors at a time, not 61 (each placed at a 64-byte aligned offset).
      expect(plan.info.arenaBytes).toBeLessThan((61 * Math.ceil((n * 4) / 64) * 64) / 2);
      const out = await plan.run({ x: c.x });
      for (const [name, want] of c.ref) expect(maxRelErr(out[name] as Float32Array, want), `n=${n} ${name}`).toBeLessThan(1e-5);
      // Same plan, second run, new input: no state leaks between runs through the arena.
      const again = await plan.run({ x: c.x });
      for (const [name, want] of c.ref) expect(maxRelErr(again[name] as Float32Array, want)).toBeLessThan(1e-5);
      plan.dispose();
    }
  });

  it('1 thread == 2 threads == 4 threads, bit for bit, on tensors big enough to split', async () => {
    const c = randomChain(100_003, 12, 7);
    const results: Record<string, Float32Array>[] = [];
    for (const threads of [1, 2, 4]) {
      const b = createCpuBackend({ threads });
      expect(b.info.threads).toBe(threads);
      const plan = b.compile(c.g.build());
      results.push((await plan.run({ x: c.x })) as Record<string, Float32Array>);
      plan.dispose();
      b.dispose();
    }
    for (const [name, want] of c.ref) {
      expect(maxRelErr(results[0]![name]!, want)).toBeLessThan(1e-5);
      expect(results[1]![name]).toEqual(results[0]![name]);
      expect(results[2]![name]).toEqual(results[0]![name]);
    }
  });

  it('thread pool stress: 300 split ops per run, fewer ranges than threads (idle workers claim late), 8 runs', async () => {
    // SCALE splits at 32768 elements: n = 65537 gives 3 ranges on a 4-thread pool. y = x + 300 exactly.
    const b = createCpuBackend({ threads: 4 });
    const n = 65537;
    const g = new GraphBuilder();
    let t = g.input('x', 'f32', [n]);
    for (let i = 0; i < 300; i++) [t] = g.op(OpKind.SCALE, [t], [{ dtype: 'f32', shape: [n] }], { f: [1, 1] }) as [TensorRef];
    g.output('y', t);
    const plan = b.compile(g.build());
    const x = Float32Array.from({ length: n }, (_, i) => i % 512);
    for (let r = 0; r < 8; r++) {
      const y = (await plan.run({ x })).y as Float32Array;
      let bad = 0;
      for (let i = 0; i < n; i++) if (y[i] !== (i % 512) + 300) bad++;
      expect(bad, `run ${r}`).toBe(0);
    }
    plan.dispose();
    b.dispose();
  });

  it('views: a reshape and a byte-offset slice of an input and of an activation read the right bytes', async () => {
    const g = new GraphBuilder();
    const x = g.input('x', 'f32', [6, 4]);
    const row2 = g.view(x, [6], { byteOffset: 2 * 6 * 4 });
    const [y] = g.op(OpKind.SCALE, [row2], [{ dtype: 'f32', shape: [6] }], { f: [2, 0] });
    const [z] = g.op(OpKind.SCALE, [x], [{ dtype: 'f32', shape: [6, 4] }], { f: [1, 100] });
    const zFlat = g.view(z!, [24]);
    const zTail = g.view(z!, [3], { byteOffset: 21 * 4 });
    g.output('y', y!);
    g.output('zFlat', zFlat);
    g.output('zTail', zTail);
    g.output('row2', row2);
    const plan = be.compile(g.build());
    const xs = Float32Array.from({ length: 24 }, (_, i) => i);
    const out = await plan.run({ x: xs });
    expect([...(out.y as Float32Array)]).toEqual([24, 26, 28, 30, 32, 34]);
    expect([...(out.row2 as Float32Array)]).toEqual([12, 13, 14, 15, 16, 17]);
    expect([...(out.zFlat as Float32Array)]).toEqual([...xs].map((v) => v + 100));
    expect([...(out.zTail as Float32Array)]).toEqual([121, 122, 123]);
    plan.dispose();
  });

  it('an input can be an output; an input nobody reads is still accepted', async () => {
    const g = new GraphBuilder();
    const x = g.input('x', 'f32', [3]);
    g.input('unused', 'i32', [2]);
    g.output('x', x);
    const plan = be.compile(g.build());
    const out = await plan.run({ x: new Float32Array([1, 2, 3]), unused: new Int32Array(2) });
    expect([...(out.x as Float32Array)]).toEqual([1, 2, 3]);
    plan.dispose();
  });
});

describe('plan: validation at compile names the op, its kind and the tensor', () => {
  function twoScales() {
    const g = new GraphBuilder();
    const x = g.input('x', 'f32', [4]);
    const [a] = g.op(OpKind.SCALE, [x], [{ dtype: 'f32', shape: [4] }], { f: [1, 0] });
    const [b] = g.op(OpKind.SCALE, [a!], [{ dtype: 'f32', shape: [4] }], { f: [1, 0] });
    g.output('b', b!);
    return g.build();
  }

  it('an op reading a tensor before any op writes it', () => {
    const d = twoScales();
    d.native.opArgs.set([2, 1], 0); // op 0 reads op 1's output (tensor 2)
    const e = thrown(() => be.compile(d));
    expect(e.code).toBe('INVALID_ARGUMENT');
    expect(e.message).toBe('op #0 (SCALE): input 0 tensor #2 (activation F32 {4}) is read before any op writes it');
  });

  it('an op writing an input, or a tensor another op already wrote', () => {
    const d = twoScales();
    d.native.opArgs[1] = 0;
    expect(thrown(() => be.compile(d)).message).toMatch(/^op #0 \(SCALE\): output 0 tensor #0 \(input 'x' F32 \{4\}\) must be an activation/);
    const d2 = twoScales();
    d2.native.opArgs[3] = 1;
    expect(thrown(() => be.compile(d2)).message).toBe('op #1 (SCALE): output 0 tensor #1 (activation F32 {4}) is already written by op #0');
  });

  it("the op's own validator: ADD with a b that does not broadcast", () => {
    const g = new GraphBuilder();
    const a = g.input('a', 'f32', [6, 2]);
    const b = g.input('b', 'f32', [4]);
    const [y] = g.op(OpKind.SCALE, [a], [{ dtype: 'f32', shape: [6, 2] }], { f: [1, 0] });
    const [z] = g.op(OpKind.ADD, [y!, b], [{ dtype: 'f32', shape: [6, 2] }]);
    g.output('z', z!);
    const e = thrown(() => be.compile(g.build()));
    expect(e.code).toBe('INVALID_ARGUMENT');
    expect(e.message).toMatch(/^op #1 \(ADD\): /);
  });

  it('bad tensors: unknown type id, zero dim, view beyond its base', () => {
    const d = twoScales();
    d.native.tensorTypes[1] = 99;
    const e = thrown(() => be.compile(d));
    expect(e.code).toBe('BAD_TENSOR');
    expect(e.message).toBe('tensor #1: unsupported type id 99');
    const d2 = twoScales();
    d2.native.tensorShapes[4 * 2 + 1] = 0;
    expect(thrown(() => be.compile(d2)).message).toBe('tensor #2: dim 1 = 0 is not a positive size');
    const g = new GraphBuilder();
    const x = g.input('x', 'f32', [8]);
    const v = g.view(x, [4], { byteOffset: 16 });
    g.output('v', v);
    const d3 = g.build();
    d3.native.tensorViewOffset[v.id] = 20;
    const e3 = thrown(() => be.compile(d3));
    expect(e3.code).toBe('BAD_TENSOR');
    expect(e3.message).toBe("tensor #1 (view F32 {4}): view bytes [20, 36) exceed tensor #0 (input 'x' F32 {8}) (32 bytes)");
  });

  it('wrong arity and unknown kinds that bypass the builder', () => {
    const d = twoScales();
    d.native.opNumIn[0] = 2;
    d.native.opNumOut[0] = 0;
    expect(thrown(() => be.compile(d)).message).toBe('op #0 (SCALE): takes 1 inputs, got 2');
    const d2 = twoScales();
    d2.native.opKinds[1] = 1000;
    expect(thrown(() => be.compile(d2)).message).toBe('op #1: unknown op kind 1000');
    const d3 = twoScales();
    d3.native.opArgs[0] = 77;
    expect(thrown(() => be.compile(d3)).message).toBe('op #0 (SCALE): input 0 names tensor #77, but the graph has 3 tensors');
  });
});

describe('plan.run argument errors', () => {
  const g = new GraphBuilder();
  const x = g.input('x', 'f32', [4]);
  const ids = g.input('ids', 'i32', [2]);
  const [y] = g.op(OpKind.SCALE, [x], [{ dtype: 'f32', shape: [4] }], { f: [1, 0] });
  g.output('y', y!);
  g.output('ids', ids);
  const plan = be.compile(g.build());
  afterAll(() => plan.dispose());

  it('missing, misspelt, wrongly typed and wrongly sized inputs are INVALID_ARGUMENT naming the input', async () => {
    const f = new Float32Array(4), i = new Int32Array(2);
    expect((await rejected(plan.run({ x: f }))).message).toBe("planRun: missing input 'ids'");
    expect((await rejected(plan.run({ x: f, ids: i, idz: i }))).message).toBe("planRun: the plan has no input named 'idz'");
    expect((await rejected(plan.run({ x: new Int32Array(4), ids: i }))).message).toBe("input 'x': expected a Float32Array (F32 {4})");
    expect((await rejected(plan.run({ x: new Float32Array(5), ids: i }))).message).toBe("input 'x': expected 4 elements (F32 {4}), got 5");
    const ok = await plan.run({ x: Float32Array.of(1, 2, 3, 4), ids: Int32Array.of(7, -8) });
    expect([...(ok.ids as Int32Array)]).toEqual([7, -8]);
    expect(ok.ids).toBeInstanceOf(Int32Array);
  });
});

describe('ISA selection', () => {
  const flags = new Set((readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => l.startsWith('flags')) ?? '').split(':')[1]?.trim().split(/\s+/));

  it.skipIf(process.arch !== 'x64' || process.platform !== 'linux')("'auto' picks the best ISA /proc/cpuinfo reports", () => {
    const want = ['avx512f', 'avx512bw', 'avx512dq', 'avx512vl', 'avx2', 'fma', 'f16c'].every((f) => flags.has(f))
      ? 'avx512'
      : ['avx2', 'fma', 'f16c'].every((f) => flags.has(f))
        ? 'avx2'
        : 'scalar';
    expect(be.info.isa).toBe(want);
    expect(be.info.isaAvailable.at(-1)).toBe(want);
    const s = createCpuBackend({ isa: 'scalar', threads: 1 });
    expect(s.info.isa).toBe('scalar');
    s.dispose();
  });

  it('an unknown ISA name is INVALID_ARGUMENT', () => {
    const e = thrown(() => createCpuBackend({ isa: 'neon' as 'avx2' }));
    expect(e.code).toBe('INVALID_ARGUMENT');
    expect(e.message).toContain("got 'neon'");
  });

  it('forcing an ISA the CPU lacks is BACKEND_UNAVAILABLE (CPU capped by QWEN_HYBRID_CPU_ISA_MAX in a child)', () => {
    const code = `const a = require(${JSON.stringify(nativeAddonPath())});
      const r = {}; for (const isa of ['avx2', 'avx512']) { try { a.cpuBackendCreate(1, isa); r[isa] = 'ok'; } catch (e) { r[isa] = e.code + ': ' + e.message; } }
      r.auto = a.cpuBackendInfo(a.cpuBackendCreate(1, 'auto')); process.stdout.write(JSON.stringify(r));`;
    const r = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8', env: { ...process.env, QWEN_HYBRID_CPU_ISA_MAX: 'scalar' } });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(out.avx2).toBe("BACKEND_UNAVAILABLE: isa 'avx2' is not supported by this CPU (available: scalar)");
    expect(out.avx512).toMatch(/^BACKEND_UNAVAILABLE: isa 'avx512'/);
    expect(out.auto).toEqual({ threads: 1, isa: 'scalar', isaAvailable: ['scalar'] });
  });

  it('bad thread counts are INVALID_ARGUMENT', () => {
    expect(thrown(() => createCpuBackend({ threads: -1 })).code).toBe('INVALID_ARGUMENT');
    expect(thrown(() => createCpuBackend({ threads: 1.5 })).code).toBe('INVALID_ARGUMENT');
    let err: unknown;
    try {
      loadNativeAddon().cpuBackendCreate(5000, 'auto');
    } catch (e) {
      err = e;
    }
    expect((err as { code?: string }).code).toBe('INVALID_ARGUMENT');
  });
});
