/**
 * Hand-written mirror of the native addon's exports (native/addon/addon.cc). The export list is
 * flat; TS never sees a pointer. test/unit/native-addon.test.ts fails when the addon's real export
 * names differ from NATIVE_EXPORTS.
 */

/** What THIS machine's CPU can execute (CPUID + OS register-state support), not what was compiled. */
export interface CpuFeatures {
  avx2: boolean;
  avx512f: boolean;
  fma: boolean;
  f16c: boolean;
}

export interface BuildInfo {
  /** package.json version compiled into the addon. */
  version: string;
  builder: 'cmake-js' | 'cmake' | 'node-gyp';
  /** True when the CUDA backend is compiled in. */
  cuda: boolean;
  /** SM versions with device code in the binary, e.g. [80, 86, 89, 90, 120]; [] when !cuda. */
  cudaArchs: number[];
  /** CUDA runtime the addon was built against (statically linked), e.g. "13.0"; null when !cuda. */
  cudaRuntimeVersion: string | null;
  /** Host C++ compiler, e.g. "GCC 12.2.0". */
  compiler: string;
  cpu: CpuFeatures;
  /** Threads the CPU backend may use: CPUs in this process's affinity mask (Linux), else hardware threads; >= 1. */
  cpuThreads: number;
}

export interface CudaDeviceInfo {
  index: number;
  name: string;
  /** "major.minor", e.g. "9.0" for H100, "8.9" for RTX 4090, "12.0" for RTX 5090. */
  computeCapability: string;
  totalMemoryBytes: number;
  multiProcessorCount: number;
  memoryBusWidthBits: number;
  /** Peak memory clock. */
  memoryClockKHz: number;
}

export interface CudaDeviceList {
  available: boolean;
  /** "1 CUDA device", "no CUDA device (<CUDA error>)" or "CUDA not compiled in". */
  reason: string;
  /** Installed driver's CUDA version, e.g. "13.0"; null when there is no driver. */
  driverVersion: string | null;
  devices: CudaDeviceInfo[];
}

export interface CudaSelfTestResult {
  ok: boolean;
  /** What ran and on which device, or which step failed with the CUDA error. */
  detail: string;
}

export interface NativeAddon {
  buildInfo(): BuildInfo;
  /** Never throws: problems are { available: false, reason }. */
  cudaDevices(): CudaDeviceList;
  /**
   * Runs a tiny fill + axpb kernel on the device and checks every element on the host.
   * Throws an Error with code 'NO_CUDA_DEVICE' (no usable device, or CUDA not compiled in), a
   * TypeError with code 'INVALID_ARGUMENT' (deviceIndex not a number) or a RangeError with code
   * 'INVALID_ARGUMENT' (not a non-negative integer, or no such device).
   */
  cudaSelfTest(deviceIndex: number): CudaSelfTestResult;

  // ---- execution (native/addon/runtime.cc). Errors: Error with .code (INVALID_ARGUMENT, BAD_TENSOR, DISPOSED,
  // BACKEND_UNAVAILABLE, OUT_OF_MEMORY, CONTEXT_FULL, FILE_NOT_FOUND, FILE_READ_ERROR, GGUF_TENSOR_OUT_OF_BOUNDS).
  /** The op list of native/core/op_list.h, in id order. */
  opList(): NativeOpInfo[];
  /** threads: 0 = every usable CPU. isa: 'auto' | 'scalar' | 'avx2' | 'avx512'. */
  cpuBackendCreate(threads: number, isa: string): BackendHandle;
  cpuBackendInfo(backend: BackendHandle): NativeBackendInfo;
  /** Idempotent; in-flight runs keep what they use alive. */
  cpuBackendDispose(backend: BackendHandle): void;
  /** Copies `bytes` (exactly the size of `shape` in `type`) into native memory. */
  weightFromBytes(type: number, shape: number[], bytes: Uint8Array, name: string): WeightHandle;
  /** mmaps `path` read-only; each entry becomes a zero-copy weight (offset = absolute file offset). */
  weightFileMap(path: string, entries: NativeWeightEntry[]): { file: WeightFileHandle; tensors: WeightHandle[]; fileBytes: number };
  weightDispose(weight: WeightHandle): void;
  weightFileDispose(file: WeightFileHandle): void;
  /** Validates every op and plans the arena; throws on the first problem (message names op#, kind, tensor). */
  planCompile(backend: BackendHandle, desc: NativeGraphDesc): PlanHandle;
  planInfo(plan: PlanHandle): NativePlanInfo;
  /** Runs the whole graph on a worker thread; resolves with fresh output arrays keyed by output name. */
  planRun(plan: PlanHandle, inputs: Record<string, TensorArray>, state: StateHandle | null): Promise<Record<string, TensorArray>>;
  planDispose(plan: PlanHandle): void;
  /** Zero-initialised buffers for the plan's state tensors. */
  stateCreate(plan: PlanHandle): StateHandle;
  stateRead(state: StateHandle, name: string): TensorArray;
  stateWrite(state: StateHandle, name: string, data: TensorArray): void;
  stateDispose(state: StateHandle): void;
  /** Seconds for `iters` copies of `bytes` bytes split over `threads` threads (after one warm-up copy). */
  benchMemcpy(bytes: number, iters: number, threads: number): number;

  // ---- CUDA backend (native/cuda/backend.cu). planCompile / planInfo / planRun / state* take its handles too.
  // Without CUDA compiled in, or without a usable device, cudaBackendCreate throws code NO_CUDA_DEVICE.
  /** device: index into cudaDevices().devices; variants: forced kernel variant per op id (0 = auto; ctx.variant). */
  cudaBackendCreate(device: number, variants: number[]): BackendHandle;
  cudaBackendInfo(backend: BackendHandle): NativeCudaBackendInfo;
  cudaBackendDispose(backend: BackendHandle): void;
  /**
   * Uploads the weights not yet on the backend's device (fit check first: OUT_OF_MEMORY with the numbers), through
   * pinned double-buffered staging; onProgress(doneBytes, totalBytes) on the JS thread. planCompile uploads what is
   * still missing synchronously, so call this first for real models.
   */
  cudaUploadWeights(backend: BackendHandle, weights: WeightHandle[], onProgress: ((done: number, total: number) => void) | null): Promise<void>;
  /** Drops the backend's references to these weights' device copies (freed once no plan uses them). */
  cudaReleaseWeights(backend: BackendHandle, weights: WeightHandle[]): void;
  /** Seconds for `iters` device-to-device copies of `bytes` (after one warm-up). */
  cudaBenchCopy(device: number, bytes: number, iters: number): number;
  /** Seconds for `iters` dense fp16 tensor-core GEMMs m×n×k (2mnk flops each; m, n multiples of 128, k of 32, k <= 16384). */
  cudaBenchGemmF16(device: number, m: number, n: number, k: number, iters: number): number;
}

export interface NativeCudaBackendInfo {
  device: number;
  name: string;
  /** "major.minor". */
  computeCapability: string;
  multiProcessorCount: number;
  totalMemoryBytes: number;
  /** cudaMemGetInfo at the time of the call. */
  freeMemoryBytes: number;
  /** Device bytes held by weights uploaded to this backend. */
  weightBytesResident: number;
  weightsResident: number;
  /** Steps are captured and replayed as CUDA graphs (false when QWEN_HYBRID_CUDA_GRAPHS=0 at backend creation). */
  cudaGraphs: boolean;
  /** (plan, session state) pairs captured into a CUDA graph so far (on their second run). */
  graphCaptures: number;
  /** Steps run as one cudaGraphLaunch. */
  graphLaunches: number;
  /** Captures that failed (that pair then runs op by op); nonzero means a launcher is not capture-safe. */
  graphCaptureFailures: number;
  /** Ops (op_list.h names) this build has no CUDA kernel for: a graph using one does not compile on CUDA. */
  opsWithoutKernel: string[];
}

declare const handleBrand: unique symbol;
/** Opaque native handle (an N-API external); `K` keeps kinds apart at compile time. */
export type NativeHandle<K extends string> = { readonly [handleBrand]: K };
export type BackendHandle = NativeHandle<'backend'>;
export type WeightHandle = NativeHandle<'weight'>;
export type WeightFileHandle = NativeHandle<'weightFile'>;
export type PlanHandle = NativeHandle<'plan'>;
export type StateHandle = NativeHandle<'state'>;

/** f32 → Float32Array, i32 → Int32Array, f16/bf16 → Uint16Array (raw halves), block types → Uint8Array. */
export type TensorArray = Float32Array | Int32Array | Uint16Array | Uint8Array;

export interface NativeOpInfo {
  id: number;
  name: string;
  /** -1: variable (1..8). */
  nInputs: number;
  nOutputs: number;
  description: string;
}

export interface NativeBackendInfo {
  threads: number;
  /** The ISA kernels use. */
  isa: 'scalar' | 'avx2' | 'avx512';
  /** What this CPU can run, best last. */
  isaAvailable: ('scalar' | 'avx2' | 'avx512')[];
}

export interface NativeWeightEntry {
  name: string;
  offset: number;
  byteSize: number;
  type: number;
  shape: number[];
}

/** The graph as it crosses N-API: compiled once (src/model/graph/builder.ts writes it). */
export interface NativeGraphDesc {
  /** 0 activation, 1 input, 2 state, 3 weight, 4 view (native/core/plan.h TensorRole). */
  tensorRoles: Int32Array;
  /** ggml type ids. */
  tensorTypes: Int32Array;
  /** 4 dims per tensor, ne0 first, padded with 1. */
  tensorShapes: Float64Array;
  tensorNames: string[];
  tensorWeights: (WeightHandle | null)[];
  /** View: id of the viewed (non-view) tensor; else -1. */
  tensorViewOf: Int32Array;
  /** View: byte offset into the viewed tensor; else 0. */
  tensorViewOffset: Float64Array;
  opKinds: Int32Array;
  opNumIn: Int32Array;
  opNumOut: Int32Array;
  /** Per op: its input tensor ids, then its output tensor ids. */
  opArgs: Int32Array;
  /** 8 per op (int64 params, exact up to 2^53). */
  opParamsI: Float64Array;
  /** 8 per op. */
  opParamsF: Float32Array;
  outputNames: string[];
  outputTensors: Int32Array;
}

export interface NativeIoSpec {
  name: string;
  type: number;
  /** ne0 first, trailing 1s dropped. */
  shape: number[];
  bytes: number;
}

export interface NativePlanInfo {
  ops: number;
  /** Arena size after lifetime-based reuse. */
  arenaBytes: number;
  /** Sum of every activation and input: the arena size without reuse. */
  activationBytes: number;
  scratchBytes: number;
  inputs: NativeIoSpec[];
  outputs: NativeIoSpec[];
  states: NativeIoSpec[];
}

/** Every export of the addon, in the order addon.cc registers them. */
export const NATIVE_EXPORTS = [
  'buildInfo',
  'cudaDevices',
  'cudaSelfTest',
  'opList',
  'cpuBackendCreate',
  'cpuBackendInfo',
  'cpuBackendDispose',
  'weightFromBytes',
  'weightFileMap',
  'weightDispose',
  'weightFileDispose',
  'planCompile',
  'planInfo',
  'planRun',
  'planDispose',
  'stateCreate',
  'stateRead',
  'stateWrite',
  'stateDispose',
  'benchMemcpy',
  'cudaBackendCreate',
  'cudaBackendInfo',
  'cudaBackendDispose',
  'cudaUploadWeights',
  'cudaReleaseWeights',
  'cudaBenchCopy',
  'cudaBenchGemmF16',
] as const;

export type NativeExportName = (typeof NATIVE_EXPORTS)[number];

// Compile-time: NATIVE_EXPORTS and NativeAddon name the same functions.
type _MissingFromList = Exclude<keyof NativeAddon, NativeExportName>;
type _MissingFromInterface = Exclude<NativeExportName, keyof NativeAddon>;
const _mirrorCheck: [_MissingFromList, _MissingFromInterface] extends [never, never] ? true : never = true;
void _mirrorCheck;
