/**
 * The CUDA backend from TS: the same Backend / Plan / SessionState / WeightTensor API as the CPU backend
 * (./backend.ts), with weights uploaded to one device and plans executed there (design §2.2-§2.4).
 *
 *   const be = createCudaBackend({ device: 0 });          // NO_CUDA_DEVICE where there is none
 *   const file = await be.mapWeights(path, entries);       // host mmap, as on the CPU
 *   await be.uploadWeights(file, { onProgress });          // pinned, double-buffered; OUT_OF_MEMORY when it won't fit
 *   const plan = be.compile(g.build());                    // uploads anything still missing (synchronously)
 *   const out = await plan.run({ x }, { state: plan.createState() });
 *
 * Before loading, estimateCudaMemory() + assertCudaMemoryFits() give the device-memory bill from tensor shapes and
 * plan infos alone (no device needed), with the numbers in the error.
 */
import { QwenHybridError } from '../errors.js';
import type { GGMLType } from '../gguf/types.js';
import { loadNativeAddon } from '../native/addon.js';
import type { BackendHandle, NativeAddon, NativeCudaBackendInfo, WeightHandle } from '../native/types.js';
import { Backend, call, tensorBytes, toQwenError, WeightFile, WeightTensor } from './backend.js';

export type CudaBackendInfo = NativeCudaBackendInfo;

export interface CudaBackendOptions {
  /** Index into cudaDevices().devices; default 0. */
  device?: number;
  /**
   * Forced kernel variant per op name (ctx.variant; 0 = auto; the meaning of each value is documented in the op's
   * native/cuda/<op>.cu). For tests and benches, e.g. { MATMUL: 1 } forces the exact GEMV.
   */
  variants?: Readonly<Record<string, number>>;
}

export interface UploadOptions {
  /** Called on the JS thread as bytes reach the device (coalesced); (done, total) in bytes. */
  onProgress?: (doneBytes: number, totalBytes: number) => void;
}

export class CudaBackend extends Backend {
  readonly kind = 'cuda' as const;
  readonly device: number;

  /** @internal */
  constructor(addon: NativeAddon, handle: BackendHandle, device: number) {
    super(addon, handle, 'CUDA backend');
    this.device = device;
  }

  /** Device, memory (free memory as of this call) and what is resident. */
  info(): CudaBackendInfo {
    const h = this.handle();
    return call(() => this.addon.cudaBackendInfo(h));
  }

  /**
   * Uploads every weight not yet on the device, on a native worker thread. Checks the fit first (OUT_OF_MEMORY naming
   * the bytes needed and free). Weights stay resident until releaseWeights() or dispose(); plans hold their own
   * references.
   */
  async uploadWeights(weights: WeightFile | readonly WeightTensor[], opts: UploadOptions = {}): Promise<void> {
    const h = this.handle();
    const handles = weightHandles(weights);
    try {
      await this.addon.cudaUploadWeights(h, handles, opts.onProgress ?? null);
    } catch (e) {
      throw toQwenError(e);
    }
  }

  /** Drops the backend's reference to these weights' device copies. */
  releaseWeights(weights: WeightFile | readonly WeightTensor[]): void {
    const h = this.handle();
    const handles = weightHandles(weights);
    call(() => this.addon.cudaReleaseWeights(h, handles));
  }

  /** @internal */
  protected disposeHandle(h: BackendHandle): void {
    this.addon.cudaBackendDispose(h);
  }
}

function weightHandles(weights: WeightFile | readonly WeightTensor[]): WeightHandle[] {
  const list = weights instanceof WeightFile ? weights.names.map((n) => weights.get(n)) : weights;
  return list.map((w) => w.nativeHandle());
}

/**
 * A CUDA backend on `device`. Throws QwenHybridError NO_CUDA_DEVICE when the addon has no CUDA backend or no device
 * is usable (the message says which), INVALID_ARGUMENT for a bad device index or variant, BACKEND_UNAVAILABLE when
 * the device's SM has no code in this build.
 */
export function createCudaBackend(opts: CudaBackendOptions = {}): CudaBackend {
  const addon = loadNativeAddon();
  const device = opts.device ?? 0;
  if (!Number.isInteger(device) || device < 0) throw new QwenHybridError('INVALID_ARGUMENT', `device must be a non-negative integer, got ${device}`, { device });
  const variants: number[] = [];
  if (opts.variants) {
    const ids = new Map(addon.opList().map((o) => [o.name, o.id] as const));
    for (const [name, v] of Object.entries(opts.variants)) {
      const id = ids.get(name);
      if (id === undefined) throw new QwenHybridError('INVALID_ARGUMENT', `variants: unknown op '${name}'`, { op: name });
      if (!Number.isInteger(v) || v < 0) throw new QwenHybridError('INVALID_ARGUMENT', `variants.${name} must be a non-negative integer, got ${v}`, { op: name });
      while (variants.length <= id) variants.push(0);
      variants[id] = v;
    }
  }
  const handle = call(() => addon.cudaBackendCreate(device, variants));
  return new CudaBackend(addon, handle, device);
}

// ---- device-memory estimate (pure: usable without a GPU) ----

/** cudaMalloc hands out whole granules; the native upload counts each allocation this way (weights_upload.cu). */
export const CUDA_ALLOC_GRANULE = 512;
/** Left free for the CUDA context's growth and fragmentation (weights_upload.cu kReserveBytes). */
export const CUDA_RESERVE_BYTES = 256 * 1024 * 1024;

export interface CudaMemoryInput {
  /** Weight tensors (type + shape, ne0 first) or their byte sizes. */
  weights: readonly ({ type: GGMLType; shape: readonly number[] } | number)[];
  /** Plans that will be compiled (PlanInfo: arenaBytes, scratchBytes): each has its own arena and scratch. */
  plans?: readonly { arenaBytes: number; scratchBytes: number }[];
  /** Per-session state tensor sizes in bytes (PlanInfo.states[].bytes), and how many sessions. */
  stateBytes?: readonly number[];
  sessions?: number;
  /** Default CUDA_RESERVE_BYTES. */
  reserveBytes?: number;
}

export interface CudaMemoryEstimate {
  weightBytes: number;
  planBytes: number;
  stateBytes: number;
  reserveBytes: number;
  /** weightBytes + planBytes + stateBytes + reserveBytes. */
  totalBytes: number;
}

const granule = (b: number) => Math.ceil(b / CUDA_ALLOC_GRANULE) * CUDA_ALLOC_GRANULE;

/** Device bytes a model needs: every allocation rounded up to CUDA_ALLOC_GRANULE, plus the reserve. */
export function estimateCudaMemory(input: CudaMemoryInput): CudaMemoryEstimate {
  let weightBytes = 0;
  for (const w of input.weights) weightBytes += granule(typeof w === 'number' ? w : tensorBytes(w.type, w.shape));
  let planBytes = 0;
  for (const p of input.plans ?? []) planBytes += granule(p.arenaBytes) + granule(p.scratchBytes);
  const sessions = input.sessions ?? 1;
  if (!Number.isInteger(sessions) || sessions < 0) throw new QwenHybridError('INVALID_ARGUMENT', `sessions must be a non-negative integer, got ${sessions}`);
  let perSession = 0;
  for (const b of input.stateBytes ?? []) perSession += granule(b);
  const stateBytes = perSession * sessions;
  const reserveBytes = input.reserveBytes ?? CUDA_RESERVE_BYTES;
  return { weightBytes, planBytes, stateBytes, reserveBytes, totalBytes: weightBytes + planBytes + stateBytes + reserveBytes };
}

const gib = (b: number) => `${(b / 1024 ** 3).toFixed(2)} GiB`;

/** Throws OUT_OF_MEMORY (details: the estimate, freeBytes, device) when `est.totalBytes` exceeds `freeBytes`. */
export function assertCudaMemoryFits(est: CudaMemoryEstimate, freeBytes: number, device = 'the CUDA device'): void {
  if (est.totalBytes <= freeBytes) return;
  throw new QwenHybridError(
    'OUT_OF_MEMORY',
    `${device} has ${gib(freeBytes)} free but the model needs ${gib(est.totalBytes)}: weights ${gib(est.weightBytes)}, plans ${gib(est.planBytes)}, ` +
      `session state ${gib(est.stateBytes)}, reserve ${gib(est.reserveBytes)}`,
    { ...est, freeBytes, device },
  );
}
