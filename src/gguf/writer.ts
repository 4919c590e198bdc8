/**
 * GGUF writer (v3 by default, v2 on request). Produces files llama.cpp loads: tensor data back to back in
 * tensor-info order, each tensor aligned to `general.alignment`, the data section aligned too.
 * Small files are built in memory (`encodeGGUF`); large ones stream their tensor data to disk (`writeGGUF`).
 */
import { open } from 'node:fs/promises';
import { GGUFError } from '../errors.js';
import {
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_MAGIC,
  GGUFValueType,
  ggmlTensorBytes,
  ggmlTypeName,
  ggmlTypeTraits,
  type GGMLType,
  type GGUFArrayElement,
  type GGUFMetadataValue,
  type GGUFScalar,
} from './types.js';

/** Tensor data: the exact bytes, or a producer of chunks whose total is the exact byte size. */
export type GGUFTensorData = Uint8Array | (() => Iterable<Uint8Array> | AsyncIterable<Uint8Array>);

export interface GGUFWriteTensor {
  readonly name: string;
  /** ggml `ne`, fastest-varying first. */
  readonly shape: readonly number[];
  readonly type: GGMLType;
  readonly data: GGUFTensorData;
}

/** A tensor described without its data (header-only encoding). */
export type GGUFTensorDescriptor = Omit<GGUFWriteTensor, 'data'> & { readonly data?: GGUFTensorData };

export interface GGUFWriteSpec {
  readonly version?: 2 | 3;
  /** Alignment of tensor data. Written as `general.alignment` when not the default 32 (unless metadata has it). */
  readonly alignment?: number;
  /** Written in iteration order. */
  readonly metadata: Iterable<readonly [string, GGUFMetadataValue]> | Readonly<Record<string, GGUFMetadataValue>>;
  readonly tensors: readonly GGUFWriteTensor[];
}

/** Constructors for typed metadata values: `meta.u32(5)`, `meta.str('qwen35')`, `meta.array(GGUFValueType.STRING, [...])`. */
export const meta = {
  u8: (v: number): GGUFMetadataValue => ({ type: GGUFValueType.UINT8, value: v }),
  i8: (v: number): GGUFMetadataValue => ({ type: GGUFValueType.INT8, value: v }),
  u16: (v: number): GGUFMetadataValue => ({ type: GGUFValueType.UINT16, value: v }),
  i16: (v: number): GGUFMetadataValue => ({ type: GGUFValueType.INT16, value: v }),
  u32: (v: number): GGUFMetadataValue => ({ type: GGUFValueType.UINT32, value: v }),
  i32: (v: number): GGUFMetadataValue => ({ type: GGUFValueType.INT32, value: v }),
  f32: (v: number): GGUFMetadataValue => ({ type: GGUFValueType.FLOAT32, value: v }),
  f64: (v: number): GGUFMetadataValue => ({ type: GGUFValueType.FLOAT64, value: v }),
  u64: (v: bigint | number): GGUFMetadataValue => ({ type: GGUFValueType.UINT64, value: BigInt(v) }),
  i64: (v: bigint | number): GGUFMetadataValue => ({ type: GGUFValueType.INT64, value: BigInt(v) }),
  bool: (v: boolean): GGUFMetadataValue => ({ type: GGUFValueType.BOOL, value: v }),
  str: (v: string): GGUFMetadataValue => ({ type: GGUFValueType.STRING, value: v }),
  array: (arrayType: GGUFValueType, value: readonly GGUFArrayElement[]): GGUFMetadataValue => ({
    type: GGUFValueType.ARRAY,
    arrayType,
    value,
  }),
};

const SCALAR_BYTES: Partial<Record<GGUFValueType, number>> = {
  [GGUFValueType.UINT8]: 1,
  [GGUFValueType.INT8]: 1,
  [GGUFValueType.UINT16]: 2,
  [GGUFValueType.INT16]: 2,
  [GGUFValueType.UINT32]: 4,
  [GGUFValueType.INT32]: 4,
  [GGUFValueType.FLOAT32]: 4,
  [GGUFValueType.BOOL]: 1,
  [GGUFValueType.UINT64]: 8,
  [GGUFValueType.INT64]: 8,
  [GGUFValueType.FLOAT64]: 8,
};

const utf8 = new TextEncoder();

/** Growable little-endian byte sink for the header. */
class HeaderSink {
  private buf = new Uint8Array(1 << 16);
  private view = new DataView(this.buf.buffer);
  length = 0;

  private reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.length + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
  u8(v: number): void { this.reserve(1); this.view.setUint8(this.length, v); this.length += 1; }
  i8(v: number): void { this.reserve(1); this.view.setInt8(this.length, v); this.length += 1; }
  u16(v: number): void { this.reserve(2); this.view.setUint16(this.length, v, true); this.length += 2; }
  i16(v: number): void { this.reserve(2); this.view.setInt16(this.length, v, true); this.length += 2; }
  u32(v: number): void { this.reserve(4); this.view.setUint32(this.length, v, true); this.length += 4; }
  i32(v: number): void { this.reserve(4); this.view.setInt32(this.length, v, true); this.length += 4; }
  f32(v: number): void { this.reserve(4); this.view.setFloat32(this.length, v, true); this.length += 4; }
  f64(v: number): void { this.reserve(8); this.view.setFloat64(this.length, v, true); this.length += 8; }
  u64(v: bigint): void { this.reserve(8); this.view.setBigUint64(this.length, v, true); this.length += 8; }
  i64(v: bigint): void { this.reserve(8); this.view.setBigInt64(this.length, v, true); this.length += 8; }
  bytes(b: Uint8Array): void { this.reserve(b.length); this.buf.set(b, this.length); this.length += b.length; }
  zeros(n: number): void { this.reserve(n); this.buf.fill(0, this.length, this.length + n); this.length += n; }
  string(s: string, version: 2 | 3): void {
    const b = utf8.encode(s);
    // v2 and v3 both use u64 lengths (v1 used u32, and is not supported).
    void version;
    this.u64(BigInt(b.length));
    this.bytes(b);
  }
  result(): Uint8Array { return this.buf.subarray(0, this.length); }
}

function fail(message: string, details: Record<string, unknown> = {}): never {
  throw new GGUFError('GGUF_WRITE_ERROR', message, details);
}

function checkInt(key: string, v: GGUFScalar, lo: number, hi: number, what: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) fail(`metadata '${key}': ${String(v)} is not a valid ${what}`, { key });
  return v;
}

function writeScalar(sink: HeaderSink, key: string, type: GGUFValueType, v: GGUFScalar, version: 2 | 3): void {
  switch (type) {
    case GGUFValueType.UINT8: sink.u8(checkInt(key, v, 0, 0xff, 'u8')); break;
    case GGUFValueType.INT8: sink.i8(checkInt(key, v, -0x80, 0x7f, 'i8')); break;
    case GGUFValueType.UINT16: sink.u16(checkInt(key, v, 0, 0xffff, 'u16')); break;
    case GGUFValueType.INT16: sink.i16(checkInt(key, v, -0x8000, 0x7fff, 'i16')); break;
    case GGUFValueType.UINT32: sink.u32(checkInt(key, v, 0, 0xffffffff, 'u32')); break;
    case GGUFValueType.INT32: sink.i32(checkInt(key, v, -0x80000000, 0x7fffffff, 'i32')); break;
    case GGUFValueType.FLOAT32:
      if (typeof v !== 'number') fail(`metadata '${key}': f32 needs a number`, { key });
      sink.f32(v);
      break;
    case GGUFValueType.FLOAT64:
      if (typeof v !== 'number') fail(`metadata '${key}': f64 needs a number`, { key });
      sink.f64(v);
      break;
    case GGUFValueType.BOOL:
      if (typeof v !== 'boolean') fail(`metadata '${key}': bool needs a boolean`, { key });
      sink.u8(v ? 1 : 0);
      break;
    case GGUFValueType.STRING:
      if (typeof v !== 'string') fail(`metadata '${key}': string needs a string`, { key });
      sink.string(v, version);
      break;
    case GGUFValueType.UINT64:
    case GGUFValueType.INT64: {
      const b = typeof v === 'bigint' ? v : typeof v === 'number' && Number.isInteger(v) ? BigInt(v) : fail(`metadata '${key}': 64-bit integer needed`, { key });
      if (type === GGUFValueType.UINT64) {
        if (b < 0n || b > 0xffffffffffffffffn) fail(`metadata '${key}': ${b} out of u64 range`, { key });
        sink.u64(b);
      } else {
        if (b < -(1n << 63n) || b >= 1n << 63n) fail(`metadata '${key}': ${b} out of i64 range`, { key });
        sink.i64(b);
      }
      break;
    }
    default:
      fail(`metadata '${key}': unknown value type ${type as number}`, { key });
  }
}

function writeArray(sink: HeaderSink, key: string, arrayType: GGUFValueType, values: readonly GGUFArrayElement[], version: 2 | 3): void {
  sink.u32(arrayType);
  sink.u64(BigInt(values.length));
  if (arrayType === GGUFValueType.ARRAY) {
    for (const el of values) {
      if (typeof el !== 'object' || el === null) fail(`metadata '${key}': nested array element expected`, { key });
      writeArray(sink, key, el.arrayType, el.value, version);
    }
    return;
  }
  if (SCALAR_BYTES[arrayType] === undefined && arrayType !== GGUFValueType.STRING) fail(`metadata '${key}': unknown array element type ${arrayType}`, { key });
  for (const el of values) {
    if (typeof el === 'object') fail(`metadata '${key}': scalar array element expected`, { key });
    writeScalar(sink, key, arrayType, el, version);
  }
}

function metadataEntries(spec: Pick<GGUFWriteSpec, 'metadata'>): Array<readonly [string, GGUFMetadataValue]> {
  const md = spec.metadata;
  const entries: Array<readonly [string, GGUFMetadataValue]> =
    Symbol.iterator in md ? [...(md as Iterable<readonly [string, GGUFMetadataValue]>)] : Object.entries(md);
  const seen = new Set<string>();
  for (const [k] of entries) {
    if (seen.has(k)) fail(`duplicate metadata key '${k}'`, { key: k });
    seen.add(k);
  }
  return entries;
}

function resolveAlignment(spec: Pick<GGUFWriteSpec, 'alignment'>, entries: Array<readonly [string, GGUFMetadataValue]>): { alignment: number; writeKey: boolean } {
  const fromMeta = entries.find(([k]) => k === 'general.alignment')?.[1];
  if (fromMeta) {
    if (fromMeta.type !== GGUFValueType.UINT32 || typeof fromMeta.value !== 'number') fail('general.alignment must be a u32');
    const a = fromMeta.value;
    if (spec.alignment !== undefined && spec.alignment !== a) fail(`alignment ${spec.alignment} conflicts with general.alignment ${a}`);
    return { alignment: a, writeKey: false };
  }
  const a = spec.alignment ?? GGUF_DEFAULT_ALIGNMENT;
  return { alignment: a, writeKey: a !== GGUF_DEFAULT_ALIGNMENT };
}

const alignUp = (n: number, a: number): number => Math.ceil(n / a) * a;

interface Layout {
  header: Uint8Array; // magic .. tensor infos, padded to the alignment
  tensorSizes: number[];
  tensorOffsets: number[]; // relative to the data section
  alignment: number;
  totalSize: number;
}

function layout(spec: GGUFWriteSpec | GGUFHeaderSpec): Layout {
  const version = spec.version ?? 3;
  if (version !== 2 && version !== 3) fail(`unsupported GGUF version ${String(version)}`);
  const entries = metadataEntries(spec);
  const { alignment, writeKey } = resolveAlignment(spec, entries);
  if (!Number.isInteger(alignment) || alignment <= 0 || (alignment & (alignment - 1)) !== 0) fail(`alignment ${alignment} is not a power of two`);

  const names = new Set<string>();
  const tensorSizes: number[] = [];
  const tensorOffsets: number[] = [];
  let cursor = 0;
  for (const t of spec.tensors) {
    if (names.has(t.name)) fail(`duplicate tensor name '${t.name}'`, { tensor: t.name });
    names.add(t.name);
    const traits = ggmlTypeTraits(t.type) ?? fail(`tensor '${t.name}': unknown type ${t.type}`, { tensor: t.name });
    if (t.shape.length < 1 || t.shape.length > 4) fail(`tensor '${t.name}': ${t.shape.length} dims (1..4 allowed)`, { tensor: t.name });
    for (const d of t.shape) if (!Number.isSafeInteger(d) || d < 1) fail(`tensor '${t.name}': bad dimension ${d}`, { tensor: t.name });
    if (t.shape[0]! % traits.blockSize !== 0) fail(`tensor '${t.name}': ne0=${t.shape[0]} is not a multiple of the ${traits.name} block size ${traits.blockSize}`, { tensor: t.name });
    const size = ggmlTensorBytes(t.type, t.shape);
    if (t.data instanceof Uint8Array && t.data.length !== size) {
      fail(`tensor '${t.name}': data is ${t.data.length} bytes, ${ggmlTypeName(t.type)} ${JSON.stringify(t.shape)} needs ${size}`, { tensor: t.name });
    }
    tensorSizes.push(size);
    tensorOffsets.push(cursor);
    cursor = alignUp(cursor + size, alignment);
  }

  const sink = new HeaderSink();
  sink.u32(GGUF_MAGIC);
  sink.u32(version);
  sink.u64(BigInt(spec.tensors.length));
  sink.u64(BigInt(entries.length + (writeKey ? 1 : 0)));
  if (writeKey) {
    sink.string('general.alignment', version);
    sink.u32(GGUFValueType.UINT32);
    sink.u32(alignment);
  }
  for (const [key, v] of entries) {
    sink.string(key, version);
    sink.u32(v.type);
    if (v.type === GGUFValueType.ARRAY) writeArray(sink, key, v.arrayType, v.value, version);
    else writeScalar(sink, key, v.type, v.value, version);
  }
  spec.tensors.forEach((t, i) => {
    sink.string(t.name, version);
    sink.u32(t.shape.length);
    for (const d of t.shape) sink.u64(BigInt(d));
    sink.u32(t.type);
    sink.u64(BigInt(tensorOffsets[i]!));
  });
  sink.zeros(alignUp(sink.length, alignment) - sink.length);
  const header = sink.result();
  const last = spec.tensors.length - 1;
  const dataBytes = last < 0 ? 0 : tensorOffsets[last]! + tensorSizes[last]!;
  return { header, tensorSizes, tensorOffsets, alignment, totalSize: header.length + dataBytes };
}

export type GGUFHeaderSpec = Omit<GGUFWriteSpec, 'tensors'> & { readonly tensors: readonly GGUFTensorDescriptor[] };

/**
 * Encodes only the header (magic … tensor infos, padded to the alignment) and returns the size the whole file
 * would have. Writing the header and extending the file to `totalSize` (a sparse file) gives a valid GGUF of any
 * size without writing its tensor data — for inspecting real-shape models and for benches that fill data later.
 */
export function encodeGGUFHeader(spec: GGUFHeaderSpec): { header: Uint8Array; totalSize: number; tensorOffsets: number[] } {
  const l = layout(spec);
  return { header: l.header, totalSize: l.totalSize, tensorOffsets: l.tensorOffsets.map((o) => o + l.header.length) };
}

/** Encodes a whole GGUF file in memory. Tensor data must be given as Uint8Array or synchronous producers. */
export function encodeGGUF(spec: GGUFWriteSpec): Uint8Array {
  const l = layout(spec);
  const out = new Uint8Array(l.totalSize);
  out.set(l.header, 0);
  spec.tensors.forEach((t, i) => {
    const start = l.header.length + l.tensorOffsets[i]!;
    let pos = start;
    if (t.data instanceof Uint8Array) {
      out.set(t.data, pos);
      pos += t.data.length;
    } else {
      const it = t.data();
      if (Symbol.asyncIterator in it) fail(`tensor '${t.name}': encodeGGUF needs synchronous data; use writeGGUF`, { tensor: t.name });
      for (const chunk of it as Iterable<Uint8Array>) {
        if (pos + chunk.length > start + l.tensorSizes[i]!) fail(`tensor '${t.name}': producer gave more than ${l.tensorSizes[i]} bytes`, { tensor: t.name });
        out.set(chunk, pos);
        pos += chunk.length;
      }
    }
    if (pos !== start + l.tensorSizes[i]!) fail(`tensor '${t.name}': producer gave ${pos - start} bytes, expected ${l.tensorSizes[i]}`, { tensor: t.name });
  });
  return out;
}

/** Writes a GGUF file, streaming tensor data (files of any size; memory use bounded by the largest chunk). */
export async function writeGGUF(path: string, spec: GGUFWriteSpec): Promise<{ bytes: number }> {
  const l = layout(spec);
  const fh = await open(path, 'w');
  try {
    let pos = 0;
    const put = async (b: Uint8Array): Promise<void> => {
      let done = 0;
      while (done < b.length) {
        const { bytesWritten } = await fh.write(b, done, b.length - done, pos);
        done += bytesWritten;
        pos += bytesWritten;
      }
    };
    await put(l.header);
    const pad = new Uint8Array(l.alignment);
    for (let i = 0; i < spec.tensors.length; i++) {
      const t = spec.tensors[i]!;
      const start = l.header.length + l.tensorOffsets[i]!;
      if (pos < start) await put(pad.subarray(0, start - pos));
      if (t.data instanceof Uint8Array) await put(t.data);
      else {
        for await (const chunk of t.data()) {
          if (pos + chunk.length > start + l.tensorSizes[i]!) fail(`tensor '${t.name}': producer gave more than ${l.tensorSizes[i]} bytes`, { tensor: t.name });
          await put(chunk);
        }
      }
      if (pos !== start + l.tensorSizes[i]!) fail(`tensor '${t.name}': producer gave ${pos - start} bytes, expected ${l.tensorSizes[i]}`, { tensor: t.name });
    }
    return { bytes: pos };
  } finally {
    await fh.close();
  }
}
