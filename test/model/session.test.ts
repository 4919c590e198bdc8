/**
 * Session semantics on tiny models (our engine only; fidelity vs llama.cpp is fidelity.test.ts):
 * prefill == decode, micro-batching, snapshot/restore (memory and file), interleaved sessions, CONTEXT_FULL,
 * ABORTED, dispose rules, and debugEvaluate's intermediates against values recomputed from the file.
 */
import { open, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QwenHybridError } from '../../src/errors.js';
import { readGGUFModel } from '../../src/gguf/index.js';
import { loadModel, type Model, type Session } from '../../src/model/index.js';
import { TINY_PRESETS } from '../../src/model/tiny/index.js';
import { Rng } from '../../src/quant/index.js';
import { buildTinyVocab } from '../../src/tokenizer/tiny-vocab.js';
import { getTinyModel, getTinyModelFor } from '../helpers/model-cache.js';

/** f32 noise between batch shapes (different accumulation order in matmul/attention/GDN chunking). */
const F32_NOISE = 1e-4;
/**
 * With an f16 KV cache, k/v differing by f32 noise between batch shapes can round to neighbouring halves
 * (one f16 ulp = 2^-11 relative), so prefill vs decode agree only to f16 noise.
 */
const F16_KV_NOISE = 2e-3;

function promptTokens(seed: number, n: number): number[] {
  const v = buildTinyVocab();
  const normal = v.types.flatMap((t, i) => (t === 1 ? [i] : []));
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => normal[rng.int(normal.length)]!);
}

function maxAbsDiff(a: readonly Float32Array[], b: readonly Float32Array[]): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  a.forEach((x, i) => {
    const y = b[i]!;
    expect(x.length).toBe(y.length);
    for (let j = 0; j < x.length; j++) m = Math.max(m, Math.abs(x[j]! - y[j]!));
  });
  return m;
}

async function codeOf(p: Promise<unknown> | (() => unknown)): Promise<string | undefined> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    expect(e).toBeInstanceOf(QwenHybridError);
    return (e as QwenHybridError).code;
  }
  return undefined;
}

let dir: string;
let moe: Model;
/** Same file, prefill micro-batches of 7 tokens. */
let moe7: Model;
let dense: Model;
let densePath: string;
/** 70 tokens: one-batch prefill takes the chunked GDN path (T >= 32, chunks of 64 + a tail). */
const A = promptTokens(11, 70);
const B = promptTokens(12, 9);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'qh-session-'));
  const moePath = (await getTinyModel('moe-r2')).path;
  moe = await loadModel(moePath, { backend: 'cpu', threads: 2, kvCacheType: 'f32' });
  moe7 = await loadModel(moePath, { backend: 'cpu', threads: 2, kvCacheType: 'f32', batchSize: 7 });
  densePath = (await getTinyModel('dense-r3-tied-mtp')).path;
  dense = await loadModel(densePath, { backend: 'cpu', threads: 2, contextSize: 128 });
});
afterAll(async () => {
  moe?.dispose();
  moe7?.dispose();
  dense?.dispose();
  await rm(dir, { recursive: true, force: true });
});

async function decodeAll(s: Session, tokens: readonly number[]): Promise<Float32Array[]> {
  const rows: Float32Array[] = [];
  for (const t of tokens) rows.push(...(await s.evaluate([t])));
  return rows;
}

describe.each(['moe', 'dense (f16 KV, tied, MTP skipped)'])('%s', (which) => {
  const m = () => (which === 'moe' ? moe : dense);

  it('prefill in one batch, in micro-batches and token by token give the same logits', async () => {
    await using one = m().createSession();
    const full = await one.evaluate(A, { logits: 'all' });
    expect(full.length).toBe(A.length);
    expect(full[0]!.length).toBe(m().vocabSize);
    expect(one.position).toBe(A.length);
    expect(one.history).toEqual(A);
    await using dec = m().createSession();
    const d = maxAbsDiff(full, await decodeAll(dec, A));
    console.log(`[session ${which}] one-batch prefill vs token-by-token: max |Δlogit| ${d.toExponential(2)}`);
    const tol = m().kvCacheType === 'f16' ? F16_KV_NOISE : F32_NOISE;
    expect(d).toBeLessThan(tol);
    if (which === 'moe') {
      await using mb = moe7.createSession();
      const dm = maxAbsDiff(full, await mb.evaluate(A, { logits: 'all' }));
      console.log(`[session ${which}] one-batch prefill vs micro-batches of 7: max |Δlogit| ${dm.toExponential(2)}`);
      expect(dm).toBeLessThan(F32_NOISE);
    }
    // 'last' = the last row of 'all'; 'none' returns nothing but advances the same way.
    await using last = m().createSession();
    const [l] = await last.evaluate(A.slice(0, 13), { logits: 'none' }).then(async (r) => {
      expect(r).toEqual([]);
      return last.evaluate(A.slice(13));
    });
    expect(maxAbsDiff([l!], [full.at(-1)!])).toBeLessThan(tol);
  });

  it('snapshot/restore in memory and through a file == an uninterrupted run', async () => {
    await using s = m().createSession();
    await s.evaluate(A);
    const snap = await s.snapshot();
    const cont = await s.evaluate(B, { logits: 'all' });
    await s.evaluate(promptTokens(99, 5)); // diverge
    await s.restore(snap);
    expect(s.position).toBe(A.length);
    expect(s.history).toEqual(A);
    expect(maxAbsDiff(await s.evaluate(B, { logits: 'all' }), cont)).toBe(0);

    await s.restore(snap);
    const file = join(dir, `snap-${which.slice(0, 3)}.qhs`);
    await s.saveSnapshot(file);
    await using t = m().createSession();
    await t.loadSnapshot(file);
    expect(t.position).toBe(A.length);
    expect(maxAbsDiff(await t.evaluate(B, { logits: 'all' }), cont)).toBe(0);
  });

  it('two sessions interleaved == two solo runs', async () => {
    const soloA = await (async () => {
      await using s = m().createSession();
      return [...(await s.evaluate(A.slice(0, 10), { logits: 'all' })), ...(await decodeAll(s, A.slice(10)))];
    })();
    const soloB = await (async () => {
      await using s = m().createSession();
      return [...(await s.evaluate(B.slice(0, 4), { logits: 'all' })), ...(await decodeAll(s, B.slice(4)))];
    })();
    await using s1 = m().createSession();
    await using s2 = m().createSession();
    // Issued concurrently: runs of both sessions interleave on the one backend.
    const [a1, b1] = await Promise.all([s1.evaluate(A.slice(0, 10), { logits: 'all' }), s2.evaluate(B.slice(0, 4), { logits: 'all' })]);
    const ra: Float32Array[] = [...a1], rb: Float32Array[] = [...b1];
    for (let i = 0; i < Math.max(A.length - 10, B.length - 4); i++) {
      const ps: Promise<void>[] = [];
      if (10 + i < A.length) ps.push(s1.evaluate([A[10 + i]!]).then((r) => void ra.push(...r)));
      if (4 + i < B.length) ps.push(s2.evaluate([B[4 + i]!]).then((r) => void rb.push(...r)));
      await Promise.all(ps);
    }
    expect(maxAbsDiff(ra, soloA)).toBe(0);
    expect(maxAbsDiff(rb, soloB)).toBe(0);
  });
});

describe('graph variants by logits mode', () => {
  it("a GDN last layer (5-layer trunk): 'none' and 'last' prefill leave the same state and rows as 'all'", async () => {
    // The presets all end on an attention layer; 'none' stops the last layer at its state-updating op.
    const tm = await getTinyModelFor({ ...TINY_PRESETS['dense-r2'], name: 'dense-r2-5layers', nTrunk: 5 });
    await using m = await loadModel(tm.path, { backend: 'cpu', threads: 2, kvCacheType: 'f32' });
    expect(m.config.layerKinds.at(-1)).toBe('gdn');
    await using all = m.createSession();
    const full = await all.evaluate(A.slice(0, 40), { logits: 'all' });
    await using s = m.createSession();
    expect(await s.evaluate(A.slice(0, 20), { logits: 'none' })).toEqual([]);
    const last = await s.evaluate(A.slice(20, 40), { logits: 'last' });
    expect(maxAbsDiff(last, [full[39]!])).toBeLessThan(F32_NOISE);
    const snapA = await all.snapshot();
    const snapS = await s.snapshot();
    for (const [name, t] of snapA.tensors) {
      const u = snapS.tensors.get(name)!;
      let d = 0;
      for (let i = 0; i < t.length; i++) d = Math.max(d, Math.abs(t[i]! - u[i]!));
      expect(d, name).toBeLessThan(F32_NOISE);
    }
  });
});

describe('limits and errors', () => {
  it('CONTEXT_FULL before running anything; the session stays usable', async () => {
    await using s = moe.createSession({ contextSize: 8 });
    await s.evaluate(A.slice(0, 6));
    expect(await codeOf(s.evaluate(A.slice(6, 9)))).toBe('CONTEXT_FULL');
    expect(s.position).toBe(6);
    await s.evaluate(A.slice(6, 8));
    expect(s.position).toBe(8);
    expect(await codeOf(s.evaluate([A[8]!]))).toBe('CONTEXT_FULL');
    expect(await codeOf(s.evaluate([moe.vocabSize]))).toBe('TOKEN_ID_OUT_OF_RANGE');
  });

  it('ABORTED before the first micro-batch and between micro-batches (batchSize 7)', async () => {
    await using s = moe7.createSession();
    const ac = new AbortController();
    ac.abort();
    expect(await codeOf(s.evaluate(A, { signal: ac.signal }))).toBe('ABORTED');
    expect(s.position).toBe(0);
    // A signal that fires once the first micro-batch has run.
    let checks = 0;
    const late = { get aborted() { return ++checks > 1; } } as unknown as AbortSignal;
    expect(await codeOf(s.evaluate(A, { signal: late }))).toBe('ABORTED');
    expect(s.position).toBe(7);
    expect(s.history).toEqual(A.slice(0, 7));
    // What ran is consumed: finishing the prompt equals an uninterrupted run.
    const rest = await s.evaluate(A.slice(7));
    await using u = moe7.createSession();
    expect(maxAbsDiff(rest, await u.evaluate(A))).toBeLessThan(F32_NOISE);
  });

  it('loadSnapshot refuses a foreign or corrupt file, naming it', async () => {
    await using s = moe.createSession();
    await s.evaluate(A.slice(0, 3));
    const file = join(dir, 'moe.qhs');
    await s.saveSnapshot(file);
    await using d = dense.createSession();
    expect(await codeOf(d.loadSnapshot(file))).toBe('INVALID_ARGUMENT');
    const junk = join(dir, 'junk.qhs');
    await writeFile(junk, 'not a snapshot');
    expect(await codeOf(s.loadSnapshot(junk))).toBe('INVALID_ARGUMENT');
    // truncated tensor data: the checksum no longer matches (more cases in snapshot.test.ts)
    const fh = await open(file, 'r+');
    const { size } = await fh.stat();
    await fh.truncate(size - 100);
    await fh.close();
    expect(await codeOf(s.loadSnapshot(file))).toBe('SNAPSHOT_CORRUPT');
    expect(s.position).toBe(3);
  });

  it('dispose rules: disposed session and sessions of a disposed model → DISPOSED; idempotent', async () => {
    const model = await loadModel((await getTinyModel('dense-r2')).path, { backend: 'cpu', threads: 1 });
    const s1 = model.createSession();
    const s2 = model.createSession();
    await s1.evaluate(A.slice(0, 3));
    s1.dispose();
    s1.dispose();
    expect(await codeOf(s1.evaluate([A[0]!]))).toBe('DISPOSED');
    expect(await codeOf(s1.snapshot())).toBe('DISPOSED');
    await s2.evaluate(A.slice(0, 3)); // the other session is unaffected
    await model[Symbol.asyncDispose]();
    model.dispose();
    expect(await codeOf(s2.evaluate([A[0]!]))).toBe('DISPOSED');
    expect(await codeOf(s2.debugEvaluate([A[0]!]))).toBe('DISPOSED');
    expect(await codeOf(() => model.createSession())).toBe('DISPOSED');
  });
});

describe('debugEvaluate', () => {
  it('returns named intermediates; attn_norm-0 and result_norm match a float64 RMSNorm of their inputs; logits match evaluate', async () => {
    const T = 5;
    await using s = dense.createSession();
    const dbg = await s.debugEvaluate(A.slice(0, T));
    expect(s.position).toBe(T);
    const c = dense.config;
    for (const n of ['inp_embd', 'attn_norm-0', 'linear_attn_qkv_mixed-0', 'conv_output_silu-0', 'q_conv_predelta-0', 'gate-0', 'beta_sigmoid-0', 'attn_output-0', 'final_output-0', 'Qcur_normed-3', 'Kcur_normed-3', 'attn_gated-3', `l_out-${c.nTrunk - 1}`, 'result_norm', 'logits']) {
      expect(dbg.has(n), n).toBe(true);
    }
    expect(dbg.get('conv_output_silu-0')!.length).toBe(c.ssm.convChannels * T);
    expect(dbg.get('gate-0')!.every((g) => g <= 0)).toBe(true); // ssm_a < 0, softplus > 0 (spec pitfall 2)

    // Weights straight from the file (F32 norms).
    const gguf = await readGGUFModel(densePath);
    const fh = await open(densePath, 'r');
    const readF32 = async (name: string): Promise<Float32Array> => {
      const t = gguf.tensors.find((x) => x.name === name)!;
      const buf = Buffer.alloc(t.byteSize);
      await fh.read(buf, 0, t.byteSize, t.offset);
      return new Float32Array(buf.buffer, buf.byteOffset, t.byteSize / 4);
    };
    const H = c.nEmbd;
    const rmsCheck = (x: Float32Array, w: Float32Array, y: Float32Array, rows: number) => {
      let m = 0;
      for (let t = 0; t < rows; t++) {
        let ss = 0;
        for (let i = 0; i < H; i++) ss += x[t * H + i]! ** 2;
        const r = 1 / Math.sqrt(ss / H + c.rmsEps);
        for (let i = 0; i < H; i++) m = Math.max(m, Math.abs(x[t * H + i]! * r * w[i]! - y[t * H + i]!));
      }
      return m;
    };
    expect(rmsCheck(dbg.get('inp_embd')!, await readF32('blk.0.attn_norm.weight'), dbg.get('attn_norm-0')!, T)).toBeLessThan(1e-5);
    expect(rmsCheck(dbg.get(`l_out-${c.nTrunk - 1}`)!, await readF32('output_norm.weight'), dbg.get('result_norm')!, T)).toBeLessThan(1e-5);
    await fh.close();

    // Same plan shape (T tokens, all rows) without the debug outputs: identical logits.
    await using e = dense.createSession();
    expect(maxAbsDiff([dbg.get('logits')!], [Float32Array.from((await e.evaluate(A.slice(0, T), { logits: 'all' })).flatMap((r) => [...r]))])).toBe(0);
  });
});
