/**
 * Session snapshots: the in-memory SessionSnapshot, its checks against a session (SnapshotTarget), the file
 * format, and the weights fingerprint that ties a snapshot to the weights it was computed with.
 *
 * File format v2 (little endian):
 *
 *   offset  0   "QHSNAP02"                    magic + version ("QHSNAP01" files are refused: save them again)
 *           8   u32 H                         header bytes
 *          12   sha256 [32 bytes]             of bytes [0, 12) ‖ [44, end): the whole file but the digest itself
 *          44   header: H bytes UTF-8 JSON    see below
 *      44 + H   payload                       per header tensor, in header order, its first `stored` elements
 *                                             (the array kind's raw little-endian bytes), back to back
 *         end = 44 + H + Σ stored × kind bytes, exactly (a byte more or less is refused)
 *
 *   header = { model: SnapshotModel, contextSize, position, history: number[position],
 *              tensors: [{ name, kind, length, stored }] }
 *     kind:   'f32' Float32Array | 'u16' raw f16 halves | 'i32' Int32Array | 'u8' raw q8_0 blocks (34 B / 32 values)
 *     length: elements of the whole state tensor; stored: elements in the payload, the rest reads back as zeros.
 *             KV caches blk.N.{k,v}_cache {d, Hkv, nCtx} (ne0 fastest, so position p is elements
 *             [p·r, (p+1)·r), r = length / contextSize): stored = position·r. ATTENTION writes row p before it
 *             reads rows ≤ p, so rows ≥ position are never read and need not be saved. Every other state tensor
 *             (GDN conv_state, ssm_state): stored = length.
 *
 * Errors: a damaged file (sha256 mismatch, shorter than the 44-byte prelude) → SNAPSHOT_CORRUPT; not a snapshot,
 * another format version, a header field of the wrong type or value, a payload size that disagrees with the
 * header, or a snapshot of another model / KV type / context size → INVALID_ARGUMENT; I/O → FILE_NOT_FOUND,
 * FILE_READ_ERROR, FILE_WRITE_ERROR. Every message names the file. Reading streams the file twice: the sha256
 * first, then the header and the tensors (straight into their arrays), so everything is checked before a state
 * tensor is allocated, and a session is written only by a snapshot that passed.
 */
import { createHash } from 'node:crypto';
import { open, writeFile, type FileHandle } from 'node:fs/promises';
import { QwenHybridError, type ErrorCode } from '../errors.js';
import { readGGUFModel, type GGUFModelTensor } from '../gguf/index.js';
import { GGMLType } from '../gguf/types.js';
import type { TensorArray } from '../native/types.js';

/** What a snapshot belongs to; restore / loadSnapshot refuse one whose fields differ from the session's. */
export interface SnapshotModel {
  readonly arch: string;
  readonly nEmbd: number;
  readonly nTrunk: number;
  readonly nVocab: number;
  /** KV cache element type ('f16' | 'f32' | 'q8_0'). */
  readonly kv: string;
  /** config.layerKinds joined by ','. */
  readonly layers: string;
  /** weightsFingerprint of the model's file: another file with the same shapes has another one. */
  readonly weights: string;
}

export interface SessionSnapshot {
  readonly model: SnapshotModel;
  readonly contextSize: number;
  /** = history.length. */
  readonly position: number;
  readonly history: readonly number[];
  /** Every state tensor by name, whole (copies; KV rows ≥ position are unused and zero after a file load). */
  readonly tensors: ReadonlyMap<string, TensorArray>;
}

export type SnapshotTensorKind = 'f32' | 'u16' | 'i32' | 'u8';

export interface SnapshotTensorSpec {
  readonly name: string;
  readonly kind: SnapshotTensorKind;
  /** Elements of the state tensor. */
  readonly length: number;
  /** One row of length / contextSize elements per position (the KV caches). */
  readonly perPosition: boolean;
}

/** The session a snapshot must fit. */
export interface SnapshotTarget {
  readonly model: SnapshotModel;
  readonly contextSize: number;
  /** Its state tensors, in stateTensorNames order. */
  readonly tensors: readonly SnapshotTensorSpec[];
}

export const SNAPSHOT_MAGIC = 'QHSNAP02';
/** magic 8 + header bytes 4 + sha256 32. */
export const SNAPSHOT_PRELUDE_BYTES = 44;
/** A header past this is refused before it is read (a 256k-token history is ~2 MB of JSON). */
const MAX_HEADER_BYTES = 256 * 1024 * 1024;
const HASH_CHUNK = 8 * 1024 * 1024;

export const SNAPSHOT_KIND_BYTES: Readonly<Record<SnapshotTensorKind, number>> = { f32: 4, u16: 2, i32: 4, u8: 1 };

/** SessionState.read's array kind for a state tensor's ggml type. */
export function snapshotKindOf(type: GGMLType): SnapshotTensorKind {
  switch (type) {
    case GGMLType.F32:
      return 'f32';
    case GGMLType.F16:
    case GGMLType.BF16:
      return 'u16';
    case GGMLType.I32:
      return 'i32';
    case GGMLType.Q8_0:
      return 'u8';
    default:
      throw new QwenHybridError('INVALID_ARGUMENT', `snapshot: state tensor type ${type} has no snapshot kind`);
  }
}

function arrayKind(a: unknown): SnapshotTensorKind | undefined {
  return a instanceof Float32Array ? 'f32' : a instanceof Uint16Array ? 'u16' : a instanceof Int32Array ? 'i32' : a instanceof Uint8Array ? 'u8' : undefined;
}

/** Elements of `t` a file stores at `position`. */
function storedLength(t: SnapshotTensorSpec, contextSize: number, position: number): number {
  return t.perPosition ? position * (t.length / contextSize) : t.length;
}

/** Where a check failed: the message prefix and the error details (the file, when there is one). */
interface Where {
  readonly what: string;
  readonly details: Readonly<Record<string, unknown>>;
}

function fail(code: ErrorCode, w: Where, why: string, details: Record<string, unknown> = {}): never {
  throw new QwenHybridError(code, `${w.what}: ${why}`, { ...w.details, ...details });
}

const show = (v: unknown): string => {
  const s = v === undefined ? 'undefined' : JSON.stringify(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
};

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/**
 * Checks everything but the tensor data against `t`: model identity field by field, context size, position =
 * history length ≤ context, history ids in [0, nVocab), and exactly the target's tensor names with their kinds and
 * lengths (`entries`, from the header or the in-memory arrays).
 */
function checkFits(
  model: unknown,
  contextSize: unknown,
  position: unknown,
  history: unknown,
  entries: readonly { name: string; kind: SnapshotTensorKind | undefined; length: number }[],
  t: SnapshotTarget,
  w: Where,
): void {
  if (!isRecord(model)) fail('INVALID_ARGUMENT', w, `model must be an object, got ${show(model)}`, { field: 'model' });
  for (const [k, v] of Object.entries(t.model)) {
    if (model[k] !== v) fail('INVALID_ARGUMENT', w, `not a snapshot of this session: model ${k} is ${show(model[k])}, expected ${show(v)}`, { field: `model.${k}`, expected: v, found: model[k] });
  }
  if (contextSize !== t.contextSize) fail('INVALID_ARGUMENT', w, `snapshot has context size ${show(contextSize)}, this session ${t.contextSize}`, { field: 'contextSize', expected: t.contextSize, found: contextSize });
  if (!isCount(position) || position > t.contextSize) fail('INVALID_ARGUMENT', w, `position must be an integer in [0, ${t.contextSize}], got ${show(position)}`, { field: 'position' });
  if (!Array.isArray(history)) fail('INVALID_ARGUMENT', w, `history must be an array of token ids, got ${show(history)}`, { field: 'history' });
  if (history.length !== position) fail('INVALID_ARGUMENT', w, `position ${position} is inconsistent with the history of ${history.length} tokens`, { field: 'position' });
  const V = t.model.nVocab;
  for (let i = 0; i < history.length; i++) {
    const id: unknown = history[i];
    if (!isCount(id) || id >= V) fail('INVALID_ARGUMENT', w, `history[${i}] = ${show(id)} is not a token id in [0, ${V})`, { field: 'history', index: i });
  }
  const byName = new Map<string, (typeof entries)[number]>();
  for (const e of entries) {
    if (byName.has(e.name)) fail('INVALID_ARGUMENT', w, `tensor '${e.name}' appears twice`, { tensor: e.name });
    byName.set(e.name, e);
  }
  for (const s of t.tensors) {
    const e = byName.get(s.name);
    if (!e) fail('INVALID_ARGUMENT', w, `snapshot lacks state tensor '${s.name}' (another model?)`, { tensor: s.name });
    if (e.kind !== s.kind || e.length !== s.length) {
      fail('INVALID_ARGUMENT', w, `tensor '${s.name}' is ${e.kind ?? 'not an f32 / u16 / i32 / u8 array'} × ${e.length}, this session's is ${s.kind} × ${s.length}`, { tensor: s.name });
    }
    byName.delete(s.name);
  }
  for (const name of byName.keys()) fail('INVALID_ARGUMENT', w, `snapshot has tensor '${name}' this session does not (another model?)`, { tensor: name });
}

/** Asserts that `s` is a SessionSnapshot that fits `t` (INVALID_ARGUMENT otherwise, prefixed with `what`). */
export function checkSnapshot(s: unknown, t: SnapshotTarget, what = 'snapshot'): asserts s is SessionSnapshot {
  const w: Where = { what, details: {} };
  if (!isRecord(s)) fail('INVALID_ARGUMENT', w, `expected a SessionSnapshot (from session.snapshot()), got ${show(s)}`);
  const tensors = s.tensors;
  if (!(tensors instanceof Map)) fail('INVALID_ARGUMENT', w, `tensors must be a Map of state tensors, got ${show(tensors)}`, { field: 'tensors' });
  const entries = [...(tensors as Map<unknown, unknown>)].map(([name, a]) => {
    if (typeof name !== 'string') fail('INVALID_ARGUMENT', w, `tensor names must be strings, got ${show(name)}`, { field: 'tensors' });
    return { name, kind: arrayKind(a), length: ArrayBuffer.isView(a) ? (a as TensorArray).length : -1 };
  });
  checkFits(s.model, s.contextSize, s.position, s.history, entries, t, w);
}

// ---- encode ----

/**
 * The file bytes of `s` (checked against `t` first) as chunks to write in order: prelude, header, then views of
 * each tensor's stored prefix (no copies of the tensor data).
 */
export function encodeSnapshot(s: SessionSnapshot, t: SnapshotTarget): Uint8Array[] {
  checkSnapshot(s, t);
  const payload: Uint8Array[] = [];
  const entries = t.tensors.map((spec) => {
    const a = s.tensors.get(spec.name) as TensorArray;
    const stored = storedLength(spec, s.contextSize, s.position);
    payload.push(new Uint8Array(a.buffer, a.byteOffset, stored * SNAPSHOT_KIND_BYTES[spec.kind]));
    return { name: spec.name, kind: spec.kind, length: spec.length, stored };
  });
  const header = Buffer.from(JSON.stringify({ model: t.model, contextSize: s.contextSize, position: s.position, history: Array.from(s.history), tensors: entries }), 'utf8');
  const prelude = Buffer.alloc(SNAPSHOT_PRELUDE_BYTES);
  prelude.write(SNAPSHOT_MAGIC, 0, 'latin1');
  prelude.writeUInt32LE(header.length, 8);
  const h = createHash('sha256').update(prelude.subarray(0, 12)).update(header);
  for (const p of payload) h.update(p);
  h.digest().copy(prelude, 12);
  return [prelude, header, ...payload];
}

/** Writes encodeSnapshot(s, t) to `path` (FILE_WRITE_ERROR naming it). */
export async function writeSnapshotFile(path: string, s: SessionSnapshot, t: SnapshotTarget): Promise<void> {
  if (typeof path !== 'string' || path === '') throw new QwenHybridError('INVALID_ARGUMENT', `saveSnapshot: path must be a non-empty string, got ${show(path)}`, { parameter: 'path' });
  const chunks = encodeSnapshot(s, t);
  try {
    await writeFile(path, chunks);
  } catch (e) {
    const errno = (e as NodeJS.ErrnoException | null)?.code;
    throw new QwenHybridError('FILE_WRITE_ERROR', `${path}: cannot write the snapshot: ${(e as Error)?.message ?? String(e)}`, { file: path, errno }, { cause: e });
  }
}

// ---- decode ----

/** Random-access bytes: a file or a buffer. */
interface Source {
  readonly size: number;
  /** Fills `into` from byte `position`. */
  read(into: Uint8Array, position: number): Promise<void>;
}

function bufferSource(b: Uint8Array): Source {
  return {
    size: b.length,
    read: async (into, position) => void into.set(b.subarray(position, position + into.length)),
  };
}

/** `eof`: the code when the file ends early (it shrank after stat). */
function fileSource(fh: FileHandle, size: number, w: Where, eof: ErrorCode): Source {
  return {
    size,
    read: async (into, position) => {
      let done = 0;
      while (done < into.length) {
        let n: number;
        try {
          ({ bytesRead: n } = await fh.read(into, done, into.length - done, position + done));
        } catch (e) {
          fail('FILE_READ_ERROR', w, `cannot read at byte ${position + done}: ${(e as Error)?.message ?? String(e)}`, { offset: position + done });
        }
        if (n === 0) fail(eof, w, `the file ended at byte ${position + done} while reading (it was ${size} bytes when opened)`, { offset: position + done });
        done += n;
      }
    },
  };
}

interface HeaderTensor {
  name: string;
  kind: SnapshotTensorKind;
  length: number;
  stored: number;
}

/** The header's fields, each of the documented type (INVALID_ARGUMENT naming the first that is not). */
function parseHeader(text: string, w: Where): { model: unknown; contextSize: unknown; position: unknown; history: unknown; tensors: HeaderTensor[] } {
  let h: unknown;
  try {
    h = JSON.parse(text);
  } catch (e) {
    return fail('INVALID_ARGUMENT', w, `the header is not JSON: ${(e as Error).message}`);
  }
  if (!isRecord(h)) fail('INVALID_ARGUMENT', w, `the header must be a JSON object, got ${show(h)}`);
  const m = h.model;
  if (!isRecord(m)) fail('INVALID_ARGUMENT', w, `header field 'model' must be an object, got ${show(m)}`, { field: 'model' });
  for (const k of ['arch', 'kv', 'layers', 'weights'] as const) {
    if (typeof m[k] !== 'string') fail('INVALID_ARGUMENT', w, `header field 'model.${k}' must be a string, got ${show(m[k])}`, { field: `model.${k}` });
  }
  for (const k of ['nEmbd', 'nTrunk', 'nVocab'] as const) {
    if (!isCount(m[k])) fail('INVALID_ARGUMENT', w, `header field 'model.${k}' must be a non-negative integer, got ${show(m[k])}`, { field: `model.${k}` });
  }
  for (const k of ['contextSize', 'position'] as const) {
    if (!isCount(h[k])) fail('INVALID_ARGUMENT', w, `header field '${k}' must be a non-negative integer, got ${show(h[k])}`, { field: k });
  }
  if (!Array.isArray(h.history)) fail('INVALID_ARGUMENT', w, `header field 'history' must be an array of token ids, got ${show(h.history)}`, { field: 'history' });
  if (!Array.isArray(h.tensors)) fail('INVALID_ARGUMENT', w, `header field 'tensors' must be an array, got ${show(h.tensors)}`, { field: 'tensors' });
  const tensors = (h.tensors as unknown[]).map((e, i): HeaderTensor => {
    const at = `header field 'tensors[${i}]`;
    if (!isRecord(e)) fail('INVALID_ARGUMENT', w, `${at}' must be an object, got ${show(e)}`, { field: `tensors[${i}]` });
    if (typeof e.name !== 'string') fail('INVALID_ARGUMENT', w, `${at}.name' must be a string, got ${show(e.name)}`, { field: `tensors[${i}].name` });
    if (typeof e.kind !== 'string' || !Object.hasOwn(SNAPSHOT_KIND_BYTES, e.kind)) {
      fail('INVALID_ARGUMENT', w, `${at}.kind' must be 'f32', 'u16', 'i32' or 'u8', got ${show(e.kind)}`, { field: `tensors[${i}].kind`, tensor: e.name });
    }
    for (const k of ['length', 'stored'] as const) {
      if (!isCount(e[k])) fail('INVALID_ARGUMENT', w, `${at}.${k}' must be a non-negative integer, got ${show(e[k])}`, { field: `tensors[${i}].${k}`, tensor: e.name });
    }
    return { name: e.name, kind: e.kind as SnapshotTensorKind, length: e.length as number, stored: e.stored as number };
  });
  return { model: m, contextSize: h.contextSize, position: h.position, history: h.history, tensors };
}

/** sha256 of bytes [0, 12) ‖ [44, size), streamed in HASH_CHUNK pieces. */
async function digestOf(src: Source, prelude: Uint8Array): Promise<Buffer> {
  const h = createHash('sha256').update(prelude.subarray(0, 12));
  const chunk = new Uint8Array(Math.min(HASH_CHUNK, Math.max(0, src.size - SNAPSHOT_PRELUDE_BYTES)));
  for (let at = SNAPSHOT_PRELUDE_BYTES; at < src.size; at += chunk.length) {
    const part = chunk.subarray(0, Math.min(chunk.length, src.size - at));
    await src.read(part, at);
    h.update(part);
  }
  return h.digest();
}

async function decode(src: Source, t: SnapshotTarget, w: Where): Promise<SessionSnapshot> {
  const prelude = new Uint8Array(Math.min(SNAPSHOT_PRELUDE_BYTES, src.size));
  await src.read(prelude, 0);
  const magic = Buffer.from(prelude.subarray(0, 8)).toString('latin1');
  if (magic !== SNAPSHOT_MAGIC) {
    if (/^QHSNAP\d\d$/.test(magic)) fail('INVALID_ARGUMENT', w, `snapshot format ${magic} is not read by this version (it reads ${SNAPSHOT_MAGIC}); save the snapshot again`, { magic });
    fail('INVALID_ARGUMENT', w, `not a session snapshot (no ${SNAPSHOT_MAGIC} magic)`);
  }
  if (src.size < SNAPSHOT_PRELUDE_BYTES) fail('SNAPSHOT_CORRUPT', w, `truncated: ${src.size} bytes, shorter than the ${SNAPSHOT_PRELUDE_BYTES}-byte prelude`);
  const want = Buffer.from(prelude.subarray(12, SNAPSHOT_PRELUDE_BYTES));
  const got = await digestOf(src, prelude);
  if (!got.equals(want)) fail('SNAPSHOT_CORRUPT', w, `checksum mismatch (sha256 ${got.toString('hex').slice(0, 16)}…, the file says ${want.toString('hex').slice(0, 16)}…): the file is damaged or truncated`);

  // From here the bytes are what the writer wrote: a mismatch is a file this session cannot take.
  const hlen = Buffer.from(prelude).readUInt32LE(8);
  if (hlen > MAX_HEADER_BYTES || SNAPSHOT_PRELUDE_BYTES + hlen > src.size) fail('INVALID_ARGUMENT', w, `header of ${hlen} bytes does not fit the ${src.size}-byte file`);
  const hbytes = new Uint8Array(hlen);
  await src.read(hbytes, SNAPSHOT_PRELUDE_BYTES);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(hbytes);
  } catch {
    return fail('INVALID_ARGUMENT', w, 'the header is not valid UTF-8');
  }
  const h = parseHeader(text, w);
  checkFits(h.model, h.contextSize, h.position, h.history, h.tensors, t, w);
  const position = h.position as number;
  let at = SNAPSHOT_PRELUDE_BYTES + hlen;
  let payload = 0;
  const specs = new Map(t.tensors.map((s) => [s.name, s]));
  for (const e of h.tensors) {
    const want = storedLength(specs.get(e.name)!, t.contextSize, position);
    if (e.stored !== want) fail('INVALID_ARGUMENT', w, `tensor '${e.name}' stores ${e.stored} elements, position ${position} needs ${want}`, { tensor: e.name });
    payload += e.stored * SNAPSHOT_KIND_BYTES[e.kind];
  }
  if (at + payload !== src.size) {
    const d = src.size - at - payload;
    fail('INVALID_ARGUMENT', w, d > 0 ? `${d} bytes after the last tensor` : `the tensors need ${payload} bytes, the file holds ${src.size - at}`, { expected: at + payload, found: src.size });
  }

  const tensors = new Map<string, TensorArray>();
  for (const e of h.tensors) {
    const per = SNAPSHOT_KIND_BYTES[e.kind];
    const buf = new ArrayBuffer(e.length * per); // zero beyond the stored prefix
    await src.read(new Uint8Array(buf, 0, e.stored * per), at);
    at += e.stored * per;
    tensors.set(e.name, e.kind === 'f32' ? new Float32Array(buf) : e.kind === 'u16' ? new Uint16Array(buf) : e.kind === 'i32' ? new Int32Array(buf) : new Uint8Array(buf));
  }
  return { model: t.model, contextSize: t.contextSize, position, history: (h.history as number[]).slice(), tensors };
}

/** The snapshot in `bytes` (a whole file's contents), checked against `t`; `what` prefixes errors. */
export function decodeSnapshot(bytes: Uint8Array, t: SnapshotTarget, what = 'snapshot'): Promise<SessionSnapshot> {
  return decode(bufferSource(bytes), t, { what, details: {} });
}

/** Reads and checks a file written by writeSnapshotFile; tensor data is read straight into the state arrays. */
export async function readSnapshotFile(path: string, t: SnapshotTarget): Promise<SessionSnapshot> {
  if (typeof path !== 'string' || path === '') throw new QwenHybridError('INVALID_ARGUMENT', `loadSnapshot: path must be a non-empty string, got ${show(path)}`, { parameter: 'path' });
  const w: Where = { what: path, details: { file: path } };
  const ioError = (e: unknown, what: string): QwenHybridError => {
    const errno = (e as NodeJS.ErrnoException | null)?.code;
    if (errno === 'ENOENT') return new QwenHybridError('FILE_NOT_FOUND', `${path}: file not found`, { file: path, errno }, { cause: e });
    return new QwenHybridError('FILE_READ_ERROR', `${path}: cannot ${what}: ${(e as Error)?.message ?? String(e)}`, { file: path, errno }, { cause: e });
  };
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    throw ioError(e, 'open');
  }
  try {
    let size: number;
    try {
      const st = await fh.stat();
      if (st.isDirectory()) fail('FILE_READ_ERROR', w, 'is a directory, not a snapshot file', { errno: 'EISDIR' });
      if (!st.isFile()) fail('FILE_READ_ERROR', w, 'is not a regular file');
      size = st.size;
    } catch (e) {
      throw e instanceof QwenHybridError ? e : ioError(e, 'stat');
    }
    return await decode(fileSource(fh, size, w, 'SNAPSHOT_CORRUPT'), t, w);
  } finally {
    await fh.close();
  }
}

// ---- weights fingerprint ----

/** Bytes hashed at the start and at the end of each tensor's data (a page read each). */
const FINGERPRINT_WINDOW = 1024;

/**
 * sha256 (hex) of a model's weights as a snapshot identity: per tensor in table order its name, type, shape, byte
 * size and the first and last FINGERPRINT_WINDOW bytes of its data (all of it when smaller), read from the GGUF
 * (every shard). Metadata and offsets are left out: re-packing the same weights (split, edited chat template)
 * keeps the fingerprint; another seed, fine-tune or quantization of the same shapes changes it.
 */
export async function weightsFingerprint(path: string): Promise<string> {
  const g = await readGGUFModel(path);
  const h = createHash('sha256').update('qwen-hybrid weights fingerprint v1\0');
  const byShard = new Map<string, GGUFModelTensor[]>();
  for (const t of g.tensors) {
    const list = byShard.get(t.path) ?? [];
    list.push(t);
    byShard.set(t.path, list);
  }
  const buf = new Uint8Array(2 * FINGERPRINT_WINDOW);
  for (const [shard, list] of byShard) {
    let fh: FileHandle;
    try {
      fh = await open(shard, 'r');
    } catch (e) {
      const errno = (e as NodeJS.ErrnoException | null)?.code;
      throw new QwenHybridError(errno === 'ENOENT' ? 'FILE_NOT_FOUND' : 'FILE_READ_ERROR', `${shard}: cannot open the model file to fingerprint its weights: ${(e as Error)?.message ?? String(e)}`, { file: shard, errno }, { cause: e });
    }
    const src = fileSource(fh, Number.MAX_SAFE_INTEGER, { what: shard, details: { file: shard } }, 'GGUF_TRUNCATED');
    try {
      for (const t of list) {
        h.update(`${t.name}\0${t.type}\0${t.shape.join(',')}\0${t.byteSize}\0`);
        if (t.byteSize <= buf.length) {
          const all = buf.subarray(0, t.byteSize);
          await src.read(all, t.offset);
          h.update(all);
        } else {
          const head = buf.subarray(0, FINGERPRINT_WINDOW);
          const tail = buf.subarray(FINGERPRINT_WINDOW);
          await src.read(head, t.offset);
          await src.read(tail, t.offset + t.byteSize - FINGERPRINT_WINDOW);
          h.update(buf);
        }
      }
    } finally {
      await fh.close();
    }
  }
  return h.digest('hex');
}
