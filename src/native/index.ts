export { loadNativeAddon, nativeAddonPath, nativeInfo, cudaSelfTest } from './addon.js';
export type { NativeInfo } from './addon.js';
export { NATIVE_EXPORTS } from './types.js';
export type {
  BuildInfo,
  CpuFeatures,
  CudaDeviceInfo,
  CudaDeviceList,
  CudaSelfTestResult,
  NativeAddon,
  NativeExportName,
  NativeHandle,
  BackendHandle,
  WeightHandle,
  WeightFileHandle,
  PlanHandle,
  StateHandle,
  TensorArray,
  NativeOpInfo,
  NativeBackendInfo,
  NativeCudaBackendInfo,
  NativeWeightEntry,
  NativeGraphDesc,
  NativeIoSpec,
  NativePlanInfo,
} from './types.js';
