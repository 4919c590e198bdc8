/**
 * Session snapshots (src/model/snapshot.ts, format v2) on tiny models: exact round trips in memory and through a
 * file for each KV type, file size growing with the position (only KV rows < position are stored), the sha256
 * refusing damaged / truncated / appended-to files (SNAPSHOT_CORRUPT), the weights fingerprint refusing another
 * model of the same shapes, typed I/O errors, and INVALID_ARGUMENT for every malformed header field (files re-hashed
 * so that the checksum passes and the field check itself is what refuses) and for malformed in-memory snapshots.
 * Every refusal leaves the session as it was.
 */
import { createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QwenHybridError } from '../../src/errors.js';
import { loadModel, type Model, type Session, type SessionSnapshot } from '../../src/model/index.js';
import { SNAPSHOT_MAGIC, SNAPSHOT_PRELUDE_BYTES } from '../../src/model/snapshot.js';
import { TINY_PRESETS } from '../../src/model/tiny/index.js';
import type { KvCacheType } from '../../src/model/forward.js';
import { Rng } from '../../src/quant/index.js';
import { buildTinyVocab } from '../../src/tokenizer/tiny-vocab.js';
import { getTinyModel, getTinyModelFor } from '../helpers/model-cache.js';

function promptTokens(seed: number, n: number): number[] {
  const v = buildTinyVocab();
  const normal = v.types.flatMap((t, i) => (t === 1 ? [i] : []));
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => normal[rng.int(normal.length)]!);
}

/** Bitwise equality of logits rows (NaN-safe, -0 ≠ +0). */
function expectBitIdentical(a: readonly Float32Array[], b: readonly Float32Array[]): void {
  expect(a.length).toBe(b.length);
  a.forEach((x, i) => expect(Buffer.from(x.buffer, x.byteOffset, x.byteLength).equals(Buffer.from(b[i]!.buffer, b[i]!.byteOffset, b[i]!.byteLength)), `row ${i}`).toBe(true));
}

async function errorOf(p: Promise<unknown>): Promise<QwenHybridError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(QwenHybridError);
    return e as QwenHybridError;
  }
  throw new Error('expected a rejection');
}

/** A file's parts: prelude fields, header (parsed) and payload. */
function parts(buf: Buffer): { hlen: number; header: Record<string, unknown>; payload: Buffer } {
  const hlen = buf.readUInt32LE(8);
  return { hlen, header: JSON.parse(buf.toString('utf8', SNAPSHOT_PRELUDE_BYTES, SNAPSHOT_PRELUDE_BYTES + hlen)) as Record<string, unknown>, payload: buf.subarray(SNAPSHOT_PRELUDE_BYTES + hlen) };
}

/** A file of `header` bytes and `payload` with a correct prelude and sha256 (`magic` overridable). */
function build(header: Buffer, payload: Uint8Array, magic = SNAPSHOT_MAGIC): Buffer {
  const pre = Buffer.alloc(SNAPSHOT_PRELUDE_BYTES);
  pre.write(magic, 0, 'latin1');
  pre.writeUInt32LE(header.length, 8);
  createHash('sha256').update(pre.subarray(0, 12)).update(header).update(payload).digest().copy(pre, 12);
  return Buffer.concat([pre, header, payload]);
}

const A = promptTokens(31, 70); // one-batch prefill takes the chunked GDN path
const B = promptTokens(32, 9);

let dir: string;
/** dense-r2 (1 attention layer of 4) at context 128, per KV type. */
const byKv = new Map<KvCacheType, Model>();
let densePath: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'qh-snapshot-'));
  densePath = (await getTinyModel('dense-r2')).path;
  for (const kv of ['f32', 'f16', 'q8_0'] as const) byKv.set(kv, await loadModel(densePath, { backend: 'cpu', threads: 2, contextSize: 128, kvCacheType: kv }));
});
afterAll(async () => {
  for (const m of byKv.values()) m.dispose();
  await rm(dir, { recursive: true, force: true });
});

const f16 = () => byKv.get('f16')!;

/** A session of `m` at A (70 tokens), saved to `name`; returns the file and the logits of continuing with B. */
async function savedAtA(m: Model, name: string): Promise<{ file: string; cont: Float32Array[] }> {
  await using s = m.createSession();
  await s.evaluate(A);
  const file = join(dir, name);
  await s.saveSnapshot(file);
  return { file, cont: await s.evaluate(B, { logits: 'all' }) };
}

/** The session is untouched: still at A, and continuing gives `cont` bit for bit. */
async function expectUnchanged(s: Session, cont: Float32Array[]): Promise<void> {
  expect(s.position).toBe(A.length);
  expect(s.history).toEqual(A);
  expectBitIdentical(await s.evaluate(B, { logits: 'all' }), cont);
}

describe.each(['f32', 'f16', 'q8_0'] as const)('round trip, KV %s', (kv) => {
  it('snapshot → restore on another session, and save → load, continue bit for bit; stored rows read back, the rest zero', async () => {
    const m = byKv.get(kv)!;
    await using s = m.createSession();
    await s.evaluate(A);
    const snap = await s.snapshot();
    expect(snap.model).toMatchObject({ arch: m.config.arch, kv, weights: expect.stringMatching(/^[0-9a-f]{64}$/) });
    const file = join(dir, `rt-${kv}.qhs`);
    await s.saveSnapshot(file);
    const cont = await s.evaluate(B, { logits: 'all' });

    await using t = m.createSession();
    await t.restore(snap);
    expect(t.history).toEqual(A);
    expectBitIdentical(await t.evaluate(B, { logits: 'all' }), cont);

    // A session that has run further (KV rows past A's position hold other tokens) loads the file: rows ≥ position
    // come back as zeros and are never read.
    await using u = m.createSession();
    await u.evaluate(promptTokens(77, 100));
    await u.loadSnapshot(file);
    expect(u.position).toBe(A.length);
    expect(u.history).toEqual(A);
    const back = await u.snapshot();
    expectBitIdentical(await u.evaluate(B, { logits: 'all' }), cont);
    for (const [name, a] of snap.tensors) {
      const b = back.tensors.get(name)!;
      expect(b.constructor).toBe(a.constructor);
      expect(b.length).toBe(a.length);
      const used = /_cache$/.test(name) ? (a.length / s.contextSize) * A.length : a.length;
      const ab = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
      const bb = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
      const k = used * a.BYTES_PER_ELEMENT;
      expect(Buffer.from(bb.subarray(0, k)).equals(Buffer.from(ab.subarray(0, k))), name).toBe(true);
      expect(bb.subarray(k).every((x) => x === 0), name).toBe(true);
    }
  });
});

it('another Model object on the same bytes (another path) takes the snapshot: identity is content, not object or path', async () => {
  const { file, cont } = await savedAtA(f16(), 'same-bytes.qhs');
  const copy = join(dir, 'dense-r2-copy.gguf');
  await copyFile(densePath, copy);
  await using m2 = await loadModel(copy, { backend: 'cpu', threads: 2, contextSize: 128 });
  await using t = m2.createSession();
  await t.loadSnapshot(file);
  await expectUnchanged(t, cont);
});

describe('file size', () => {
  it('grows with the position: KV rows < position plus the GDN state, at context 8192', async () => {
    await using m = await loadModel(densePath, { backend: 'cpu', threads: 2, contextSize: 8192 });
    const c = m.config;
    const nAttn = c.layerKinds.filter((k) => k === 'attention').length;
    const rowBytes = nAttn * c.nHeadKv * (c.headDimK + c.headDimV) * 2; // f16 k + v rows of one position
    await using s = m.createSession();
    const sizes = new Map<number, number>();
    let stateBytes = 0;
    for (const p of [0, 3, 300]) {
      await s.evaluate(promptTokens(40 + p, p - s.position));
      const file = join(dir, `size-${p}.qhs`);
      await s.saveSnapshot(file);
      sizes.set(p, (await stat(file)).size);
      if (p === 0) for (const a of (await s.snapshot()).tensors.values()) stateBytes += a.byteLength;
    }
    console.log(`[snapshot] dense-r2 f16 ctx 8192: file bytes ${[...sizes].map(([p, b]) => `@${p} ${b}`).join(', ')}; whole state ${stateBytes}`);
    const at0 = sizes.get(0)!;
    // KV at 8192 rows is most of the state; position 0 stores none of it.
    expect(at0).toBeLessThan(stateBytes / 10);
    // Each position adds its k/v rows and its history entry (≤ 7 JSON characters).
    for (const p of [3, 300]) {
      const d = sizes.get(p)! - at0;
      expect(d).toBeGreaterThanOrEqual(p * rowBytes);
      expect(d).toBeLessThanOrEqual(p * (rowBytes + 7));
    }
  });
});

describe('integrity', () => {
  it('any changed byte (prelude, header, GDN state, KV rows, 0xff over the state) → SNAPSHOT_CORRUPT naming the file; the session is unchanged', async () => {
    const { file, cont } = await savedAtA(f16(), 'corrupt-src.qhs');
    const good = await readFile(file);
    const { hlen } = parts(good);
    await using s = f16().createSession();
    await s.evaluate(A);
    const cases: [string, (b: Buffer) => void][] = [
      ['header bytes field', (b) => void (b[8]! ^= 1)],
      ['digest', (b) => void (b[20]! ^= 0x80)],
      ['header (a history digit)', (b) => {
        const at = b.indexOf('"history":[', SNAPSHOT_PRELUDE_BYTES) + 11;
        b[at] = b[at] === 0x31 ? 0x32 : 0x31;
      }],
      ['first payload byte', (b) => void (b[SNAPSHOT_PRELUDE_BYTES + hlen]! ^= 1)],
      ['last byte', (b) => void (b[b.length - 1]! ^= 1)],
      ['0xff over the last 4 KiB', (b) => void b.fill(0xff, b.length - 4096)],
    ];
    for (const [what, f] of cases) {
      const bad = Buffer.from(good);
      f(bad);
      const p = join(dir, 'corrupt.qhs');
      await writeFile(p, bad);
      const e = await errorOf(s.loadSnapshot(p));
      expect(e.code, what).toBe('SNAPSHOT_CORRUPT');
      expect(e.message, what).toContain(p);
      expect(e.details.file).toBe(p);
    }
    await expectUnchanged(s, cont);
  });

  it('a trailing byte, a missing byte or a short prelude → SNAPSHOT_CORRUPT; the same with a fixed-up checksum → INVALID_ARGUMENT', async () => {
    const { file, cont } = await savedAtA(f16(), 'trailing-src.qhs');
    const good = await readFile(file);
    const { hlen } = parts(good);
    const header = good.subarray(SNAPSHOT_PRELUDE_BYTES, SNAPSHOT_PRELUDE_BYTES + hlen);
    const payload = good.subarray(SNAPSHOT_PRELUDE_BYTES + hlen);
    await using s = f16().createSession();
    await s.evaluate(A);
    const p = join(dir, 'trailing.qhs');
    const expectCode = async (bytes: Buffer, code: string, re?: RegExp) => {
      await writeFile(p, bytes);
      const e = await errorOf(s.loadSnapshot(p));
      expect(e.code).toBe(code);
      if (re) expect(e.message).toMatch(re);
    };
    await expectCode(Buffer.concat([good, Buffer.of(0)]), 'SNAPSHOT_CORRUPT');
    await expectCode(good.subarray(0, good.length - 1), 'SNAPSHOT_CORRUPT');
    await expectCode(good.subarray(0, 30), 'SNAPSHOT_CORRUPT', /prelude/);
    await expectCode(build(Buffer.from(header), Buffer.concat([payload, Buffer.of(0)])), 'INVALID_ARGUMENT', /1 bytes after the last tensor/);
    await expectCode(build(Buffer.from(header), payload.subarray(0, payload.length - 2)), 'INVALID_ARGUMENT', /the tensors need/);
    // The unmodified bytes still load.
    await writeFile(p, good);
    await using t = f16().createSession();
    await t.loadSnapshot(p);
    await expectUnchanged(t, cont);
    await expectUnchanged(s, cont);
  });
});

describe('model identity', () => {
  it('another model with the same shapes and types (another seed) refuses the file and the in-memory snapshot; so does the F32 twin', async () => {
    const other = await getTinyModelFor({ ...TINY_PRESETS['dense-r2'], name: 'dense-r2-seed2', seed: 2002 });
    await using mo = await loadModel(other.path, { backend: 'cpu', threads: 2, contextSize: 128 });
    const m = f16();
    expect(mo.config.layerKinds).toEqual(m.config.layerKinds);
    expect([mo.config.nEmbd, mo.config.headDimK, mo.config.nHeadKv, mo.vocabSize]).toEqual([m.config.nEmbd, m.config.headDimK, m.config.nHeadKv, m.vocabSize]);

    await using s = m.createSession();
    await s.evaluate(A);
    const snap = await s.snapshot();
    const file = join(dir, 'identity.qhs');
    await s.saveSnapshot(file);

    await using t = mo.createSession();
    const e1 = await errorOf(t.loadSnapshot(file));
    expect(e1.code).toBe('INVALID_ARGUMENT');
    expect(e1.message).toMatch(/not a snapshot of this session: model weights is "[0-9a-f]+/);
    expect(e1.details).toMatchObject({ file, field: 'model.weights' });
    const e2 = await errorOf(t.restore(snap));
    expect(e2.code).toBe('INVALID_ARGUMENT');
    expect(e2.message).toMatch(/model weights/);
    expect(t.position).toBe(0);

    await using twin = await loadModel((await getTinyModel('dense-r2')).twinPath, { backend: 'cpu', threads: 2, contextSize: 128 });
    await using w = twin.createSession();
    expect((await errorOf(w.loadSnapshot(file))).message).toMatch(/model weights/);
    expect((await errorOf(w.restore(snap))).message).toMatch(/model weights/);

    // Another context size of the same model: refused, naming both.
    await using c64 = m.createSession({ contextSize: 64 });
    expect((await errorOf(c64.loadSnapshot(file))).message).toMatch(/context size 128, this session 64/);
  });
});

describe('I/O errors', () => {
  it('missing file → FILE_NOT_FOUND; a directory → FILE_READ_ERROR / FILE_WRITE_ERROR; a missing parent → FILE_WRITE_ERROR; each names the path', async () => {
    await using s = f16().createSession();
    await s.evaluate(A.slice(0, 5));
    const missing = join(dir, 'nope.qhs');
    const e1 = await errorOf(s.loadSnapshot(missing));
    expect(e1.code).toBe('FILE_NOT_FOUND');
    expect(e1.message).toContain(missing);
    expect(e1.details.file).toBe(missing);
    const sub = join(dir, 'a-directory');
    await mkdir(sub, { recursive: true });
    const e2 = await errorOf(s.loadSnapshot(sub));
    expect(e2.code).toBe('FILE_READ_ERROR');
    expect(e2.message).toContain(sub);
    const e3 = await errorOf(s.saveSnapshot(sub));
    expect(e3.code).toBe('FILE_WRITE_ERROR');
    expect(e3.message).toContain(sub);
    expect(e3.details).toMatchObject({ file: sub, errno: 'EISDIR' });
    const orphan = join(dir, 'no-such-dir', 'x.qhs');
    const e4 = await errorOf(s.saveSnapshot(orphan));
    expect(e4.code).toBe('FILE_WRITE_ERROR');
    expect(e4.message).toContain(orphan);
    expect((await errorOf(s.loadSnapshot(42 as unknown as string))).code).toBe('INVALID_ARGUMENT');
    expect(s.position).toBe(5);
  });
});

describe('malformed files (checksum valid)', () => {
  it('every header field of the wrong type or value → INVALID_ARGUMENT naming the file; the session is unchanged', async () => {
    const { file, cont } = await savedAtA(f16(), 'fields-src.qhs');
    const good = await readFile(file);
    const { header, payload } = parts(good);
    const tensors = header.tensors as Record<string, unknown>[];
    const kvAt = tensors.findIndex((t) => /k_cache$/.test(t.name as string));
    const with_ = (patch: (h: Record<string, unknown>) => unknown) => {
      const h = structuredClone(header);
      const r = patch(h);
      return r === undefined ? h : r;
    };
    const tensorPatch = (i: number, k: string, v: unknown) => with_((h) => void ((h.tensors as Record<string, unknown>[])[i]![k] = v));
    const cases: [string, unknown, RegExp][] = [
      ['tensors null', with_((h) => void (h.tensors = null)), /'tensors' must be an array, got null/],
      ['tensors object', with_((h) => void (h.tensors = {})), /'tensors' must be an array/],
      ['tensor entry null', with_((h) => void ((h.tensors as unknown[])[0] = null)), /'tensors\[0\]' must be an object/],
      ['tensor name number', tensorPatch(0, 'name', 3), /'tensors\[0\]\.name' must be a string/],
      ['tensor kind f64', tensorPatch(0, 'kind', 'f64'), /'tensors\[0\]\.kind' must be/],
      ['tensor kind of another tensor type', tensorPatch(kvAt, 'kind', 'f32'), /this session's is u16/],
      ['tensor length -1', tensorPatch(0, 'length', -1), /'tensors\[0\]\.length' must be a non-negative integer/],
      ['tensor length other', tensorPatch(0, 'length', 4), /this session's is/],
      ['tensor stored 1.5', tensorPatch(0, 'stored', 1.5), /'tensors\[0\]\.stored' must be a non-negative integer/],
      ['KV stored = whole tensor', tensorPatch(kvAt, 'stored', tensors[kvAt]!.length), /position 70 needs/],
      ['tensor missing', with_((h) => void (h.tensors as unknown[]).pop()), /lacks state tensor/],
      ['tensor twice', with_((h) => void (h.tensors as unknown[]).push((h.tensors as unknown[])[0])), /appears twice/],
      ['extra tensor', with_((h) => void (h.tensors as unknown[]).push({ name: 'blk.99.k_cache', kind: 'u16', length: 2, stored: 0 })), /has tensor 'blk\.99\.k_cache' this session does not/],
      ['history null', with_((h) => void (h.history = null)), /'history' must be an array/],
      ['history id -1', with_((h) => void ((h.history as number[])[3] = -1)), /history\[3\] = -1 is not a token id/],
      ['history id string', with_((h) => void ((h.history as unknown[])[3] = '7')), /history\[3\] = "7"/],
      ['history id ≥ vocab', with_((h) => void ((h.history as number[])[0] = 1e6)), /history\[0\] = 1000000/],
      ['history shorter than position', with_((h) => void (h.history as number[]).pop()), /inconsistent with the history of 69/],
      ['position string', with_((h) => void (h.position = '70')), /'position' must be a non-negative integer/],
      ['position > context', with_((h) => void (h.position = 1000)), /position must be an integer in \[0, 128\]/],
      ['contextSize null', with_((h) => void (h.contextSize = null)), /'contextSize' must be a non-negative integer/],
      ['contextSize other', with_((h) => void (h.contextSize = 64)), /context size 64, this session 128/],
      ['model null', with_((h) => void (h.model = null)), /'model' must be an object/],
      ['model.weights number', with_((h) => void ((h.model as Record<string, unknown>).weights = 5)), /'model\.weights' must be a string/],
      ['model.nEmbd string', with_((h) => void ((h.model as Record<string, unknown>).nEmbd = '256')), /'model\.nEmbd' must be a non-negative integer/],
      ['model.kv other', with_((h) => void ((h.model as Record<string, unknown>).kv = 'f32')), /model kv is "f32", expected "f16"/],
      ['header null', null, /must be a JSON object, got null/],
      ['header array', [], /must be a JSON object/],
    ];
    await using s = f16().createSession();
    await s.evaluate(A);
    const p = join(dir, 'fields.qhs');
    const refuse = async (what: string, bytes: Buffer, re: RegExp) => {
      await writeFile(p, bytes);
      const e = await errorOf(s.loadSnapshot(p));
      expect(e.code, what).toBe('INVALID_ARGUMENT');
      expect(e.message, what).toMatch(re);
      expect(e.message, what).toContain(p);
      expect(e.details.file, what).toBe(p);
    };
    for (const [what, h, re] of cases) await refuse(what, build(Buffer.from(JSON.stringify(h)), payload), re);
    await refuse('header not JSON', build(Buffer.from('{"model":'), payload), /not JSON/);
    await refuse('header not UTF-8', build(Buffer.from([0x7b, 0xff, 0x7d]), payload), /not valid UTF-8/);
    await refuse('version 1', build(Buffer.from(JSON.stringify(header)), payload, 'QHSNAP01'), /QHSNAP01 is not read by this version/);
    await refuse('not a snapshot', Buffer.from('not a snapshot at all, just some text'), /not a session snapshot/);
    // A header length past the end, with a matching digest.
    const long = build(Buffer.from(JSON.stringify(header)), payload);
    long.writeUInt32LE(long.length, 8);
    createHash('sha256').update(long.subarray(0, 12)).update(long.subarray(SNAPSHOT_PRELUDE_BYTES)).digest().copy(long, 12);
    await refuse('header length past the end', long, /does not fit/);
    await expectUnchanged(s, cont);
  });
});

describe('malformed in-memory snapshots', () => {
  it('restore({}), restore(null), wrong field types or arrays → INVALID_ARGUMENT, not a TypeError; the session is unchanged', async () => {
    const { cont } = await savedAtA(f16(), 'mem-src.qhs');
    await using src = f16().createSession();
    await src.evaluate(A);
    const snap = await src.snapshot();
    await using s = f16().createSession();
    await s.evaluate(A);
    const name0 = [...snap.tensors.keys()][0]!;
    const tensorsWith = (f: (m: Map<string, unknown>) => void) => {
      const m = new Map<string, unknown>(snap.tensors);
      f(m);
      return { ...snap, tensors: m };
    };
    const cases: [string, unknown, RegExp][] = [
      ['{}', {}, /tensors must be a Map/],
      ['null', null, /expected a SessionSnapshot/],
      ['undefined', undefined, /expected a SessionSnapshot/],
      ['a number', 5, /expected a SessionSnapshot/],
      ['tensors object', { ...snap, tensors: {} }, /tensors must be a Map/],
      ['model missing', { ...snap, model: undefined }, /model must be an object/],
      ['model other kv', { ...snap, model: { ...snap.model, kv: 'q8_0' } }, /model kv is "q8_0", expected "f16"/],
      ['history not an array', { ...snap, history: 'abc' }, /history must be an array/],
      ['history id out of range', { ...snap, history: [...snap.history.slice(0, -1), -1] }, /history\[69\] = -1/],
      ['position inconsistent', { ...snap, position: 3 }, /inconsistent/],
      ['contextSize other', { ...snap, contextSize: 64 }, /context size 64/],
      ['tensor missing', tensorsWith((m) => m.delete(name0)), /lacks state tensor/],
      ['tensor of another kind', tensorsWith((m) => m.set(name0, new Uint8Array((snap.tensors.get(name0) as Float32Array).byteLength))), /is u8/],
      ['tensor too short', tensorsWith((m) => m.set(name0, new Float32Array(3))), /× 3, this session's/],
      ['tensor a plain array', tensorsWith((m) => m.set(name0, [1, 2, 3])), /not an f32 \/ u16 \/ i32 \/ u8 array/],
      ['extra tensor', tensorsWith((m) => m.set('blk.9.ssm_state', new Float32Array(1))), /does not/],
    ];
    for (const [what, v, re] of cases) {
      const e = await errorOf(s.restore(v as SessionSnapshot));
      expect(e.code, what).toBe('INVALID_ARGUMENT');
      expect(e.message, what).toMatch(re);
    }
    await expectUnchanged(s, cont);
    // The genuine snapshot still restores (and the failed calls did not wedge the session's queue).
    await s.restore(snap);
    await expectUnchanged(s, cont);
  });
});
