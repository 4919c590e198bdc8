/**
 * A multi-turn chat on one session (node-llama-cpp's LlamaChatSession, OpenAI's messages list kept for you): it keeps
 * the messages, renders the whole conversation with the model's chat template each turn, and evaluates only what
 * the session does not already hold.
 *
 *   const conv = new ChatConversation(model.createSession(), { system: 'You are terse.' });
 *   for await (const ev of conv.send('Hi')) if (ev.type === 'content') process.stdout.write(ev.text);
 *   const { content } = await conv.prompt('And in French?');   // the whole reply as one value
 *
 * Reuse. Turn k renders P_k = template(messages, generation prompt) and tokenizes it (special tokens parsed). The
 * session holds H (the previous turns' prompts and generated tokens, minus the last generated one: generate feeds
 * a token only when its successor is needed). If H is a prefix of P_k, only P_k[|H|..] is evaluated. It usually is
 * not: the template drops older assistant turns' `<think>` blocks (unless `preserveThinking`), and a generated
 * token sequence need not be what re-tokenizing its text gives. The recurrent (Gated DeltaNet) state cannot be
 * rewound, so each turn takes a checkpoint (Session.snapshot) at the end of its messages, just before the
 * generation prompt: a point the next turn's render shares (it changes only the assistant turn that follows). On a
 * mismatch the longest checkpoint that is a prefix of P_k is restored and the rest evaluated: the previous answer
 * (without its reasoning) and the new message, as llama.cpp re-evaluates from the first differing token. Snapshots
 * hold only the KV rows in use (model/snapshot.ts), so a checkpoint costs the recurrent state plus position × KV row.
 *
 * The session belongs to the conversation: other calls on it between turns invalidate the reuse (the next turn
 * then restores a checkpoint or starts from the one taken at construction). A turn that throws adds nothing to the
 * messages; an aborted or max-tokens turn adds what was generated.
 */
import { deferred } from './deferred.js';
import type { ChatMessage, ToolDefinition } from '../chat/types.js';
import { QwenHybridError } from '../errors.js';
import type { Session, SessionSnapshot } from '../model/session.js';
import { renderChatPrompt, type ChatOptions, type ChatResult, type ChatStream } from './chat.js';

export interface ChatConversationOptions {
  /** A system message placed first. */
  system?: string;
  /** Tools offered on every turn (a turn's `tools` option replaces them for that turn). */
  tools?: ToolDefinition[];
  /** Thinking mode for every turn (default true; a turn's `thinking` option overrides it). */
  thinking?: boolean;
  /** Keep earlier assistant turns' reasoning in the rendered history (default false, as the Qwen template does). */
  preserveThinking?: boolean;
  /** Earlier messages to continue from (system included, if any). */
  messages?: readonly ChatMessage[];
}

/** Options of one turn: generation / sampling options plus per-turn chat switches. */
export type ChatTurnOptions = Omit<ChatOptions, 'preserveThinking'>;

export interface ConversationTurnStats {
  /** Tokens of the rendered conversation (the turn's whole prompt). */
  promptTokens: number;
  /** Of those, already in the session state (as it was, or a restored checkpoint). */
  reusedTokens: number;
  /** Evaluated this turn: promptTokens − reusedTokens. */
  evaluatedTokens: number;
}

interface Checkpoint {
  tokens: number[];
  snap: SessionSnapshot;
}

const commonPrefix = (a: readonly number[], b: readonly number[]): number => {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
};

function checkMessage(m: unknown, i: number): ChatMessage {
  if (m === null || typeof m !== 'object') throw new QwenHybridError('INVALID_ARGUMENT', `message #${i} must be an object {role, content}`, { parameter: 'message', index: i });
  const { role, content } = m as ChatMessage;
  if (role !== 'user' && role !== 'tool' && role !== 'system' && role !== 'assistant') {
    throw new QwenHybridError('INVALID_ARGUMENT', `message #${i}: role must be 'user', 'tool', 'system' or 'assistant', got ${JSON.stringify(role)}`, { parameter: 'message', index: i });
  }
  if (typeof content !== 'string') throw new QwenHybridError('INVALID_ARGUMENT', `message #${i}: content must be a string`, { parameter: 'message', index: i });
  return m as ChatMessage;
}

export class ChatConversation {
  readonly session: Session;
  #messages: ChatMessage[];
  readonly #tools: ToolDefinition[] | undefined;
  readonly #thinking: boolean;
  readonly #preserveThinking: boolean;
  /** Checkpoints, oldest first: the session as it was at construction, then one per turn (the latest kept). */
  #base: Promise<Checkpoint>;
  #last: Checkpoint | null = null;
  #busy = false;
  #lastTurn: ConversationTurnStats | null = null;

  constructor(session: Session, opts: ChatConversationOptions = {}) {
    if (session === null || typeof session !== 'object' || typeof (session as Session).snapshot !== 'function') {
      throw new QwenHybridError('INVALID_ARGUMENT', 'ChatConversation: the first argument must be a Session (model.createSession())', { parameter: 'session' });
    }
    if (opts === null || typeof opts !== 'object') throw new QwenHybridError('INVALID_ARGUMENT', 'ChatConversation: options must be an object', { parameter: 'opts' });
    if (opts.system !== undefined && typeof opts.system !== 'string') throw new QwenHybridError('INVALID_ARGUMENT', 'ChatConversation: system must be a string', { parameter: 'system' });
    if (opts.messages !== undefined && !Array.isArray(opts.messages)) throw new QwenHybridError('INVALID_ARGUMENT', 'ChatConversation: messages must be an array', { parameter: 'messages' });
    if (session.disposed) throw new QwenHybridError('DISPOSED', 'ChatConversation: the session was disposed');
    this.session = session;
    const earlier = (opts.messages ?? []).map((m, i) => checkMessage(m, i));
    this.#messages = opts.system !== undefined ? [{ role: 'system', content: opts.system }, ...earlier] : earlier;
    this.#tools = opts.tools;
    this.#thinking = opts.thinking ?? true;
    this.#preserveThinking = opts.preserveThinking ?? false;
    const base = session.snapshot().then((snap) => ({ tokens: [...snap.history], snap }));
    base.catch(() => {}); // reported by the first turn
    this.#base = base;
  }

  /** How the latest turn's prompt was served: tokens the session already held (reused) and tokens evaluated. */
  get lastTurn(): ConversationTurnStats | null {
    return this.#lastTurn ? { ...this.#lastTurn } : null;
  }

  /** The conversation so far (copies): system, user, assistant (with reasoning_content and tool_calls), tool. */
  get messages(): ChatMessage[] {
    return this.#messages.map((m) => ({ ...m }));
  }

  /**
   * Adds `message` (text = a user message; or a message / messages, e.g. `tool` results) and streams the reply's
   * reasoning / content / tool-call events; `result` resolves with the parsed reply. The reply is added to
   * `messages` when the stream ends. One turn at a time: SESSION_BUSY while another turn of this conversation (or
   * another generation on its session) runs.
   */
  send(message: string | ChatMessage | readonly ChatMessage[], opts: ChatTurnOptions = {}): ChatStream {
    if (this.session.disposed) throw new QwenHybridError('DISPOSED', 'ChatConversation.send: the session was disposed');
    if (this.#busy) throw new QwenHybridError('SESSION_BUSY', 'ChatConversation.send: the previous turn is still running (finish or break out of its stream first)');
    if (opts === null || typeof opts !== 'object') throw new QwenHybridError('INVALID_ARGUMENT', 'ChatConversation.send: options must be an object', { parameter: 'opts' });
    const added: ChatMessage[] =
      typeof message === 'string'
        ? [{ role: 'user', content: message }]
        : Array.isArray(message)
          ? message.map((m, i) => checkMessage(m, i))
          : [checkMessage(message, 0)];
    if (added.length === 0) throw new QwenHybridError('INVALID_ARGUMENT', 'ChatConversation.send: no message to add', { parameter: 'message' });
    const messages = [...this.#messages, ...added];
    const thinking = opts.thinking ?? this.#thinking;
    const tools = opts.tools ?? this.#tools;
    const render = { thinking, preserveThinking: this.#preserveThinking, ...(tools ? { tools } : {}) };
    // Template errors (a bad message) surface here, at the call.
    const { tokens } = renderChatPrompt(this.session, messages, render);
    const head = renderChatPrompt(this.session, messages, { ...render, addGenerationPrompt: false }).tokens;
    const checkpointAt = commonPrefix(head, tokens) === head.length ? head.length : -1;
    if (tokens.length > this.session.contextSize) {
      throw new QwenHybridError('CONTEXT_FULL', `ChatConversation.send: the conversation is ${tokens.length} tokens, over the context size ${this.session.contextSize}`, { tokens: tokens.length, contextSize: this.session.contextSize });
    }

    const { promise: result, resolve: resolveResult, reject: rejectResult } = deferred<ChatResult>();
    let iterated = false;

    const run = async function* (this: ChatConversation) {
      if (this.#busy) {
        const e = new QwenHybridError('SESSION_BUSY', 'ChatConversation: another turn of this conversation is running (one at a time)');
        rejectResult(e);
        throw e;
      }
      this.#busy = true;
      let inner: ChatStream | undefined;
      let settled = false;
      try {
        await this.#rewind(tokens);
        // Evaluate up to the checkpoint (end of the messages), snapshot, and let chat() evaluate the generation prompt.
        const at = this.session.position;
        this.#lastTurn = { promptTokens: tokens.length, reusedTokens: at, evaluatedTokens: tokens.length - at };
        if (checkpointAt > at) {
          await this.session.evaluate(tokens.slice(at, checkpointAt), { logits: 'none', ...(opts.signal ? { signal: opts.signal } : {}) });
          this.#last = { tokens: tokens.slice(0, checkpointAt), snap: await this.session.snapshot() };
        }
        inner = this.session.chat(messages, { ...opts, thinking, preserveThinking: this.#preserveThinking, ...(tools ? { tools } : {}) });
        for await (const ev of inner) yield ev;
        const r = await inner.result;
        settled = true;
        this.#messages = [...messages, replyMessage(r)];
        resolveResult(r);
      } catch (e) {
        settled = true;
        rejectResult(e);
        throw e;
      } finally {
        this.#busy = false;
        // The consumer broke out: the reply so far (stop reason 'aborted') joins the messages, as an aborted turn.
        if (!settled) {
          if (inner) {
            inner.result.then((r) => {
              this.#messages = [...messages, replyMessage(r)];
              resolveResult(r);
            }, rejectResult);
          } else rejectResult(new QwenHybridError('ABORTED', 'ChatConversation: the turn was abandoned before it started generating'));
        }
      }
    }.bind(this);

    return {
      [Symbol.asyncIterator]: () => {
        if (iterated) throw new QwenHybridError('STREAM_CONSUMED', 'this chat stream was already iterated (a stream is iterable once)');
        iterated = true;
        return run();
      },
      result,
    } as ChatStream;
  }

  /** send() consumed to the end: the parsed reply (reasoning, content, toolCalls, stats). */
  async prompt(message: string | ChatMessage | readonly ChatMessage[], opts: ChatTurnOptions = {}): Promise<ChatResult> {
    const s = this.send(message, opts);
    for await (const _ of s) {
      // events are in the result
    }
    return s.result;
  }

  /** Brings the session to a prefix of `tokens`: as it is, else the latest checkpoint that is one. */
  async #rewind(tokens: readonly number[]): Promise<void> {
    const h = this.session.history;
    if (commonPrefix(h, tokens) === h.length) return;
    for (const c of [this.#last, await this.#base]) {
      if (c && commonPrefix(c.tokens, tokens) === c.tokens.length) {
        await this.session.restore(c.snap);
        return;
      }
    }
    throw new QwenHybridError('INVALID_ARGUMENT', 'ChatConversation: the session holds tokens that are not a prefix of the conversation and no checkpoint is (the session was used outside the conversation before it started)', { parameter: 'session' });
  }
}

/** The assistant message a reply adds to the history (tool calls with their ids, reasoning kept separately). */
function replyMessage(r: ChatResult): ChatMessage {
  const m: ChatMessage = { role: 'assistant', content: r.content };
  if (r.reasoning) m.reasoning_content = r.reasoning;
  if (r.toolCalls.length > 0) {
    m.tool_calls = r.toolCalls.map((c) => ({ type: 'function' as const, ...((c as { id?: string }).id ? { id: (c as { id?: string }).id } : {}), function: { name: c.name, arguments: c.arguments } }));
  }
  return m;
}
