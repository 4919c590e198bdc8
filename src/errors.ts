/**
 * Typed errors. Every error a user can act on is a QwenHybridError with a stable `code`;
 * codes are part of the public API (never renamed, only added). Messages name the file, key,
 * tensor, parameter and byte offset involved.
 */

export const ERROR_CODES = [
  // I/O
  'FILE_NOT_FOUND',
  'FILE_READ_ERROR',
  'FILE_WRITE_ERROR',
  // GGUF container
  'GGUF_BAD_MAGIC',
  'GGUF_UNSUPPORTED_VERSION',
  'GGUF_TRUNCATED',
  'GGUF_LIMIT_EXCEEDED', // absurd counts, string lengths, dims: refused before allocating
  'GGUF_BAD_STRING', // invalid UTF-8 in a key or string value
  'GGUF_DUPLICATE_KEY',
  'GGUF_DUPLICATE_TENSOR',
  'GGUF_UNKNOWN_VALUE_TYPE',
  'GGUF_UNKNOWN_TENSOR_TYPE',
  'GGUF_BAD_ALIGNMENT', // general.alignment not a power of two, or of the wrong type
  'GGUF_BAD_SHAPE', // ne0 not a multiple of the block size, zero/negative dims, too many dims
  'GGUF_OVERFLOW', // element or byte count overflows
  'GGUF_MISALIGNED_TENSOR',
  'GGUF_TENSOR_OUT_OF_BOUNDS',
  'GGUF_TENSOR_OVERLAP',
  'GGUF_SPLIT_ERROR', // missing shard, inconsistent split metadata, tensor in two shards
  'GGUF_BAD_METADATA', // a metadata key has the wrong type or an invalid value
  'GGUF_WRITE_ERROR', // the writer was given something it cannot encode
  // model
  'UNSUPPORTED_ARCHITECTURE',
  'MISSING_METADATA',
  'MISSING_TENSOR',
  'BAD_TENSOR',
  // tokenizer
  'TOKENIZER_UNSUPPORTED',
  'TOKENIZER_BAD_VOCAB',
  'TOKEN_ID_OUT_OF_RANGE',
  // chat
  'TEMPLATE_ERROR',
  // native addon
  'NATIVE_ADDON_NOT_BUILT',
  'NATIVE_ADDON_LOAD_FAILED',
  'NO_CUDA_DEVICE',
  // execution
  'BACKEND_UNAVAILABLE', // e.g. an ISA or backend the machine cannot run
  'CONTEXT_FULL', // a position beyond the KV cache / context size
  'OUT_OF_MEMORY',
  'DISPOSED', // a native-backed object used after dispose()
  'ABORTED', // an AbortSignal fired; checked between steps
  'INVALID_GRAMMAR', // a JSON schema / EBNF / regex / structural tag the grammar engine cannot parse or compile
  'SESSION_BUSY', // a session already runs a generation (one at a time per session; use another session)
  'SNAPSHOT_CORRUPT', // a session snapshot file whose checksum does not match its bytes (damaged, truncated, appended to)
  'STREAM_CONSUMED', // a generate() / chat() stream iterated a second time: a stream is iterable once
  // usage
  'INVALID_ARGUMENT',
  'USAGE',
  'BENCH_GATE_FAILED', // qwen-hybrid/bench: a kernel's result failed its correctness check, so nothing was timed
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export class QwenHybridError extends Error {
  readonly code: ErrorCode;
  /** Machine-readable context (file, key, tensor, offset, limit, …). */
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'QwenHybridError';
    this.code = code;
    this.details = details;
  }
}

/** Errors found while reading or writing a GGUF container. `offset` is the byte offset in the file. */
export class GGUFError extends QwenHybridError {
  constructor(code: ErrorCode, message: string, details: { file?: string; offset?: number; key?: string; tensor?: string } & Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(code, message, details, options);
    this.name = 'GGUFError';
  }
}

export class TokenizerError extends QwenHybridError {
  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(code, message, details, options);
    this.name = 'TokenizerError';
  }
}

export class TemplateError extends QwenHybridError {
  constructor(message: string, details: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super('TEMPLATE_ERROR', message, details, options);
    this.name = 'TemplateError';
  }
}

export function isQwenHybridError(e: unknown): e is QwenHybridError {
  return e instanceof QwenHybridError;
}
