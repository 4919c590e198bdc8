/**
 * GGUF reader: header, metadata and tensor table only (spec §2.1); tensor data is never read.
 *
 * One parser (a generator) serves both sources. It reads from a window over the file and, when the window
 * holds fewer bytes than it needs, yields that byte count; the driver refills the window (file: chunked
 * `FileHandle.read`; memory: the whole buffer is the window, so a yield means the buffer is too short).
 * Before yielding, the parser has already checked the request against the file size and the limits, so a
 * refill never allocates more than `max(windowBytes, maxStringBytes + 8)`.
 *
 * Every inconsistency is a GGUFError naming the file, the byte offset and the key or tensor.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { GGUFError, QwenHybridError, type ErrorCode } from '../errors.js';
import {
  GGUF_DEFAULT_ALIGNMENT,
  GGUFValueType,
  ggmlTypeName,
  ggmlTypeTraits,
  type GGMLType,
  type GGUFArrayElement,
  type GGUFFile,
  type GGUFMetadataValue,
  type GGUFTensorInfo,
} from './types.js';

/** Bounds on what a header may ask us to allocate. Exceeding one is GGUF_LIMIT_EXCEEDED. */
export interface GGUFReadLimits {
  /**
   * Longest string (key, value, array element, tensor name) in bytes. 64 MiB: the longest strings in real
   * files are chat templates (tens of KiB); llama.cpp allows 1 GiB, which no real header approaches. This
   * also bounds the read window.
   */
  readonly maxStringBytes: number;
  /** Elements of one array (at any nesting level). 2^24: real vocabularies are ~150k–262k tokens. */
  readonly maxArrayElements: number;
  /** Nesting depth of arrays of arrays (recursion bound). Real files use at most 1. */
  readonly maxArrayDepth: number;
  /** Metadata key/value count. Real files hold ~30–60. */
  readonly maxMetadataEntries: number;
  /** Tensor count. Qwen3.6-35B-A3B holds ~750; the largest MoE files a few thousand. */
  readonly maxTensors: number;
  /** Tensor name bytes. llama.cpp refuses names of GGML_MAX_NAME (64) bytes or more. */
  readonly maxTensorNameBytes: number;
  /**
   * Total bytes of header + metadata + tensor table. 256 MiB: a Qwen3.6 header is ~10 MB (vocab + merges);
   * bounds the JS memory a hostile multi-GB file can make us build.
   */
  readonly maxHeaderBytes: number;
}

export const DEFAULT_GGUF_LIMITS: Readonly<GGUFReadLimits> = Object.freeze({
  maxStringBytes: 64 * 1024 * 1024,
  maxArrayElements: 1 << 24,
  maxArrayDepth: 8,
  maxMetadataEntries: 1 << 16,
  maxTensors: 1 << 20,
  maxTensorNameBytes: 63,
  maxHeaderBytes: 256 * 1024 * 1024,
});

export interface ReadGGUFOptions extends Partial<GGUFReadLimits> {
  /** Bytes read per `FileHandle.read` (default 1 MiB). The window grows only for a longer single string. */
  readonly windowBytes?: number;
}

export interface ParseGGUFOptions extends ReadGGUFOptions {
  /** Name used in errors and as `GGUFFile.path` (default `<buffer>`). */
  readonly name?: string;
  /**
   * Size of the whole file when `bytes` is only its beginning (default `bytes.length`). Tensor bounds are
   * checked against it; a header extending past `bytes` is GGUF_TRUNCATED.
   */
  readonly fileSize?: number;
}

const DEFAULT_WINDOW_BYTES = 1 << 20;
const TWO_32 = 4294967296;
// hi word of a u64 above which the value exceeds Number.MAX_SAFE_INTEGER (2^53 - 1).
const SAFE_HI = 0x1fffff;

// Bytes of one scalar of each value type; strings are at least their u64 length, arrays their u32 type + u64 count.
const MIN_VALUE_BYTES: ReadonlyArray<number> = [1, 1, 2, 2, 4, 4, 4, 1, 8, 12, 8, 8, 8];
const VALUE_TYPE_NAMES: ReadonlyArray<string> = ['u8', 'i8', 'u16', 'i16', 'u32', 'i32', 'f32', 'bool', 'string', 'array', 'u64', 'i64', 'f64'];
const isValueType = (t: number): t is GGUFValueType => t >= 0 && t <= GGUFValueType.FLOAT64;

const fatalUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

interface Where {
  readonly key?: string;
  readonly tensor?: string;
  readonly offset?: number;
}

/** The parser's view of the bytes: `buf[pos..end)` is file bytes `[base + pos, base + end)`. */
class Window {
  buf: Buffer;
  view: DataView;
  pos = 0;
  end = 0;
  base = 0;

  constructor(
    buf: Buffer,
    readonly file: string,
    readonly fileSize: number,
    readonly limits: GGUFReadLimits,
  ) {
    this.buf = buf;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  get offset(): number {
    return this.base + this.pos;
  }

  fail(code: ErrorCode, message: string, where: Where = {}, extra: Record<string, unknown> = {}): never {
    const offset = where.offset ?? this.offset;
    const subject = where.tensor !== undefined ? `tensor '${where.tensor}'` : where.key !== undefined ? `key '${where.key}'` : '';
    const at = `${subject}${subject ? ' ' : ''}at byte ${offset}`;
    throw new GGUFError(code, `${this.file}: ${at}: ${message}`, { file: this.file, offset, ...where, ...extra });
  }

  /**
   * True when fewer than `n` bytes are buffered (the caller then yields `n`). Throws when the file itself
   * ends before `n` more bytes, or the header would exceed maxHeaderBytes.
   */
  lack(n: number, what: string, where: Where = {}): boolean {
    if (this.end - this.pos >= n) return false;
    const off = this.offset;
    if (off + n > this.fileSize) {
      this.fail('GGUF_TRUNCATED', `${what} needs ${n} bytes but the file ends at byte ${this.fileSize}`, { ...where, offset: off }, { fileSize: this.fileSize });
    }
    if (off + n > this.limits.maxHeaderBytes) {
      this.fail('GGUF_LIMIT_EXCEEDED', `${what} would take the header past maxHeaderBytes=${this.limits.maxHeaderBytes}`, { ...where, offset: off }, { limit: 'maxHeaderBytes' });
    }
    return true;
  }

  /** Like `lack`, for `count` items of at least `minBytes` each: refuses counts the file cannot hold. */
  checkCount(count: number, minBytes: number, what: string, where: Where): void {
    const need = count * minBytes;
    const off = this.offset;
    if (off + need > this.fileSize) {
      this.fail('GGUF_TRUNCATED', `${what}: ${count} items need at least ${need} bytes but the file ends at byte ${this.fileSize}`, where, { fileSize: this.fileSize, count });
    }
    if (off + need > this.limits.maxHeaderBytes) {
      this.fail('GGUF_LIMIT_EXCEEDED', `${what}: ${count} items would take the header past maxHeaderBytes=${this.limits.maxHeaderBytes}`, where, { limit: 'maxHeaderBytes', count });
    }
  }

  u8(): number {
    return this.buf[this.pos++]!;
  }
  u32(): number {
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }
  /** u64 as a number, or -1 when above Number.MAX_SAFE_INTEGER (callers treat that as too large). */
  u64n(): number {
    const lo = this.view.getUint32(this.pos, true);
    const hi = this.view.getUint32(this.pos + 4, true);
    this.pos += 8;
    return hi > SAFE_HI ? -1 : hi * TWO_32 + lo;
  }
  /** u64 as a bigint (for values that are reported, not used as sizes). */
  u64b(): bigint {
    const v = this.view.getBigUint64(this.pos, true);
    this.pos += 8;
    return v;
  }

  /** Reads a string length (8 bytes buffered) and checks it against the limit. */
  strLen(what: string, where: Where, max: number = this.limits.maxStringBytes): number {
    const off = this.offset;
    const hi = this.view.getUint32(this.pos + 4, true);
    const n = this.u64n();
    if (n < 0 || n > max) {
      const shown = n < 0 ? (BigInt(hi) << 32n) | BigInt(this.view.getUint32(this.pos - 8, true)) : n;
      this.fail('GGUF_LIMIT_EXCEEDED', `${what} length ${shown} exceeds the limit of ${max} bytes`, { ...where, offset: off }, { length: String(shown), limit: max });
    }
    return n;
  }

  /** Decodes `n` buffered bytes as UTF-8; invalid sequences are GGUF_BAD_STRING. */
  str(n: number, what: string, where: Where): string {
    const start = this.pos;
    const s = this.buf.toString('utf8', start, start + n);
    // Buffer decoding replaces invalid sequences with U+FFFD; only then pay for a strict decode.
    if (s.includes('\uFFFD')) {
      try {
        fatalUtf8.decode(this.buf.subarray(start, start + n));
      } catch {
        this.fail('GGUF_BAD_STRING', `${what} is not valid UTF-8`, { ...where, offset: this.offset });
      }
    }
    this.pos += n;
    return s;
  }
}

/** Yields byte counts it needs buffered at `w.pos`; returns the parsed file. */
function* parse(w: Window, path: string): Generator<number, GGUFFile, void> {
  const lim = w.limits;

  // Header: magic, version, tensor count, kv count.
  if (w.lack(4, 'magic')) yield 4;
  const m0 = w.buf[w.pos]!, m1 = w.buf[w.pos + 1]!, m2 = w.buf[w.pos + 2]!, m3 = w.buf[w.pos + 3]!;
  if (m0 !== 0x47 || m1 !== 0x47 || m2 !== 0x55 || m3 !== 0x46) {
    const shown = [m0, m1, m2, m3].map((b) => b.toString(16).padStart(2, '0')).join(' ');
    w.fail('GGUF_BAD_MAGIC', `bad magic ${shown} (expected 47 47 55 46 = "GGUF"); not a GGUF file`);
  }
  w.pos += 4;
  if (w.lack(4, 'version')) yield 4;
  const versionOffset = w.offset;
  const version = w.u32();
  if (version !== 2 && version !== 3) {
    const swapped = ((version & 0xff) << 24) | ((version & 0xff00) << 8) | ((version >>> 8) & 0xff00) | (version >>> 24);
    if ((version & 0xffff) === 0 && swapped >= 1 && swapped <= 3) {
      w.fail('GGUF_UNSUPPORTED_VERSION', `version field reads ${version}, which is ${swapped} byte-swapped: this is a big-endian GGUF, and only little-endian files are supported`, { offset: versionOffset }, { version, bigEndian: true });
    }
    const why = version === 1 ? 'GGUF v1 is obsolete (re-convert the model)' : 'only versions 2 and 3 are supported';
    w.fail('GGUF_UNSUPPORTED_VERSION', `unsupported GGUF version ${version}: ${why}`, { offset: versionOffset }, { version });
  }

  if (w.lack(16, 'tensor and metadata counts')) yield 16;
  const countsOffset = w.offset;
  const nTensors = w.u64n();
  const nKV = w.u64n();
  if (nTensors < 0 || nTensors > lim.maxTensors) {
    const shown = w.view.getBigUint64(w.pos - 16, true);
    w.fail('GGUF_LIMIT_EXCEEDED', `tensor count ${shown} exceeds maxTensors=${lim.maxTensors}`, { offset: countsOffset }, { count: String(shown), limit: lim.maxTensors });
  }
  if (nKV < 0 || nKV > lim.maxMetadataEntries) {
    const shown = w.view.getBigUint64(w.pos - 8, true);
    w.fail('GGUF_LIMIT_EXCEEDED', `metadata entry count ${shown} exceeds maxMetadataEntries=${lim.maxMetadataEntries}`, { offset: countsOffset + 8 }, { count: String(shown), limit: lim.maxMetadataEntries });
  }
  // Smallest kv: u64 key length + 1 key byte + u32 type + 1 value byte; smallest tensor info: u64 name
  // length + u32 n_dims + one u64 dim + u32 type + u64 offset.
  w.checkCount(nKV, 14, 'metadata entries', { offset: countsOffset + 8 });
  w.checkCount(nTensors, 32, 'tensor infos', { offset: countsOffset });

  // Metadata.
  const metadata = new Map<string, GGUFMetadataValue>();
  let alignKeyOffset = 0;
  for (let i = 0; i < nKV; i++) {
    const keyOffset = w.offset;
    if (w.lack(8, `metadata key #${i} length`)) yield 8;
    const klen = w.strLen(`metadata key #${i}`, {});
    if (w.lack(klen + 4, `metadata key #${i}`)) yield klen + 4;
    const key = w.str(klen, `metadata key #${i}`, {});
    if (key.length === 0) w.fail('GGUF_BAD_METADATA', `metadata key #${i} is empty`, { offset: keyOffset });
    if (metadata.has(key)) w.fail('GGUF_DUPLICATE_KEY', `duplicate metadata key (entry #${i})`, { key, offset: keyOffset });
    if (key === 'general.alignment') alignKeyOffset = keyOffset;
    const typeOffset = w.offset;
    const type = w.u32();
    if (!isValueType(type)) w.fail('GGUF_UNKNOWN_VALUE_TYPE', `unknown value type ${type}`, { key, offset: typeOffset }, { valueType: type });
    let value: GGUFMetadataValue;
    if (type === GGUFValueType.ARRAY) {
      const arr = yield* readArray(w, key, 1);
      value = { type, arrayType: arr.arrayType, value: arr.value };
    } else {
      value = { type, value: (yield* readScalar(w, key, type)) as never };
    }
    metadata.set(key, value);
  }

  let alignment = GGUF_DEFAULT_ALIGNMENT;
  const alignValue = metadata.get('general.alignment');
  if (alignValue !== undefined) {
    if (alignValue.type !== GGUFValueType.UINT32) {
      w.fail('GGUF_BAD_ALIGNMENT', `general.alignment must be a u32, found ${VALUE_TYPE_NAMES[alignValue.type]}`, { key: 'general.alignment', offset: alignKeyOffset });
    }
    const a = alignValue.value as number;
    if (a === 0 || (a & (a - 1)) !== 0) w.fail('GGUF_BAD_ALIGNMENT', `general.alignment ${a} is not a power of two`, { key: 'general.alignment', offset: alignKeyOffset }, { alignment: a });
    alignment = a;
  }

  // Tensor infos.
  interface Pending { name: string; shape: number[]; type: GGMLType; rel: number; byteSize: number; elementCount: number; infoOffset: number }
  const pending: Pending[] = [];
  const names = new Set<string>();
  for (let i = 0; i < nTensors; i++) {
    const infoOffset = w.offset;
    if (w.lack(8, `tensor #${i} name length`)) yield 8;
    const nlen = w.strLen(`tensor #${i} name`, {}, Math.min(lim.maxTensorNameBytes, lim.maxStringBytes));
    if (w.lack(nlen + 4, `tensor #${i} name`)) yield nlen + 4;
    const name = w.str(nlen, `tensor #${i} name`, {});
    if (names.has(name)) w.fail('GGUF_DUPLICATE_TENSOR', `duplicate tensor name (tensor #${i})`, { tensor: name, offset: infoOffset });
    names.add(name);
    const t: Where = { tensor: name };
    const dimsOffset = w.offset;
    const nDims = w.u32();
    if (nDims < 1 || nDims > 4) w.fail('GGUF_BAD_SHAPE', `n_dims=${nDims}, must be 1..4`, { ...t, offset: dimsOffset }, { nDims });
    if (w.lack(nDims * 8 + 12, `tensor '${name}' shape, type and offset`, t)) yield nDims * 8 + 12;
    const shape: number[] = [];
    for (let d = 0; d < nDims; d++) {
      const dOff = w.offset;
      const raw = w.view.getBigUint64(w.pos, true);
      const n = w.u64n();
      if (raw === 0n) w.fail('GGUF_BAD_SHAPE', `dimension ${d} is 0`, { ...t, offset: dOff });
      if (raw >= 1n << 63n) w.fail('GGUF_BAD_SHAPE', `dimension ${d} is negative as int64 (${BigInt.asIntN(64, raw)})`, { ...t, offset: dOff });
      if (n < 0) w.fail('GGUF_OVERFLOW', `dimension ${d} = ${raw} exceeds 2^53-1`, { ...t, offset: dOff });
      shape.push(n);
    }
    const typeOffset = w.offset;
    const type = w.u32();
    const traits = ggmlTypeTraits(type) ?? w.fail('GGUF_UNKNOWN_TENSOR_TYPE', `unknown ggml type ${type}`, { ...t, offset: typeOffset }, { ggmlType: type });
    if (shape[0]! % traits.blockSize !== 0) {
      w.fail('GGUF_BAD_SHAPE', `ne0=${shape[0]} is not a multiple of the ${traits.name} block size ${traits.blockSize}`, { ...t, offset: dimsOffset + 4 }, { shape });
    }
    let elements = 1n;
    for (const d of shape) elements *= BigInt(d);
    const bytes = (elements / BigInt(traits.blockSize)) * BigInt(traits.blockBytes);
    if (elements > BigInt(Number.MAX_SAFE_INTEGER) || bytes > BigInt(Number.MAX_SAFE_INTEGER)) {
      w.fail('GGUF_OVERFLOW', `shape [${shape.join(', ')}] has ${elements} elements, ${bytes} bytes of ${traits.name}: exceeds 2^53-1`, { ...t, offset: dimsOffset }, { shape });
    }
    const offOffset = w.offset;
    const rawRel = w.view.getBigUint64(w.pos, true);
    const rel = w.u64n();
    if (rel < 0) w.fail('GGUF_OVERFLOW', `data offset ${rawRel} exceeds 2^53-1`, { ...t, offset: offOffset });
    pending.push({ name, shape, type: type as GGMLType, rel, byteSize: Number(bytes), elementCount: Number(elements), infoOffset });
  }

  // Data section starts at the next multiple of the alignment after the tensor table.
  const headerEnd = w.offset;
  const dataOffset = Math.ceil(headerEnd / alignment) * alignment;
  const tensors: GGUFTensorInfo[] = [];
  for (const p of pending) {
    const t: Where = { tensor: p.name, offset: p.infoOffset };
    if (p.rel % alignment !== 0) {
      w.fail('GGUF_MISALIGNED_TENSOR', `data offset ${p.rel} (relative to the data section) is not a multiple of the alignment ${alignment}`, t, { relativeOffset: p.rel, alignment });
    }
    const abs = dataOffset + p.rel;
    if (!Number.isSafeInteger(abs + p.byteSize)) w.fail('GGUF_OVERFLOW', `data offset ${p.rel} + data section ${dataOffset} + size ${p.byteSize} exceeds 2^53-1`, t);
    if (abs + p.byteSize > w.fileSize) {
      w.fail('GGUF_TENSOR_OUT_OF_BOUNDS', `${ggmlTypeName(p.type)} [${p.shape.join(', ')}] data at bytes ${abs}..${abs + p.byteSize} extends past the end of the file (${w.fileSize} bytes)`, t, { dataStart: abs, dataEnd: abs + p.byteSize, fileSize: w.fileSize });
    }
    tensors.push({ name: p.name, shape: p.shape, type: p.type, relativeOffset: p.rel, offset: abs, byteSize: p.byteSize, elementCount: p.elementCount });
  }
  const byOffset = [...tensors].sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < byOffset.length; i++) {
    const prev = byOffset[i - 1]!, cur = byOffset[i]!;
    if (prev.offset + prev.byteSize > cur.offset) {
      w.fail('GGUF_TENSOR_OVERLAP', `data at bytes ${cur.offset}..${cur.offset + cur.byteSize} overlaps tensor '${prev.name}' at bytes ${prev.offset}..${prev.offset + prev.byteSize}`, { tensor: cur.name, offset: cur.offset }, { other: prev.name });
    }
  }

  return { path, version, fileSize: w.fileSize, alignment, metadata, tensors, dataOffset };
}

/** One scalar value of a known non-array type. */
function* readScalar(w: Window, key: string, type: GGUFValueType): Generator<number, string | number | bigint | boolean, void> {
  if (type === GGUFValueType.STRING) {
    if (w.lack(8, 'string length', { key })) yield 8;
    const n = w.strLen('string value', { key });
    if (w.lack(n, 'string value', { key })) yield n;
    return w.str(n, 'string value', { key });
  }
  const size = MIN_VALUE_BYTES[type]!;
  if (w.lack(size, `${VALUE_TYPE_NAMES[type]} value`, { key })) yield size;
  return readFixed(w, key, type);
}

/** A fixed-size scalar that is buffered. */
function readFixed(w: Window, key: string, type: GGUFValueType): number | bigint | boolean {
  const v = w.view, p = w.pos;
  switch (type) {
    case GGUFValueType.UINT8: w.pos += 1; return v.getUint8(p);
    case GGUFValueType.INT8: w.pos += 1; return v.getInt8(p);
    case GGUFValueType.UINT16: w.pos += 2; return v.getUint16(p, true);
    case GGUFValueType.INT16: w.pos += 2; return v.getInt16(p, true);
    case GGUFValueType.UINT32: w.pos += 4; return v.getUint32(p, true);
    case GGUFValueType.INT32: w.pos += 4; return v.getInt32(p, true);
    case GGUFValueType.FLOAT32: w.pos += 4; return v.getFloat32(p, true);
    case GGUFValueType.UINT64: w.pos += 8; return v.getBigUint64(p, true);
    case GGUFValueType.INT64: w.pos += 8; return v.getBigInt64(p, true);
    case GGUFValueType.FLOAT64: w.pos += 8; return v.getFloat64(p, true);
    case GGUFValueType.BOOL: {
      const b = v.getUint8(p);
      if (b > 1) w.fail('GGUF_BAD_METADATA', `bool value is ${b}, must be 0 or 1`, { key });
      w.pos += 1;
      return b === 1;
    }
    default:
      return w.fail('GGUF_UNKNOWN_VALUE_TYPE', `unknown value type ${type as number}`, { key });
  }
}

/** An array body (element type, count, elements); `depth` is 1 for a top-level array. */
function* readArray(w: Window, key: string, depth: number): Generator<number, { arrayType: GGUFValueType; value: GGUFArrayElement[] }, void> {
  const lim = w.limits;
  const where = { key };
  if (depth > lim.maxArrayDepth) w.fail('GGUF_LIMIT_EXCEEDED', `arrays nested ${depth} deep exceed maxArrayDepth=${lim.maxArrayDepth}`, where, { limit: 'maxArrayDepth' });
  if (w.lack(12, 'array header', where)) yield 12;
  const headerOffset = w.offset;
  const arrayType = w.u32();
  if (!isValueType(arrayType)) w.fail('GGUF_UNKNOWN_VALUE_TYPE', `unknown array element type ${arrayType}`, { key, offset: headerOffset }, { valueType: arrayType });
  const rawCount = w.view.getBigUint64(w.pos, true);
  const count = w.u64n();
  if (count < 0 || count > lim.maxArrayElements) {
    w.fail('GGUF_LIMIT_EXCEEDED', `array of ${rawCount} ${VALUE_TYPE_NAMES[arrayType]} exceeds maxArrayElements=${lim.maxArrayElements}`, { key, offset: headerOffset + 4 }, { count: String(rawCount), limit: lim.maxArrayElements });
  }
  const elemBytes = MIN_VALUE_BYTES[arrayType]!;
  w.checkCount(count, elemBytes, `array of ${VALUE_TYPE_NAMES[arrayType]}`, { key, offset: headerOffset + 4 });

  const out: GGUFArrayElement[] = [];
  if (arrayType === GGUFValueType.ARRAY) {
    for (let i = 0; i < count; i++) {
      const inner = yield* readArray(w, key, depth + 1);
      out.push(inner);
    }
  } else if (arrayType === GGUFValueType.STRING) {
    // Inline loop: this is the vocabulary / merges hot path (~250k elements each).
    for (let i = 0; i < count; i++) {
      if (w.end - w.pos < 8 && w.lack(8, `string #${i} length`, where)) yield 8;
      const n = w.strLen(`string #${i}`, where);
      if (w.end - w.pos < n && w.lack(n, `string #${i}`, where)) yield n;
      out.push(w.str(n, `string #${i}`, where));
    }
  } else {
    // Fixed-size elements: read whatever is buffered, refill, repeat (the window never grows for these).
    let i = 0;
    while (i < count) {
      let avail = Math.floor((w.end - w.pos) / elemBytes);
      if (avail === 0) {
        if (w.lack(elemBytes, `element #${i}`, where)) yield elemBytes;
        avail = Math.floor((w.end - w.pos) / elemBytes);
      }
      const stop = Math.min(count, i + avail);
      const v = w.view;
      let p = w.pos;
      switch (arrayType) {
        case GGUFValueType.UINT8: for (; i < stop; i++, p += 1) out.push(v.getUint8(p)); break;
        case GGUFValueType.INT8: for (; i < stop; i++, p += 1) out.push(v.getInt8(p)); break;
        case GGUFValueType.UINT16: for (; i < stop; i++, p += 2) out.push(v.getUint16(p, true)); break;
        case GGUFValueType.INT16: for (; i < stop; i++, p += 2) out.push(v.getInt16(p, true)); break;
        case GGUFValueType.UINT32: for (; i < stop; i++, p += 4) out.push(v.getUint32(p, true)); break;
        case GGUFValueType.INT32: for (; i < stop; i++, p += 4) out.push(v.getInt32(p, true)); break;
        case GGUFValueType.FLOAT32: for (; i < stop; i++, p += 4) out.push(v.getFloat32(p, true)); break;
        case GGUFValueType.UINT64: for (; i < stop; i++, p += 8) out.push(v.getBigUint64(p, true)); break;
        case GGUFValueType.INT64: for (; i < stop; i++, p += 8) out.push(v.getBigInt64(p, true)); break;
        case GGUFValueType.FLOAT64: for (; i < stop; i++, p += 8) out.push(v.getFloat64(p, true)); break;
        case GGUFValueType.BOOL:
          for (; i < stop; i++, p += 1) {
            const b = v.getUint8(p);
            if (b > 1) w.fail('GGUF_BAD_METADATA', `bool element #${i} is ${b}, must be 0 or 1`, { key, offset: w.base + p });
            out.push(b === 1);
          }
          break;
      }
      w.pos = p;
    }
  }
  return { arrayType, value: out };
}

function resolveLimits(options: ReadGGUFOptions): GGUFReadLimits {
  const l = { ...DEFAULT_GGUF_LIMITS };
  for (const k of Object.keys(DEFAULT_GGUF_LIMITS) as Array<keyof GGUFReadLimits>) {
    const v = options[k];
    if (v === undefined) continue;
    if (!Number.isSafeInteger(v) || v < 0) throw new QwenHybridError('INVALID_ARGUMENT', `GGUF read option ${k}=${String(v)} must be a non-negative integer`, { option: k });
    l[k] = v;
  }
  return l;
}

function windowBytes(options: ReadGGUFOptions): number {
  const n = options.windowBytes ?? DEFAULT_WINDOW_BYTES;
  if (!Number.isSafeInteger(n) || n < 64) throw new QwenHybridError('INVALID_ARGUMENT', `GGUF read option windowBytes=${String(n)} must be an integer >= 64`, { option: 'windowBytes' });
  return n;
}

/** Parses a GGUF header held in memory (the whole file, or its beginning plus `fileSize`). */
export function parseGGUF(bytes: Uint8Array, options: ParseGGUFOptions = {}): GGUFFile {
  const name = options.name ?? '<buffer>';
  const fileSize = options.fileSize ?? bytes.length;
  if (!Number.isSafeInteger(fileSize) || fileSize < bytes.length) {
    throw new QwenHybridError('INVALID_ARGUMENT', `${name}: fileSize ${String(options.fileSize)} is smaller than the ${bytes.length} bytes given`, { file: name });
  }
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const w = new Window(buf, name, fileSize, resolveLimits(options));
  w.end = bytes.length;
  const gen = parse(w, name);
  const r = gen.next();
  if (r.done) return r.value;
  // The parser only yields when the file holds the bytes; so the caller gave just a prefix.
  return w.fail('GGUF_TRUNCATED', `the header continues past the ${bytes.length} bytes given (needs ${r.value} more at this offset; file size ${fileSize})`, {}, { fileSize });
}

function ioError(path: string, e: unknown, what: string): QwenHybridError {
  const code = (e as { code?: string } | null)?.code;
  if (code === 'ENOENT') return new QwenHybridError('FILE_NOT_FOUND', `${path}: file not found`, { file: path }, { cause: e });
  return new QwenHybridError('FILE_READ_ERROR', `${path}: cannot ${what}: ${(e as Error)?.message ?? String(e)}`, { file: path, errno: code }, { cause: e });
}

/** Makes `w.buf[w.pos..]` hold at least `n` bytes, reading forward from the file in window-sized chunks. */
async function refill(fh: FileHandle, w: Window, n: number, path: string): Promise<void> {
  const keep = w.end - w.pos;
  if (w.buf.length < n) {
    const next = Buffer.allocUnsafe(Math.max(n, w.buf.length * 2));
    w.buf.copy(next, 0, w.pos, w.end);
    w.buf = next;
    w.view = new DataView(next.buffer, next.byteOffset, next.byteLength);
  } else if (w.pos > 0) {
    w.buf.copy(w.buf, 0, w.pos, w.end);
  }
  w.base += w.pos;
  w.pos = 0;
  w.end = keep;
  while (w.end < n) {
    const fileLeft = w.fileSize - (w.base + w.end);
    const want = Math.min(w.buf.length - w.end, fileLeft);
    let bytesRead: number;
    try {
      ({ bytesRead } = await fh.read(w.buf, w.end, want, w.base + w.end));
    } catch (e) {
      throw ioError(path, e, `read at byte ${w.base + w.end}`);
    }
    if (bytesRead === 0) {
      // The file shrank after stat().
      w.fail('GGUF_TRUNCATED', `file ended at byte ${w.base + w.end} while reading (it was ${w.fileSize} bytes when opened)`, { offset: w.base + w.end });
    }
    w.end += bytesRead;
  }
}

/**
 * Reads the header, metadata and tensor table of a GGUF file. Memory and I/O are bounded by the header
 * size (plus one window), never the tensor data: a 20 GB file reads ~10 MB.
 */
export async function readGGUF(path: string, options: ReadGGUFOptions = {}): Promise<GGUFFile> {
  const limits = resolveLimits(options);
  const win = windowBytes(options);
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    throw ioError(path, e, 'open');
  }
  try {
    let fileSize: number;
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw Object.assign(new Error('not a regular file'), { code: 'ENOTFILE' });
      fileSize = st.size;
    } catch (e) {
      throw ioError(path, e, 'stat');
    }
    const w = new Window(Buffer.allocUnsafe(Math.min(win, Math.max(fileSize, 64))), path, fileSize, limits);
    const gen = parse(w, path);
    let r = gen.next();
    while (!r.done) {
      await refill(fh, w, r.value, path);
      r = gen.next();
    }
    return r.value;
  } finally {
    await fh.close().catch(() => undefined);
  }
}
