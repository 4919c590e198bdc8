/**
 * loadModel: GGUF (plain or split) → config → tensor table checked (weights.ts) → backend chosen → weights mapped
 * zero-copy per shard (and, on CUDA, the device-memory bill checked, then the weights uploaded) → tokenizer + chat
 * template. A Model owns its backend (CPU or CUDA), the mapped weights and the compiled plans (one per (T, logits
 * mode, context size)); sessions (session.ts) own their state. Both backends run the same forward graph
 * (forward.ts); the session state layout is the same too, so snapshots move between them.
 *
 * Backend choice: 'cpu'; 'cuda' (NO_CUDA_DEVICE with the addon's reason when there is no usable device or the addon
 * has no CUDA backend, BACKEND_UNAVAILABLE when a graph op has no CUDA kernel in this build, OUT_OF_MEMORY with the
 * bill when the model does not fit); 'auto' = CUDA when all of that works out, else the CPU, with the reason in
 * model.backendReason.
 */
import { QwenHybridError, isQwenHybridError } from '../errors.js';
import { readGGUFModel, type GGUFModelTensor } from '../gguf/index.js';
import { Tokenizer } from '../tokenizer/index.js';
import { templateFromMetadata, type ChatTemplate } from '../chat/index.js';
import { createCpuBackend, type Backend, type CpuBackend, type Plan, type WeightFile, type WeightTensor } from '../runtime/backend.js';
import { assertCudaMemoryFits, createCudaBackend, estimateCudaMemory, type CudaBackend, type CudaBackendInfo, type CudaMemoryEstimate } from '../runtime/cuda.js';
import type { GraphDesc } from './graph/builder.js';
import { OpKind } from './graph/ops.js';
import { configFromMetadata, sequenceStateBytes, type Qwen35Config } from './config.js';
import { buildForwardGraph, checkKvCacheType, KV_BYTES_PER_ELEMENT, type KvCacheType, type LogitsMode } from './forward.js';
import { hostMemory } from '../runtime/memory.js';
import { resolveThreads } from '../runtime/threads.js';
import { checkGrammarSpec, GrammarEngine, type CompiledConstraint, type GrammarSpec } from '../grammar/constraint.js';
import { validateTensorTable } from './weights.js';
import { Session, type SessionOptions } from './session.js';
import { weightsFingerprint } from './snapshot.js';

/** Compiled forward plans kept per model (LRU). */
const MAX_CACHED_PLANS = 8;

export type BackendKind = 'cpu' | 'cuda';

export interface LoadProgress {
  /** 'upload' (CUDA only): done / total are bytes copied to the device. */
  stage: 'read' | 'validate' | 'map' | 'upload' | 'tokenizer' | 'ready';
  done: number;
  total: number;
}

export interface LoadModelOptions {
  /**
   * 'cpu', 'cuda' (errors when CUDA cannot run the model: NO_CUDA_DEVICE, BACKEND_UNAVAILABLE, OUT_OF_MEMORY) or
   * 'auto' (default: CUDA when a usable device exists and the model fits, else the CPU; model.backendReason says why).
   */
  backend?: 'auto' | 'cpu' | 'cuda';
  /** CUDA device index (cudaDevices().devices); default 0. */
  device?: number;
  /** CPU threads (default: all usable; CPU backend only). Above os.availableParallelism() it is capped, with a warning. */
  threads?: number;
  /** Default session context; default min(context_length, 4096). */
  contextSize?: number;
  /** Prefill micro-batch (tokens per native run); default 256. */
  batchSize?: number;
  /**
   * KV cache element type of the full-attention layers; default 'f16'. 'q8_0' (llama.cpp's --cache-type-k/v q8_0)
   * stores 34 bytes per 32 values, about half of f16, at a small accuracy cost; it needs head dims that are
   * multiples of 32 (INVALID_ARGUMENT otherwise).
   */
  kvCacheType?: KvCacheType;
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

/** What a Model needs to compile its forward graphs: the weights by name, the LM head and the graph options. */
interface ForwardSpec {
  path: string;
  config: Qwen35Config;
  vocabSize: number;
  tied: boolean;
  kvCacheType: KvCacheType;
  activations: 'f32' | 'q8';
}

function forwardGraph(spec: ForwardSpec, weights: ReadonlyMap<string, WeightTensor>, T: number, mode: LogitsMode, nCtx: number, debug: boolean, sample?: number): GraphDesc {
  const w = (name: string): WeightTensor => {
    const t = weights.get(name);
    if (!t) throw new QwenHybridError('MISSING_TENSOR', `${spec.path}: tensor '${name}' is not mapped`, { tensor: name });
    return t;
  };
  const head = spec.tied ? 'token_embd.weight' : 'output.weight';
  return buildForwardGraph(spec.config, w, head, spec.vocabSize, { T, logits: mode, nCtx, kvType: spec.kvCacheType, debug, activations: spec.activations, ...(sample !== undefined ? { sample } : {}) });
}

export class Model {
  readonly path: string;
  readonly config: Qwen35Config;
  readonly tokenizer: Tokenizer;
  readonly chatTemplate: ChatTemplate;
  readonly contextSize: number;
  /** Rows of the LM head (token_embd ne1); ≥ tokenizer.vocabSize. */
  readonly vocabSize: number;
  /** Where the forward graph runs. */
  readonly backend: BackendKind;
  /** Why this backend was chosen (e.g. "auto: no CUDA device (...); using the CPU backend"). */
  readonly backendReason: string;
  /** CUDA device index; null on the CPU. */
  readonly device: number | null;
  readonly batchSize: number;
  readonly kvCacheType: KvCacheType;
  /** Matmul activation mode (LoadModelOptions.activations). */
  readonly activations: 'f32' | 'q8';
  /** True when output.weight is absent and the LM head is token_embd. */
  readonly tiedEmbeddings: boolean;
  /** CPU backend threads; 0 on CUDA. */
  readonly threads: number;
  /**
   * Generation samples on the device (decode plans end in the SAMPLE op, only the token id crosses PCIe): true on
   * CUDA when this build has the SAMPLE kernel.
   */
  readonly deviceSampling: boolean;

  #be: Backend | null;
  #spec: ForwardSpec;
  #files: WeightFile[];
  #weights: Map<string, WeightTensor>;
  #plans = new Map<string, Plan>();
  #sessions = new Set<Session>();

  /** @internal */
  constructor(init: {
    spec: ForwardSpec; tokenizer: Tokenizer; chatTemplate: ChatTemplate; contextSize: number;
    backendReason: string; batchSize: number; be: Backend; files: WeightFile[]; weights: Map<string, WeightTensor>;
  }) {
    const { spec, be } = init;
    this.path = spec.path;
    this.config = spec.config;
    this.tokenizer = init.tokenizer;
    this.chatTemplate = init.chatTemplate;
    this.contextSize = init.contextSize;
    this.vocabSize = spec.vocabSize;
    this.backend = be.kind;
    this.backendReason = init.backendReason;
    this.device = be.kind === 'cuda' ? (be as CudaBackend).device : null;
    this.batchSize = init.batchSize;
    this.kvCacheType = spec.kvCacheType;
    this.activations = spec.activations;
    this.tiedEmbeddings = spec.tied;
    this.threads = be.kind === 'cpu' ? (be as CpuBackend).info.threads : 0;
    this.deviceSampling = be.kind === 'cuda' && !(be as CudaBackend).info().opsWithoutKernel.includes('SAMPLE');
    this.#be = be;
    this.#spec = spec;
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

  /**
   * The CUDA backend's device, memory and CUDA-graph counters (cudaBackendInfo); null on the CPU. DISPOSED after
   * dispose().
   */
  cudaInfo(): CudaBackendInfo | null {
    this.assertAlive();
    return this.backend === 'cuda' ? (this.#be as CudaBackend).info() : null;
  }

  /**
   * @internal The compiled forward plan for (T, mode, nCtx), ending in SAMPLE with a window of `sample` tokens when
   * given (mode 'last'); compiled once and cached.
   */
  plan(T: number, mode: LogitsMode, nCtx: number, sample?: number): Plan {
    this.assertAlive();
    const key = `${T}:${mode}:${nCtx}:${sample ?? 0}`;
    let p = this.#plans.get(key);
    if (p) {
      this.#plans.delete(key); // Map order = recency
    } else {
      p = this.#compile(T, mode, nCtx, false, sample);
      // Each plan owns an activation arena (~T × widest layer; device memory on CUDA, plus its captured CUDA
      // graphs); keep the most recent few (a prefill's odd tail length would otherwise pin one arena per length).
      // A run in flight keeps its plan alive natively.
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

  #compile(T: number, mode: LogitsMode, nCtx: number, debug: boolean, sample?: number): Plan {
    return (this.#be as Backend).compile(forwardGraph(this.#spec, this.#weights, T, mode, nCtx, debug, sample));
  }

  /**
   * A new sequence with its own state. The state is refused before anything is allocated (OUT_OF_MEMORY, with the
   * bill) when it exceeds the host memory still available (runtime/memory.ts; CPU backend: on CUDA the device
   * allocation reports it). Its pages are committed as positions are reached, not up front. A contextSize above
   * the model's training context gets a one-time process warning (quality degrades past it; RoPE is not scaled).
   */
  createSession(opts: SessionOptions = {}): Session {
    this.assertAlive();
    if (opts === null || typeof opts !== 'object') throw new QwenHybridError('INVALID_ARGUMENT', 'createSession: options must be an object', { parameter: 'opts' });
    checkPositiveInt('contextSize', opts.contextSize);
    const n = opts.contextSize ?? this.contextSize;
    if (n > MAX_CONTEXT) throw new QwenHybridError('INVALID_ARGUMENT', `contextSize ${n} is above the largest supported context ${MAX_CONTEXT} (positions are int32)`, { parameter: 'contextSize', value: n });
    if (this.backend === 'cpu') {
      const bill = sequenceStateBytes(this.config, n, KV_BYTES_PER_ELEMENT[this.kvCacheType]);
      const mem = hostMemory();
      if (bill.total > mem.available) {
        throw new QwenHybridError(
          'OUT_OF_MEMORY',
          `createSession: a context of ${n} needs ${gib(bill.total)} of session state (KV cache ${gib(bill.kvCache)} (${this.kvCacheType}), recurrent state ${gib(bill.gdnState + bill.convState)}) but only ${gib(mem.available)} of host memory is available (${mem.source}); use a smaller contextSize${this.kvCacheType === 'q8_0' ? '' : " or kvCacheType 'q8_0'"}`,
          { contextSize: n, required: bill.total, kvCache: bill.kvCache, recurrent: bill.gdnState + bill.convState, available: mem.available },
        );
      }
    }
    warnOverTrainingContext(this.config, n, this.path);
    const s = new Session(this, n, () => this.#sessions.delete(s));
    this.#sessions.add(s);
    return s;
  }

  /**
   * Compiles a grammar against this model's vocabulary once, for many generations (`generate(p, { constraint })`):
   * JSON schema, json_object, EBNF, regex or an XGrammar structural tag. INVALID_GRAMMAR when it does not compile.
   */
  compileGrammar(spec: GrammarSpec): Promise<CompiledConstraint> {
    try {
      this.assertAlive();
      checkGrammarSpec(spec);
    } catch (e) {
      return Promise.reject(e);
    }
    return GrammarEngine.forTokenizer(this.tokenizer, this.vocabSize).then((e) => e.compile(spec));
  }

  tokenize(text: string, opts: { special?: boolean } = {}): number[] {
    return this.tokenizer.encode(text, { special: opts.special ?? false });
  }

  detokenize(ids: readonly number[]): string {
    return this.tokenizer.decode(ids);
  }

  /**
   * Disposes every session, plan and weight mapping, then the backend (on CUDA: device memory is freed once no
   * run in flight uses it). Idempotent.
   */
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

  // ---- snapshot identity (snapshot.ts) ----

  #fingerprint: Promise<string> | undefined;

  /**
   * @internal weightsFingerprint(path): sha256 of the tensor table and sampled weight bytes, read from the file once
   * (the first call) and cached; session snapshots carry it so that another model of the same shapes refuses them.
   */
  fingerprint(): Promise<string> {
    this.assertAlive();
    if (!this.#fingerprint) {
      const p = weightsFingerprint(this.path);
      this.#fingerprint = p;
      p.catch(() => {
        if (this.#fingerprint === p) this.#fingerprint = undefined; // a later call retries
      });
    }
    return this.#fingerprint;
  }
}

/** Weight files mapped through `be` (any backend: mapping is host memory), by shard. */
async function mapShards(be: Backend, tensors: Iterable<GGUFModelTensor>, progress: (p: LoadProgress) => void, checkAbort: () => void): Promise<{ files: WeightFile[]; weights: Map<string, WeightTensor> }> {
  const files: WeightFile[] = [];
  const weights = new Map<string, WeightTensor>();
  try {
    const byShard = new Map<string, GGUFModelTensor[]>();
    for (const t of tensors) {
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
    return { files, weights };
  } catch (e) {
    for (const f of files) f.dispose();
    throw e;
  }
}

/**
 * The device-memory bill of running `spec` on CUDA with one session of `contextSize`: the weights, the plans a
 * generation compiles first (decode, and a full prefill micro-batch with and without logits) and one session's
 * state. Plan arenas come from compiling the same graphs on a one-thread CPU backend (compile_graph plans the
 * arena identically for both backends; the CPU scratch stands in for the CUDA scratch, which the reserve covers).
 */
function cudaBill(spec: ForwardSpec, tensors: Iterable<GGUFModelTensor>, weights: ReadonlyMap<string, WeightTensor>, contextSize: number, batchSize: number): CudaMemoryEstimate {
  const cpu = createCpuBackend({ threads: 1 });
  try {
    const B = Math.min(batchSize, contextSize); // a run never holds more tokens than the context
    const shapes: [number, LogitsMode][] = [[1, 'last'], [B, 'none'], [B, 'last']];
    const infos = shapes.map(([T, mode]) => {
      const p = cpu.compile(forwardGraph(spec, weights, T, mode, contextSize, false));
      try {
        return p.info;
      } finally {
        p.dispose();
      }
    });
    return estimateCudaMemory({
      weights: [...tensors].map((t) => t.byteSize),
      plans: infos.map((i) => ({ arenaBytes: i.arenaBytes, scratchBytes: i.scratchBytes })),
      stateBytes: infos[0]!.states.map((s) => s.bytes),
      sessions: 1,
    });
  } finally {
    cpu.dispose();
  }
}

/** The graph's op kinds this CUDA build has no kernel for (op_list.h names). */
function missingCudaKernels(be: CudaBackend, graph: GraphDesc): string[] {
  const missing = new Set(be.info().opsWithoutKernel);
  const used = new Set<string>();
  for (const k of graph.native.opKinds) {
    const name = OpKind[k];
    if (name !== undefined && missing.has(name)) used.add(name);
  }
  return [...used];
}

/** Positions are int32 on both backends. */
const MAX_CONTEXT = 2 ** 31 - 1;

const warnedContext = new Set<string>();
/** One process warning per (model file, context) above the training context. */
function warnOverTrainingContext(c: Qwen35Config, n: number, path = ''): void {
  if (n <= c.contextLength) return;
  const key = `${path}\0${n}`;
  if (warnedContext.has(key)) return;
  warnedContext.add(key);
  process.emitWarning(`contextSize ${n} is above the model's training context ${c.contextLength}; quality degrades past it (RoPE is not scaled)`, { code: 'QWEN_HYBRID_CONTEXT_OVER_TRAINING' });
}

/** Opens a qwen35 / qwen35moe GGUF (any shard of a split model). */
export async function loadModel(path: string, opts: LoadModelOptions = {}): Promise<Model> {
  if (typeof path !== 'string' || path.length === 0) {
    throw new QwenHybridError('INVALID_ARGUMENT', `loadModel: path must be a non-empty string (a .gguf file), got ${path === null ? 'null' : typeof path === 'string' ? "''" : typeof path}`, { parameter: 'path' });
  }
  if (opts === null || typeof opts !== 'object') throw new QwenHybridError('INVALID_ARGUMENT', 'loadModel: options must be an object', { parameter: 'opts' });
  const backend = opts.backend ?? 'auto';
  if (backend !== 'auto' && backend !== 'cpu' && backend !== 'cuda') {
    throw new QwenHybridError('INVALID_ARGUMENT', `backend must be 'auto', 'cpu' or 'cuda', got ${JSON.stringify(backend)}`, { parameter: 'backend' });
  }
  const device = opts.device ?? 0;
  if (!Number.isSafeInteger(device) || device < 0) {
    throw new QwenHybridError('INVALID_ARGUMENT', `device must be a non-negative integer, got ${String(opts.device)}`, { parameter: 'device', value: opts.device });
  }
  checkPositiveInt('threads', opts.threads);
  checkPositiveInt('contextSize', opts.contextSize);
  checkPositiveInt('batchSize', opts.batchSize);
  const activations = opts.activations ?? 'f32';
  if (activations !== 'f32' && activations !== 'q8') throw new QwenHybridError('INVALID_ARGUMENT', `activations must be 'f32' or 'q8', got ${JSON.stringify(activations)}`, { parameter: 'activations' });
  const kvType = opts.kvCacheType ?? 'f16';
  if (kvType !== 'f16' && kvType !== 'f32' && kvType !== 'q8_0') throw new QwenHybridError('INVALID_ARGUMENT', `kvCacheType must be 'f16', 'f32' or 'q8_0', got ${JSON.stringify(kvType)}`, { parameter: 'kvCacheType' });
  const batchSize = opts.batchSize ?? 256;
  const signal = opts.signal;
  const progress = opts.onProgress ?? (() => {});
  const checkAbort = () => {
    if (signal?.aborted) throw abortedError(`loading ${path}`);
  };

  // The CUDA backend first: 'cuda' without a device fails before the file is read.
  let cuda: CudaBackend | null = null;
  let cudaWhyNot = '';
  if (backend !== 'cpu') {
    try {
      cuda = createCudaBackend({ device });
    } catch (e) {
      if (backend === 'cuda' || !isQwenHybridError(e)) {
        if (isQwenHybridError(e)) throw new QwenHybridError(e.code, `backend 'cuda' requested for ${path}: ${e.message}`, { backend, device }, { cause: e });
        throw e;
      }
      cudaWhyNot = e.message.replace(/^cudaBackendCreate: /, '');
    }
  }
  try {
    checkAbort();
    progress({ stage: 'read', done: 0, total: 1 });
    const gguf = await readGGUFModel(path);
    progress({ stage: 'read', done: 1, total: 1 });
    checkAbort();
    const config = configFromMetadata(gguf.metadata, path);
    const kvCacheType = checkKvCacheType(config, kvType);
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
    if (contextSize > MAX_CONTEXT) throw new QwenHybridError('INVALID_ARGUMENT', `contextSize ${contextSize} is above the largest supported context ${MAX_CONTEXT} (positions are int32)`, { parameter: 'contextSize', value: contextSize });
    warnOverTrainingContext(config, contextSize, path);
    const spec: ForwardSpec = { path, config, vocabSize: nVocab, tied, kvCacheType, activations };
    const common = { spec, tokenizer, chatTemplate, contextSize, batchSize };

    if (cuda) {
      const be = cuda;
      cuda = null; // owned by the attempt below from here on
      const model = await openOnCuda(be, common, tensors.values(), progress, checkAbort, backend === 'auto');
      if (typeof model !== 'string') return model;
      cudaWhyNot = model;
    }
    const reason = backend === 'cpu' ? 'CPU backend requested' : `auto: ${cudaWhyNot}; using the CPU backend`;
    // More threads than usable CPUs only oversubscribes them: capped, with a one-time warning (runtime/threads.ts).
    const threads = resolveThreads(opts.threads);
    const be = createCpuBackend(threads !== undefined ? { threads } : {});
    try {
      const { files, weights } = await mapShards(be, tensors.values(), progress, checkAbort);
      try {
        const model = new Model({ ...common, backendReason: reason, be, files, weights });
        // Compile the decode plan now: shape/type problems the validators catch surface at load time.
        model.plan(1, 'last', contextSize);
        progress({ stage: 'ready', done: 1, total: 1 });
        return model;
      } catch (e) {
        for (const f of files) f.dispose();
        throw e;
      }
    } catch (e) {
      be.dispose();
      throw e;
    }
  } finally {
    cuda?.dispose();
  }
}

/**
 * Maps, bills, uploads and compiles on `be` (disposed on any failure). With `fallback` ('auto'), the reasons CUDA
 * cannot take this model (missing kernels, the bill over free memory, an allocation failing) come back as a string
 * for model.backendReason instead of an error; other errors (bad file, abort) are thrown either way.
 */
async function openOnCuda(
  be: CudaBackend,
  common: { spec: ForwardSpec; tokenizer: Tokenizer; chatTemplate: ChatTemplate; contextSize: number; batchSize: number },
  tensors: Iterable<GGUFModelTensor>,
  progress: (p: LoadProgress) => void,
  checkAbort: () => void,
  fallback: boolean,
): Promise<Model | string> {
  const { spec, contextSize, batchSize } = common;
  const list = [...tensors];
  const where = () => {
    const i = be.info();
    return `CUDA device ${be.device} (${i.name})`;
  };
  let files: WeightFile[] = [];
  try {
    const mapped = await mapShards(be, list, progress, checkAbort);
    files = mapped.files;
    const { weights } = mapped;
    const missing = missingCudaKernels(be, forwardGraph(spec, weights, 1, 'last', contextSize, false));
    if (missing.length > 0) {
      throw new QwenHybridError('BACKEND_UNAVAILABLE', `${spec.path}: this build has no CUDA kernel for ${missing.join(', ')}`, { ops: missing });
    }
    const bill = cudaBill(spec, list, weights, contextSize, batchSize);
    const free = be.info().freeMemoryBytes;
    assertCudaMemoryFits(bill, free, where());
    checkAbort();
    const total = list.reduce((a, t) => a + t.byteSize, 0);
    let base = 0; // bytes of the files uploaded before this one
    progress({ stage: 'upload', done: 0, total });
    for (const f of files) {
      checkAbort();
      const at = base;
      await be.uploadWeights(f, { onProgress: (done) => progress({ stage: 'upload', done: Math.min(total, at + done), total }) });
      base += f.names.reduce((a, n) => a + f.get(n).byteSize, 0);
    }
    progress({ stage: 'upload', done: total, total });
    const reason = fallback ? `auto: ${where()} is usable and the model fits (needs ${gib(bill.totalBytes)}, ${gib(free)} was free)` : 'CUDA backend requested';
    const model = new Model({ ...common, backendReason: reason, be, files, weights });
    try {
      model.plan(1, 'last', contextSize);
    } catch (e) {
      model.dispose(); // disposes be and files
      files = [];
      throw e;
    }
    progress({ stage: 'ready', done: 1, total: 1 });
    return model;
  } catch (e) {
    for (const f of files) f.dispose();
    if (!be.disposed) be.dispose();
    const fallible = isQwenHybridError(e) && (e.code === 'BACKEND_UNAVAILABLE' || e.code === 'OUT_OF_MEMORY' || e.code === 'NO_CUDA_DEVICE');
    if (fallback && fallible) return (e as QwenHybridError).message;
    throw e;
  }
}

const gib = (b: number) => `${(b / 1024 ** 3).toFixed(2)} GiB`;
