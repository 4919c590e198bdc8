export { ChatTemplate, builtinChatTemplate, renderChat, templateFromMetadata, normalizeTools, toolFunction } from './template.js';
export type { ChatTemplateOptions } from './template.js';
export { QWEN35_BUILTIN_CHAT_TEMPLATE } from './builtin-template.js';
export { ChatOutputParser, parseChatOutput, randomToolCallId } from './parser.js';
export type { ChatOutputParserOptions } from './parser.js';
export type {
  ChatRole,
  ChatMessage,
  ChatToolCall,
  FunctionDefinition,
  ToolDefinition,
  RenderOptions,
  ToolCall,
  ChatEvent,
  ParsedChatOutput,
} from './types.js';
