/**
 * Model configuration of qwen35 / qwen35moe GGUF files, from metadata (spec §2.3), and what it implies:
 * layer types, per-sequence state sizes, memory needed per context length.
 */
import { QwenHybridError } from '../errors.js';
import { getArray, getFloat, getNumberArray, getString, getUint } from '../gguf/metadata.js';
import { GGUFValueType, type GGUFMetadataValue, type GGUFTensorInfo } from '../gguf/types.js';

export const SUPPORTED_ARCHITECTURES = ['qwen35', 'qwen35moe'] as const;
export type Qwen35Arch = (typeof SUPPORTED_ARCHITECTURES)[number];
export type LayerKind = 'gdn' | 'attention';

export interface DenseFFNConfig { readonly kind: 'dense'; readonly nFf: number }
export interface MoEFFNConfig {
  readonly kind: 'moe';
  readonly nExpert: number;
  readonly nExpertUsed: number;
  /** Routed expert intermediate size. */
  readonly nFfExpert: number;
  /** Shared expert intermediate size (0 when the model has none). */
  readonly nFfShared: number;
}

export interface Qwen35Config {
  readonly arch: Qwen35Arch;
  readonly name: string | undefined;
  readonly nEmbd: number;
  /** `block_count`: trunk + MTP blocks. */
  readonly nBlock: number;
  /** `nextn_predict_layers` (MTP blocks after the trunk; not run by the forward pass). */
  readonly nNextn: number;
  /** Trunk layers = block_count − nextn_predict_layers (spec pitfall 13). */
  readonly nTrunk: number;
  readonly contextLength: number;
  readonly vocabSize: number | undefined;
  readonly rmsEps: number;
  /** Full attention. */
  readonly nHead: number;
  readonly nHeadKv: number;
  readonly headDimK: number;
  readonly headDimV: number;
  readonly nRot: number;
  readonly ropeBase: number;
  readonly ropeSections: readonly number[];
  /** Gated DeltaNet. */
  readonly ssm: {
    readonly convKernel: number;
    /** value_dim = nV · dV */
    readonly innerSize: number;
    /** head dim of K/Q (and V) */
    readonly stateSize: number;
    /** V heads (`time_step_rank`) */
    readonly nVHeads: number;
    /** K/Q heads (`group_count`) */
    readonly nKHeads: number;
    readonly headDimV: number;
    /** conv channels = 2·nK·dK + value_dim */
    readonly convChannels: number;
  };
  readonly fullAttentionInterval: number;
  /** Kind of every trunk layer. */
  readonly layerKinds: readonly LayerKind[];
  readonly ffn: DenseFFNConfig | MoEFFNConfig;
}

type Metadata = ReadonlyMap<string, GGUFMetadataValue>;

/** Typed getters over one file's metadata (gguf/metadata.ts errors: MISSING_METADATA, GGUF_BAD_METADATA). */
function reader(md: Metadata, file: string) {
  const src = { path: file, metadata: md };
  const bad = (key: string, what: string): never => {
    throw new QwenHybridError('GGUF_BAD_METADATA', `${file}: metadata '${key}' ${what}`, { file, key });
  };
  const uint = (key: string, fallback?: number): number =>
    fallback === undefined ? getUint(src, key) : (getUint(src, key, { optional: true }) ?? fallback);
  return {
    bad,
    uint,
    positive(key: string, fallback?: number): number {
      const n = uint(key, fallback);
      if (n <= 0) bad(key, `must be > 0, found ${n}`);
      return n;
    },
    float: (key: string, fallback?: number): number =>
      fallback === undefined ? getFloat(src, key) : (getFloat(src, key, { optional: true }) ?? fallback),
    optionalUint: (key: string): number | undefined => getUint(src, key, { optional: true }),
    optionalString: (key: string): string | undefined => getString(src, key, { optional: true }),
    /** Per-layer flags stored as bools or integers. */
    optionalFlags(key: string): number[] | undefined {
      const a = getArray(src, key, { optional: true });
      return a?.value.map((el) => (typeof el === 'boolean' ? (el ? 1 : 0) : typeof el === 'number' || typeof el === 'bigint' ? Number(el) : bad(key, 'must be an array of booleans or integers')));
    },
    numberArray: (key: string): readonly number[] => getNumberArray(src, key),
  };
}

/** `general.architecture`, or undefined. */
export function architectureOf(md: Metadata): string | undefined {
  const v = md.get('general.architecture');
  return v?.type === GGUFValueType.STRING ? (v.value as string) : undefined;
}

/**
 * Reads and validates the configuration. Missing required keys → MISSING_METADATA naming the key;
 * inconsistent values → GGUF_BAD_METADATA; other architectures → UNSUPPORTED_ARCHITECTURE.
 */
export function configFromMetadata(md: Metadata, file = '<gguf>'): Qwen35Config {
  const arch = architectureOf(md);
  if (arch === undefined) {
    throw new QwenHybridError('MISSING_METADATA', `${file}: metadata 'general.architecture' is missing`, { file, key: 'general.architecture' });
  }
  if (!(SUPPORTED_ARCHITECTURES as readonly string[]).includes(arch)) {
    throw new QwenHybridError('UNSUPPORTED_ARCHITECTURE', `${file}: architecture '${arch}' is not supported (supported: ${SUPPORTED_ARCHITECTURES.join(', ')})`, { file, architecture: arch });
  }
  const r = reader(md, file);
  const k = (s: string): string => `${arch}.${s}`;
  const bad = r.bad;

  const nEmbd = r.positive(k('embedding_length'));
  const nBlock = r.positive(k('block_count'));
  const nNextn = r.uint(k('nextn_predict_layers'), 0);
  if (nNextn >= nBlock) bad(k('nextn_predict_layers'), `(${nNextn}) must be smaller than block_count (${nBlock})`);
  const nTrunk = nBlock - nNextn;

  const nHead = r.positive(k('attention.head_count'));
  const nHeadKv = r.positive(k('attention.head_count_kv'));
  if (nHead % nHeadKv !== 0) bad(k('attention.head_count_kv'), `(${nHeadKv}) must divide head_count (${nHead})`);
  const headDimK = r.positive(k('attention.key_length'));
  const headDimV = r.positive(k('attention.value_length'), headDimK);
  const nRot = r.positive(k('rope.dimension_count'));
  if (nRot > headDimK || nRot % 2 !== 0) bad(k('rope.dimension_count'), `(${nRot}) must be even and ≤ key_length (${headDimK})`);
  // Required: llama.cpp refuses qwen35 files without it (irrelevant for text-only positions, spec §3.3).
  const ropeSections = r.numberArray(k('rope.dimension_sections'));

  const convKernel = r.positive(k('ssm.conv_kernel'));
  const innerSize = r.positive(k('ssm.inner_size'));
  const stateSize = r.positive(k('ssm.state_size'));
  const nVHeads = r.positive(k('ssm.time_step_rank'));
  const nKHeads = r.positive(k('ssm.group_count'));
  if (innerSize % nVHeads !== 0) bad(k('ssm.inner_size'), `(${innerSize}) must be a multiple of ssm.time_step_rank (${nVHeads})`);
  if (nVHeads % nKHeads !== 0) bad(k('ssm.time_step_rank'), `(${nVHeads}) must be a multiple of ssm.group_count (${nKHeads})`);

  const interval = r.positive(k('full_attention_interval'), 4);
  const flags = r.optionalFlags(k('attention.recurrent_layers'));
  const layerKinds: LayerKind[] = [];
  for (let i = 0; i < nTrunk; i++) {
    const recurrent = flags !== undefined ? (flags[i] ?? 0) !== 0 : (i + 1) % interval !== 0;
    layerKinds.push(recurrent ? 'gdn' : 'attention');
  }

  const ffn: DenseFFNConfig | MoEFFNConfig =
    arch === 'qwen35moe'
      ? {
          kind: 'moe',
          nExpert: r.positive(k('expert_count')),
          nExpertUsed: r.positive(k('expert_used_count')),
          nFfExpert: r.positive(k('expert_feed_forward_length')),
          nFfShared: r.uint(k('expert_shared_feed_forward_length'), 0),
        }
      : { kind: 'dense', nFf: r.positive(k('feed_forward_length')) };
  if (ffn.kind === 'moe' && ffn.nExpertUsed > ffn.nExpert) bad(k('expert_used_count'), `(${ffn.nExpertUsed}) exceeds expert_count (${ffn.nExpert})`);

  return {
    arch: arch as Qwen35Arch,
    name: r.optionalString('general.name'),
    nEmbd, nBlock, nNextn, nTrunk,
    contextLength: r.positive(k('context_length')),
    vocabSize: r.optionalUint(k('vocab_size')),
    rmsEps: r.float(k('attention.layer_norm_rms_epsilon')),
    nHead, nHeadKv, headDimK, headDimV, nRot,
    ropeBase: r.float(k('rope.freq_base'), 10000),
    ropeSections,
    ssm: {
      convKernel, innerSize, stateSize, nVHeads, nKHeads,
      headDimV: innerSize / nVHeads,
      convChannels: 2 * nKHeads * stateSize + innerSize,
    },
    fullAttentionInterval: interval,
    layerKinds,
    ffn,
  };
}

const KV_TYPE_BYTES: Readonly<Record<string, number>> = { f32: 4, f16: 2, q8_0: 34 / 32 };

/**
 * Bytes of per-sequence state (spec §1.5). The KV cache element is a cache type ('f32' | 'f16' | 'q8_0') or its
 * bytes per element (4, 2, 34/32); default f16. Anything else, or a contextLength that is not a non-negative
 * integer, is INVALID_ARGUMENT.
 */
export function sequenceStateBytes(c: Qwen35Config, contextLength: number, kv: number | 'f32' | 'f16' | 'q8_0' = 2): {
  kvCache: number; gdnState: number; convState: number; total: number;
} {
  const kvBytesPerElement = typeof kv === 'string' && Object.hasOwn(KV_TYPE_BYTES, kv) ? KV_TYPE_BYTES[kv]! : kv;
  if (typeof kvBytesPerElement !== 'number' || !Number.isFinite(kvBytesPerElement) || kvBytesPerElement <= 0) {
    throw new QwenHybridError('INVALID_ARGUMENT', `sequenceStateBytes: the KV cache element must be 'f32', 'f16', 'q8_0' or a positive byte count, got ${JSON.stringify(kv)}`, { parameter: 'kv' });
  }
  if (!Number.isSafeInteger(contextLength) || contextLength < 0) {
    throw new QwenHybridError('INVALID_ARGUMENT', `sequenceStateBytes: contextLength must be a non-negative integer, got ${contextLength}`, { parameter: 'contextLength' });
  }
  const nAttn = c.layerKinds.filter((l) => l === 'attention').length;
  const nGdn = c.layerKinds.length - nAttn;
  const kvCache = nAttn * contextLength * c.nHeadKv * (c.headDimK + c.headDimV) * kvBytesPerElement;
  // S_j is dK × dV per V head, f32.
  const gdnState = nGdn * c.ssm.nVHeads * c.ssm.stateSize * c.ssm.headDimV * 4;
  // (kernel − 1) raw projection columns per conv channel, f32.
  const convState = nGdn * (c.ssm.convKernel - 1) * c.ssm.convChannels * 4;
  return { kvCache, gdnState, convState, total: kvCache + gdnState + convState };
}

/** Tensors of the MTP block(s) (`blk.{n ≥ nTrunk}.*`), which the forward pass never reads. */
export function isMtpTensor(c: Qwen35Config, name: string): boolean {
  const m = /^blk\.(\d+)\./.exec(name);
  return m !== null && Number(m[1]) >= c.nTrunk;
}

/** Bytes of the weights the trunk reads (MTP tensors excluded). */
export function trunkWeightBytes(c: Qwen35Config, tensors: readonly Pick<GGUFTensorInfo, 'name' | 'byteSize'>[]): number {
  let total = 0;
  for (const t of tensors) if (!isMtpTensor(c, t.name)) total += t.byteSize;
  return total;
}
