/**
 * GGUF reader: one crafted file per error code (asserting code, file name, byte offset and key/tensor,
 * with offsets taken from the hand builder's marks), huge sparse files, bounded I/O, large-vocab speed,
 * metadata accessors, split models, and agreement with llama.cpp (through node-llama-cpp).
 */
import { mkdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { GGUFError, QwenHybridError } from '../../src/errors.js';
import {
  architecture,
  getArray,
  getBool,
  getFloat,
  getInt,
  getNumberArray,
  getString,
  getStringArray,
  getUint,
  parseGGUF,
  readGGUF,
  readGGUFModel,
  parseSplitPath,
  splitPath,
  DEFAULT_GGUF_LIMITS,
} from '../../src/gguf/index.js';
import { GGMLType, GGUFValueType, type GGUFMetadataValue } from '../../src/gguf/types.js';
import { encodeGGUF, meta, writeGGUF, type GGUFWriteSpec } from '../../src/gguf/writer.js';
import { ByteBuilder, craft, kvStr, kvU32, richMetadata, smallModelSpec, tempDir, type CraftSpec } from '../helpers/gguf-fixtures.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

function catchErr(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected an error, none thrown');
}

/** Asserts a GGUFError with `code` whose message and details name the file, offset and key/tensor. */
function expectGGUF(err: unknown, code: string, want: { file: string; offset?: number; key?: string; tensor?: string }): GGUFError {
  expect(err).toBeInstanceOf(GGUFError);
  const e = err as GGUFError;
  expect(e.code, e.message).toBe(code);
  expect(e.message).toContain(want.file);
  expect(e.details.file).toBe(want.file);
  if (want.offset !== undefined) {
    expect(e.message).toContain(`at byte ${want.offset}`);
    expect(e.details.offset).toBe(want.offset);
  }
  if (want.key !== undefined) {
    expect(e.message).toContain(`'${want.key}'`);
    expect(e.details.key).toBe(want.key);
  }
  if (want.tensor !== undefined) {
    expect(e.message).toContain(`'${want.tensor}'`);
    expect(e.details.tensor).toBe(want.tensor);
  }
  return e;
}

const parseCrafted = (spec: CraftSpec, name: string, opts = {}): { b: ByteBuilder; err: unknown } => {
  const b = craft(spec);
  return { b, err: catchErr(() => parseGGUF(b.bytes(), { name, ...opts })) };
};

const F32_16 = (name: string, offset: number | bigint) => ({ name, dims: [16], type: GGMLType.F32, offset });

describe('crafted files: one per error code', () => {
  it('a minimal crafted file parses (the baseline the cases below break)', () => {
    const b = craft({ kv: [kvU32('a', 1), kvStr('b', 'x')], tensors: [F32_16('t0', 0), F32_16('t1', 64)], dataBytes: 128 });
    const f = parseGGUF(b.bytes(), { name: 'base.gguf' });
    expect(f.dataOffset).toBe(b.at('data'));
    expect(f.tensors.map((t) => [t.name, t.offset, t.byteSize])).toEqual([['t0', b.at('data'), 64], ['t1', b.at('data') + 64, 64]]);
  });

  it('GGUF_BAD_MAGIC', () => {
    const bytes = craft({}).bytes();
    bytes.set([0x47, 0x47, 0x4d, 0x4c]); // "GGML"
    expectGGUF(catchErr(() => parseGGUF(bytes, { name: 'magic.gguf' })), 'GGUF_BAD_MAGIC', { file: 'magic.gguf', offset: 0 });
  });

  it('GGUF_UNSUPPORTED_VERSION: v1, v4, and a big-endian file', () => {
    for (const v of [1, 4, 0]) {
      const { b, err } = parseCrafted({ version: v }, `v${v}.gguf`);
      const e = expectGGUF(err, 'GGUF_UNSUPPORTED_VERSION', { file: `v${v}.gguf`, offset: b.at('version') });
      expect(e.message).toContain(String(v));
    }
    const { err } = parseCrafted({ version: 0x03000000 }, 'be.gguf'); // bytes 00 00 00 03
    expect(expectGGUF(err, 'GGUF_UNSUPPORTED_VERSION', { file: 'be.gguf', offset: 4 }).message).toMatch(/big-endian/);
  });

  it('GGUF_TRUNCATED: inside a string array element, inside the tensor table, and with a header prefix', () => {
    const kvArr = (b: ByteBuilder): void => {
      b.str('tok').u32(GGUFValueType.ARRAY).u32(GGUFValueType.STRING).u64(3).str('aa').str('bbb');
      b.u64(5).mark('third').raw([0x63, 0x63]); // third string: length 5, only 2 bytes follow in the cut file
    };
    const b = craft({ kv: [kvArr] });
    const cut = b.bytes().subarray(0, b.at('third') + 2);
    expectGGUF(catchErr(() => parseGGUF(cut, { name: 'cut.gguf' })), 'GGUF_TRUNCATED', { file: 'cut.gguf', offset: b.at('third'), key: 'tok' });

    const t = craft({ tensors: [F32_16('weight_a', 0), F32_16('weight_b', 64)], dataBytes: 128 });
    const cut2 = t.bytes().subarray(0, t.at('tensor1.type') + 2);
    expectGGUF(catchErr(() => parseGGUF(cut2, { name: 'cut2.gguf' })), 'GGUF_TRUNCATED', { file: 'cut2.gguf', offset: t.at('tensor1.ndims') + 4, tensor: 'weight_b' });
    // One tensor declared, file too short to hold even the smallest tensor info: refused up front.
    const cut3 = t.bytes().subarray(0, 40);
    expectGGUF(catchErr(() => parseGGUF(cut3, { name: 'cut3.gguf' })), 'GGUF_TRUNCATED', { file: 'cut3.gguf', offset: 8 });

    // Only the first 20 bytes given, file said to be larger: the header cannot be completed.
    const full = t.bytes();
    expectGGUF(catchErr(() => parseGGUF(full.subarray(0, 20), { name: 'prefix.gguf', fileSize: full.length })), 'GGUF_TRUNCATED', { file: 'prefix.gguf', offset: 8 });
  });

  it('GGUF_TRUNCATED on disk (readGGUF), every cut of a small file', async () => {
    const bytes = encodeGGUF(smallModelSpec(5));
    const f = parseGGUF(bytes);
    const path = join(tmp.dir, 'trunc.gguf');
    // Cuts inside the header (which is ~2.4 kB here): TRUNCATED.
    expect(f.dataOffset).toBeGreaterThan(1000);
    for (const n of [0, 3, 7, 23, 100, 500, 1000]) {
      writeFileSync(path, bytes.subarray(0, n));
      const err = await readGGUF(path).catch((e: unknown) => e);
      expect(err, `cut at ${n}`).toBeInstanceOf(GGUFError);
      expect((err as GGUFError).code, `cut at ${n}`).toBe('GGUF_TRUNCATED');
      expect((err as GGUFError).message).toContain(path);
    }
    // Header complete, data missing: the first tensor is out of bounds; one byte short: the last one.
    writeFileSync(path, bytes.subarray(0, f.dataOffset));
    expectGGUF(await readGGUF(path).catch((e: unknown) => e), 'GGUF_TENSOR_OUT_OF_BOUNDS', { file: path, tensor: 'token_embd.weight' });
    writeFileSync(path, bytes.subarray(0, bytes.length - 1));
    expectGGUF(await readGGUF(path).catch((e: unknown) => e), 'GGUF_TENSOR_OUT_OF_BOUNDS', { file: path, tensor: 'output_norm.weight' });
  });

  it('GGUF_LIMIT_EXCEEDED: absurd string length, array count, tensor/kv counts, depth — without allocating', () => {
    const before = process.memoryUsage().arrayBuffers;
    // Key length 2^40 in a ~40-byte file.
    const k = craft({ kv: [(b) => void b.u64(2n ** 40n).raw([0x61])] });
    expectGGUF(catchErr(() => parseGGUF(k.bytes(), { name: 'klen.gguf' })), 'GGUF_LIMIT_EXCEEDED', { file: 'klen.gguf', offset: k.at('kv0') });
    // Array count u64 max.
    const a = craft({ kv: [(b) => void b.str('arr').u32(GGUFValueType.ARRAY).u32(GGUFValueType.UINT8).mark('count').u64(2n ** 64n - 1n)] });
    expectGGUF(catchErr(() => parseGGUF(a.bytes(), { name: 'acount.gguf' })), 'GGUF_LIMIT_EXCEEDED', { file: 'acount.gguf', offset: a.at('count'), key: 'arr' });
    // String value length 2^40.
    const s = craft({ kv: [(b) => void b.str('s').u32(GGUFValueType.STRING).mark('len').u64(2n ** 40n)] });
    expectGGUF(catchErr(() => parseGGUF(s.bytes(), { name: 'slen.gguf' })), 'GGUF_LIMIT_EXCEEDED', { file: 'slen.gguf', offset: s.at('len'), key: 's' });
    // Tensor and kv counts.
    expectGGUF(catchErr(() => parseGGUF(craft({ nTensors: 2n ** 40n }).bytes(), { name: 'tc.gguf' })), 'GGUF_LIMIT_EXCEEDED', { file: 'tc.gguf', offset: 8 });
    expectGGUF(catchErr(() => parseGGUF(craft({ nKV: 2n ** 63n }).bytes(), { name: 'kc.gguf' })), 'GGUF_LIMIT_EXCEEDED', { file: 'kc.gguf', offset: 16 });
    // Nesting deeper than maxArrayDepth: array<array<array<…>>>.
    const deep = craft({
      kv: [(b) => {
        b.str('deep').u32(GGUFValueType.ARRAY);
        for (let i = 0; i < 10_000; i++) b.u32(GGUFValueType.ARRAY).u64(1);
        b.u32(GGUFValueType.UINT8).u64(0);
      }],
    });
    expectGGUF(catchErr(() => parseGGUF(deep.bytes(), { name: 'deep.gguf' })), 'GGUF_LIMIT_EXCEEDED', { file: 'deep.gguf', key: 'deep' });
    // A configured limit is honoured.
    const small = encodeGGUF({ metadata: [['s', meta.str('x'.repeat(100))]], tensors: [] });
    expectGGUF(catchErr(() => parseGGUF(small, { name: 'lim.gguf', maxStringBytes: 99 })), 'GGUF_LIMIT_EXCEEDED', { file: 'lim.gguf', key: 's' });
    expect(parseGGUF(small, { maxStringBytes: 100 }).metadata.get('s')!.value).toHaveLength(100);
    // Tensor names of 64+ bytes (llama.cpp's GGML_MAX_NAME).
    const longName = craft({ tensors: [F32_16('n'.repeat(64), 0)], dataBytes: 64 });
    expectGGUF(catchErr(() => parseGGUF(longName.bytes(), { name: 'name.gguf' })), 'GGUF_LIMIT_EXCEEDED', { file: 'name.gguf', offset: longName.at('tensor0') });
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 << 20);
  });

  it('a count within the cap but beyond the file is TRUNCATED, before any allocation', () => {
    const a = craft({ kv: [(b) => void b.str('arr').u32(GGUFValueType.ARRAY).u32(GGUFValueType.STRING).mark('count').u64(1_000_000)] });
    expectGGUF(catchErr(() => parseGGUF(a.bytes(), { name: 'acount2.gguf' })), 'GGUF_TRUNCATED', { file: 'acount2.gguf', offset: a.at('count'), key: 'arr' });
  });

  it('GGUF_BAD_STRING: invalid UTF-8 in a key, a value, an array element and a tensor name', () => {
    const key = craft({ kv: [(b) => void b.str([0x61, 0xff, 0x62]).u32(GGUFValueType.UINT8).u8(1)] });
    expectGGUF(catchErr(() => parseGGUF(key.bytes(), { name: 'bk.gguf' })), 'GGUF_BAD_STRING', { file: 'bk.gguf', offset: key.at('kv0') + 8 });
    const val = craft({ kv: [(b) => void b.str('v').u32(GGUFValueType.STRING).mark('s').str([0xc0, 0x80])] }); // overlong NUL
    expectGGUF(catchErr(() => parseGGUF(val.bytes(), { name: 'bv.gguf' })), 'GGUF_BAD_STRING', { file: 'bv.gguf', offset: val.at('s') + 8, key: 'v' });
    const el = craft({ kv: [(b) => void b.str('arr').u32(GGUFValueType.ARRAY).u32(GGUFValueType.STRING).u64(2).str('ok').mark('s').str([0xed, 0xa0, 0x80])] }); // surrogate
    expectGGUF(catchErr(() => parseGGUF(el.bytes(), { name: 'be.gguf' })), 'GGUF_BAD_STRING', { file: 'be.gguf', offset: el.at('s') + 8, key: 'arr' });
    const tn = craft({ tensors: [{ name: [0x77, 0xf8], dims: [16], type: 0, offset: 0 }], dataBytes: 64 });
    expectGGUF(catchErr(() => parseGGUF(tn.bytes(), { name: 'bt.gguf' })), 'GGUF_BAD_STRING', { file: 'bt.gguf', offset: tn.at('tensor0') + 8 });
    // A real U+FFFD in the file is valid and kept.
    const ok = craft({ kv: [kvStr('r', '\uFFFD')] });
    expect(parseGGUF(ok.bytes()).metadata.get('r')!.value).toBe('\uFFFD');
  });

  it('GGUF_DUPLICATE_KEY', () => {
    const { b, err } = parseCrafted({ kv: [kvU32('x.y', 1), kvU32('x.y', 2)] }, 'dupkey.gguf');
    expectGGUF(err, 'GGUF_DUPLICATE_KEY', { file: 'dupkey.gguf', offset: b.at('kv1'), key: 'x.y' });
  });

  it('GGUF_DUPLICATE_TENSOR', () => {
    const { b, err } = parseCrafted({ tensors: [F32_16('w', 0), F32_16('w', 64)], dataBytes: 128 }, 'duptensor.gguf');
    expectGGUF(err, 'GGUF_DUPLICATE_TENSOR', { file: 'duptensor.gguf', offset: b.at('tensor1'), tensor: 'w' });
  });

  it('GGUF_UNKNOWN_VALUE_TYPE: a value and an array element type', () => {
    const { b, err } = parseCrafted({ kv: [(x) => void x.str('k').mark('t').u32(13).u32(0)] }, 'vt.gguf');
    expectGGUF(err, 'GGUF_UNKNOWN_VALUE_TYPE', { file: 'vt.gguf', offset: b.at('t'), key: 'k' });
    const { b: b2, err: e2 } = parseCrafted({ kv: [(x) => void x.str('a').u32(GGUFValueType.ARRAY).mark('t').u32(99).u64(0)] }, 'at.gguf');
    expectGGUF(e2, 'GGUF_UNKNOWN_VALUE_TYPE', { file: 'at.gguf', offset: b2.at('t'), key: 'a' });
  });

  it('GGUF_UNKNOWN_TENSOR_TYPE (a removed id, 4, and an out-of-range one)', () => {
    for (const type of [4, 1000]) {
      const { b, err } = parseCrafted({ tensors: [{ name: 'q', dims: [32], type, offset: 0 }], dataBytes: 64 }, 'tt.gguf');
      expectGGUF(err, 'GGUF_UNKNOWN_TENSOR_TYPE', { file: 'tt.gguf', offset: b.at('tensor0.type'), tensor: 'q' });
    }
  });

  it('GGUF_BAD_ALIGNMENT: not a power of two, zero, wrong type', () => {
    for (const a of [48, 0]) {
      const { b, err } = parseCrafted({ kv: [kvStr('general.name', 'n'), kvU32('general.alignment', a)] }, 'al.gguf');
      expectGGUF(err, 'GGUF_BAD_ALIGNMENT', { file: 'al.gguf', offset: b.at('kv1'), key: 'general.alignment' });
    }
    const { b, err } = parseCrafted({ kv: [(x) => void x.str('general.alignment').u32(GGUFValueType.UINT64).u64(64)] }, 'al64.gguf');
    expectGGUF(err, 'GGUF_BAD_ALIGNMENT', { file: 'al64.gguf', offset: b.at('kv0'), key: 'general.alignment' });
  });

  it('a valid general.alignment is used for the data section and offsets', () => {
    const b = craft({ kv: [kvU32('general.alignment', 256)], tensors: [F32_16('a', 0), F32_16('b', 256)], alignment: 256, dataBytes: 320 });
    const f = parseGGUF(b.bytes());
    expect(f.alignment).toBe(256);
    expect(f.dataOffset).toBe(256);
    expect(f.tensors[1]!.offset).toBe(512);
  });

  it('GGUF_BAD_SHAPE: n_dims 0 and 5, a zero dim, a negative dim, ne0 not a multiple of the block', () => {
    for (const dims of [[], [1, 1, 1, 1, 1]]) {
      const { b, err } = parseCrafted({ tensors: [{ name: 's', dims, type: 0, offset: 0 }], dataBytes: 64 }, 'nd.gguf');
      expectGGUF(err, 'GGUF_BAD_SHAPE', { file: 'nd.gguf', offset: b.at('tensor0.ndims'), tensor: 's' });
    }
    const { b: z, err: ez } = parseCrafted({ tensors: [{ name: 'z', dims: [4, 0], type: 0, offset: 0 }], dataBytes: 64 }, 'zero.gguf');
    expectGGUF(ez, 'GGUF_BAD_SHAPE', { file: 'zero.gguf', offset: z.at('tensor0.ndims') + 12, tensor: 'z' });
    const { err: en } = parseCrafted({ tensors: [{ name: 'n', dims: [-4n], type: 0, offset: 0 }], dataBytes: 64 }, 'neg.gguf');
    expectGGUF(en, 'GGUF_BAD_SHAPE', { file: 'neg.gguf', tensor: 'n' });
    const { err: eb } = parseCrafted({ tensors: [{ name: 'k', dims: [100, 2], type: GGMLType.Q4_K, offset: 0 }], dataBytes: 1024 }, 'blk.gguf');
    expect(expectGGUF(eb, 'GGUF_BAD_SHAPE', { file: 'blk.gguf', tensor: 'k' }).message).toMatch(/ne0=100.*Q4_K.*256/);
  });

  it('GGUF_OVERFLOW: element count, a dim above 2^53, an offset above 2^53', () => {
    const { b, err } = parseCrafted({ tensors: [{ name: 'big', dims: [2n ** 31n, 2n ** 31n, 2n ** 31n], type: 0, offset: 0 }] }, 'ov.gguf');
    expectGGUF(err, 'GGUF_OVERFLOW', { file: 'ov.gguf', offset: b.at('tensor0.ndims'), tensor: 'big' });
    // 2^52 F32 elements = 2^54 bytes: the element count fits, the byte size does not.
    const { err: e2 } = parseCrafted({ tensors: [{ name: 'bytes', dims: [2n ** 26n, 2n ** 26n], type: 0, offset: 0 }] }, 'ovb.gguf');
    expectGGUF(e2, 'GGUF_OVERFLOW', { file: 'ovb.gguf', tensor: 'bytes' });
    const { err: e3 } = parseCrafted({ tensors: [{ name: 'd', dims: [2n ** 60n], type: 0, offset: 0 }] }, 'ovd.gguf');
    expectGGUF(e3, 'GGUF_OVERFLOW', { file: 'ovd.gguf', tensor: 'd' });
    const { b: b4, err: e4 } = parseCrafted({ tensors: [F32_16('o', 2n ** 60n)] }, 'ovo.gguf');
    expectGGUF(e4, 'GGUF_OVERFLOW', { file: 'ovo.gguf', offset: b4.at('tensor0.offset'), tensor: 'o' });
  });

  it('GGUF_MISALIGNED_TENSOR', () => {
    const { b, err } = parseCrafted({ tensors: [F32_16('a', 0), F32_16('m', 80)], dataBytes: 160 }, 'mis.gguf');
    expectGGUF(err, 'GGUF_MISALIGNED_TENSOR', { file: 'mis.gguf', offset: b.at('tensor1'), tensor: 'm' });
  });

  it('GGUF_TENSOR_OUT_OF_BOUNDS', () => {
    const { b, err } = parseCrafted({ tensors: [F32_16('a', 0), F32_16('far', 64)], dataBytes: 100 }, 'oob.gguf');
    const e = expectGGUF(err, 'GGUF_TENSOR_OUT_OF_BOUNDS', { file: 'oob.gguf', offset: b.at('tensor1'), tensor: 'far' });
    expect(e.details.dataEnd).toBe(b.at('data') + 128);
  });

  it('GGUF_TENSOR_OVERLAP (found after sorting by offset)', () => {
    // Table order b, a; by offset a@0..64 then b@32..96.
    const { b, err } = parseCrafted({ tensors: [F32_16('b', 32), F32_16('a', 0)], dataBytes: 128 }, 'ovl.gguf');
    const e = expectGGUF(err, 'GGUF_TENSOR_OVERLAP', { file: 'ovl.gguf', offset: b.at('data') + 32, tensor: 'b' });
    expect(e.message).toContain("'a'");
  });

  it('GGUF_BAD_METADATA from the reader: a bool byte other than 0/1, an empty key', () => {
    const { b, err } = parseCrafted({ kv: [(x) => void x.str('flag').u32(GGUFValueType.BOOL).mark('v').u8(2)] }, 'bool.gguf');
    expectGGUF(err, 'GGUF_BAD_METADATA', { file: 'bool.gguf', offset: b.at('v'), key: 'flag' });
    const { b: b2, err: e2 } = parseCrafted({ kv: [(x) => void x.str('').u32(GGUFValueType.UINT8).u8(0)] }, 'empty.gguf');
    expectGGUF(e2, 'GGUF_BAD_METADATA', { file: 'empty.gguf', offset: b2.at('kv0') });
  });

  it('FILE_NOT_FOUND and FILE_READ_ERROR', async () => {
    const missing = join(tmp.dir, 'nope.gguf');
    const e1 = await readGGUF(missing).catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(QwenHybridError);
    expect((e1 as QwenHybridError).code).toBe('FILE_NOT_FOUND');
    expect((e1 as QwenHybridError).message).toContain(missing);
    const dir = join(tmp.dir, 'adir.gguf');
    mkdirSync(dir);
    const e2 = await readGGUF(dir).catch((e: unknown) => e);
    expect((e2 as QwenHybridError).code).toBe('FILE_READ_ERROR');
    expect((e2 as QwenHybridError).message).toContain(dir);
  });

  it('bad options are INVALID_ARGUMENT', () => {
    expect(catchErr(() => parseGGUF(new Uint8Array(8), { maxStringBytes: -1 }))).toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(catchErr(() => parseGGUF(new Uint8Array(8), { fileSize: 4 }))).toMatchObject({ code: 'INVALID_ARGUMENT' });
  });
});

describe('large files, bounded I/O, speed', () => {
  /** Sums the bytes requested from every FileHandle.read during `fn`. */
  async function countReads<T>(fn: () => Promise<T>): Promise<{ value: T; bytes: number; calls: number }> {
    const fh = await open(import.meta.filename ?? new URL(import.meta.url).pathname, 'r');
    const proto = Object.getPrototypeOf(fh) as { read: (...a: unknown[]) => Promise<{ bytesRead: number }> };
    await fh.close();
    const orig = proto.read;
    let bytes = 0;
    let calls = 0;
    const spy = vi.spyOn(proto, 'read').mockImplementation(async function (this: unknown, ...args: unknown[]) {
      const r = await orig.apply(this, args);
      bytes += r.bytesRead;
      calls++;
      return r;
    });
    try {
      return { value: await fn(), bytes, calls };
    } finally {
      spy.mockRestore();
    }
  }

  it('a 20 GB sparse file with tensors at offsets beyond 2^32 parses exactly, reading only the header', async () => {
    // t0 F32 [1024,1024,1024,4] = 16 GiB @0; t1 Q4_K [256,1024,1024] = 144 MiB @2^34; t2 F32 [8] after it.
    const t1Bytes = 144 * 1024 * 1024;
    const b = craft({
      kv: [kvStr('general.architecture', 'qwen35')],
      tensors: [
        { name: 'huge', dims: [1024, 1024, 1024, 4], type: GGMLType.F32, offset: 0 },
        { name: 'q', dims: [256, 1024, 1024], type: GGMLType.Q4_K, offset: 2 ** 34 },
        { name: 'tail', dims: [8], type: GGMLType.F32, offset: 2 ** 34 + t1Bytes },
      ],
    });
    const path = join(tmp.dir, 'sparse20g.gguf');
    writeFileSync(path, b.bytes());
    truncateSync(path, 20e9);
    const t = performance.now();
    const { value: f, bytes } = await countReads(() => readGGUF(path));
    const ms = performance.now() - t;
    console.log(`20 GB sparse header: ${ms.toFixed(1)} ms, ${bytes} bytes read`);
    const d = b.at('data');
    expect(f.fileSize).toBe(20e9);
    expect(f.tensors.map((x) => [x.name, x.offset, x.byteSize])).toEqual([
      ['huge', d, 2 ** 34],
      ['q', d + 2 ** 34, t1Bytes],
      ['tail', d + 2 ** 34 + t1Bytes, 32],
    ]);
    expect(bytes).toBeLessThanOrEqual(b.length + (1 << 20));
    // Same header in a file too short for its last tensor.
    truncateSync(path, d + 2 ** 34 + t1Bytes + 16);
    expectGGUF(await readGGUF(path).catch((e: unknown) => e), 'GGUF_TENSOR_OUT_OF_BOUNDS', { file: path, tensor: 'tail', offset: b.at('tensor2') });
  });

  it('a 200 MB file is read up to its header plus one window, not its data', async () => {
    const spec = smallModelSpec(9);
    const bytes = encodeGGUF(spec);
    const f0 = parseGGUF(bytes);
    const path = join(tmp.dir, 'tail200m.gguf');
    writeFileSync(path, bytes);
    truncateSync(path, 200e6);
    const { value: f, bytes: read, calls } = await countReads(() => readGGUF(path, { windowBytes: 4096 }));
    console.log(`200 MB file: ${read} bytes read in ${calls} reads (header ${f0.dataOffset} bytes, window 4096)`);
    expect(f.tensors).toEqual(f0.tensors);
    expect(read).toBeLessThanOrEqual(f0.dataOffset + 4096);
    expect(read).toBeGreaterThanOrEqual(f0.dataOffset - 32);
  });

  it('a small window (refilled many times) gives the same result as the whole buffer', async () => {
    const bytes = encodeGGUF({ ...smallModelSpec(2, { vocab: 3000 }), metadata: [...(richMetadata() as Array<readonly [string, GGUFMetadataValue]>), ['long', meta.str('L'.repeat(10_000))]] });
    const path = join(tmp.dir, 'window.gguf');
    writeFileSync(path, bytes);
    const a = await readGGUF(path, { windowBytes: 64 });
    const b = parseGGUF(bytes, { name: path });
    expect(a).toEqual(b);
  });

  it('a Qwen-size vocabulary header (248,320 tokens, 247,587 merges, i32[248,320]) parses fast', async () => {
    const tokens = Array.from({ length: 248_320 }, (_, i) => (i % 3 === 0 ? `Ġtok${i}` : i % 3 === 1 ? `ĊĠ${i}` : `w${i}`));
    const merges = Array.from({ length: 247_587 }, (_, i) => `Ġ${i % 1000} t${i}`);
    const types = Array.from({ length: 248_320 }, (_, i) => (i < 248_000 ? 1 : 3));
    const bytes = encodeGGUF({
      metadata: [
        ['general.architecture', meta.str('qwen35')],
        ['tokenizer.ggml.tokens', meta.array(GGUFValueType.STRING, tokens)],
        ['tokenizer.ggml.merges', meta.array(GGUFValueType.STRING, merges)],
        ['tokenizer.ggml.token_type', meta.array(GGUFValueType.INT32, types)],
      ],
      tensors: [],
    });
    const path = join(tmp.dir, 'vocab.gguf');
    writeFileSync(path, bytes);
    const times: number[] = [];
    let f;
    for (let r = 0; r < 3; r++) {
      const t = performance.now();
      f = await readGGUF(path);
      times.push(performance.now() - t);
    }
    const tp = performance.now();
    parseGGUF(bytes);
    const parseMs = performance.now() - tp;
    console.log(`vocab header ${(bytes.length / 1e6).toFixed(1)} MB: readGGUF ${times.map((t) => t.toFixed(0)).join('/')} ms, parseGGUF ${parseMs.toFixed(0)} ms`);
    expect(getStringArray(f!, 'tokenizer.ggml.tokens')).toEqual(tokens);
    expect(getStringArray(f!, 'tokenizer.ggml.merges')).toEqual(merges);
    expect(getNumberArray(f!, 'tokenizer.ggml.token_type')).toEqual(types);
    // Loose guard for a shared 2-core machine; the requirement is "well under a second".
    expect(Math.min(...times)).toBeLessThan(1000);
  });
});

describe('metadata accessors', () => {
  const f = parseGGUF(
    encodeGGUF({
      metadata: [
        ...(richMetadata() as Array<readonly [string, GGUFMetadataValue]>),
        ['t.i32_pos', meta.i32(7)],
        ['t.u64_small', meta.u64(123n)],
        ['t.arr_i64', meta.array(GGUFValueType.INT64, [-3n, 4n])],
      ],
      tensors: [],
    }),
    { name: 'meta.gguf' },
  );

  it('typed getters return the written values', () => {
    expect(architecture(f)).toBe('qwen35');
    expect(getString(f, 'general.name')).toBe('tiny ✓ модель 模型 🤖');
    expect(getUint(f, 't.u8')).toBe(255);
    expect(getUint(f, 't.u32')).toBe(4294967295);
    expect(getUint(f, 't.i32_pos')).toBe(7);
    expect(getUint(f, 't.u64_small')).toBe(123);
    expect(getInt(f, 't.i32')).toBe(-2147483648);
    expect(getInt(f, 't.i8')).toBe(-128);
    expect(getFloat(f, 't.f64')).toBe(Math.PI);
    expect(getFloat(f, 't.f32')).toBe(Math.fround(0.1));
    expect(getBool(f, 't.bool_t')).toBe(true);
    expect(getBool(f, 't.bool_f')).toBe(false);
    expect(getStringArray(f, 't.arr_str')).toEqual(['', 'a', 'Ġhello', '\u{10FFFF}', '\uFEFFbom']);
    expect(getNumberArray(f, 't.arr_i32')).toEqual([-1, 0, 2147483647]);
    expect(getNumberArray(f, 't.arr_i64')).toEqual([-3, 4]);
    expect(getArray(f, 't.arr_nested').arrayType).toBe(GGUFValueType.ARRAY);
    expect(getString(f.metadata, 'general.architecture')).toBe('qwen35'); // a bare map works too
    expect(getUint(f, 'absent', { optional: true })).toBeUndefined();
    expect(getStringArray(f, 'absent', { optional: true })).toBeUndefined();
  });

  it('missing keys are MISSING_METADATA, wrong types GGUF_BAD_METADATA, both naming key and file', () => {
    const expectErr = (fn: () => unknown, code: string, key: string): void => {
      const e = catchErr(fn) as QwenHybridError;
      expect(e).toBeInstanceOf(QwenHybridError);
      expect(e.code).toBe(code);
      expect(e.message).toContain(`'${key}'`);
      expect(e.message).toContain('meta.gguf');
      expect(e.details).toMatchObject({ key, file: 'meta.gguf' });
    };
    expectErr(() => getString(f, 'qwen35.nothing'), 'MISSING_METADATA', 'qwen35.nothing');
    expectErr(() => getUint(f, 't.i32'), 'GGUF_BAD_METADATA', 't.i32'); // negative
    expectErr(() => getUint(f, 't.u64'), 'GGUF_BAD_METADATA', 't.u64'); // 2^64-1 is not a safe number
    expectErr(() => getUint(f, 't.f32'), 'GGUF_BAD_METADATA', 't.f32');
    expectErr(() => getInt(f, 'general.name'), 'GGUF_BAD_METADATA', 'general.name');
    expectErr(() => getFloat(f, 't.u8'), 'GGUF_BAD_METADATA', 't.u8');
    expectErr(() => getBool(f, 't.u8'), 'GGUF_BAD_METADATA', 't.u8');
    expectErr(() => getString(f, 't.arr_str'), 'GGUF_BAD_METADATA', 't.arr_str');
    expectErr(() => getStringArray(f, 't.arr_i32'), 'GGUF_BAD_METADATA', 't.arr_i32');
    expectErr(() => getNumberArray(f, 't.arr_str'), 'GGUF_BAD_METADATA', 't.arr_str');
    expectErr(() => getNumberArray(f, 't.arr_u64'), 'GGUF_BAD_METADATA', 't.arr_u64');
    expectErr(() => getArray(f, 't.u8'), 'GGUF_BAD_METADATA', 't.u8');
  });
});

describe('split models', () => {
  const tensor = (name: string, seed: number) => ({ name, shape: [32], type: GGMLType.F32, data: new Uint8Array(128).fill(seed) });
  /** Shard i (0-based) of n with the given tensors; split keys typed as gguf-split writes them. */
  const shard = (i: number, n: number, names: string[], total: number, extra: Array<readonly [string, GGUFMetadataValue]> = []): GGUFWriteSpec => ({
    metadata: [
      ...(i === 0 ? [['general.architecture', meta.str('qwen35')] as const] : []),
      ['split.no', meta.u16(i)],
      ['split.count', meta.u16(n)],
      ['split.tensors.count', meta.i32(total)],
      ...extra,
    ],
    tensors: names.map((nm, k) => tensor(nm, i * 10 + k)),
  });
  let dirN = 0;
  async function writeShards(specs: GGUFWriteSpec[], prefix = 'model'): Promise<string[]> {
    const dir = join(tmp.dir, `split${dirN++}`);
    mkdirSync(dir);
    const paths = specs.map((_, i) => splitPath(join(dir, prefix), i + 1, specs.length));
    for (const [i, s] of specs.entries()) await writeGGUF(paths[i]!, s);
    return paths;
  }

  it('path helpers follow %s-%05d-of-%05d.gguf', () => {
    expect(splitPath('/m/q', 2, 14)).toBe('/m/q-00002-of-00014.gguf');
    expect(parseSplitPath('/m/Qwen3.6-27B-Q4_K_M-00003-of-00004.gguf')).toEqual({ prefix: '/m/Qwen3.6-27B-Q4_K_M', no: 3, count: 4 });
    expect(parseSplitPath('/m/model.gguf')).toBeUndefined();
  });

  it('opens all shards from any shard path, with tensors tagged by shard', async () => {
    const paths = await writeShards([shard(0, 3, ['a', 'b'], 5), shard(1, 3, ['c'], 5), shard(2, 3, ['d', 'e'], 5)]);
    for (const p of paths) {
      const m = await readGGUFModel(p);
      expect(m.shards.map((s) => s.path)).toEqual(paths);
      expect(getString(m.shards[0]!, 'general.architecture')).toBe('qwen35');
      expect(m.metadata).toBe(m.shards[0]!.metadata);
      expect(m.tensors.map((t) => [t.name, t.shard, t.path])).toEqual([
        ['a', 0, paths[0]], ['b', 0, paths[0]], ['c', 1, paths[1]], ['d', 2, paths[2]], ['e', 2, paths[2]],
      ]);
      const c = m.tensors[2]!;
      expect(readFileSync(paths[1]!).subarray(c.offset, c.offset + c.byteSize)).toEqual(Buffer.alloc(128, 10));
    }
  });

  it('a plain file is a one-shard model', async () => {
    const path = join(tmp.dir, 'plain.gguf');
    await writeGGUF(path, smallModelSpec(1));
    const m = await readGGUFModel(path);
    expect(m.shards).toHaveLength(1);
    expect(m.tensors.map((t) => t.name)).toEqual(smallModelSpec(1).tensors.map((t) => t.name));
    expect(m.tensors.every((t) => t.shard === 0 && t.path === path)).toBe(true);
  });

  const splitErr = async (p: Promise<unknown>, file: string, mention: RegExp): Promise<void> => {
    const e = (await p.catch((x: unknown) => x)) as GGUFError;
    expect(e).toBeInstanceOf(GGUFError);
    expect(e.code, e.message).toBe('GGUF_SPLIT_ERROR');
    expect(e.message).toContain(file);
    expect(e.message).toMatch(mention);
  };

  it('GGUF_SPLIT_ERROR: missing shard', async () => {
    const paths = await writeShards([shard(0, 3, ['a'], 3), shard(1, 3, ['b'], 3), shard(2, 3, ['c'], 3)]);
    const { rmSync } = await import('node:fs');
    rmSync(paths[1]!);
    await splitErr(readGGUFModel(paths[0]!), paths[1]!, /shard 2 of 3 is missing/);
  });

  it('GGUF_SPLIT_ERROR: split.no / split.count / split.tensors.count inconsistent', async () => {
    let p = await writeShards([shard(0, 2, ['a'], 2), shard(0, 2, ['b'], 2)]);
    await splitErr(readGGUFModel(p[0]!), p[1]!, /split\.no=0/);
    p = await writeShards([shard(0, 2, ['a'], 2), shard(1, 3, ['b'], 2)]);
    await splitErr(readGGUFModel(p[0]!), p[1]!, /split\.count=3/);
    p = await writeShards([shard(0, 2, ['a'], 3), shard(1, 2, ['b'], 3)]);
    await splitErr(readGGUFModel(p[0]!), p[0]!, /split\.tensors\.count=3.*hold 2/);
    p = await writeShards([shard(0, 2, ['a'], 2), shard(1, 2, ['b'], 7)]);
    await splitErr(readGGUFModel(p[0]!), p[1]!, /disagrees/);
    p = await writeShards([shard(0, 2, ['a'], 2), { metadata: [], tensors: [tensor('b', 1)] }]);
    await splitErr(readGGUFModel(p[0]!), p[1]!, /no split\.count/);
  });

  it('GGUF_SPLIT_ERROR: a tensor in two shards', async () => {
    const p = await writeShards([shard(0, 2, ['a', 'x'], 3), shard(1, 2, ['x'], 3)]);
    const e = (await readGGUFModel(p[0]!).catch((x: unknown) => x)) as GGUFError;
    await splitErr(Promise.reject(e), p[1]!, /tensor 'x' is also in shard 1/);
    expect(e.details.tensor).toBe('x');
  });

  it('GGUF_SPLIT_ERROR: a shard renamed to a plain name', async () => {
    const path = join(tmp.dir, 'renamed.gguf');
    await writeGGUF(path, shard(0, 2, ['a'], 2));
    await splitErr(readGGUFModel(path), path, /does not follow/);
  });
});

describe('agreement with llama.cpp (node-llama-cpp)', () => {
  // A writer file without nested arrays: llama.cpp's gguf reader rejects arrays of arrays ("invalid GGUF type 9").
  const noNested = (): Array<readonly [string, GGUFMetadataValue]> =>
    (richMetadata() as Array<readonly [string, GGUFMetadataValue]>).filter(([k]) => k !== 't.arr_nested');

  it("node-llama-cpp's JS reader sees the same metadata and tensor table in a rich writer file", async () => {
    const { readGgufFileInfo } = await import('node-llama-cpp');
    const spec = smallModelSpec(3);
    const path = join(tmp.dir, 'rich-nlc.gguf');
    await writeGGUF(path, { ...spec, alignment: 64, metadata: [...(spec.metadata as Array<readonly [string, GGUFMetadataValue]>).filter(([k]) => k !== 'general.architecture'), ...richMetadata() as Array<readonly [string, GGUFMetadataValue]>] });
    const ours = await readGGUF(path);
    const theirs = await readGgufFileInfo(path, { logWarnings: false, sourceType: 'filesystem' });
    expect(theirs.version).toBe(ours.version);
    // Their metadata is nested by '.'; compare every scalar and scalar-array key.
    const lookup = (key: string): unknown => key.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown>)?.[k], theirs.metadata);
    let compared = 0;
    const plain = (v: unknown): unknown => (Array.isArray(v) ? v.map(plain) : typeof v === 'object' && v !== null && 'value' in v ? plain((v as { value: unknown }).value) : v);
    for (const [key, v] of ours.metadata) {
      const mine = plain(v.value);
      const want = lookup(key);
      if (typeof mine === 'number' && Number.isNaN(mine)) expect(Number.isNaN(want as number), key).toBe(true);
      else expect(want, key).toEqual(mine);
      compared++;
    }
    expect(compared).toBe(ours.metadata.size);
    expect(theirs.tensorInfo!.map((t) => ({ name: t.name, shape: t.dimensions.map(Number), type: t.ggmlType, rel: Number(t.offset), abs: Number(t.fileOffset) }))).toEqual(
      ours.tensors.map((t) => ({ name: t.name, shape: t.shape, type: t.type, rel: t.relativeOffset, abs: t.offset })),
    );
  });

  it('llama.cpp (through the node-llama-cpp loader) accepts our good file and rejects the crafted files we reject', async () => {
    const { getLlama, LlamaLogLevel } = await import('node-llama-cpp');
    const logs: string[] = [];
    const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.warn, logger: (_level, msg) => void logs.push(msg) });
    /** GGUF-level rejections of `path` by node-llama-cpp / llama.cpp (loading always fails later: no weights). */
    const ggufErrors = async (path: string): Promise<string[]> => {
      logs.length = 0;
      const thrown = await llama.loadModel({ modelPath: path }).then(
        async (m) => void (await m.dispose()),
        (e: unknown) => String((e as Error)?.message ?? e),
      );
      if (process.env.QH_DEBUG_LLAMA) console.log(path, thrown, logs);
      // node-llama-cpp's own JS header reader rejects some files (bad magic, unknown type) before llama.cpp
      // runs: a specific rejection message counts too; the generic one follows a later, non-GGUF failure.
      const specific = thrown !== undefined && thrown !== 'Failed to load model' ? [`node-llama-cpp: ${thrown}`] : [];
      return [...logs.filter((l) => /gguf_init_from/.test(l)), ...specific];
    };
    const cases: Array<[string, Uint8Array, string | null]> = [];
    const good = encodeGGUF({ metadata: noNested(), tensors: smallModelSpec(4).tensors });
    cases.push(['good', good, null]);
    const badMagic = good.slice();
    badMagic[3] = 0x47;
    cases.push(['bad magic', badMagic, 'GGUF_BAD_MAGIC']);
    cases.push(['truncated header', good.subarray(0, 300), 'GGUF_TRUNCATED']);
    // node-llama-cpp's JS side wants general.architecture before it hands the file to llama.cpp.
    const arch = kvStr('general.architecture', 'qwen35');
    cases.push(['duplicate key', craft({ kv: [arch, kvU32('a', 1), kvU32('a', 2)] }).bytes(), 'GGUF_DUPLICATE_KEY']);
    cases.push(['unknown tensor type', craft({ kv: [arch], tensors: [{ name: 'q', dims: [32], type: 1000, offset: 0 }], dataBytes: 256 }).bytes(), 'GGUF_UNKNOWN_TENSOR_TYPE']);
    cases.push(['bad alignment', craft({ kv: [arch, kvU32('general.alignment', 48)] }).bytes(), 'GGUF_BAD_ALIGNMENT']);
    cases.push(['ne0 not a multiple of the block', craft({ kv: [arch], tensors: [{ name: 'k', dims: [100], type: GGMLType.Q4_K, offset: 0 }], dataBytes: 1024 }).bytes(), 'GGUF_BAD_SHAPE']);
    cases.push(['nested array', encodeGGUF({ metadata: [['general.architecture', meta.str('qwen35')], ['n', meta.array(GGUFValueType.ARRAY, [])]], tensors: [] }), null]);
    for (const [what, bytes, code] of cases) {
      const path = join(tmp.dir, `llama-${what.replace(/ /g, '-')}.gguf`);
      writeFileSync(path, bytes);
      const theirs = await ggufErrors(path);
      const ours = await readGGUF(path).then(() => null, (e: GGUFError) => e.code);
      expect(ours, what).toBe(code);
      if (what === 'nested array') {
        // The one known difference: we read arrays of arrays (the writer makes them), llama.cpp refuses them.
        expect(theirs.join('\n'), what).toMatch(/invalid GGUF type 9/);
      } else if (code === null) {
        expect(theirs, what).toEqual([]);
        // Got past the container to the model hyper-parameters (this tiny file has none).
        expect(logs.join('\n'), what).toMatch(/hyperparameters/);
      } else {
        expect(theirs.length, `${what}: llama.cpp should log a gguf error`).toBeGreaterThan(0);
      }
    }
  });
});
