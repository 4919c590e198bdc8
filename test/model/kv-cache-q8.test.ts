/**
 * kvCacheType 'q8_0' end to end on the CPU backend (tiny models): logits against the f16-cache run, prefill vs
 * decode, snapshots, memory accounting and validation.
 *
 * Tolerances (measured values are printed by each test):
 *  - q8_0 vs f16 cache: the cache stores each 32-value block of a k/v row as round(x/d)·d with d = amax/127, so an
 *    element moves by up to d/2 = amax/254 (f16: 2^-11 relative to the element). Attention scores q·k and outputs
 *    Σ p·v move by about that times the typical |q|, |p| magnitudes, i.e. ~0.4% of the block scale per attention
 *    layer; the residual stream and LM head carry it to the logits. Measured worst |Δlogit| over 70 positions:
 *    1.3e-2 (dense-r2) and 1.6e-2 (moe-r2), logits up to ~9; Q8_VS_F16 = 0.06 leaves ~4× headroom. Argmax must agree
 *    wherever the f16 run's top-1 margin exceeds CONFIDENT_MARGIN = 0.1 (> 2 × Q8_VS_F16: a swap needs the two
 *    logits to move by more than the margin between them).
 *  - prefill vs token-by-token decode: not bit-exact (as for f16, session.test.ts): the k/v rows a batch of T tokens
 *    computes differ from the T = 1 ones by f32 noise (matmul and GDN chunking order), and a value near a rounding
 *    boundary of its q8_0 block can then land on the neighbouring step (amax/127), larger than an f16 ulp. Measured:
 *    6.9e-6 (dense-r2), 1.3e-5 (moe-r2), i.e. no visible step flips on these prompts; PREFILL_VS_DECODE = 5e-3 allows
 *    a few flips (one flip moves one cached value by amax/127, ~1e-3 at the logits here). Both paths quantize with the same rule (ATTENTION writes the cache, op_list.h), so the
 *    difference is this noise only; a snapshot round trip, by contrast, is exact.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QwenHybridError } from '../../src/errors.js';
import { sequenceStateBytes } from '../../src/model/config.js';
import { checkKvCacheType, KV_BYTES_PER_ELEMENT } from '../../src/model/forward.js';
import { GraphBuilder } from '../../src/model/graph/index.js';
import { loadModel, type Model, type Session } from '../../src/model/index.js';
import { inspectModel } from '../../src/model/inspect.js';
import { TINY_PRESETS } from '../../src/model/tiny/index.js';
import { kvCacheFlag } from '../../src/cli/run.js';
import { UsageError } from '../../src/cli/io.js';
import { getTinyModel, getTinyModelFor } from '../helpers/model-cache.js';
import { argmax, margin, normalPromptTokens } from '../helpers/llama-oracle.js';

const Q8_VS_F16 = 0.06;
const CONFIDENT_MARGIN = 0.1;
const PREFILL_VS_DECODE = 5e-3;

/** 70 tokens: one-batch prefill takes the chunked GDN path. */
const A = normalPromptTokens(21, 70);
const B = normalPromptTokens(22, 9);

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

async function errorOf(p: Promise<unknown> | (() => unknown)): Promise<QwenHybridError> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    expect(e).toBeInstanceOf(QwenHybridError);
    return e as QwenHybridError;
  }
  throw new Error('expected a QwenHybridError');
}

async function decodeAll(s: Session, tokens: readonly number[]): Promise<Float32Array[]> {
  const rows: Float32Array[] = [];
  for (const t of tokens) rows.push(...(await s.evaluate([t])));
  return rows;
}

let dir: string;
const models: Record<string, { f16: Model; q8: Model; path: string }> = {};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'qh-kvq8-'));
  for (const preset of ['dense-r2', 'moe-r2'] as const) {
    const path = (await getTinyModel(preset)).path;
    models[preset] = {
      path,
      f16: await loadModel(path, { backend: 'cpu', threads: 2, contextSize: 128, kvCacheType: 'f16' }),
      q8: await loadModel(path, { backend: 'cpu', threads: 2, contextSize: 128, kvCacheType: 'q8_0' }),
    };
  }
});
afterAll(async () => {
  for (const m of Object.values(models)) {
    m.f16.dispose();
    m.q8.dispose();
  }
  await rm(dir, { recursive: true, force: true });
});

describe.each(['dense-r2', 'moe-r2'] as const)('%s', (preset) => {
  it('q8_0-cache logits are close to the f16-cache logits; argmax equal at confident positions', async () => {
    const { f16, q8 } = models[preset]!;
    expect(q8.kvCacheType).toBe('q8_0');
    await using a = f16.createSession();
    await using b = q8.createSession();
    const ref = await a.evaluate(A, { logits: 'all' });
    const got = await b.evaluate(A, { logits: 'all' });
    const d = maxAbsDiff(got, ref);
    let scale = 0;
    for (const r of ref) for (const v of r) scale = Math.max(scale, Math.abs(v));
    let confident = 0;
    ref.forEach((r, i) => {
      if (margin(r) <= CONFIDENT_MARGIN) return;
      confident++;
      expect(argmax(got[i]!), `position ${i}`).toBe(argmax(r));
    });
    console.log(`[kv q8_0 ${preset}] vs f16 cache: max |Δlogit| ${d.toExponential(2)} (max |logit| ${scale.toFixed(2)}), argmax equal at ${confident}/${ref.length} confident positions`);
    expect(d).toBeGreaterThan(0); // the cache really is quantized
    expect(d).toBeLessThan(Q8_VS_F16);
    expect(confident).toBeGreaterThan(ref.length / 2); // the check covers most positions
  });

  it('token-by-token decode matches the one-batch prefill rows', async () => {
    const { q8 } = models[preset]!;
    await using one = q8.createSession();
    const full = await one.evaluate(A, { logits: 'all' });
    await using dec = q8.createSession();
    const d = maxAbsDiff(await decodeAll(dec, A), full);
    console.log(`[kv q8_0 ${preset}] one-batch prefill vs token-by-token: max |Δlogit| ${d.toExponential(2)}`);
    expect(d).toBeLessThan(PREFILL_VS_DECODE);
  });

  it('snapshot/restore in memory and through a file == an uninterrupted run; raw q8_0 blocks', async () => {
    const { q8 } = models[preset]!;
    const c = q8.config;
    await using s = q8.createSession();
    await s.evaluate(A);
    const snap = await s.snapshot();
    const layer = c.layerKinds.indexOf('attention');
    const kc = snap.tensors.get(`blk.${layer}.k_cache`)!;
    const vc = snap.tensors.get(`blk.${layer}.v_cache`)!;
    expect(kc).toBeInstanceOf(Uint8Array);
    expect(kc.length).toBe((c.headDimK / 32) * 34 * c.nHeadKv * s.contextSize);
    expect(vc.length).toBe((c.headDimV / 32) * 34 * c.nHeadKv * s.contextSize);
    const cont = await s.evaluate(B, { logits: 'all' });
    await s.evaluate(normalPromptTokens(99, 5)); // diverge
    await s.restore(snap);
    expect(s.position).toBe(A.length);
    expect(maxAbsDiff(await s.evaluate(B, { logits: 'all' }), cont)).toBe(0);

    await s.restore(snap);
    const file = join(dir, `snap-${preset}.qhs`);
    await s.saveSnapshot(file);
    await using t = q8.createSession();
    await t.loadSnapshot(file);
    expect(t.position).toBe(A.length);
    expect(maxAbsDiff(await t.evaluate(B, { logits: 'all' }), cont)).toBe(0);
    const back = await t.snapshot();
    expect(back.tensors.get(`blk.${layer}.k_cache`)!.length).toBe(kc.length);
  });
});

describe('snapshots of another KV type', () => {
  it('a q8_0 snapshot is refused by an f16 session and vice versa (file and memory)', async () => {
    const { f16, q8 } = models['dense-r2']!;
    await using s8 = q8.createSession();
    await s8.evaluate(B);
    const file8 = join(dir, 'q8.qhs');
    await s8.saveSnapshot(file8);
    await using s16 = f16.createSession();
    await s16.evaluate(B);
    const file16 = join(dir, 'f16.qhs');
    await s16.saveSnapshot(file16);

    await using t16 = f16.createSession();
    const e1 = await errorOf(t16.loadSnapshot(file8));
    expect(e1.code).toBe('INVALID_ARGUMENT');
    expect(e1.message).toMatch(/model kv is "q8_0", expected "f16"/);
    await using t8 = q8.createSession();
    const e2 = await errorOf(t8.loadSnapshot(file16));
    expect(e2.code).toBe('INVALID_ARGUMENT');
    expect(e2.message).toMatch(/model kv is "f16", expected "q8_0"/);
    // In memory the tensors' array kinds differ (Uint8Array blocks vs Uint16Array halves): the state write refuses.
    const e3 = await errorOf(t16.restore(await s8.snapshot()));
    expect(e3.code).toBe('INVALID_ARGUMENT');
    expect(t16.position).toBe(0);
  });
});

describe('memory accounting', () => {
  it('inspect and sequenceStateBytes count 34 bytes per 32 values, as the session allocates', async () => {
    const { q8, path } = models['dense-r2']!;
    const c = q8.config;
    const [r8, r16] = await Promise.all([
      inspectModel(path, { contextLengths: [128, 4096], kvCacheType: 'q8_0' }),
      inspectModel(path, { contextLengths: [128, 4096] }),
    ]);
    expect(r8.kvCacheType).toBe('q8_0');
    expect(r16.kvCacheType).toBe('f16');
    for (let i = 0; i < 2; i++) {
      expect(r8.memory[i]!.kvCacheBytes * 32).toBe(r16.memory[i]!.kvCacheBytes * 17);
      expect(r8.memory[i]!.recurrentStateBytes).toBe(r16.memory[i]!.recurrentStateBytes);
    }
    // The session's actual KV state bytes at context 128.
    await using s = q8.createSession();
    const snap = await s.snapshot();
    let kvBytes = 0;
    for (const [name, t] of snap.tensors) if (/_cache$/.test(name)) kvBytes += t.byteLength;
    expect(kvBytes).toBe(r8.memory[0]!.kvCacheBytes);
    expect(sequenceStateBytes(c, 128, KV_BYTES_PER_ELEMENT.q8_0).kvCache).toBe(kvBytes);
  });
});

describe('validation', () => {
  it('a model whose head dim is not a multiple of 32 refuses q8_0 (INVALID_ARGUMENT naming it), runs with f16', async () => {
    const tm = await getTinyModelFor({ ...TINY_PRESETS['dense-r2'], name: 'dense-r2-hd48', headDim: 48, nHead: 16, nHeadKv: 4 });
    const e = await errorOf(loadModel(tm.path, { backend: 'cpu', threads: 2, kvCacheType: 'q8_0' }));
    expect(e.code).toBe('INVALID_ARGUMENT');
    expect(e.message).toMatch(/multiples of 32.*key_length 48, value_length 48/);
    expect(e.details).toMatchObject({ parameter: 'kvCacheType', headDimK: 48, headDimV: 48 });
    await using m = await loadModel(tm.path, { backend: 'cpu', threads: 2, contextSize: 32, kvCacheType: 'f16' });
    await using s = m.createSession();
    expect((await s.evaluate(B)).length).toBe(1);
  });

  it('kvCacheType values, the state dtype rules and the --kv-cache flag', async () => {
    const c = models['dense-r2']!.q8.config;
    expect(checkKvCacheType(c, 'q8_0')).toBe('q8_0');
    expect((await errorOf(() => checkKvCacheType(c, 'q4_0'))).code).toBe('INVALID_ARGUMENT');
    const path = models['dense-r2']!.path;
    const e = await errorOf(loadModel(path, { backend: 'cpu', kvCacheType: 'q8' as 'q8_0' }));
    expect(e.code).toBe('INVALID_ARGUMENT');
    expect(e.message).toMatch(/'f16', 'f32' or 'q8_0'/);

    const g = new GraphBuilder();
    const st = g.state('kc', 'q8_0', [64, 2, 16]);
    expect(st.byteSize).toBe(2 * 34 * 2 * 16);
    expect((await errorOf(() => g.state('bad', 'q8_0', [40, 2, 16]))).message).toMatch(/ne0 40 is not a multiple of the q8_0 block size 32/);
    // Inputs and op outputs cross N-API as element arrays: no block types.
    expect((await errorOf(() => g.input('x', 'q8_0' as 'f16', [64]))).code).toBe('INVALID_ARGUMENT');

    expect(kvCacheFlag('run', 'q8_0')).toBe('q8_0');
    expect(kvCacheFlag('run', undefined)).toBeUndefined();
    expect(() => kvCacheFlag('run', 'q4_0')).toThrow(UsageError);
  });
});
