/**
 * Incremental parser for Qwen3.5/3.6 generated text (spec §5.3): splits the stream into reasoning
 * (`<think>…</think>`), content and XML tool calls
 *
 *   <tool_call>\n<function=NAME>\n<parameter=ARG>\nVALUE\n</parameter>\n…</function>\n</tool_call>
 *
 * (the Qwen3 JSON body `<tool_call>\n{"name": …, "arguments": {…}}\n</tool_call>` is accepted too).
 *
 * The result does not depend on how the text is chunked: `push(a); push(b)` gives the same
 * concatenated events as `push(a + b)`. Only text that may still turn out to be markup is held back:
 * - a suffix that is a proper prefix of the next tag (`<tool_call>`, `</think>`, `<think>` at the start);
 * - in reasoning, one trailing `\n` (it belongs to `\n</think>` if that follows);
 * - in content, a trailing run of whitespace (the separator dropped before a tool call);
 * - a tool call from `<tool_call>` until it is complete or proven malformed.
 *
 * Whitespace that mirrors the template (builtin-template.ts) is dropped, so parse(render(m)) == m:
 * one `\n` after `<think>` and one before `</think>`, all `\n` right after `</think>`, whitespace
 * before a tool call and after one. `<think>` opens reasoning only at the very start of the output
 * (after optional whitespace); inside reasoning only `</think>` is markup. A tool call that is
 * malformed, or unterminated at end(), is given back as content text, never dropped or thrown.
 *
 * Parameter values (raw text between `<parameter=…>\n` and `\n</parameter>`) are typed by the tool
 * schema: type "string" (or an all-string enum) keeps the text; a type list without "string" decodes
 * JSON, or the Python literals True/False/None, and keeps the text if neither parses; no schema, or
 * a union with "string": JSON-decoded only when the text is a JSON number, boolean, null, object or
 * array — so without a schema "42" becomes 42 (pass `tools` to keep string-typed digits as text).
 * A value cannot contain the text `</parameter>`.
 *
 * Every tool call gets an `id` when it completes (the model writes none; a JSON body's own "id" is ignored):
 * `call_` + 24 random characters of [A-Za-z0-9] (OpenAI's shape; ~143 bits, so ids do not collide across the
 * responses of a server either), or `toolCallId(index)` for reproducible output.
 */
import { QwenHybridError } from '../errors.js';
import { toolFunction } from './template.js';
import type { ChatEvent, ParsedChatOutput, ToolCall, ToolDefinition } from './types.js';

const THINK_OPEN = '<think>';
const THINK_CLOSE = '</think>';
const TOOL_OPEN = '<tool_call>';
const TOOL_CLOSE = '</tool_call>';
const FUNCTION_OPEN = '<function=';
const FUNCTION_CLOSE = '</function>';
const PARAM_OPEN = '<parameter=';
const PARAM_CLOSE = '</parameter>';

export interface ChatOutputParserOptions {
  /** True when the prompt ended inside a think block (generation prompt `…<think>\n`). */
  startInReasoning?: boolean;
  /** Tool schemas, used to type parameter values. */
  tools?: readonly ToolDefinition[];
  /**
   * The id of the `index`-th tool call of this output (0-based). Must return distinct non-empty strings
   * (INVALID_ARGUMENT otherwise). Default: `randomToolCallId()`.
   */
  toolCallId?: (index: number) => string;
}

const ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** `call_` + 24 characters of [A-Za-z0-9] from crypto.getRandomValues (bytes ≥ 248 redrawn: no modulo bias). */
export function randomToolCallId(): string {
  let id = 'call_';
  const buf = new Uint8Array(32);
  while (id.length < 29) {
    globalThis.crypto.getRandomValues(buf);
    for (const b of buf) if (b < 248 && id.length < 29) id += ID_ALPHABET[b % 62];
  }
  return id;
}

type Mode = 'reasoning' | 'content' | 'tool';
type LeadStrip = 'none' | 'newlines' | 'whitespace';

export class ChatOutputParser {
  private mode: Mode;
  /** Unconsumed text. In 'tool' mode it starts with `<tool_call>`. */
  private buf = '';
  /** Content whitespace held back: dropped if a tool call follows, emitted otherwise. */
  private pendingWs = '';
  /** One `\n` right after `<think>` is still to be dropped. */
  private dropReasoningNewline = false;
  private leadStrip: LeadStrip = 'none';
  /** Nothing but whitespace seen yet: a `<think>` here opens reasoning. */
  private thinkAllowed: boolean;
  private ended = false;
  /**
   * The last tool-call parse was incomplete inside a value or JSON body: only a closing tag can change
   * that, and it ends with '>', so chunks without '>' are just stored (keeps long streamed values linear).
   */
  private toolWaitingForClose = false;
  /** Chunks stored while toolWaitingForClose, joined into buf lazily (no re-flattening per push). */
  private toolTail: string[] = [];
  private readonly paramSchemas = new Map<string, Record<string, unknown>>();
  private events: ChatEvent[] = [];
  private reasoning = '';
  private content = '';
  private readonly toolCalls: ToolCall[] = [];
  private readonly toolCallId: (index: number) => string;
  private readonly ids = new Set<string>();

  constructor(opts: ChatOutputParserOptions = {}) {
    const startInReasoning = opts.startInReasoning ?? false;
    if (opts.toolCallId !== undefined && typeof opts.toolCallId !== 'function') {
      throw new QwenHybridError('INVALID_ARGUMENT', `ChatOutputParser: toolCallId must be a function (index) => string, got ${typeof opts.toolCallId}`, { parameter: 'toolCallId' });
    }
    this.toolCallId = opts.toolCallId ?? randomToolCallId;
    this.mode = startInReasoning ? 'reasoning' : 'content';
    this.thinkAllowed = !startInReasoning;
    for (const t of opts.tools ?? []) {
      const fn = toolFunction(t);
      const props = fn?.parameters?.['properties'];
      if (fn && typeof fn.name === 'string' && props !== null && typeof props === 'object') {
        this.paramSchemas.set(fn.name, props as Record<string, unknown>);
      }
    }
  }

  /** Feeds the next piece of generated text; returns the events it completes. */
  push(text: string): ChatEvent[] {
    if (this.ended) throw new QwenHybridError('INVALID_ARGUMENT', 'ChatOutputParser.push() called after end()', { parameter: 'text' });
    if (typeof text !== 'string') throw new QwenHybridError('INVALID_ARGUMENT', `ChatOutputParser.push() expects a string, got ${typeof text}`, { parameter: 'text' });
    if (this.mode === 'tool' && this.toolWaitingForClose && !text.includes('>')) {
      this.toolTail.push(text);
      return [];
    }
    this.flushToolTail();
    this.buf += text;
    this.process(false);
    return this.takeEvents();
  }

  private flushToolTail(): void {
    if (this.toolTail.length > 0) {
      this.buf += this.toolTail.join('');
      this.toolTail = [];
    }
  }

  /** Flushes everything held back (unterminated markup becomes text). Idempotent. */
  end(): ChatEvent[] {
    if (!this.ended) {
      this.ended = true;
      this.flushToolTail();
      this.process(true);
    }
    return this.takeEvents();
  }

  /** Everything emitted so far. */
  result(): ParsedChatOutput {
    return { reasoning: this.reasoning, content: this.content, toolCalls: [...this.toolCalls] };
  }

  private process(final: boolean): void {
    for (;;) {
      if (this.mode === 'reasoning') {
        if (!this.stepReasoning(final)) return;
      } else if (this.mode === 'content') {
        if (!this.stepContent(final)) return;
      } else if (!this.stepTool(final)) {
        return;
      }
    }
  }

  /** Returns true when the mode changed and processing should go on. */
  private stepReasoning(final: boolean): boolean {
    if (this.dropReasoningNewline) {
      if (this.buf === '' && !final) return false;
      if (this.buf.startsWith('\n')) this.buf = this.buf.slice(1);
      this.dropReasoningNewline = false;
    }
    const idx = this.buf.indexOf(THINK_CLOSE);
    if (idx >= 0) {
      let text = this.buf.slice(0, idx);
      if (text.endsWith('\n')) text = text.slice(0, -1);
      this.emitReasoning(text);
      this.buf = this.buf.slice(idx + THINK_CLOSE.length);
      this.mode = 'content';
      this.leadStrip = 'newlines';
      this.thinkAllowed = false;
      return true;
    }
    const hold = final ? 0 : Math.max(partialTagSuffix(this.buf, '\n' + THINK_CLOSE), partialTagSuffix(this.buf, THINK_CLOSE));
    this.emitReasoning(this.buf.slice(0, this.buf.length - hold));
    this.buf = this.buf.slice(this.buf.length - hold);
    return false;
  }

  private stepContent(final: boolean): boolean {
    if (this.leadStrip !== 'none') {
      let i = 0;
      while (i < this.buf.length && (this.leadStrip === 'newlines' ? this.buf[i] === '\n' : isWs(this.buf[i]!))) i++;
      this.buf = this.buf.slice(i);
      if (this.buf === '' && !final) return false;
      this.leadStrip = 'none';
    }
    if (this.thinkAllowed) {
      let j = 0;
      while (j < this.buf.length && isWs(this.buf[j]!)) j++;
      const rest = this.buf.slice(j);
      if (rest.startsWith(THINK_OPEN)) {
        this.pendingWs = '';
        this.buf = rest.slice(THINK_OPEN.length);
        this.thinkAllowed = false;
        this.mode = 'reasoning';
        this.dropReasoningNewline = true;
        return true;
      }
      if (!final && THINK_OPEN.startsWith(rest)) {
        // only whitespace and (a prefix of) `<think>` so far
        this.pendingWs += this.buf.slice(0, j);
        this.buf = rest;
        return false;
      }
      this.thinkAllowed = false;
    }
    const idx = this.buf.indexOf(TOOL_OPEN);
    if (idx >= 0) {
      this.emitContentText(this.buf.slice(0, idx));
      this.buf = this.buf.slice(idx);
      this.mode = 'tool';
      return true;
    }
    const hold = final ? 0 : partialTagSuffix(this.buf, TOOL_OPEN);
    this.emitContentText(this.buf.slice(0, this.buf.length - hold));
    this.buf = this.buf.slice(this.buf.length - hold);
    if (final && this.pendingWs !== '') {
      this.emit('content', this.pendingWs);
      this.pendingWs = '';
    }
    return false;
  }

  private stepTool(final: boolean): boolean {
    this.toolWaitingForClose = false;
    const r = parseToolCall(this.buf, this.paramSchemas);
    if (r.kind === 'complete') {
      this.pendingWs = '';
      const id = this.toolCallId(this.toolCalls.length);
      if (typeof id !== 'string' || id === '' || this.ids.has(id)) {
        throw new QwenHybridError('INVALID_ARGUMENT', `ChatOutputParser: toolCallId(${this.toolCalls.length}) returned ${JSON.stringify(id) ?? String(id)}; ids must be distinct non-empty strings`, { parameter: 'toolCallId' });
      }
      this.ids.add(id);
      const call: ToolCall = { id, ...r.call };
      this.toolCalls.push(call);
      this.events.push({ type: 'tool_call', call });
      this.buf = this.buf.slice(r.end);
      this.mode = 'content';
      this.leadStrip = 'whitespace';
      return true;
    }
    if (r.kind === 'incomplete' && !final) {
      this.toolWaitingForClose = r.inValue === true;
      return false;
    }
    // malformed, or unterminated at the end: the opening tag is text; rescan what follows it
    this.emit('content', this.pendingWs + TOOL_OPEN);
    this.pendingWs = '';
    this.buf = this.buf.slice(TOOL_OPEN.length);
    this.mode = 'content';
    return true;
  }

  /** Emits content text, keeping its trailing whitespace pending. */
  private emitContentText(text: string): void {
    let k = text.length;
    while (k > 0 && isWs(text[k - 1]!)) k--;
    if (k === 0) {
      this.pendingWs += text;
      return;
    }
    this.emit('content', this.pendingWs + text.slice(0, k));
    this.pendingWs = text.slice(k);
  }

  private emitReasoning(text: string): void {
    this.emit('reasoning', text);
  }

  private emit(type: 'reasoning' | 'content', text: string): void {
    if (text === '') return;
    if (type === 'reasoning') this.reasoning += text;
    else this.content += text;
    const last = this.events[this.events.length - 1];
    if (last !== undefined && last.type === type) last.text += text;
    else this.events.push({ type, text });
  }

  private takeEvents(): ChatEvent[] {
    const ev = this.events;
    this.events = [];
    return ev;
  }
}

/** Parses a complete generation in one go (same rules as the streaming parser). */
export function parseChatOutput(text: string, opts: ChatOutputParserOptions = {}): ParsedChatOutput {
  const p = new ChatOutputParser(opts);
  p.push(text);
  p.end();
  return p.result();
}

function isWs(c: string): boolean {
  return c === ' ' || c === '\n' || c === '\t' || c === '\r';
}

/** Length of the longest suffix of `s` that is a proper prefix of `tag` (0 if none). */
function partialTagSuffix(s: string, tag: string): number {
  for (let k = Math.min(tag.length - 1, s.length); k > 0; k--) {
    if (s.endsWith(tag.slice(0, k))) return k;
  }
  return 0;
}

type ToolParse = { kind: 'complete'; call: Omit<ToolCall, 'id'>; end: number } | { kind: 'incomplete'; inValue?: boolean } | { kind: 'malformed' };
const INCOMPLETE: ToolParse = { kind: 'incomplete' };
/** Waiting for `</parameter>` or `</tool_call>` after a value / JSON body. */
const INCOMPLETE_IN_VALUE: ToolParse = { kind: 'incomplete', inValue: true };
const MALFORMED: ToolParse = { kind: 'malformed' };

/** 'ok' if `s` has `lit` at `i`; 'partial' if `s` ends with a proper prefix of it there; else 'fail'. */
function matchAt(s: string, i: number, lit: string): 'ok' | 'partial' | 'fail' {
  const avail = s.length - i;
  if (avail >= lit.length) return s.startsWith(lit, i) ? 'ok' : 'fail';
  return lit.startsWith(s.slice(i)) ? 'partial' : 'fail';
}

function skipWs(s: string, i: number): number {
  while (i < s.length && isWs(s[i]!)) i++;
  return i;
}

/**
 * Parses `s` (which starts with `<tool_call>`) as one tool call. Monotone in its input: once
 * 'complete' or 'malformed' for a prefix, the same answer holds for every extension.
 */
function parseToolCall(s: string, schemas: ReadonlyMap<string, Record<string, unknown>>): ToolParse {
  let i = skipWs(s, TOOL_OPEN.length);
  if (i >= s.length) return INCOMPLETE;
  if (s[i] === '{') return parseJsonToolCall(s, i);
  const f = matchAt(s, i, FUNCTION_OPEN);
  if (f !== 'ok') return f === 'partial' ? INCOMPLETE : MALFORMED;
  const fname = readTagName(s, i + FUNCTION_OPEN.length);
  if (fname.kind !== 'ok') return fname.kind === 'incomplete' ? INCOMPLETE : MALFORMED;
  const name = fname.name;
  i = fname.end;
  const props = schemas.get(name);
  const args: Record<string, unknown> = {};
  for (;;) {
    i = skipWs(s, i);
    if (i >= s.length) return INCOMPLETE;
    const p = matchAt(s, i, PARAM_OPEN);
    if (p === 'ok') {
      const pname = readTagName(s, i + PARAM_OPEN.length);
      if (pname.kind !== 'ok') return pname.kind === 'incomplete' ? INCOMPLETE : MALFORMED;
      i = pname.end;
      if (i >= s.length) return INCOMPLETE; // whether a '\n' follows decides the value's first char
      if (s[i] === '\n') i++;
      const close = s.indexOf(PARAM_CLOSE, i);
      if (close < 0) return INCOMPLETE_IN_VALUE;
      let value = s.slice(i, close);
      if (value.endsWith('\n')) value = value.slice(0, -1);
      args[pname.name] = typeValue(value, props?.[pname.name]);
      i = close + PARAM_CLOSE.length;
      continue;
    }
    const fc = matchAt(s, i, FUNCTION_CLOSE);
    if (fc === 'ok') {
      i = skipWs(s, i + FUNCTION_CLOSE.length);
      if (i >= s.length) return INCOMPLETE;
      const tc = matchAt(s, i, TOOL_CLOSE);
      if (tc !== 'ok') return tc === 'partial' ? INCOMPLETE : MALFORMED;
      const end = i + TOOL_CLOSE.length;
      return { kind: 'complete', end, call: { name, arguments: args, raw: s.slice(0, end) } };
    }
    return p === 'partial' || fc === 'partial' ? INCOMPLETE : MALFORMED;
  }
}

/** `NAME>` at `i`: NAME is non-empty and has no '<', '>' or newline. */
function readTagName(s: string, i: number): { kind: 'ok'; name: string; end: number } | { kind: 'incomplete' } | { kind: 'malformed' } {
  for (let j = i; j < s.length; j++) {
    const c = s[j];
    if (c === '>') {
      const name = s.slice(i, j).trim();
      return name === '' ? MALFORMED_NAME : { kind: 'ok', name, end: j + 1 };
    }
    if (c === '<' || c === '\n') return MALFORMED_NAME;
  }
  return { kind: 'incomplete' };
}
const MALFORMED_NAME = { kind: 'malformed' } as const;

/** Qwen3-style `{"name": …, "arguments": {…}}` body, up to the first `</tool_call>`. */
function parseJsonToolCall(s: string, i: number): ToolParse {
  const close = s.indexOf(TOOL_CLOSE, i);
  if (close < 0) return INCOMPLETE_IN_VALUE;
  let body: unknown;
  try {
    body = JSON.parse(s.slice(i, close));
  } catch {
    return MALFORMED;
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return MALFORMED;
  const { name, arguments: rawArgs } = body as { name?: unknown; arguments?: unknown };
  if (typeof name !== 'string' || name === '') return MALFORMED;
  let args: unknown = rawArgs ?? {};
  if (typeof args === 'string') {
    try {
      args = JSON.parse(args);
    } catch {
      return MALFORMED;
    }
  }
  if (args === null || typeof args !== 'object' || Array.isArray(args)) return MALFORMED;
  const end = close + TOOL_CLOSE.length;
  return { kind: 'complete', end, call: { name, arguments: args as Record<string, unknown>, raw: s.slice(0, end) } };
}

/** Types a raw parameter value by its JSON schema (see the file comment for the rules). */
function typeValue(text: string, schema: unknown): unknown {
  const sch = schema !== null && typeof schema === 'object' ? (schema as Record<string, unknown>) : undefined;
  const t = sch?.['type'];
  const types = typeof t === 'string' ? [t] : Array.isArray(t) ? t.filter((x): x is string => typeof x === 'string') : [];
  if (types.length > 0 && types.every((x) => x === 'string')) return text;
  const en = sch?.['enum'];
  if (types.length === 0 && Array.isArray(en) && en.length > 0 && en.every((x) => typeof x === 'string')) return text;
  if (types.length > 0 && !types.includes('string')) {
    try {
      return JSON.parse(text);
    } catch {
      // Python literals, as a template's `| string` filter prints them
      const t2 = text.trim();
      if (t2 === 'True' || t2 === 'False') return t2 === 'True';
      if (t2 === 'None') return null;
      return text;
    }
  }
  return decodeNonStringJson(text);
}

/** JSON-decodes `text` when it is a JSON number, boolean, null, object or array; else returns it. */
function decodeNonStringJson(text: string): unknown {
  const c = text.trim()[0];
  if (c === undefined || !'{[-0123456789tfn'.includes(c)) return text;
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === 'string' ? text : v;
  } catch {
    return text;
  }
}
