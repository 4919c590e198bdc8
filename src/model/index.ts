/** Model loading, the forward graph and sessions (issue 4). */
export { loadModel, Model, type BackendKind, type LoadModelOptions, type LoadProgress } from './model.js';
export { Session, type EvaluateOptions, type SessionOptions, type SessionSnapshot, type SnapshotModel } from './session.js';
export { buildForwardGraph, checkKvCacheType, KV_BYTES_PER_ELEMENT, stateTensorNames, type ForwardGraphOptions, type KvCacheType, type LogitsMode } from './forward.js';
export { requiredTensors, validateTensorTable, MATMUL_WEIGHT_TYPES, type TensorRequirement } from './weights.js';
export * from './config.js';
