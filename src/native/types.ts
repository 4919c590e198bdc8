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
}

/** Every export of the addon, in the order addon.cc registers them. */
export const NATIVE_EXPORTS = ['buildInfo', 'cudaDevices', 'cudaSelfTest'] as const;

export type NativeExportName = (typeof NATIVE_EXPORTS)[number];

// Compile-time: NATIVE_EXPORTS and NativeAddon name the same functions.
type _MissingFromList = Exclude<keyof NativeAddon, NativeExportName>;
type _MissingFromInterface = Exclude<NativeExportName, keyof NativeAddon>;
const _mirrorCheck: [_MissingFromList, _MissingFromInterface] extends [never, never] ? true : never = true;
void _mirrorCheck;
