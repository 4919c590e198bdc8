/**
 * The CPU backend from TS: weights (zero-copy mmap of a GGUF, or copied bytes), plans compiled from a
 * GraphBuilder graph, session state, and async runs on native worker threads (design §2.1-§2.4).
 *
 *   const be = createCpuBackend({ threads: 4 });
 *   const plan = be.compile(g.build());
 *   const state = plan.createState();
 *   const out = await plan.run({ x }, { state });
 *
 * Every object has dispose() and [Symbol.asyncDispose]; use after dispose throws QwenHybridError DISPOSED.
 * Native errors become QwenHybridError with the native code (INVALID_ARGUMENT, BAD_TENSOR, CONTEXT_FULL, ...).
 */
import { ERROR_CODES, QwenHybridError } from '../errors.js';
import type { ErrorCode } from '../errors.js';
import { GGMLType, ggmlTensorBytes, ggmlTypeName, ggmlTypeTraits } from '../gguf/types.js';
import { DTYPE_TO_GGML, type GraphDesc, type GraphWeight, type StateDType } from '../model/graph/builder.js';
import { loadNativeAddon } from '../native/addon.js';
import type { BackendHandle, NativeAddon, NativePlanInfo, PlanHandle, StateHandle, TensorArray, WeightFileHandle, WeightHandle } from '../native/types.js';

export type CpuIsa = 'scalar' | 'avx2' | 'avx512';

export interface CpuBackendOptions {
  /** Worker threads including the caller; default: every CPU this process may use. */
  threads?: number;
  /** 'auto' (default) = best available; forcing one this CPU lacks throws BACKEND_UNAVAILABLE. */
  isa?: 'auto' | CpuIsa;
}

export interface CpuBackendInfo {
  threads: number;
  /** The ISA kernels actually use. */
  isa: CpuIsa;
  /** ISAs this CPU can run, best last. */
  isaAvailable: CpuIsa[];
}

export interface WeightEntry {
  name: string;
  /** Absolute byte offset of the tensor data in the file. */
  offset: number;
  byteSize: number;
  type: GGMLType;
  /** ne0 first. */
  shape: readonly number[];
}

export type PlanInfo = NativePlanInfo;

export interface RunOptions {
  /** Required when the graph has state tensors. */
  state?: SessionState;
}

const CODES = new Set<string>(ERROR_CODES);

/** Native coded Error → QwenHybridError (same code and message); other errors pass through. */
export function toQwenError(e: unknown): unknown {
  if (e instanceof QwenHybridError) return e;
  const code = (e as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && CODES.has(code)) return new QwenHybridError(code as ErrorCode, (e as Error).message, {}, { cause: e });
  return e;
}

/** @internal Runs a native call, turning coded native errors into QwenHybridError. */
export function call<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw toQwenError(e);
  }
}

function disposedError(what: string): QwenHybridError {
  return new QwenHybridError('DISPOSED', `${what} was disposed`);
}

/** A weight tensor in native memory. */
export class WeightTensor implements GraphWeight {
  #handle: WeightHandle | null;
  readonly #addon: NativeAddon;

  /** @internal */
  constructor(addon: NativeAddon, handle: WeightHandle, readonly name: string, readonly type: GGMLType, readonly shape: readonly number[], readonly byteSize: number) {
    this.#addon = addon;
    this.#handle = handle;
  }

  get disposed(): boolean {
    return this.#handle === null;
  }

  nativeHandle(): WeightHandle {
    if (!this.#handle) throw disposedError(`weight '${this.name}'`);
    return this.#handle;
  }

  /** Frees the bytes once no compiled plan uses them. Idempotent. */
  dispose(): void {
    if (this.#handle) this.#addon.weightDispose(this.#handle);
    this.#handle = null;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.dispose();
  }
}

/** A memory-mapped weight file and its tensors. */
export class WeightFile {
  #handle: WeightFileHandle | null;
  readonly #addon: NativeAddon;
  readonly #tensors: Map<string, WeightTensor>;

  /** @internal */
  constructor(addon: NativeAddon, handle: WeightFileHandle, readonly path: string, readonly fileBytes: number, tensors: Map<string, WeightTensor>) {
    this.#addon = addon;
    this.#handle = handle;
    this.#tensors = tensors;
  }

  get names(): string[] {
    return [...this.#tensors.keys()];
  }

  /** The tensor `name`; INVALID_ARGUMENT if it was not mapped, DISPOSED after dispose(). */
  get(name: string): WeightTensor {
    if (!this.#handle) throw disposedError(`weight file ${this.path}`);
    const t = this.#tensors.get(name);
    if (!t) throw new QwenHybridError('INVALID_ARGUMENT', `weight file ${this.path} has no mapped tensor '${name}'`, { file: this.path, tensor: name });
    return t;
  }

  /** Disposes every tensor and the mapping (unmapped once no plan uses it). Idempotent. */
  dispose(): void {
    for (const t of this.#tensors.values()) t.dispose();
    if (this.#handle) this.#addon.weightFileDispose(this.#handle);
    this.#handle = null;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.dispose();
  }
}

/** A session's state buffers (zero-initialised). Usable by any plan whose state tensors match by name, type, shape. */
export class SessionState {
  #handle: StateHandle | null;
  readonly #addon: NativeAddon;

  /** @internal */
  constructor(addon: NativeAddon, handle: StateHandle, readonly names: readonly string[]) {
    this.#addon = addon;
    this.#handle = handle;
  }

  /** @internal */
  nativeHandle(): StateHandle {
    if (!this.#handle) throw disposedError('session state');
    return this.#handle;
  }

  /** A copy of state tensor `name` (f32: Float32Array, f16/bf16: Uint16Array raw halves, i32: Int32Array, q8_0: Uint8Array raw blocks). */
  read(name: string): TensorArray {
    const h = this.nativeHandle();
    return call(() => this.#addon.stateRead(h, name));
  }

  /** Overwrites state tensor `name` (same array kind and element count as read()). */
  write(name: string, data: TensorArray): void {
    const h = this.nativeHandle();
    call(() => this.#addon.stateWrite(h, name, data));
  }

  dispose(): void {
    if (this.#handle) this.#addon.stateDispose(this.#handle);
    this.#handle = null;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.dispose();
  }
}

/** A compiled graph: validated ops, planned arena, kernels chosen. */
export class Plan {
  #handle: PlanHandle | null;
  readonly #addon: NativeAddon;
  readonly #weights: readonly GraphWeight[];
  readonly info: PlanInfo;

  /** @internal */
  constructor(addon: NativeAddon, handle: PlanHandle, weights: readonly GraphWeight[]) {
    this.#addon = addon;
    this.#handle = handle;
    this.#weights = weights; // the native plan holds the bytes; kept for introspection
    this.info = call(() => addon.planInfo(handle));
  }

  get weights(): readonly GraphWeight[] {
    return this.#weights;
  }

  #h(): PlanHandle {
    if (!this.#handle) throw disposedError('plan');
    return this.#handle;
  }

  /** Zero-initialised buffers for this plan's state tensors. */
  createState(): SessionState {
    const h = this.#h();
    return new SessionState(this.#addon, call(() => this.#addon.stateCreate(h)), this.info.states.map((s) => s.name));
  }

  /**
   * Runs the whole graph once on a native worker thread (one N-API call per step). Inputs are copied and the
   * plan/state are pinned when run() is called: callers may reuse their arrays at once, and a dispose() after
   * the call does not cancel the run. Runs of one backend execute one at a time, in call order.
   */
  run(inputs: Record<string, TensorArray>, opts: RunOptions = {}): Promise<Record<string, TensorArray>> {
    try {
      const h = this.#h();
      const st = opts.state ? opts.state.nativeHandle() : null;
      return this.#addon.planRun(h, inputs, st).catch((e: unknown) => {
        throw toQwenError(e);
      });
    } catch (e) {
      return Promise.reject(toQwenError(e));
    }
  }

  dispose(): void {
    if (this.#handle) this.#addon.planDispose(this.#handle);
    this.#handle = null;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.dispose();
  }
}

/**
 * What every backend shares (CPU here, CUDA in ./cuda.ts): weights in native host memory (copies or a zero-copy
 * mmap), plan compilation (the same graph, validation and arena layout on every backend), dispose. Plans,
 * session states and runs are the same classes on every backend.
 */
export abstract class Backend {
  #handle: BackendHandle | null;
  /** @internal */
  protected readonly addon: NativeAddon;
  /** For messages: 'CPU backend', 'CUDA backend'. */
  readonly #label: string;
  abstract readonly kind: 'cpu' | 'cuda';

  /** @internal */
  protected constructor(addon: NativeAddon, handle: BackendHandle, label: string) {
    this.addon = addon;
    this.#handle = handle;
    this.#label = label;
  }

  /** @internal The native handle; DISPOSED after dispose(). */
  protected handle(): BackendHandle {
    if (!this.#handle) throw disposedError(this.#label);
    return this.#handle;
  }

  /** @internal Drops the native handle's reference (cpuBackendDispose / cudaBackendDispose). */
  protected abstract disposeHandle(h: BackendHandle): void;

  get disposed(): boolean {
    return this.#handle === null;
  }

  /** Copies `bytes` (exactly the size of `shape` in `type`) into native memory. */
  weightFromBytes(type: GGMLType, shape: readonly number[], bytes: Uint8Array, name = 'weight'): WeightTensor {
    this.handle();
    const h = call(() => this.addon.weightFromBytes(type, [...shape], bytes, name));
    return new WeightTensor(this.addon, h, name, type, [...shape], bytes.byteLength);
  }

  /**
   * Memory-maps `path` read-only and serves each entry zero-copy. A tensor whose bytes leave the file throws
   * GGUF_TENSOR_OUT_OF_BOUNDS naming it; a size that does not match type × shape throws BAD_TENSOR.
   */
  async mapWeights(path: string, entries: readonly WeightEntry[]): Promise<WeightFile> {
    this.handle();
    const names = new Set<string>();
    for (const e of entries) {
      if (names.has(e.name)) throw new QwenHybridError('INVALID_ARGUMENT', `mapWeights: tensor '${e.name}' listed twice`, { tensor: e.name });
      names.add(e.name);
    }
    const r = call(() => this.addon.weightFileMap(path, entries.map((e) => ({ name: e.name, offset: e.offset, byteSize: e.byteSize, type: e.type, shape: [...e.shape] }))));
    const tensors = new Map<string, WeightTensor>();
    entries.forEach((e, i) => tensors.set(e.name, new WeightTensor(this.addon, r.tensors[i] as WeightHandle, e.name, e.type, [...e.shape], e.byteSize)));
    return new WeightFile(this.addon, r.file, path, r.fileBytes, tensors);
  }

  /** Validates and compiles a graph (GraphBuilder.build()). Throws QwenHybridError naming the op#, kind and tensor. */
  compile(graph: GraphDesc): Plan {
    const h = this.handle();
    const native = graph.native; // weight handles were resolved by build() (DISPOSED if a weight was disposed)
    const ph = call(() => this.addon.planCompile(h, native));
    return new Plan(this.addon, ph, graph.weights);
  }

  /** Frees the backend once no plan or run uses it. Idempotent. */
  dispose(): void {
    if (this.#handle) this.disposeHandle(this.#handle);
    this.#handle = null;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.dispose();
  }
}

export class CpuBackend extends Backend {
  readonly kind = 'cpu' as const;
  readonly info: CpuBackendInfo;

  /** @internal */
  constructor(addon: NativeAddon, handle: BackendHandle) {
    super(addon, handle, 'CPU backend');
    this.info = call(() => addon.cpuBackendInfo(handle));
  }

  /** @internal */
  protected disposeHandle(h: BackendHandle): void {
    this.addon.cpuBackendDispose(h);
  }
}

export function createCpuBackend(opts: CpuBackendOptions = {}): CpuBackend {
  const addon = loadNativeAddon();
  const threads = opts.threads ?? 0;
  if (!Number.isInteger(threads) || threads < 0) throw new QwenHybridError('INVALID_ARGUMENT', `threads must be a positive integer, got ${threads}`);
  const handle = call(() => addon.cpuBackendCreate(threads, opts.isa ?? 'auto'));
  return new CpuBackend(addon, handle);
}

/** Bytes of a tensor of `dtype` / `type` and `shape` (ne0 first). */
export function tensorBytes(type: GGMLType | StateDType, shape: readonly number[]): number {
  const t = typeof type === 'string' ? DTYPE_TO_GGML[type] : type;
  if (!ggmlTypeTraits(t)) throw new QwenHybridError('INVALID_ARGUMENT', `unknown tensor type ${ggmlTypeName(t)}`);
  return ggmlTensorBytes(t, shape);
}
