/**
 * Chat data types: messages and tools in the OpenAI / Hugging Face shape that chat templates expect,
 * and the events the streamed-output parser produces (spec §5.3).
 */

export type ChatRole = 'system' | 'user' | 'assistant' | 'tool';

/** A tool call inside an assistant message (history). String `arguments` must hold a JSON object. */
export interface ChatToolCall {
  type?: 'function';
  id?: string;
  function: { name: string; arguments: Record<string, unknown> | string };
}

export interface ChatMessage {
  role: ChatRole;
  content: string;
  /** Assistant reasoning (the text inside `<think>…</think>`). */
  reasoning_content?: string;
  tool_calls?: ChatToolCall[];
  /** Tool name, for `tool` messages. */
  name?: string;
  tool_call_id?: string;
}

/** A JSON-schema function signature. `parameters` is `{type:'object', properties:{…}, required:[…]}`. */
export interface FunctionDefinition {
  name: string;
  description?: string;
  parameters?: Record<string, unknown>;
}

/** OpenAI-style `{type:'function', function:{…}}`, or the bare function object. */
export type ToolDefinition = { type: 'function'; function: FunctionDefinition } | FunctionDefinition;

export interface RenderOptions {
  /** Append the assistant generation prompt (default true). */
  addGenerationPrompt?: boolean;
  /** Thinking mode (default true): the prompt ends with `<think>\n`; false ends it with an empty think block. */
  enableThinking?: boolean;
  tools?: ToolDefinition[];
  /** Keep `<think>` blocks for every assistant turn, not only those after the last user query. */
  preserveThinking?: boolean;
  /** Extra template variables. Keys set by the options above take precedence. */
  extra?: Record<string, unknown>;
}

/** A parsed tool call. `raw` is the exact `<tool_call>…</tool_call>` text the model wrote. */
export interface ToolCall {
  /**
   * OpenAI-style id, `call_` + 24 random letters and digits unless ChatOutputParserOptions.toolCallId says otherwise:
   * unique within one output, the same in the `tool_call` event and in the result (it is the same object), so a
   * server can send it and match the `tool` message's `tool_call_id` against it.
   */
  id: string;
  name: string;
  arguments: Record<string, unknown>;
  raw: string;
}

export type ChatEvent =
  | { type: 'reasoning'; text: string }
  | { type: 'content'; text: string }
  | { type: 'tool_call'; call: ToolCall };

export interface ParsedChatOutput {
  reasoning: string;
  content: string;
  toolCalls: ToolCall[];
}
