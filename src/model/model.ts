/**
 * loadModel: GGUF (plain or split) → config → tensor table checked (weights.ts) → weights mapped zero-copy per
 * shard → tokenizer + chat template. A Model owns the CPU backend, the mapped weights and the compiled plans
 * (one per (T, logits mode, context size)); sessions (session.ts) own their state.
 */
import { QwenHybridError } from '../errors.js';
import { readGGUFModel, type GGUFModelTensor } from '../gguf/index.js';
import { Tokenizer } from '../tokenizer/index.js';
import { templateFromMetadata, type ChatTemplate } from '../chat/index.js';
import { createCpuBackend, type CpuBackend, type Plan, type WeightFile, type WeightTensor } from '../runtime/backend.js';
import { configFromMetadata, type Qwen35Config } from './config.js';
import { buildForwardGraph, type LogitsMode } from './forward.js';
import { validateTensorTable } from './weights.js';
import { Session, type SessionOptions } from './session.js';

/** Compiled forward plans kept per model (LRU). */
const MAX_CACHED_PLANS = 8;

export interface LoadProgress {
  stage: 'read' | 'validate' | 'map' | 'tokenizer' | 'ready';
  done: number;
  total: number;
}

export interface LoadModelOptions {
  /** 'cuda' → NO_CUDA_DEVICE (the CUDA backend is not built yet); 'auto' → CPU, reason in model.backendReason. */
  backend?: 'auto' | 'cpu' | 'cuda';
  /** CPU threads (default: all usable). */
  threads?: number;
  /** Default session context; default min(context_length, 4096). */
  contextSize?: number;
  /** Prefill micro-batch (tokens per native run); default 256. */
  batchSize?: number;
  /** KV cache element type; default 'f16'. */
  kvCacheType?: 'f16' | 'f32';
  /**
   * Matmul activations: 'f32' (default, exact: activations stay f32) or 'q8' (faster decode: runs of ≤ 8 tokens
   * quantize activations per op to Q8_K / Q8_0 and take int8 dots against Q4_K/Q5_K/Q6_K/Q8_0/Q4_0 weights, and
   * round them to f16/bf16 for F16/BF16 weights, as llama.cpp does; longer prefill runs and other types stay exact).
   */
  activations?: 'f32' | 'q8';
  onProgress?: (p: LoadProgress) => void;
  signal?: AbortSignal;
}

function abortedError(what: string): QwenHybridError {
  return new QwenHybridError('ABORTED', `${what} was aborted`);
}

function checkPositiveInt(name: string, v: number | undefined): void {
  if (v !== undefined && (!Number.isSafeInteger(v) || v < 1)) throw new QwenHybridError('INVALID_ARGUMENT', `${name} must be a positive integer, got ${v}`, { parameter: name });
}

export class Model {
  readonly path: string;
  readonly config: Qwen35Config;
  readonly tokenizer: Tokenizer;
  readonly chatTemplate: ChatTemplate;
  readonly contextSize: number;
  /** Rows of the LM head (token_embd ne1); ≥ tokenizer.vocabSize. */
  readonly vocabSize: number;
  readonly backend = 'cpu' as const;
  /** Why this backend was chosen. */
  readonly backendReason: string;
  readonly batchSize: number;
  readonly kvCacheType: 'f16' | 'f32';
  /** Matmul activation mode (LoadModelOptions.activations). */
  readonly activations: 'f32' | 'q8';
  /** True when output.weight is absent and the LM head is token_embd. */
  readonly tiedEmbeddings: boolean;
  readonly threads: number;

  #be: CpuBackend | null;
  #files: WeightFile[];
  #weights: Map<string, WeightTensor>;
  #plans = new Map<string, Plan>();
  #sessions = new Set<Session>();

  /** @internal */
  constructor(init: {
    path: string; config: Qwen35Config; tokenizer: Tokenizer; chatTemplate: ChatTemplate; contextSize: number; vocabSize: number;
    backendReason: string; batchSize: number; kvCacheType: 'f16' | 'f32'; activations?: 'f32' | 'q8'; tied: boolean; be: CpuBackend; files: WeightFile[]; weights: Map<string, WeightTensor>;
  }) {
    this.path = init.path;
    this.config = init.config;
    this.tokenizer = init.tokenizer;
    this.chatTemplate = init.chatTemplate;
    this.contextSize = init.contextSize;
    this.vocabSize = init.vocabSize;
    this.backendReason = init.backendReason;
    this.batchSize = init.batchSize;
    this.kvCacheType = init.kvCacheType;
    this.activations = init.activations ?? 'f32';
    this.tiedEmbeddings = init.tied;
    this.#be = init.be;
    this.threads = init.be.info.threads;
    this.#files = init.files;
    this.#weights = init.weights;
  }

  get disposed(): boolean {
    return this.#be === null;
  }

  /** @internal DISPOSED after dispose(). */
  assertAlive(what = 'model'): void {
    if (!this.#be) throw new QwenHybridError('DISPOSED', `${what} was disposed`, { path: this.path });
  }

  /** @internal The compiled forward plan for (T, mode, nCtx); compiled once and cached. */
  plan(T: number, mode: LogitsMode, nCtx: number): Plan {
    this.assertAlive();
    const key = `${T}:${mode}:${nCtx}`;
    let p = this.#plans.get(key);
    if (p) {
      this.#plans.delete(key); // Map order = recency
    } else {
      p = this.#compile(T, mode, nCtx, false);
      // Each plan owns an activation arena (~T × widest layer); keep the most recent few (a prefill's odd tail
      // length would otherwise pin one arena per length). A run in flight keeps its plan alive natively.
      while (this.#plans.size >= MAX_CACHED_PLANS) {
        const [oldKey, old] = this.#plans.entries().next().value as [string, Plan];
        this.#plans.delete(oldKey);
        old.dispose();
      }
    }
    this.#plans.set(key, p);
    return p;
  }

  /** @internal An uncached plan whose named intermediates are outputs too (debugEvaluate). */
  debugPlan(T: number, nCtx: number): Plan {
    this.assertAlive();
    return this.#compile(T, 'all', nCtx, true);
  }

  #compile(T: number, mode: LogitsMode, nCtx: number, debug: boolean): Plan {
    const be = this.#be as CpuBackend;
    const w = (name: string): WeightTensor => {
      const t = this.#weights.get(name);
      if (!t) throw new QwenHybridError('MISSING_TENSOR', `${this.path}: tensor '${name}' is not mapped`, { tensor: name });
      return t;
    };
    const head = this.tiedEmbeddings ? 'token_embd.weight' : 'output.weight';
    return be.compile(buildForwardGraph(this.config, w, head, this.vocabSize, { T, logits: mode, nCtx, kvType: this.kvCacheType, debug, activations: this.activations }));
  }

  createSession(opts: SessionOptions = {}): Session {
    this.assertAlive();
    checkPositiveInt('contextSize', opts.contextSize);
    const s = new Session(this, opts.contextSize ?? this.contextSize, () => this.#sessions.delete(s));
    this.#sessions.add(s);
    return s;
  }

  tokenize(text: string, opts: { special?: boolean } = {}): number[] {
    return this.tokenizer.encode(text, { special: opts.special ?? false });
  }

  detokenize(ids: readonly number[]): string {
    return this.tokenizer.decode(ids);
  }

  /** Disposes every session, plan and weight mapping, then the backend. Idempotent. */
  dispose(): void {
    if (!this.#be) return;
    for (const s of [...this.#sessions]) s.dispose();
    for (const p of this.#plans.values()) p.dispose();
    this.#plans.clear();
    for (const f of this.#files) f.dispose();
    this.#files = [];
    this.#weights.clear();
    this.#be.dispose();
    this.#be = null;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.dispose();
  }
}

/** Opens a qwen35 / qwen35moe GGUF (any shard of a split model). */
export async function loadModel(path: string, opts: LoadModelOptions = {}): Promise<Model> {
  const backend = opts.backend ?? 'auto';
  if (backend !== 'auto' && backend !== 'cpu' && backend !== 'cuda') {
    throw new QwenHybridError('INVALID_ARGUMENT', `backend must be 'auto', 'cpu' or 'cuda', got ${JSON.stringify(backend)}`, { parameter: 'backend' });
  }
  if (backend === 'cuda') {
    throw new QwenHybridError('NO_CUDA_DEVICE', `backend 'cuda' requested for ${path}, but model execution on CUDA is not implemented yet (CUDA backend issues 5-6); use backend 'cpu' or 'auto'`, { backend });
  }
  const backendReason = backend === 'cpu' ? 'CPU backend requested' : 'auto: model execution on CUDA is not implemented yet, using the CPU backend';
  checkPositiveInt('threads', opts.threads);
  checkPositiveInt('contextSize', opts.contextSize);
  checkPositiveInt('batchSize', opts.batchSize);
  const kvCacheType = opts.kvCacheType ?? 'f16';
  const activations = opts.activations ?? 'f32';
  if (activations !== 'f32' && activations !== 'q8') throw new QwenHybridError('INVALID_ARGUMENT', `activations must be 'f32' or 'q8', got ${JSON.stringify(activations)}`, { parameter: 'activations' });
  if (kvCacheType !== 'f16' && kvCacheType !== 'f32') throw new QwenHybridError('INVALID_ARGUMENT', `kvCacheType must be 'f16' or 'f32', got ${JSON.stringify(kvCacheType)}`, { parameter: 'kvCacheType' });
  const signal = opts.signal;
  const progress = opts.onProgress ?? (() => {});
  const checkAbort = () => {
    if (signal?.aborted) throw abortedError(`loading ${path}`);
  };

  checkAbort();
  progress({ stage: 'read', done: 0, total: 1 });
  const gguf = await readGGUFModel(path);
  progress({ stage: 'read', done: 1, total: 1 });
  checkAbort();
  const config = configFromMetadata(gguf.metadata, path);
  progress({ stage: 'validate', done: 0, total: 1 });
  const { tensors, nVocab, tied } = validateTensorTable<GGUFModelTensor>(config, gguf.tensors, path);
  progress({ stage: 'validate', done: 1, total: 1 });

  progress({ stage: 'tokenizer', done: 0, total: 1 });
  const tokenizer = Tokenizer.fromGGUF(gguf.shards[0]!);
  if (tokenizer.vocabSize > nVocab) {
    throw new QwenHybridError('BAD_TENSOR', `${path}: tokenizer has ${tokenizer.vocabSize} tokens but 'token_embd.weight' has only ${nVocab} rows`, { file: path, tensor: 'token_embd.weight', expected: tokenizer.vocabSize, found: nVocab });
  }
  const chatTemplate = templateFromMetadata(gguf.metadata);
  progress({ stage: 'tokenizer', done: 1, total: 1 });
  checkAbort();

  const contextSize = opts.contextSize ?? Math.min(config.contextLength, 4096);
  const be = createCpuBackend(opts.threads !== undefined ? { threads: opts.threads } : {});
  const files: WeightFile[] = [];
  const weights = new Map<string, WeightTensor>();
  try {
    const byShard = new Map<string, GGUFModelTensor[]>();
    for (const t of tensors.values()) {
      const list = byShard.get(t.path) ?? [];
      list.push(t);
      byShard.set(t.path, list);
    }
    let done = 0;
    progress({ stage: 'map', done, total: byShard.size });
    for (const [shardPath, list] of byShard) {
      checkAbort();
      const f = await be.mapWeights(shardPath, list.map((t) => ({ name: t.name, offset: t.offset, byteSize: t.byteSize, type: t.type, shape: t.shape })));
      files.push(f);
      for (const t of list) weights.set(t.name, f.get(t.name));
      progress({ stage: 'map', done: ++done, total: byShard.size });
    }
    const model = new Model({ path, config, tokenizer, chatTemplate, contextSize, vocabSize: nVocab, backendReason, batchSize: opts.batchSize ?? 256, kvCacheType, activations, tied, be, files, weights });
    // Compile the decode plan now: shape/type problems the validators catch surface at load time.
    model.plan(1, 'last', contextSize);
    progress({ stage: 'ready', done: 1, total: 1 });
    return model;
  } catch (e) {
    for (const f of files) f.dispose();
    be.dispose();
    throw e;
  }
}
