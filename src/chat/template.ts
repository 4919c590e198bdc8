/**
 * Chat-template rendering with @huggingface/jinja. A template is compiled once (ChatTemplate) and
 * rendered many times; the context follows the Hugging Face convention (messages, tools,
 * add_generation_prompt, enable_thinking, preserve_thinking, bos_token, eos_token).
 */
import { Template, parse, tokenize } from '@huggingface/jinja';
import { GGUFError, QwenHybridError, TemplateError } from '../errors.js';
import type { GGUFMetadataValue } from '../gguf/types.js';
import { GGUFValueType } from '../gguf/types.js';
import { QWEN35_BUILTIN_CHAT_TEMPLATE } from './builtin-template.js';
import type { ChatMessage, ChatToolCall, FunctionDefinition, RenderOptions, ToolDefinition } from './types.js';

const ROLES: ReadonlySet<string> = new Set(['system', 'user', 'assistant', 'tool']);

/** Syntax errors carry no position in @huggingface/jinja; this many lines are re-lexed to locate one. */
const MAX_LOCATE_LINES = 4000;

export interface ChatTemplateOptions {
  bosToken?: string;
  eosToken?: string;
  /** Shown in error messages (e.g. the GGUF key the template came from). */
  name?: string;
}

export class ChatTemplate {
  readonly source: string;
  readonly bosToken: string;
  readonly eosToken: string;
  readonly name: string;
  private readonly compiled: Template;

  constructor(source: string, opts: ChatTemplateOptions = {}) {
    if (typeof source !== 'string') {
      throw new TemplateError(`chat template must be a string, got ${typeof source}`, { template: opts.name });
    }
    this.source = source;
    this.bosToken = opts.bosToken ?? '';
    this.eosToken = opts.eosToken ?? '';
    this.name = opts.name ?? 'chat template';
    try {
      this.compiled = new Template(source);
    } catch (e) {
      const cause = errorMessage(e);
      const line = locateSyntaxError(source, cause);
      const where = line === undefined ? '' : ` near line ${line}`;
      throw new TemplateError(`${this.name}: syntax error${where}: ${cause}`, { template: this.name, line, phase: 'compile' }, { cause: e });
    }
  }

  /** Renders `messages` to the prompt text. Throws TemplateError when the template fails. */
  render(messages: readonly ChatMessage[], opts: RenderOptions = {}): string {
    const context: Record<string, unknown> = {
      ...(opts.extra ?? {}),
      messages: normalizeMessages(messages),
      add_generation_prompt: opts.addGenerationPrompt ?? true,
      enable_thinking: opts.enableThinking ?? true,
      bos_token: this.bosToken,
      eos_token: this.eosToken,
    };
    if (opts.tools !== undefined) context.tools = normalizeTools(opts.tools);
    if (opts.preserveThinking !== undefined) context.preserve_thinking = opts.preserveThinking;
    try {
      return this.compiled.render(context);
    } catch (e) {
      throw new TemplateError(`${this.name}: render failed: ${errorMessage(e)}`, { template: this.name, phase: 'render' }, { cause: e });
    }
  }
}

const BUILTIN_NAME = 'built-in Qwen3.5 template';
let builtin: ChatTemplate | undefined;

/** The compiled built-in Qwen3.5/3.6 template (no BOS, EOS `<|im_end|>`: spec §5.2). */
export function builtinChatTemplate(): ChatTemplate {
  builtin ??= new ChatTemplate(QWEN35_BUILTIN_CHAT_TEMPLATE, { eosToken: '<|im_end|>', name: BUILTIN_NAME });
  return builtin;
}

const renderCache = new Map<string, ChatTemplate>();
const RENDER_CACHE_MAX = 16;

/**
 * One-shot render. `template` is Jinja source (default: the built-in template); compiled
 * templates are cached by source text.
 */
export function renderChat(
  messages: readonly ChatMessage[],
  opts: RenderOptions & { template?: string; bosToken?: string; eosToken?: string } = {},
): string {
  const { template, bosToken, eosToken, ...renderOpts } = opts;
  if (template === undefined && bosToken === undefined && eosToken === undefined) return builtinChatTemplate().render(messages, renderOpts);
  const source = template ?? QWEN35_BUILTIN_CHAT_TEMPLATE;
  const key = `${bosToken ?? ''}\u0000${eosToken ?? ''}\u0000${source}`;
  let t = renderCache.get(key);
  if (!t) {
    t = template === undefined
      ? new ChatTemplate(source, { bosToken, eosToken: eosToken ?? '<|im_end|>', name: BUILTIN_NAME })
      : new ChatTemplate(source, { bosToken, eosToken });
    if (renderCache.size >= RENDER_CACHE_MAX) {
      const oldest = renderCache.keys().next().value;
      if (oldest !== undefined) renderCache.delete(oldest);
    }
    renderCache.set(key, t);
  }
  return t.render(messages, renderOpts);
}

/**
 * The chat template of a GGUF: `tokenizer.chat_template` (or `tokenizer.chat_template.<name>`)
 * when present, else the built-in one. BOS/EOS strings come from `tokenizer.ggml.tokens` at
 * `tokenizer.ggml.{bos,eos}_token_id` when those keys are valid.
 */
export function templateFromMetadata(metadata: ReadonlyMap<string, GGUFMetadataValue>, opts: { name?: string } = {}): ChatTemplate {
  const key = opts.name === undefined ? 'tokenizer.chat_template' : `tokenizer.chat_template.${opts.name}`;
  const bosToken = tokenText(metadata, 'tokenizer.ggml.bos_token_id');
  const eosToken = tokenText(metadata, 'tokenizer.ggml.eos_token_id');
  const entry = metadata.get(key);
  if (entry === undefined) {
    if (opts.name !== undefined) {
      throw new TemplateError(`GGUF has no chat template named '${opts.name}' (key ${key})`, { key });
    }
    if (bosToken === undefined && eosToken === undefined) return builtinChatTemplate();
    return new ChatTemplate(QWEN35_BUILTIN_CHAT_TEMPLATE, { bosToken, eosToken: eosToken ?? '<|im_end|>', name: BUILTIN_NAME });
  }
  if (entry.type !== GGUFValueType.STRING || typeof entry.value !== 'string') {
    throw new GGUFError('GGUF_BAD_METADATA', `metadata key ${key} must be a string, got value type ${GGUFValueType[entry.type] ?? entry.type}`, { key });
  }
  return new ChatTemplate(entry.value, { bosToken, eosToken, name: key });
}

function tokenText(metadata: ReadonlyMap<string, GGUFMetadataValue>, idKey: string): string | undefined {
  const id = metadata.get(idKey);
  const tokens = metadata.get('tokenizer.ggml.tokens');
  if (!id || id.type === GGUFValueType.ARRAY || !tokens || tokens.type !== GGUFValueType.ARRAY) return undefined;
  const i = typeof id.value === 'bigint' ? Number(id.value) : id.value;
  if (typeof i !== 'number' || !Number.isInteger(i) || i < 0 || i >= tokens.value.length) return undefined;
  const text = tokens.value[i];
  return typeof text === 'string' ? text : undefined;
}

/** OpenAI-style tool list: bare function objects are wrapped as `{type:'function', function}`. */
export function normalizeTools(tools: readonly ToolDefinition[]): { type: 'function'; function: FunctionDefinition }[] {
  if (!Array.isArray(tools)) throw new QwenHybridError('INVALID_ARGUMENT', 'tools must be an array', { parameter: 'tools' });
  return tools.map((t, i) => {
    const fn = toolFunction(t);
    if (!fn || typeof fn.name !== 'string' || fn.name === '') {
      throw new QwenHybridError('INVALID_ARGUMENT', `tools[${i}] must be {type:'function', function:{name, …}} or {name, …}`, { parameter: `tools[${i}]` });
    }
    return { type: 'function', function: fn };
  });
}

/** The function definition inside a tool, whichever form it was given in. */
export function toolFunction(t: ToolDefinition): FunctionDefinition | undefined {
  if (t === null || typeof t !== 'object') return undefined;
  if ('function' in t && t.function !== null && typeof t.function === 'object') return t.function;
  return 'name' in t ? (t as FunctionDefinition) : undefined;
}

/**
 * Plain copies of the messages for the template: undefined fields dropped (so `is defined` works),
 * tool-call `arguments` given as a JSON-object string decoded to an object (templates iterate them).
 */
function normalizeMessages(messages: readonly ChatMessage[]): Record<string, unknown>[] {
  if (!Array.isArray(messages)) throw new QwenHybridError('INVALID_ARGUMENT', 'messages must be an array', { parameter: 'messages' });
  return messages.map((m, i) => {
    if (m === null || typeof m !== 'object' || !ROLES.has(m.role)) {
      throw new QwenHybridError('INVALID_ARGUMENT', `messages[${i}].role must be system, user, assistant or tool`, { parameter: `messages[${i}].role` });
    }
    const content = m.content ?? '';
    if (typeof content !== 'string') {
      throw new QwenHybridError('INVALID_ARGUMENT', `messages[${i}].content must be a string`, { parameter: `messages[${i}].content` });
    }
    const out: Record<string, unknown> = { role: m.role, content };
    if (m.reasoning_content !== undefined && m.reasoning_content !== null) out.reasoning_content = m.reasoning_content;
    if (m.name !== undefined) out.name = m.name;
    if (m.tool_call_id !== undefined) out.tool_call_id = m.tool_call_id;
    if (m.tool_calls !== undefined && m.tool_calls !== null) {
      if (!Array.isArray(m.tool_calls)) {
        throw new QwenHybridError('INVALID_ARGUMENT', `messages[${i}].tool_calls must be an array`, { parameter: `messages[${i}].tool_calls` });
      }
      out.tool_calls = (m.tool_calls as readonly ChatToolCall[]).map((c: ChatToolCall, j: number) => {
        const fn = c?.function;
        if (!fn || typeof fn.name !== 'string') {
          throw new QwenHybridError('INVALID_ARGUMENT', `messages[${i}].tool_calls[${j}].function.name must be a string`, { parameter: `messages[${i}].tool_calls[${j}]` });
        }
        let args: unknown = fn.arguments ?? {};
        if (typeof args === 'string') {
          try {
            const parsed: unknown = JSON.parse(args);
            if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) args = parsed;
          } catch {
            // not JSON: left as a string for templates that print it raw
          }
        }
        const call: Record<string, unknown> = { type: c.type ?? 'function', function: { name: fn.name, arguments: args } };
        if (c.id !== undefined) call.id = c.id;
        return call;
      });
    }
    return out;
  });
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * First line L such that compiling lines 1..L alone fails with the same message as the whole
 * template (@huggingface/jinja reports no positions). Approximate for errors that only show at
 * the end (an unclosed block); undefined when no prefix reproduces the message.
 */
function locateSyntaxError(source: string, message: string): number | undefined {
  const lines = source.split('\n');
  let prefix = '';
  for (let i = 0; i < lines.length && i < MAX_LOCATE_LINES; i++) {
    prefix += (i > 0 ? '\n' : '') + lines[i];
    try {
      parse(tokenize(prefix, { lstrip_blocks: true, trim_blocks: true }));
    } catch (e) {
      if (errorMessage(e) === message) return i + 1;
    }
  }
  return undefined;
}
