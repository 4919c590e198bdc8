/**
 * GGUF writer → reader round trips, checked against the INPUT values (and, for layout, a GGUF assembled
 * byte by byte from spec §2.1), plus writer input validation.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GGUFError } from '../../src/errors.js';
import { parseGGUF, readGGUF } from '../../src/gguf/reader.js';
import { GGMLType, GGUFValueType, type GGUFMetadataValue } from '../../src/gguf/types.js';
import { encodeGGUF, meta, writeGGUF, type GGUFWriteSpec } from '../../src/gguf/writer.js';
import { randomBytes, richMetadata, smallModelSpec, tempDir } from '../helpers/gguf-fixtures.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

/** Compares a parsed value with the value the writer was given (f32 compared after rounding to f32). */
function expectSameValue(got: GGUFMetadataValue | undefined, want: GGUFMetadataValue, key: string): void {
  expect(got, key).toBeDefined();
  expect(got!.type, key).toBe(want.type);
  const norm = (type: GGUFValueType, v: unknown): unknown => {
    if (type === GGUFValueType.FLOAT32 && typeof v === 'number') return Number.isNaN(v) ? 'NaN' : Object.is(v, -0) ? '-0' : Math.fround(v);
    if (typeof v === 'number' && Number.isNaN(v)) return 'NaN';
    if (typeof v === 'number' && Object.is(v, -0)) return '-0';
    if (typeof v === 'object' && v !== null && 'arrayType' in v) {
      const a = v as { arrayType: GGUFValueType; value: unknown[] };
      return { arrayType: a.arrayType, value: a.value.map((x) => norm(a.arrayType, x)) };
    }
    return v;
  };
  if (want.type === GGUFValueType.ARRAY && got!.type === GGUFValueType.ARRAY) {
    expect(norm(GGUFValueType.ARRAY, got), key).toEqual(norm(GGUFValueType.ARRAY, want));
  } else {
    expect(norm(want.type, got!.value), key).toEqual(norm(want.type, want.value));
  }
}

describe('GGUF writer → reader round trip', () => {
  for (const version of [2, 3] as const) {
    it(`every value type and edge value survives (v${version})`, () => {
      const md = richMetadata() as Array<readonly [string, GGUFMetadataValue]>;
      const f = parseGGUF(encodeGGUF({ version, metadata: md, tensors: [] }), { name: 'rich.gguf' });
      expect(f.version).toBe(version);
      expect([...f.metadata.keys()]).toEqual(md.map(([k]) => k)); // insertion order kept
      for (const [k, v] of md) expectSameValue(f.metadata.get(k), v, k);
      // Spot checks written out explicitly (not through the comparator).
      expect(f.metadata.get('t.u64')!.value).toBe(18446744073709551615n);
      expect(f.metadata.get('t.i64')!.value).toBe(-9223372036854775808n);
      expect(Number.isNaN(f.metadata.get('t.f32_nan')!.value)).toBe(true);
      expect(f.metadata.get('t.f32_inf')!.value).toBe(-Infinity);
      expect(f.metadata.get('t.f32')!.value).toBe(0.10000000149011612);
      expect(f.metadata.get('general.name')!.value).toBe('tiny ✓ модель 模型 🤖');
      expect((f.metadata.get('t.arr_str')!.value as string[])[4]).toBe('\uFEFFbom'); // BOM kept
      expect(f.tensors).toEqual([]);
    });
  }

  // Tensor sizes by hand: Q8_0 = 34 B / 32 el, Q4_K = 144 B / 256 el, F32 4 B, F16 2 B.
  const handSizes: Record<string, number> = {
    'token_embd.weight': (64 / 32) * 34 * 40, // 2720
    'blk.0.attn_norm.weight': 64 * 4, // 256
    'blk.0.ffn_up.weight': 144 * 3, // 432
    'output_norm.weight': 64 * 2, // 128
  };
  for (const alignment of [1, 32, 64, 4096]) {
    it(`tensor offsets, sizes and data with alignment ${alignment}`, () => {
      const spec = smallModelSpec(7, { alignment });
      const bytes = encodeGGUF(spec);
      const f = parseGGUF(bytes, { name: `align${alignment}.gguf` });
      expect(f.alignment).toBe(alignment);
      expect(f.metadata.has('general.alignment')).toBe(alignment !== 32);
      if (alignment !== 32) expect(f.metadata.get('general.alignment')).toEqual({ type: GGUFValueType.UINT32, value: alignment });
      expect(f.dataOffset % alignment).toBe(0);
      expect(f.fileSize).toBe(bytes.length);
      let rel = 0;
      f.tensors.forEach((t, i) => {
        const want = spec.tensors[i]!;
        expect(t.name).toBe(want.name);
        expect(t.shape).toEqual(want.shape);
        expect(t.type).toBe(want.type);
        expect(t.byteSize).toBe(handSizes[t.name]);
        expect(t.elementCount).toBe(want.shape.reduce((a, b) => a * b, 1));
        expect(t.relativeOffset).toBe(rel);
        expect(t.offset).toBe(f.dataOffset + rel);
        expect(bytes.subarray(t.offset, t.offset + t.byteSize)).toEqual(want.data);
        rel = Math.ceil((rel + t.byteSize) / alignment) * alignment;
      });
      // File ends right after the last tensor (no trailing padding).
      const last = f.tensors[f.tensors.length - 1]!;
      expect(bytes.length).toBe(last.offset + last.byteSize);
    });
  }

  it('writeGGUF (streamed, sync and async chunk producers) writes the same bytes as encodeGGUF', async () => {
    const spec = smallModelSpec(11, { alignment: 64 });
    const chunked: GGUFWriteSpec = {
      ...spec,
      tensors: spec.tensors.map((t, i) => {
        const data = t.data as Uint8Array;
        const cut = (n: number): Uint8Array[] => {
          const out: Uint8Array[] = [];
          for (let o = 0; o < data.length; o += n) out.push(data.subarray(o, o + n));
          return out;
        };
        if (i % 2 === 0) return { ...t, data: () => cut(7) };
        return {
          ...t,
          data: () =>
            (async function* () {
              for (const c of cut(100)) yield c;
            })(),
        };
      }),
    };
    const path = join(tmp.dir, 'streamed.gguf');
    const { bytes } = await writeGGUF(path, chunked);
    const want = encodeGGUF(spec);
    const got = new Uint8Array(readFileSync(path));
    expect(bytes).toBe(want.length);
    expect(got).toEqual(want);
    const f = await readGGUF(path);
    expect(f.tensors.map((t) => t.name)).toEqual(spec.tensors.map((t) => t.name));
  });

  it('an unaligned header is padded so the data section starts on the alignment', () => {
    const bytes = encodeGGUF({ metadata: [['k', meta.str('abc')]], tensors: [{ name: 'x', shape: [3], type: GGMLType.F32, data: new Uint8Array(12) }] });
    const f = parseGGUF(bytes);
    expect(f.dataOffset % 32).toBe(0);
    expect(f.dataOffset).toBeGreaterThan(0);
    expect(f.tensors[0]!.offset).toBe(f.dataOffset);
  });
});

describe('hand-assembled GGUF (spec §2.1 layout, byte by byte)', () => {
  // v3, 1 tensor, 3 kv: a.u32 = 0x01020304, b.str = "hé", c.arr = i16[-2, 300], tensor w F32 [2, 3] @0.
  const hex = [
    '47 47 55 46', // magic "GGUF"                                         0
    '03 00 00 00', // version 3                                              4
    '01 00 00 00 00 00 00 00', // tensor_count 1                            8
    '03 00 00 00 00 00 00 00', // kv_count 3                               16
    '05 00 00 00 00 00 00 00 61 2e 75 33 32', // key "a.u32"               24
    '04 00 00 00', // type u32                                              37
    '04 03 02 01', // 0x01020304                                            41
    '05 00 00 00 00 00 00 00 62 2e 73 74 72', // key "b.str"               45
    '08 00 00 00', // type string                                           58
    '03 00 00 00 00 00 00 00 68 c3 a9', // "hé" (é = c3 a9)                62
    '05 00 00 00 00 00 00 00 63 2e 61 72 72', // key "c.arr"               73
    '09 00 00 00', // type array                                            86
    '03 00 00 00', // element type i16                                      90
    '02 00 00 00 00 00 00 00', // count 2                                   94
    'fe ff 2c 01', // -2, 300                                              102
    '01 00 00 00 00 00 00 00 77', // tensor name "w"                      106
    '02 00 00 00', // n_dims 2                                             115
    '02 00 00 00 00 00 00 00', // ne0 = 2                                  119
    '03 00 00 00 00 00 00 00', // ne1 = 3                                  127
    '00 00 00 00', // type F32                                             135
    '00 00 00 00 00 00 00 00', // offset 0                                 139
    '00 '.repeat(13).trim(), // pad 147 → 160                              147
    // data: f32 1, 2, 3, 4, 5, 6                                          160
    '00 00 80 3f 00 00 00 40 00 00 40 40 00 00 80 40 00 00 a0 40 00 00 c0 40',
  ].join(' ');
  const bytes = Uint8Array.from(hex.split(/\s+/).map((h) => parseInt(h, 16)));

  it('parses to the hand-derived values and offsets', () => {
    expect(bytes.length).toBe(184);
    const f = parseGGUF(bytes, { name: 'hand.gguf' });
    expect(f.version).toBe(3);
    expect(f.alignment).toBe(32);
    expect(f.metadata.get('a.u32')).toEqual({ type: GGUFValueType.UINT32, value: 0x01020304 });
    expect(f.metadata.get('b.str')).toEqual({ type: GGUFValueType.STRING, value: 'hé' });
    expect(f.metadata.get('c.arr')).toEqual({ type: GGUFValueType.ARRAY, arrayType: GGUFValueType.INT16, value: [-2, 300] });
    expect(f.dataOffset).toBe(160);
    expect(f.tensors).toEqual([{ name: 'w', shape: [2, 3], type: GGMLType.F32, relativeOffset: 0, offset: 160, byteSize: 24, elementCount: 6 }]);
    const data = new Float32Array(bytes.slice(160).buffer);
    expect([...data]).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('our writer produces exactly these bytes from the same spec', () => {
    const out = encodeGGUF({
      metadata: [
        ['a.u32', meta.u32(0x01020304)],
        ['b.str', meta.str('hé')],
        ['c.arr', meta.array(GGUFValueType.INT16, [-2, 300])],
      ],
      tensors: [{ name: 'w', shape: [2, 3], type: GGMLType.F32, data: new Uint8Array(Float32Array.from([1, 2, 3, 4, 5, 6]).buffer) }],
    });
    expect(out).toEqual(bytes);
  });

  it('v2 has the same layout with version 2', () => {
    const v2 = bytes.slice();
    v2[4] = 2;
    expect(parseGGUF(v2).version).toBe(2);
  });
});

describe('writer rejects what it cannot encode (GGUF_WRITE_ERROR)', () => {
  const f32 = (name: string, n: number) => ({ name, shape: [n], type: GGMLType.F32, data: new Uint8Array(4 * n) });
  const cases: Array<[string, () => unknown]> = [
    ['duplicate key', () => encodeGGUF({ metadata: [['k', meta.u8(1)], ['k', meta.u8(2)]], tensors: [] })],
    ['duplicate tensor', () => encodeGGUF({ metadata: [], tensors: [f32('a', 1), f32('a', 1)] })],
    ['u8 out of range', () => encodeGGUF({ metadata: [['k', meta.u8(256)]], tensors: [] })],
    ['i32 not an integer', () => encodeGGUF({ metadata: [['k', meta.i32(1.5)]], tensors: [] })],
    ['u64 negative', () => encodeGGUF({ metadata: [['k', meta.u64(-1n)]], tensors: [] })],
    ['alignment not a power of two', () => encodeGGUF({ alignment: 48, metadata: [], tensors: [] })],
    ['ne0 not a multiple of the block', () => encodeGGUF({ metadata: [], tensors: [{ name: 'q', shape: [100], type: GGMLType.Q4_K, data: new Uint8Array(0) }] })],
    ['zero dimension', () => encodeGGUF({ metadata: [], tensors: [{ name: 'z', shape: [4, 0], type: GGMLType.F32, data: new Uint8Array(0) }] })],
    ['five dimensions', () => encodeGGUF({ metadata: [], tensors: [{ name: 'd', shape: [1, 1, 1, 1, 1], type: GGMLType.F32, data: new Uint8Array(4) }] })],
    ['unknown tensor type', () => encodeGGUF({ metadata: [], tensors: [{ name: 'u', shape: [4], type: 4 as GGMLType, data: new Uint8Array(8) }] })],
    ['data of the wrong size', () => encodeGGUF({ metadata: [], tensors: [{ name: 'w', shape: [4], type: GGMLType.F32, data: new Uint8Array(15) }] })],
    ['producer gives too few bytes', () => encodeGGUF({ metadata: [], tensors: [{ name: 'p', shape: [4], type: GGMLType.F32, data: () => [new Uint8Array(8)] }] })],
    ['producer gives too many bytes', () => encodeGGUF({ metadata: [], tensors: [{ name: 'p', shape: [4], type: GGMLType.F32, data: () => [randomBytes(16, 1), new Uint8Array(1)] }] })],
    ['unknown value type', () => encodeGGUF({ metadata: [['k', { type: 13 as GGUFValueType.UINT8, value: 1 }]], tensors: [] })],
  ];
  for (const [what, fn] of cases) {
    it(what, () => {
      let err: unknown;
      try {
        fn();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(GGUFError);
      expect((err as GGUFError).code).toBe('GGUF_WRITE_ERROR');
    });
  }

  it('writeGGUF checks a streamed producer too', async () => {
    const path = join(tmp.dir, 'bad-stream.gguf');
    await expect(
      writeGGUF(path, { metadata: [], tensors: [{ name: 's', shape: [4], type: GGMLType.F32, data: () => [new Uint8Array(4)] }] }),
    ).rejects.toMatchObject({ code: 'GGUF_WRITE_ERROR' });
  });
});
