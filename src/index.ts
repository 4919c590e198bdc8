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
