export { createCpuBackend, CpuBackend, Plan, SessionState, WeightFile, WeightTensor, tensorBytes, toQwenError } from './backend.js';
export type { CpuBackendInfo, CpuBackendOptions, CpuIsa, PlanInfo, RunOptions, WeightEntry } from './backend.js';
