export { Backend, createCpuBackend, CpuBackend, Plan, SessionState, WeightFile, WeightTensor, tensorBytes, toQwenError } from './backend.js';
export type { CpuBackendInfo, CpuBackendOptions, CpuIsa, PlanInfo, RunOptions, WeightEntry } from './backend.js';
export { assertCudaMemoryFits, createCudaBackend, CudaBackend, CUDA_ALLOC_GRANULE, CUDA_RESERVE_BYTES, estimateCudaMemory } from './cuda.js';
export type { CudaBackendInfo, CudaBackendOptions, CudaMemoryEstimate, CudaMemoryInput, UploadOptions } from './cuda.js';
