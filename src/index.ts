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
export type { LoadModelOptions, LoadProgress, SessionOptions, EvaluateOptions, SessionSnapshot, SnapshotModel, BackendKind, KvCacheType } from './model/index.js';
export { demoModelPath, ensureDemoModel } from './model/demo.js';
export { generate, MAX_TOP_LOGPROBS } from './runtime/generate.js';
export type { GenerateOptions, GenerateChunk, GenerateStats, GenerateStream, GenerateResult, StopReason, GenerationSession } from './runtime/generate.js';
export { chat, renderChatPrompt } from './runtime/chat.js';
export { ChatConversation } from './runtime/conversation.js';
export { GrammarEngine, CompiledConstraint, ConstraintMatcher, applyTokenMask, maskAllows, checkGrammarSpec } from './grammar/constraint.js';
export type { GrammarSpec, StructuralTagFormat } from './grammar/constraint.js';
export { chatConstraint } from './grammar/chat-format.js';
export type { ResponseFormat, ToolChoice } from './grammar/chat-format.js';
export type { ChatConversationOptions, ChatTurnOptions, ConversationTurnStats } from './runtime/conversation.js';
export type { ChatOptions, ChatResult, ChatStream, ChatSession } from './runtime/chat.js';
export { Sampler, resolveSampling, resolveLogitBias, tokenLogprobs, DEFAULT_SAMPLING, LOGIT_BIAS_BAN } from './runtime/sampler.js';
export type { SamplingOptions, ScalarSamplingOptions, LogitBias, TokenLogprob } from './runtime/sampler.js';
export { resolveThreads, THREADS_CAPPED_WARNING } from './runtime/threads.js';
export type { ResolveThreadsOptions } from './runtime/threads.js';
export { hostMemory } from './runtime/memory.js';
export type { HostMemory } from './runtime/memory.js';
export { StopMatcher } from './runtime/stop.js';
export type { StopPush } from './runtime/stop.js';
