/**
 * The whole model on CUDA against the CPU backend (the oracle), on every tiny preset, through the public API:
 * the same forward graph (src/model/forward.ts) runs on both. Per preset:
 *   - teacher-forced logits of a 40-token prompt (prefill: the fp16 tensor-core GEMM for T > 8) and of an
 *     8-token prompt (T ≤ 8: the exact GEMV), every row;
 *   - decode of token t equals row t of a prefill (CUDA only);
 *   - greedy generation of 32 tokens and seeded sampling of 32 tokens give the same token stream as the CPU;
 *   - CUDA-graph replay (the default) equals op-by-op runs (QWEN_HYBRID_CUDA_GRAPHS=0), and the graph counters
 *     show captures and launches without capture failures;
 *   - a snapshot taken on CUDA restores on the CPU and vice versa, and both continue alike;
 *   - CONTEXT_FULL at the boundary: the last row of the cache works, one past it is refused on the host with the
 *     CPU backend's exact message, nothing runs, and the session stays usable;
 *   - disposing an idle model gives its device memory back (cudaBackendInfo free memory).
 *
 * Tolerances, per logits row, relative to s = RMS of the CPU row (random tiny models: logits O(1)):
 *   EXACT_REL = 2e-3: T ≤ 8 (GEMV in f32, f32 KV cache): only the f32 summation order differs from the CPU
 *     (~1e-6 relative per op); a layout/indexing bug moves logits by O(s).
 *   GEMM_REL = 5e-2: T > 8 prefill: every matmul rounds weights and activations to fp16 once (2^-11 relative,
 *     ~1e-3 per matmul after summation) and that compounds over the 2-3 layers and the LM head.
 *   Argmax must agree wherever the CPU's top-1/top-2 margin exceeds 2 × (the row's tolerance), i.e. wherever
 *   the allowed error cannot swap them.
 * Token streams: the prompts are ≤ 8 tokens, so every step runs the exact path; the streams must be equal.
 *
 * No CUDA device: loadModel({ backend: 'cuda' }) throws NO_CUDA_DEVICE in beforeAll and every test here FAILS.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { QwenHybridError } from '../../src/errors.js';
import { loadModel, type Model, type Session } from '../../src/model/index.js';
import { TINY_PRESET_NAMES } from '../../src/model/tiny/index.js';
import { Rng } from '../../src/quant/index.js';
import { createCudaBackend } from '../../src/runtime/cuda.js';
import { buildTinyVocab } from '../../src/tokenizer/tiny-vocab.js';
import { getTinyModel } from '../helpers/model-cache.js';

const EXACT_REL = 2e-3;
const GEMM_REL = 5e-2;
const CTX = 128;

function promptTokens(seed: number, n: number): number[] {
  const v = buildTinyVocab();
  const normal = v.types.flatMap((t, i) => (t === 1 ? [i] : []));
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => normal[rng.int(normal.length)]!);
}

function rms(x: Float32Array): number {
  let s = 0;
  for (const v of x) s += v * v;
  return Math.sqrt(s / x.length);
}

function top2(x: Float32Array): [number, number] {
  let a = 0;
  let b = -1;
  for (let i = 1; i < x.length; i++) {
    if (x[i]! > x[a]!) {
      b = a;
      a = i;
    } else if (b < 0 || x[i]! > x[b]!) b = i;
  }
  return [a, b];
}

/** Rows close (relative to the CPU row's RMS) and argmax equal where the CPU margin allows; returns the worst ratio. */
function compareRows(gpu: readonly Float32Array[], cpu: readonly Float32Array[], rel: number, label: string): number {
  expect(gpu.length, `${label}: rows`).toBe(cpu.length);
  let worst = 0;
  cpu.forEach((c, r) => {
    const g = gpu[r]!;
    expect(g.length, `${label}: row ${r} length`).toBe(c.length);
    const s = Math.max(rms(c), 1e-6);
    let err = 0;
    for (let i = 0; i < c.length; i++) {
      const d = Math.abs(g[i]! - c[i]!);
      err = Number.isNaN(d) ? Infinity : Math.max(err, d);
    }
    worst = Math.max(worst, err / s);
    expect(err, `${label}: row ${r}: max |Δlogit| ${err} vs allowed ${rel * s}`).toBeLessThanOrEqual(rel * s);
    const [a, b] = top2(c);
    if (c[a]! - c[b]! > 2 * rel * s) expect(top2(g)[0], `${label}: row ${r}: argmax`).toBe(a);
  });
  return worst;
}

async function decodeAll(s: Session, tokens: readonly number[]): Promise<Float32Array[]> {
  const rows: Float32Array[] = [];
  for (const t of tokens) rows.push(...(await s.evaluate([t])));
  return rows;
}

async function tokensOf(s: Session, prompt: readonly number[], opts: Parameters<Session['generate']>[1]): Promise<number[]> {
  const out: number[] = [];
  for await (const c of s.generate(prompt, opts)) out.push(c.token);
  return out;
}

async function codeOf(p: Promise<unknown>): Promise<QwenHybridError> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(QwenHybridError);
  return e as QwenHybridError;
}

describe.each(TINY_PRESET_NAMES)('%s on CUDA vs CPU', (preset) => {
  let cpu: Model;
  let gpu: Model;
  let path: string;
  beforeAll(async () => {
    path = (await getTinyModel(preset)).path;
    cpu = await loadModel(path, { backend: 'cpu', kvCacheType: 'f32', contextSize: CTX });
    gpu = await loadModel(path, { backend: 'cuda', kvCacheType: 'f32', contextSize: CTX });
  });
  afterAll(() => {
    gpu?.dispose();
    cpu?.dispose();
  });

  it('loads on the requested device and says so', () => {
    expect(gpu.backend).toBe('cuda');
    expect(gpu.device).toBe(0);
    expect(gpu.backendReason).toBe('CUDA backend requested');
    const info = gpu.cudaInfo()!;
    expect(info.weightsResident).toBeGreaterThan(0);
    expect(info.opsWithoutKernel).toEqual([]);
    expect(gpu.deviceSampling).toBe(true);
  });

  it('teacher-forced logits match the CPU (40-token prefill on the GEMM, 8-token prefill on the GEMV)', async () => {
    for (const [n, rel] of [[40, GEMM_REL], [8, EXACT_REL]] as const) {
      const toks = promptTokens(100 + n, n);
      await using sc = cpu.createSession();
      await using sg = gpu.createSession();
      const worst = compareRows(await sg.evaluate(toks, { logits: 'all' }), await sc.evaluate(toks, { logits: 'all' }), rel, `${preset} prefill ${n}`);
      console.log(`[model ${preset}] prefill of ${n}: worst max|Δ|/rms ${worst.toExponential(2)} (allowed ${rel})`);
      // Then decode steps on top of that prefill, on both.
      const more = promptTokens(200 + n, 6);
      const w2 = compareRows(await decodeAll(sg, more), await decodeAll(sc, more), rel, `${preset} decode after ${n}`);
      console.log(`[model ${preset}] decode after ${n}: worst max|Δ|/rms ${w2.toExponential(2)}`);
    }
  });

  it("decode of token t equals row t of a prefill ('all', 'last' and 'none' modes advance alike)", async () => {
    const toks = promptTokens(7, 20);
    await using a = gpu.createSession();
    const full = await a.evaluate(toks, { logits: 'all' });
    await using d = gpu.createSession();
    compareRows(await decodeAll(d, toks), full, GEMM_REL, `${preset} decode vs prefill`);
    await using e = gpu.createSession();
    expect(await e.evaluate(toks.slice(0, 12), { logits: 'none' })).toEqual([]);
    const [last] = await e.evaluate(toks.slice(12));
    compareRows([last!], [full[19]!], GEMM_REL, `${preset} none+last vs all`);
  });

  it('greedy generation: the same 32 tokens as the CPU', async () => {
    const prompt = promptTokens(3, 5);
    await using sc = cpu.createSession();
    await using sg = gpu.createSession();
    const opts = { temperature: 0, maxTokens: 32 };
    const want = await tokensOf(sc, prompt, opts);
    expect(await tokensOf(sg, prompt, opts)).toEqual(want);
  });

  it('seeded sampling: the same 32 tokens as the CPU', async () => {
    const prompt = promptTokens(4, 6);
    for (const opts of [
      { temperature: 0.8, topK: 40, topP: 0.95, minP: 0.05, seed: 1234, maxTokens: 32 },
      { temperature: 1.2, topK: 0, topP: 1, minP: 0, repeatPenalty: 1.3, presencePenalty: 0.2, frequencyPenalty: 0.1, seed: 99, maxTokens: 32 },
    ]) {
      await using sc = cpu.createSession();
      await using sg = gpu.createSession();
      const want = await tokensOf(sc, prompt, opts);
      expect(await tokensOf(sg, prompt, opts)).toEqual(want);
    }
  });

  it('CUDA-graph replay equals op-by-op runs (QWEN_HYBRID_CUDA_GRAPHS=0)', async () => {
    const prev = process.env.QWEN_HYBRID_CUDA_GRAPHS;
    process.env.QWEN_HYBRID_CUDA_GRAPHS = '0';
    let plain: Model;
    try {
      plain = await loadModel(path, { backend: 'cuda', kvCacheType: 'f32', contextSize: CTX });
    } finally {
      if (prev === undefined) delete process.env.QWEN_HYBRID_CUDA_GRAPHS;
      else process.env.QWEN_HYBRID_CUDA_GRAPHS = prev;
    }
    try {
      expect(plain.cudaInfo()!.cudaGraphs).toBe(false);
      expect(gpu.cudaInfo()!.cudaGraphs).toBe(true);
      const before = gpu.cudaInfo()!;
      const toks = promptTokens(8, 12);
      await using sg = gpu.createSession();
      await using sp = plain.createSession();
      // A 5-token prefill (its plan is run once per session: op by op), then decode steps: the first captures, the
      // rest replay.
      const a = [...(await sg.evaluate(toks.slice(0, 5), { logits: 'all' })), ...(await decodeAll(sg, toks.slice(5)))];
      const b = [...(await sp.evaluate(toks.slice(0, 5), { logits: 'all' })), ...(await decodeAll(sp, toks.slice(5)))];
      compareRows(a, b, 1e-6, `${preset} graph vs no graph`);
      const after = gpu.cudaInfo()!;
      expect(after.graphCaptureFailures).toBe(0);
      expect(after.graphCaptures).toBeGreaterThan(before.graphCaptures);
      expect(after.graphLaunches - before.graphLaunches).toBeGreaterThanOrEqual(toks.length - 5 - 2);
      const p = plain.cudaInfo()!;
      expect(p.graphCaptures + p.graphLaunches).toBe(0);
    } finally {
      plain.dispose();
    }
  });

  it('snapshots move between the backends: CUDA → CPU and CPU → CUDA continue alike', async () => {
    const head = promptTokens(5, 6);
    const tail = promptTokens(6, 5);
    for (const [from, to] of [[gpu, cpu], [cpu, gpu]] as const) {
      await using s1 = from.createSession();
      await s1.evaluate(head);
      const snap = await s1.snapshot();
      await using s2 = to.createSession();
      await s2.restore(snap);
      expect(s2.history).toEqual(head);
      compareRows(await decodeAll(s2, tail), await decodeAll(s1, tail), EXACT_REL, `${preset} snapshot ${from.backend} → ${to.backend}`);
    }
  });

  it('CONTEXT_FULL at the boundary: checked on the host with the CPU message, nothing runs, the session lives on', async () => {
    const n = 16;
    const toks = promptTokens(9, n);
    await using sg = gpu.createSession({ contextSize: n });
    await using sc = cpu.createSession({ contextSize: n });
    await sg.evaluate(toks.slice(0, n - 1));
    await sc.evaluate(toks.slice(0, n - 1));
    // The last cache row works.
    compareRows(await sg.evaluate([toks[n - 1]!]), await sc.evaluate([toks[n - 1]!]), EXACT_REL, `${preset} last row`);
    // The session refuses one more token before running anything.
    expect((await codeOf(sg.evaluate([1]))).code).toBe('CONTEXT_FULL');
    // The native host check itself (the plan run directly, as a caller of the low-level API would, on a fresh
    // state). On CUDA nothing runs, so the state stays zero; the CPU checks inside its ATTENTION kernel, after the
    // GDN layers before it have run, so only the message is compared there.
    const refused = async (m: Model) => {
      const plan = m.plan(1, 'last', n);
      const state = plan.createState();
      try {
        const e = await codeOf(plan.run({ tokens: Int32Array.of(1), pos: Int32Array.of(n) }, { state }));
        const untouched = state.names.every((name) => state.read(name).every((v) => v === 0));
        return { e, untouched };
      } finally {
        state.dispose();
      }
    };
    const g = await refused(gpu);
    const c = await refused(cpu);
    expect(g.e.code).toBe('CONTEXT_FULL');
    expect(g.e.message).toBe(c.e.message);
    expect(g.e.message).toMatch(/^op #\d+ \(ATTENTION\): ATTENTION op: position 16 of token 0 is beyond the KV cache \(n_ctx = 16\)$/);
    expect(g.untouched).toBe(true);
    // The session is still usable.
    expect((await sg.snapshot()).position).toBe(n);
  });

  it('disposing an idle model gives its device memory back', async () => {
    const probe = createCudaBackend({ device: 0 });
    try {
      const free0 = probe.info().freeMemoryBytes;
      const m = await loadModel(path, { backend: 'cuda', contextSize: CTX });
      const s = m.createSession();
      await s.evaluate(promptTokens(10, 9));
      await decodeAll(s, promptTokens(11, 3)); // captures a graph too
      const used = free0 - probe.info().freeMemoryBytes;
      const weights = m.cudaInfo()!.weightBytesResident;
      expect(used).toBeGreaterThanOrEqual(weights);
      m.dispose();
      const back = probe.info().freeMemoryBytes;
      // cudaMemGetInfo moves in 2 MiB pages; the context itself may keep a little.
      expect(free0 - back, `device bytes not given back (used ${used})`).toBeLessThanOrEqual(16 * 1024 * 1024);
    } finally {
      probe.dispose();
    }
  });
});
