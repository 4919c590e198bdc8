/**
 * qwen-hybrid public API. Issue 2 (foundation): GGUF reading/writing, quantization references, the tokenizer,
 * chat templates and output parsing, model configuration and inspection, native addon info.
 */
export * from './errors.js';
export * from './gguf/index.js';
export * from './quant/index.js';
export * from './tokenizer/index.js';
export * from './chat/index.js';
export * from './native/index.js';
export { configFromMetadata, sequenceStateBytes, SUPPORTED_ARCHITECTURES } from './model/config.js';
export type { Qwen35Config, Qwen35Arch, LayerKind, DenseFFNConfig, MoEFFNConfig } from './model/config.js';
export { inspectModel } from './model/inspect.js';
export type { ModelReport, TypeUsage, ContextMemory } from './model/inspect.js';
export * from './model/graph/index.js';
export * from './runtime/index.js';
export { loadModel, Model, Session, checkKvCacheType, KV_BYTES_PER_ELEMENT } from './model/index.js';
export type { LoadModelOptions, LoadProgress, SessionOptions, EvaluateOptions, SessionSnapshot, BackendKind, KvCacheType } from './model/index.js';
export { generate } from './runtime/generate.js';
export type { GenerateOptions, GenerateChunk, GenerateStats, GenerateStream, StopReason, GenerationSession } from './runtime/generate.js';
export { chat, renderChatPrompt } from './runtime/chat.js';
export type { ChatOptions, ChatResult, ChatStream, ChatSession } from './runtime/chat.js';
export { Sampler, resolveSampling, DEFAULT_SAMPLING } from './runtime/sampler.js';
export type { SamplingOptions } from './runtime/sampler.js';
export { StopMatcher } from './runtime/stop.js';
export type { StopPush } from './runtime/stop.js';
