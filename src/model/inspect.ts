/**
 * `inspectModel`: what a GGUF holds and what running it costs, from the header only (no weight bytes read).
 * Works on any GGUF; the hyperparameters and memory figures need a qwen35 / qwen35moe file.
 */
import { isQwenHybridError, QwenHybridError } from '../errors.js';
import { readGGUFModel } from '../gguf/split.js';
import { GGUFValueType, ggmlTypeName, type GGUFMetadataValue } from '../gguf/types.js';
import { configFromMetadata, architectureOf, isMtpTensor, sequenceStateBytes, trunkWeightBytes, type Qwen35Config } from './config.js';
import { KV_BYTES_PER_ELEMENT, type KvCacheType } from './forward.js';

/** llama.cpp `LLAMA_FTYPE_*` names for `general.file_type`. */
const FILE_TYPES: Readonly<Record<number, string>> = {
  0: 'F32', 1: 'F16', 2: 'Q4_0', 3: 'Q4_1', 7: 'Q8_0', 8: 'Q5_0', 9: 'Q5_1', 10: 'Q2_K', 11: 'Q3_K_S',
  12: 'Q3_K_M', 13: 'Q3_K_L', 14: 'Q4_K_S', 15: 'Q4_K_M', 16: 'Q5_K_S', 17: 'Q5_K_M', 18: 'Q6_K',
  19: 'IQ2_XXS', 20: 'IQ2_XS', 21: 'Q2_K_S', 22: 'IQ3_XS', 23: 'IQ3_XXS', 24: 'IQ1_S', 25: 'IQ4_NL',
  26: 'IQ3_S', 27: 'IQ3_M', 28: 'IQ2_S', 29: 'IQ2_M', 30: 'IQ4_XS', 31: 'IQ1_M', 32: 'BF16',
  36: 'TQ1_0', 37: 'TQ2_0', 38: 'MXFP4_MOE', 39: 'NVFP4', 40: 'Q1_0', 41: 'Q2_0',
};

export interface TypeUsage {
  readonly type: string;
  readonly tensors: number;
  readonly elements: number;
  readonly bytes: number;
}

export interface ContextMemory {
  readonly contextLength: number;
  /** KV cache of the full-attention layers, in the report's kvCacheType (q8_0: 34 bytes per 32 values). */
  readonly kvCacheBytes: number;
  /** f32 recurrent + conv state of the Gated DeltaNet layers (independent of the context length). */
  readonly recurrentStateBytes: number;
  /** Weights the trunk reads + one sequence's state (activations and scratch excluded). */
  readonly totalBytes: number;
}

export interface ModelReport {
  readonly path: string;
  readonly shards: number;
  readonly fileSize: number;
  readonly ggufVersion: number;
  readonly alignment: number;
  readonly tensorCount: number;
  readonly metadataCount: number;
  readonly architecture: string | undefined;
  readonly name: string | undefined;
  readonly fileType: string | undefined;
  /** Present when the architecture is supported and its metadata is complete. */
  readonly config: Qwen35Config | undefined;
  /** Why `config` is absent: error code and message. */
  readonly configError: { code: string; message: string } | undefined;
  readonly parameters: { readonly total: number; readonly trunk: number; readonly mtp: number };
  readonly types: readonly TypeUsage[];
  readonly tokenizer: { readonly model: string | undefined; readonly pre: string | undefined; readonly tokens: number } | undefined;
  readonly hasChatTemplate: boolean;
  readonly weightBytes: number;
  /** KV cache type `memory` is computed for (inspectModel's kvCacheType option, default 'f16'). */
  readonly kvCacheType: KvCacheType;
  readonly memory: readonly ContextMemory[];
}

const DEFAULT_CONTEXTS = [4096, 32768, 131072, 262144];

function str(md: ReadonlyMap<string, GGUFMetadataValue>, key: string): string | undefined {
  const v = md.get(key);
  return v?.type === GGUFValueType.STRING ? (v.value as string) : undefined;
}

export async function inspectModel(path: string, opts: { contextLengths?: readonly number[]; kvCacheType?: KvCacheType } = {}): Promise<ModelReport> {
  const kvCacheType = opts.kvCacheType ?? 'f16';
  if (!Object.hasOwn(KV_BYTES_PER_ELEMENT, kvCacheType)) throw new QwenHybridError('INVALID_ARGUMENT', `kvCacheType must be 'f16', 'f32' or 'q8_0', got ${JSON.stringify(kvCacheType)}`, { parameter: 'kvCacheType' });
  const model = await readGGUFModel(path);
  const first = model.shards[0]!;
  const md = model.metadata;

  let config: Qwen35Config | undefined;
  let configError: ModelReport['configError'];
  try {
    config = configFromMetadata(md, path);
  } catch (e) {
    if (!isQwenHybridError(e)) throw e;
    configError = { code: e.code, message: e.message };
  }

  const byType = new Map<string, { tensors: number; elements: number; bytes: number }>();
  let total = 0;
  let mtp = 0;
  for (const t of model.tensors) {
    const name = ggmlTypeName(t.type);
    const u = byType.get(name) ?? { tensors: 0, elements: 0, bytes: 0 };
    u.tensors++;
    u.elements += t.elementCount;
    u.bytes += t.byteSize;
    byType.set(name, u);
    total += t.elementCount;
    if (config && isMtpTensor(config, t.name)) mtp += t.elementCount;
  }
  const types = [...byType.entries()]
    .map(([type, u]) => ({ type, ...u }))
    .sort((a, b) => b.bytes - a.bytes);

  const fileTypeV = md.get('general.file_type');
  const fileType = fileTypeV && typeof fileTypeV.value === 'number' ? (FILE_TYPES[fileTypeV.value] ?? `ftype ${fileTypeV.value}`) : undefined;

  const tokensV = md.get('tokenizer.ggml.tokens');
  const tokenizer =
    md.has('tokenizer.ggml.model') || tokensV
      ? {
          model: str(md, 'tokenizer.ggml.model'),
          pre: str(md, 'tokenizer.ggml.pre'),
          tokens: tokensV?.type === GGUFValueType.ARRAY ? tokensV.value.length : 0,
        }
      : undefined;

  const weightBytes = config ? trunkWeightBytes(config, model.tensors) : model.tensors.reduce((s, t) => s + t.byteSize, 0);
  const memory: ContextMemory[] = [];
  if (config) {
    const cfg = config;
    const contexts = opts.contextLengths ?? [...DEFAULT_CONTEXTS.filter((n) => n < cfg.contextLength), cfg.contextLength];
    for (const n of contexts) {
      const s = sequenceStateBytes(cfg, n, KV_BYTES_PER_ELEMENT[kvCacheType]);
      memory.push({
        contextLength: n,
        kvCacheBytes: s.kvCache,
        recurrentStateBytes: s.gdnState + s.convState,
        totalBytes: weightBytes + s.total,
      });
    }
  }

  return {
    path,
    shards: model.shards.length,
    fileSize: model.shards.reduce((s, f) => s + f.fileSize, 0),
    ggufVersion: first.version,
    alignment: first.alignment,
    tensorCount: model.tensors.length,
    metadataCount: md.size,
    architecture: architectureOf(md),
    name: str(md, 'general.name'),
    fileType,
    config,
    configError,
    parameters: { total, trunk: total - mtp, mtp },
    types,
    tokenizer,
    hasChatTemplate: md.has('tokenizer.chat_template'),
    weightBytes,
    kvCacheType,
    memory,
  };
}
