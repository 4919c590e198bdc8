/**
 * Chat over a Session: render the conversation with the model's chat template (generation prompt, thinking
 * switch, tools), tokenize it with special-token parsing, generate, and stream the text through
 * ChatOutputParser as reasoning / content / tool-call events.
 *
 * The session may already hold a conversation: when its history is a prefix of the newly rendered prompt only
 * the remainder is evaluated; otherwise (e.g. the template dropped an earlier turn's reasoning) the call is
 * refused with INVALID_ARGUMENT — use a fresh session. The parser starts in reasoning when the rendered
 * prompt ends inside an open `<think>` block.
 */
import { deferred } from './deferred.js';
import { ChatOutputParser } from '../chat/parser.js';
import type { ChatTemplate } from '../chat/template.js';
import type { ChatEvent, ChatMessage, ParsedChatOutput, ToolDefinition } from '../chat/types.js';
import { QwenHybridError } from '../errors.js';
import { chatConstraint, type ResponseFormat, type ToolChoice } from '../grammar/chat-format.js';
import { generate, type GenerateOptions, type GenerateStats, type GenerationSession } from './generate.js';

export interface ChatOptions extends GenerateOptions {
  /** Thinking mode (default true): the model reasons inside <think>…</think> first. */
  thinking?: boolean;
  tools?: ToolDefinition[];
  /**
   * Render earlier assistant turns with their reasoning (`<think>` blocks); default false: the Qwen template keeps
   * reasoning only for turns after the last user message. ChatConversation (conversation.ts) reuses the session
   * state across turns either way.
   */
  preserveThinking?: boolean;
  /**
   * OpenAI response_format: {type:'json_object'} or {type:'json_schema', json_schema:{schema}} constrains the reply's
   * content (after the reasoning, which stays free) to JSON matching it (grammar/chat-format.ts).
   */
  responseFormat?: ResponseFormat;
  /**
   * 'auto' (default: the model decides), 'none' (tools are not offered), 'required' (the reply must contain a valid
   * call of one of `tools`, its parameters per their JSON schemas) or {type:'function', function:{name}} (exactly one
   * call of that function). Free text may precede the call, as the template allows.
   */
  toolChoice?: ToolChoice;
}

export type ChatResult = ParsedChatOutput & { stats: GenerateStats };
export type ChatStream = AsyncIterable<ChatEvent> & { readonly result: Promise<ChatResult> };

export interface ChatSession extends GenerationSession {
  readonly model: GenerationSession['model'] & { readonly chatTemplate: ChatTemplate };
}

/** The rendered prompt and whether it leaves the model inside a think block. */
export function renderChatPrompt(
  session: ChatSession,
  messages: readonly ChatMessage[],
  opts: { thinking?: boolean; tools?: ToolDefinition[]; preserveThinking?: boolean; addGenerationPrompt?: boolean } = {},
): { prompt: string; tokens: number[]; startInReasoning: boolean } {
  const prompt = session.model.chatTemplate.render(messages, {
    addGenerationPrompt: opts.addGenerationPrompt ?? true,
    enableThinking: opts.thinking ?? true,
    ...(opts.tools ? { tools: opts.tools } : {}),
    ...(opts.preserveThinking !== undefined ? { preserveThinking: opts.preserveThinking } : {}),
  });
  const tokens = session.model.tokenize(prompt, { special: true });
  return { prompt, tokens, startInReasoning: /<think>\s*$/.test(prompt) };
}

export function chat(session: ChatSession, messages: readonly ChatMessage[], opts: ChatOptions = {}): ChatStream {
  const { thinking, tools: offered, preserveThinking, responseFormat, toolChoice, ...genOpts } = opts;
  const tools = toolChoice === 'none' ? undefined : offered;
  const { tokens, startInReasoning } = renderChatPrompt(session, messages, { thinking, tools, preserveThinking });
  const constraint = chatConstraint({ ...(responseFormat !== undefined ? { responseFormat } : {}), ...(toolChoice !== undefined ? { toolChoice } : {}), ...(tools ? { tools } : {}), startInReasoning });
  if (constraint && (genOpts.jsonSchema !== undefined || genOpts.grammar !== undefined || genOpts.regex !== undefined || genOpts.constraint !== undefined)) {
    throw new QwenHybridError('INVALID_ARGUMENT', 'chat: responseFormat / toolChoice cannot be combined with jsonSchema, grammar, regex or constraint', { parameter: 'responseFormat' });
  }
  if (constraint) genOpts.constraint = constraint;
  const h = session.history;
  const prefix = h.length <= tokens.length && h.every((t, i) => t === tokens[i]);
  if (!prefix) {
    throw new QwenHybridError('INVALID_ARGUMENT', `chat: the session already holds ${h.length} tokens that are not a prefix of the rendered conversation; use a fresh session, or a ChatConversation (which keeps the history and reuses the state across turns)`, { parameter: 'session' });
  }
  const stream = generate(session, tokens.slice(h.length), genOpts);
  const parser = new ChatOutputParser({ startInReasoning, ...(tools ? { tools } : {}) });

  const { promise: result, resolve: resolveResult, reject: rejectResult } = deferred<ChatResult>();

  async function* run(): AsyncGenerator<ChatEvent> {
    try {
      for await (const chunk of stream) {
        if (chunk.text.length > 0) yield* parser.push(chunk.text);
      }
      yield* parser.end();
      resolveResult({ ...parser.result(), stats: await stream.stats });
    } catch (e) {
      rejectResult(e);
      throw e;
    } finally {
      // Consumer broke out early: the parsed text so far, stop reason 'aborted'.
      parser.end();
      stream.stats.then((stats) => resolveResult({ ...parser.result(), stats }), rejectResult);
    }
  }

  return { [Symbol.asyncIterator]: () => run(), result };
}
