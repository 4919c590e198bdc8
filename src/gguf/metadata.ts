/**
 * Typed metadata accessors. A missing required key is MISSING_METADATA; a key of the wrong type (or a value
 * that does not fit the requested JS type) is GGUF_BAD_METADATA. Both name the key and the file.
 */
import { GGUFError, QwenHybridError } from '../errors.js';
import { GGUFValueType, type GGUFArrayElement, type GGUFMetadataValue } from './types.js';

/** A parsed file, anything with `metadata` (and optionally `path`), or a bare metadata map. */
export type MetadataSource =
  | { readonly path?: string; readonly metadata: ReadonlyMap<string, GGUFMetadataValue> }
  | ReadonlyMap<string, GGUFMetadataValue>;

export interface GetOptions {
  /** Return undefined instead of throwing MISSING_METADATA when the key is absent. */
  readonly optional?: boolean;
}
type Optional = { readonly optional: true };

const TYPE_NAMES: Readonly<Record<number, string>> = {
  [GGUFValueType.UINT8]: 'u8',
  [GGUFValueType.INT8]: 'i8',
  [GGUFValueType.UINT16]: 'u16',
  [GGUFValueType.INT16]: 'i16',
  [GGUFValueType.UINT32]: 'u32',
  [GGUFValueType.INT32]: 'i32',
  [GGUFValueType.FLOAT32]: 'f32',
  [GGUFValueType.BOOL]: 'bool',
  [GGUFValueType.STRING]: 'string',
  [GGUFValueType.ARRAY]: 'array',
  [GGUFValueType.UINT64]: 'u64',
  [GGUFValueType.INT64]: 'i64',
  [GGUFValueType.FLOAT64]: 'f64',
};

const INT_TYPES: ReadonlySet<GGUFValueType> = new Set([
  GGUFValueType.UINT8, GGUFValueType.INT8, GGUFValueType.UINT16, GGUFValueType.INT16,
  GGUFValueType.UINT32, GGUFValueType.INT32, GGUFValueType.UINT64, GGUFValueType.INT64,
]);
const FLOAT_TYPES: ReadonlySet<GGUFValueType> = new Set([GGUFValueType.FLOAT32, GGUFValueType.FLOAT64]);

/** Human name of a value type (`u32`, `array<string>`). */
export function valueTypeName(v: GGUFMetadataValue): string {
  const base = TYPE_NAMES[v.type] ?? `type#${v.type}`;
  return v.type === GGUFValueType.ARRAY ? `array<${TYPE_NAMES[v.arrayType] ?? `type#${v.arrayType}`}>` : base;
}

function unpack(src: MetadataSource): { map: ReadonlyMap<string, GGUFMetadataValue>; file: string } {
  if (src instanceof Map) return { map: src, file: '<metadata>' };
  const s = src as { readonly path?: string; readonly metadata: ReadonlyMap<string, GGUFMetadataValue> };
  return { map: s.metadata, file: s.path ?? '<metadata>' };
}

function lookup(src: MetadataSource, key: string, opts: GetOptions | undefined): { v: GGUFMetadataValue; file: string } | undefined {
  const { map, file } = unpack(src);
  const v = map.get(key);
  if (v !== undefined) return { v, file };
  if (opts?.optional) return undefined;
  throw new QwenHybridError('MISSING_METADATA', `${file}: required metadata key '${key}' is missing`, { file, key });
}

function bad(file: string, key: string, message: string): never {
  throw new GGUFError('GGUF_BAD_METADATA', `${file}: metadata key '${key}': ${message}`, { file, key });
}

/** An integer scalar as a JS number (bigints must be safe integers). */
function intOf(file: string, key: string, v: GGUFMetadataValue, what: string): number {
  if (v.type === GGUFValueType.ARRAY || !INT_TYPES.has(v.type)) bad(file, key, `expected ${what}, found ${valueTypeName(v)}`);
  const x = v.value;
  if (typeof x === 'bigint') {
    if (x > BigInt(Number.MAX_SAFE_INTEGER) || x < BigInt(Number.MIN_SAFE_INTEGER)) bad(file, key, `${x} does not fit a JS number exactly`);
    return Number(x);
  }
  return x as number;
}

export function getString(src: MetadataSource, key: string, opts: Optional): string | undefined;
export function getString(src: MetadataSource, key: string, opts?: GetOptions): string;
export function getString(src: MetadataSource, key: string, opts?: GetOptions): string | undefined {
  const r = lookup(src, key, opts);
  if (!r) return undefined;
  if (r.v.type !== GGUFValueType.STRING) bad(r.file, key, `expected string, found ${valueTypeName(r.v)}`);
  return r.v.value as string;
}

/** Any integer type holding a non-negative value. */
export function getUint(src: MetadataSource, key: string, opts: Optional): number | undefined;
export function getUint(src: MetadataSource, key: string, opts?: GetOptions): number;
export function getUint(src: MetadataSource, key: string, opts?: GetOptions): number | undefined {
  const r = lookup(src, key, opts);
  if (!r) return undefined;
  const n = intOf(r.file, key, r.v, 'an unsigned integer');
  if (n < 0) bad(r.file, key, `expected a non-negative integer, found ${n}`);
  return n;
}

/** Any integer type. */
export function getInt(src: MetadataSource, key: string, opts: Optional): number | undefined;
export function getInt(src: MetadataSource, key: string, opts?: GetOptions): number;
export function getInt(src: MetadataSource, key: string, opts?: GetOptions): number | undefined {
  const r = lookup(src, key, opts);
  if (!r) return undefined;
  return intOf(r.file, key, r.v, 'an integer');
}

/** f32 or f64 (llama.cpp stores float hyper-parameters as f32). */
export function getFloat(src: MetadataSource, key: string, opts: Optional): number | undefined;
export function getFloat(src: MetadataSource, key: string, opts?: GetOptions): number;
export function getFloat(src: MetadataSource, key: string, opts?: GetOptions): number | undefined {
  const r = lookup(src, key, opts);
  if (!r) return undefined;
  if (r.v.type === GGUFValueType.ARRAY || !FLOAT_TYPES.has(r.v.type)) bad(r.file, key, `expected f32 or f64, found ${valueTypeName(r.v)}`);
  return r.v.value as number;
}

export function getBool(src: MetadataSource, key: string, opts: Optional): boolean | undefined;
export function getBool(src: MetadataSource, key: string, opts?: GetOptions): boolean;
export function getBool(src: MetadataSource, key: string, opts?: GetOptions): boolean | undefined {
  const r = lookup(src, key, opts);
  if (!r) return undefined;
  if (r.v.type !== GGUFValueType.BOOL) bad(r.file, key, `expected bool, found ${valueTypeName(r.v)}`);
  return r.v.value as boolean;
}

export interface GGUFArrayValue {
  readonly arrayType: GGUFValueType;
  readonly value: readonly GGUFArrayElement[];
}

/** Any array, with its element type. */
export function getArray(src: MetadataSource, key: string, opts: Optional): GGUFArrayValue | undefined;
export function getArray(src: MetadataSource, key: string, opts?: GetOptions): GGUFArrayValue;
export function getArray(src: MetadataSource, key: string, opts?: GetOptions): GGUFArrayValue | undefined {
  const r = lookup(src, key, opts);
  if (!r) return undefined;
  if (r.v.type !== GGUFValueType.ARRAY) bad(r.file, key, `expected an array, found ${valueTypeName(r.v)}`);
  return { arrayType: r.v.arrayType, value: r.v.value };
}

/** An array of strings. */
export function getStringArray(src: MetadataSource, key: string, opts: Optional): readonly string[] | undefined;
export function getStringArray(src: MetadataSource, key: string, opts?: GetOptions): readonly string[];
export function getStringArray(src: MetadataSource, key: string, opts?: GetOptions): readonly string[] | undefined {
  const r = lookup(src, key, opts);
  if (!r) return undefined;
  if (r.v.type !== GGUFValueType.ARRAY || r.v.arrayType !== GGUFValueType.STRING) bad(r.file, key, `expected array<string>, found ${valueTypeName(r.v)}`);
  return r.v.value as readonly string[];
}

/** An array of any integer or float type, as numbers (64-bit elements must be safe integers). */
export function getNumberArray(src: MetadataSource, key: string, opts: Optional): readonly number[] | undefined;
export function getNumberArray(src: MetadataSource, key: string, opts?: GetOptions): readonly number[];
export function getNumberArray(src: MetadataSource, key: string, opts?: GetOptions): readonly number[] | undefined {
  const r = lookup(src, key, opts);
  if (!r) return undefined;
  const v = r.v;
  if (v.type !== GGUFValueType.ARRAY || !(INT_TYPES.has(v.arrayType) || FLOAT_TYPES.has(v.arrayType))) {
    bad(r.file, key, `expected a numeric array, found ${valueTypeName(v)}`);
  }
  if (v.arrayType !== GGUFValueType.UINT64 && v.arrayType !== GGUFValueType.INT64) return v.value as readonly number[];
  return (v.value as readonly bigint[]).map((x, i) => {
    if (x > BigInt(Number.MAX_SAFE_INTEGER) || x < BigInt(Number.MIN_SAFE_INTEGER)) bad(r.file, key, `element #${i} = ${x} does not fit a JS number exactly`);
    return Number(x);
  });
}

/** `general.architecture` (e.g. `qwen35`, `qwen35moe`). */
export function architecture(src: MetadataSource): string {
  return getString(src, 'general.architecture');
}
