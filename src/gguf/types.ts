/**
 * GGUF container types shared by the reader, the writer, the quantization references and the model code.
 * Type ids and block layouts follow ggml (`ggml.h`, `ggml-common.h`); see spec §2.1 and §4.1.
 */

/** ggml tensor type ids as stored in GGUF tensor infos. Removed ids (4, 5, 31–33, 36–38) are absent. */
export enum GGMLType {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  IQ2_XXS = 16,
  IQ2_XS = 17,
  IQ3_XXS = 18,
  IQ1_S = 19,
  IQ4_NL = 20,
  IQ3_S = 21,
  IQ2_S = 22,
  IQ4_XS = 23,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  IQ1_M = 29,
  BF16 = 30,
  TQ1_0 = 34,
  TQ2_0 = 35,
  MXFP4 = 39,
  NVFP4 = 40,
  Q1_0 = 41,
  Q2_0 = 42,
}

export interface GGMLTypeTraits {
  readonly type: GGMLType;
  readonly name: string;
  /** Elements per block (1 for plain float/int types). */
  readonly blockSize: number;
  /** Bytes per block. */
  readonly blockBytes: number;
}

// [type, name, elements per block, bytes per block] — sizes from ggml-common.h static_asserts.
const TRAITS_TABLE: ReadonlyArray<readonly [GGMLType, string, number, number]> = [
  [GGMLType.F32, 'F32', 1, 4],
  [GGMLType.F16, 'F16', 1, 2],
  [GGMLType.Q4_0, 'Q4_0', 32, 18],
  [GGMLType.Q4_1, 'Q4_1', 32, 20],
  [GGMLType.Q5_0, 'Q5_0', 32, 22],
  [GGMLType.Q5_1, 'Q5_1', 32, 24],
  [GGMLType.Q8_0, 'Q8_0', 32, 34],
  [GGMLType.Q8_1, 'Q8_1', 32, 36],
  [GGMLType.Q2_K, 'Q2_K', 256, 84],
  [GGMLType.Q3_K, 'Q3_K', 256, 110],
  [GGMLType.Q4_K, 'Q4_K', 256, 144],
  [GGMLType.Q5_K, 'Q5_K', 256, 176],
  [GGMLType.Q6_K, 'Q6_K', 256, 210],
  [GGMLType.Q8_K, 'Q8_K', 256, 292],
  [GGMLType.IQ2_XXS, 'IQ2_XXS', 256, 66],
  [GGMLType.IQ2_XS, 'IQ2_XS', 256, 74],
  [GGMLType.IQ3_XXS, 'IQ3_XXS', 256, 98],
  [GGMLType.IQ1_S, 'IQ1_S', 256, 50],
  [GGMLType.IQ4_NL, 'IQ4_NL', 32, 18],
  [GGMLType.IQ3_S, 'IQ3_S', 256, 110],
  [GGMLType.IQ2_S, 'IQ2_S', 256, 82],
  [GGMLType.IQ4_XS, 'IQ4_XS', 256, 136],
  [GGMLType.I8, 'I8', 1, 1],
  [GGMLType.I16, 'I16', 1, 2],
  [GGMLType.I32, 'I32', 1, 4],
  [GGMLType.I64, 'I64', 1, 8],
  [GGMLType.F64, 'F64', 1, 8],
  [GGMLType.IQ1_M, 'IQ1_M', 256, 56],
  [GGMLType.BF16, 'BF16', 1, 2],
  [GGMLType.TQ1_0, 'TQ1_0', 256, 54],
  [GGMLType.TQ2_0, 'TQ2_0', 256, 66],
  [GGMLType.MXFP4, 'MXFP4', 32, 17],
  [GGMLType.NVFP4, 'NVFP4', 64, 36],
  [GGMLType.Q1_0, 'Q1_0', 128, 18],
  [GGMLType.Q2_0, 'Q2_0', 64, 18],
];

export const GGML_TYPE_TRAITS: ReadonlyMap<number, GGMLTypeTraits> = new Map(
  TRAITS_TABLE.map(([type, name, blockSize, blockBytes]) => [type, { type, name, blockSize, blockBytes }]),
);

/** Traits of a type id, or undefined for an id ggml does not know. */
export function ggmlTypeTraits(type: number): GGMLTypeTraits | undefined {
  return GGML_TYPE_TRAITS.get(type);
}

/** Name of a type id ("Q4_K"), or `type#N` for an unknown id. */
export function ggmlTypeName(type: number): string {
  return GGML_TYPE_TRAITS.get(type)?.name ?? `type#${type}`;
}

/** Type id from its name (case-insensitive), or undefined. */
export function ggmlTypeFromName(name: string): GGMLType | undefined {
  const upper = name.toUpperCase();
  for (const t of GGML_TYPE_TRAITS.values()) if (t.name === upper) return t.type;
  return undefined;
}

/**
 * Bytes of a tensor of `type` with shape `ne` (ne0 first). Caller guarantees ne0 % blockSize == 0
 * and that the result is a safe integer (the reader validates both before calling).
 */
export function ggmlTensorBytes(type: number, ne: readonly number[]): number {
  const t = GGML_TYPE_TRAITS.get(type);
  if (!t) throw new RangeError(`unknown ggml type ${type}`);
  const ne0 = ne[0] ?? 1;
  let rows = 1;
  for (let i = 1; i < ne.length; i++) rows *= ne[i]!;
  return (ne0 / t.blockSize) * t.blockBytes * rows;
}

/** Bytes of one row of `ne0` elements. */
export function ggmlRowBytes(type: number, ne0: number): number {
  const t = GGML_TYPE_TRAITS.get(type);
  if (!t) throw new RangeError(`unknown ggml type ${type}`);
  return (ne0 / t.blockSize) * t.blockBytes;
}

/** GGUF metadata value type ids (spec §2.1). */
export enum GGUFValueType {
  UINT8 = 0,
  INT8 = 1,
  UINT16 = 2,
  INT16 = 3,
  UINT32 = 4,
  INT32 = 5,
  FLOAT32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  UINT64 = 10,
  INT64 = 11,
  FLOAT64 = 12,
}

/** A scalar metadata value: u64/i64 are bigint, other numbers are number. */
export type GGUFScalar = number | bigint | boolean | string;

/** One metadata entry. For arrays `type` is ARRAY, `arrayType` the element type and `value` the elements. */
export type GGUFMetadataValue =
  | { readonly type: Exclude<GGUFValueType, GGUFValueType.ARRAY>; readonly value: GGUFScalar }
  | { readonly type: GGUFValueType.ARRAY; readonly arrayType: GGUFValueType; readonly value: readonly GGUFArrayElement[] };

/** Array elements: scalars, or nested arrays (GGUF allows arrays of arrays). */
export type GGUFArrayElement = GGUFScalar | GGUFNestedArray;
export interface GGUFNestedArray {
  readonly arrayType: GGUFValueType;
  readonly value: readonly GGUFArrayElement[];
}

/** Default `general.alignment` when the key is absent. */
export const GGUF_DEFAULT_ALIGNMENT = 32;
export const GGUF_MAGIC = 0x46554747; // "GGUF" little-endian

/** A tensor as described by the tensor-info table of one GGUF file. */
export interface GGUFTensorInfo {
  readonly name: string;
  /** ggml `ne`, fastest-varying first. */
  readonly shape: readonly number[];
  readonly type: GGMLType;
  /** Offset relative to the start of the tensor-data section. */
  readonly relativeOffset: number;
  /** Absolute byte offset in the file. */
  readonly offset: number;
  /** Exact byte size of the tensor data (excluding alignment padding). */
  readonly byteSize: number;
  readonly elementCount: number;
}

/** Header, metadata and tensor table of one GGUF file. Weight bytes are never read. */
export interface GGUFFile {
  readonly path: string;
  readonly version: 2 | 3;
  readonly fileSize: number;
  readonly alignment: number;
  /** Insertion-ordered, keys unique. */
  readonly metadata: ReadonlyMap<string, GGUFMetadataValue>;
  readonly tensors: readonly GGUFTensorInfo[];
  /** Absolute offset of the tensor-data section. */
  readonly dataOffset: number;
}
