export { Tokenizer, type DecodeOptions, type EncodeOptions, type StreamingDecoder, type TokenizerConfig } from './tokenizer.js';
export { preTokenize, type PreTokenizerKind } from './pretokenizer.js';
export { buildTinyVocab, vocabMetadata, addedTokenType, QWEN_ADDED_TOKENS, TokenType, type VocabData } from './tiny-vocab.js';
export { BYTE_TO_CHAR, BYTE_TO_CODEPOINT, CODEPOINT_TO_BYTE } from './bytes.js';
