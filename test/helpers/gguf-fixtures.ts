/**
 * GGUF test fixtures: a byte builder independent of src/gguf/writer.ts (to craft valid and invalid files
 * by hand, with named byte offsets), a seeded RNG, and specs of small valid files for the writer.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { meta, type GGUFWriteSpec } from '../../src/gguf/writer.js';
import { GGMLType, GGUFValueType, ggmlTensorBytes } from '../../src/gguf/types.js';

/** mulberry32: tiny seeded PRNG, uniform in [0, 1). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomBytes(n: number, seed: number): Uint8Array {
  const r = rng(seed);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (r() * 256) | 0;
  return out;
}

/**
 * Little-endian byte builder. `mark(name)` records the current length so tests can assert the byte offset
 * an error names without trusting the reader.
 */
export class ByteBuilder {
  private chunks: number[] = [];
  readonly marks = new Map<string, number>();

  get length(): number {
    return this.chunks.length;
  }
  mark(name: string): this {
    this.marks.set(name, this.chunks.length);
    return this;
  }
  at(name: string): number {
    const v = this.marks.get(name);
    if (v === undefined) throw new Error(`no mark ${name}`);
    return v;
  }
  raw(bytes: ArrayLike<number>): this {
    for (let i = 0; i < bytes.length; i++) this.chunks.push(bytes[i]! & 0xff);
    return this;
  }
  u8(v: number): this {
    return this.raw([v]);
  }
  u16(v: number): this {
    return this.raw([v & 0xff, (v >>> 8) & 0xff]);
  }
  u32(v: number): this {
    return this.raw([v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff]);
  }
  i32(v: number): this {
    return this.u32(v >>> 0);
  }
  u64(v: bigint | number): this {
    let b = BigInt.asUintN(64, BigInt(v));
    for (let i = 0; i < 8; i++) {
      this.chunks.push(Number(b & 0xffn));
      b >>= 8n;
    }
    return this;
  }
  f32(v: number): this {
    const dv = new DataView(new ArrayBuffer(4));
    dv.setFloat32(0, v, true);
    return this.raw(new Uint8Array(dv.buffer));
  }
  f64(v: number): this {
    const dv = new DataView(new ArrayBuffer(8));
    dv.setFloat64(0, v, true);
    return this.raw(new Uint8Array(dv.buffer));
  }
  /** gguf-string: u64 byte length + bytes (a string is UTF-8 encoded; raw bytes are taken as is). */
  str(s: string | ArrayLike<number>): this {
    const b = typeof s === 'string' ? new TextEncoder().encode(s) : s;
    return this.u64(b.length).raw(b);
  }
  zeros(n: number): this {
    for (let i = 0; i < n; i++) this.chunks.push(0);
    return this;
  }
  padTo(alignment: number): this {
    return this.zeros((alignment - (this.chunks.length % alignment)) % alignment);
  }
  bytes(): Uint8Array {
    return Uint8Array.from(this.chunks);
  }
}

export interface CraftTensor {
  name: string | number[];
  dims: Array<number | bigint>;
  type: number;
  offset: number | bigint;
}

export interface CraftSpec {
  version?: number;
  /** Override the counts written in the header (default: the real counts). */
  nTensors?: number | bigint;
  nKV?: number | bigint;
  /** Each writes one full key/value entry; marks `kv<i>` are set before each. */
  kv?: Array<(b: ByteBuilder) => void>;
  tensors?: CraftTensor[];
  /** Padding applied after the tensor table (the file's alignment). Default 32. */
  alignment?: number;
  /** Bytes of tensor data appended after the padding. */
  dataBytes?: number;
}

/**
 * Assembles a GGUF by hand. Marks: `version`, `counts`, `kv<i>`, `tensor<i>`, `tensor<i>.ndims`,
 * `tensor<i>.type`, `tensor<i>.offset`, `data`.
 */
export function craft(spec: CraftSpec): ByteBuilder {
  const b = new ByteBuilder();
  const kv = spec.kv ?? [];
  const tensors = spec.tensors ?? [];
  b.raw([0x47, 0x47, 0x55, 0x46]);
  b.mark('version').u32(spec.version ?? 3);
  b.mark('counts').u64(spec.nTensors ?? tensors.length).u64(spec.nKV ?? kv.length);
  kv.forEach((f, i) => {
    b.mark(`kv${i}`);
    f(b);
  });
  tensors.forEach((t, i) => {
    b.mark(`tensor${i}`).str(t.name);
    b.mark(`tensor${i}.ndims`).u32(t.dims.length);
    for (const d of t.dims) b.u64(d);
    b.mark(`tensor${i}.type`).u32(t.type);
    b.mark(`tensor${i}.offset`).u64(t.offset);
  });
  b.mark('tableEnd');
  b.padTo(spec.alignment ?? 32);
  b.mark('data');
  b.zeros(spec.dataBytes ?? 0);
  return b;
}

/** kv entry writers for `craft`. */
export const kvU32 = (key: string, v: number) => (b: ByteBuilder): void => void b.str(key).u32(GGUFValueType.UINT32).u32(v);
export const kvStr = (key: string, v: string | number[]) => (b: ByteBuilder): void => void b.str(key).u32(GGUFValueType.STRING).str(v);

/** Deterministic tensor bytes of the right size. */
export function tensorData(type: GGMLType, shape: number[], seed: number): Uint8Array {
  return randomBytes(ggmlTensorBytes(type, shape), seed);
}

/** Metadata exercising every value type, edge values, UTF-8, empty and nested arrays. */
export function richMetadata(): GGUFWriteSpec['metadata'] {
  return [
    ['general.architecture', meta.str('qwen35')],
    ['general.name', meta.str('tiny ✓ модель 模型 🤖')],
    ['t.u8', meta.u8(255)],
    ['t.i8', meta.i8(-128)],
    ['t.u16', meta.u16(65535)],
    ['t.i16', meta.i16(-32768)],
    ['t.u32', meta.u32(4294967295)],
    ['t.i32', meta.i32(-2147483648)],
    ['t.f32', meta.f32(0.1)],
    ['t.f32_nan', meta.f32(NaN)],
    ['t.f32_inf', meta.f32(-Infinity)],
    ['t.bool_t', meta.bool(true)],
    ['t.bool_f', meta.bool(false)],
    ['t.str_empty', meta.str('')],
    ['t.u64', meta.u64(0xffffffffffffffffn)],
    ['t.i64', meta.i64(-(1n << 63n))],
    ['t.f64', meta.f64(Math.PI)],
    ['t.arr_empty', meta.array(GGUFValueType.INT32, [])],
    ['t.arr_str', meta.array(GGUFValueType.STRING, ['', 'a', 'Ġhello', '\u{10FFFF}', '\uFEFFbom'])],
    ['t.arr_i32', meta.array(GGUFValueType.INT32, [-1, 0, 2147483647])],
    ['t.arr_f32', meta.array(GGUFValueType.FLOAT32, [1.5, -0, Infinity])],
    ['t.arr_bool', meta.array(GGUFValueType.BOOL, [true, false, true])],
    ['t.arr_u64', meta.array(GGUFValueType.UINT64, [0n, 0xffffffffffffffffn])],
    ['t.arr_nested', meta.array(GGUFValueType.ARRAY, [
      { arrayType: GGUFValueType.UINT8, value: [1, 2, 3] },
      { arrayType: GGUFValueType.STRING, value: ['x'] },
      { arrayType: GGUFValueType.ARRAY, value: [{ arrayType: GGUFValueType.INT16, value: [-7] }] },
      { arrayType: GGUFValueType.FLOAT64, value: [] },
    ])],
  ];
}

/** A small "model": a vocab-like string array, scores, a nested array and a few tensors of several types. */
export function smallModelSpec(seed: number, opts: { version?: 2 | 3; alignment?: number; vocab?: number } = {}): GGUFWriteSpec {
  const r = rng(seed);
  const nVocab = opts.vocab ?? 40;
  const tokens = Array.from({ length: nVocab }, (_, i) => (i % 4 === 0 ? `<|tok${i}|>` : `Ġw${i}${'é'.repeat((r() * 3) | 0)}`));
  const shapes: Array<[string, GGMLType, number[]]> = [
    ['token_embd.weight', GGMLType.Q8_0, [64, nVocab]],
    ['blk.0.attn_norm.weight', GGMLType.F32, [64]],
    ['blk.0.ffn_up.weight', GGMLType.Q4_K, [256, 3]],
    ['output_norm.weight', GGMLType.F16, [64]],
  ];
  return {
    version: opts.version ?? 3,
    ...(opts.alignment !== undefined ? { alignment: opts.alignment } : {}),
    metadata: [
      ['general.architecture', meta.str('qwen35')],
      ['qwen35.block_count', meta.u32(1)],
      ['qwen35.rope.dimension_sections', meta.array(GGUFValueType.INT32, [11, 11, 10, 0])],
      ['tokenizer.ggml.tokens', meta.array(GGUFValueType.STRING, tokens)],
      ['tokenizer.ggml.scores', meta.array(GGUFValueType.FLOAT32, tokens.map((_, i) => -i / 10))],
      ['tokenizer.ggml.token_type', meta.array(GGUFValueType.INT32, tokens.map((_, i) => (i % 4 === 0 ? 3 : 1)))],
      ['t.nested', meta.array(GGUFValueType.ARRAY, [
        { arrayType: GGUFValueType.UINT16, value: [1, 2] },
        { arrayType: GGUFValueType.STRING, value: ['a', 'bc'] },
      ])],
      ['t.eps', meta.f32(1e-6)],
    ],
    tensors: shapes.map(([name, type, shape], i) => ({ name, type, shape, data: tensorData(type, shape, seed * 31 + i) })),
  };
}

/** A temp directory removed by the returned cleanup. */
export function tempDir(prefix = 'qh-gguf-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
