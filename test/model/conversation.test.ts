/**
 * ChatConversation (issue 13 item 4): multi-turn chat on one session, which `session.chat()` refuses from turn 2 on
 * because the template drops the earlier turns' `<think>` blocks. Demo model (random weights): the text is
 * meaningless, but what the session holds after each turn is checked against an independent render of the
 * conversation, so the state is exactly "this conversation's prompt + the reply", however much was reused.
 */
import { thrownCode } from '../helpers/errors.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QwenHybridError } from '../../src/errors.js';
import { ChatConversation, loadModel, renderChatPrompt, type ChatMessage, type Model } from '../../src/index.js';
import { demoModelPath } from '../../src/model/demo.js';

let model: Model;
beforeAll(async () => {
  model = await loadModel(await demoModelPath(), { backend: 'cpu', threads: 2 });
});
afterAll(() => model?.dispose());

const turn = { maxTokens: 12, temperature: 0 } as const;

/** The independent render of `messages` + generation prompt, as a fresh session's chat() would evaluate it. */
function rendered(messages: readonly ChatMessage[], opts: { preserveThinking?: boolean; addGenerationPrompt?: boolean } = {}): number[] {
  const s = model.createSession({ contextSize: 16 });
  try {
    return renderChatPrompt(s, messages, opts).tokens;
  } finally {
    s.dispose();
  }
}

describe('ChatConversation', () => {
  it('session.chat refuses turn 2 (the reason this exists)', async () => {
    const s = model.createSession({ contextSize: 512 });
    const m1: ChatMessage[] = [{ role: 'user', content: 'Hello' }];
    const st = s.chat(m1, turn);
    for await (const _ of st) {
      // drain
    }
    const r = await st.result;
    const m2: ChatMessage[] = [...m1, { role: 'assistant', content: r.content, reasoning_content: r.reasoning }, { role: 'user', content: 'Again' }];
    expect(() => s.chat(m2, turn)).toThrow(/not a prefix/);
    s.dispose();
  });

  it('three turns: each holds exactly the rendered conversation + reply; later turns reuse the state', async () => {
    const s = model.createSession({ contextSize: 1024 });
    const conv = new ChatConversation(s, { system: 'You are terse.' });
    const texts = ['Hello', 'Tell me more', 'Thanks'];
    for (let k = 0; k < texts.length; k++) {
      const msgs = [...conv.messages, { role: 'user' as const, content: texts[k]! }];
      const r = await conv.prompt(texts[k]!, turn);
      expect(r.stats.generatedTokens).toBeGreaterThan(0);
      // system + 2 messages per turn; the reply is an assistant message with the parsed reasoning / content.
      const after = conv.messages;
      expect(after.length).toBe(1 + 2 * (k + 1));
      expect(after.at(-2)).toEqual({ role: 'user', content: texts[k] });
      expect(after.at(-1)).toMatchObject({ role: 'assistant', content: r.content });
      // The session holds exactly the independently rendered conversation, then the reply's tokens but the last
      // (generate feeds a token only when its successor is needed).
      const P = rendered(msgs);
      expect(s.history.slice(0, P.length)).toEqual(P);
      expect(s.history.length).toBe(P.length + r.stats.generatedTokens - 1);
      const t = conv.lastTurn!;
      expect(t.promptTokens).toBe(P.length);
      expect(t.reusedTokens + t.evaluatedTokens).toBe(P.length);
      if (k === 0) expect(t.reusedTokens).toBe(0);
      else {
        // The earlier messages were not evaluated again (only the previous reply, its reasoning dropped, and the new message).
        const earlier = rendered(msgs.slice(0, -2), { addGenerationPrompt: false }).length;
        expect(t.reusedTokens).toBeGreaterThanOrEqual(earlier);
        expect(t.evaluatedTokens).toBeLessThan(P.length - earlier + 1);
      }
    }
    s.dispose();
  });

  it('a reused turn continues exactly as a fresh session given the whole conversation (greedy, same first token)', async () => {
    const conv = new ChatConversation(model.createSession({ contextSize: 1024 }));
    await conv.prompt('Hello', turn);
    const msgs = [...conv.messages, { role: 'user' as const, content: 'Again please' }];
    const r2 = await conv.prompt('Again please', { ...turn, maxTokens: 1 });
    const fresh = model.createSession({ contextSize: 1024 });
    const st = fresh.chat(msgs, { ...turn, maxTokens: 1 });
    for await (const _ of st) {
      // drain
    }
    const rf = await st.result;
    expect(r2.reasoning + r2.content).toBe(rf.reasoning + rf.content);
    fresh.dispose();
    conv.session.dispose();
  });

  it('preserveThinking keeps the session a prefix: nothing is re-evaluated but the new messages', async () => {
    const s = model.createSession({ contextSize: 1024 });
    const conv = new ChatConversation(s, { preserveThinking: true });
    await conv.prompt('Hello', turn);
    const heldBefore = s.position;
    await conv.prompt('More', turn);
    const t = conv.lastTurn!;
    // Everything the session held (up to where the reply re-tokenizes differently) is reused.
    expect(t.reusedTokens).toBeGreaterThan(0);
    expect(t.reusedTokens).toBeLessThanOrEqual(heldBefore);
    s.dispose();
  });

  it('typed errors: a non-session, bad messages, a disposed session, a second concurrent turn', async () => {
    const code = thrownCode;
    expect(code(() => new ChatConversation({} as never))).toBe('INVALID_ARGUMENT');
    const s = model.createSession({ contextSize: 1024 });
    const conv = new ChatConversation(s);
    expect(code(() => conv.send({ role: 'robot', content: 'x' } as never))).toBe('INVALID_ARGUMENT');
    expect(code(() => conv.send({ role: 'user', content: 5 } as never))).toBe('INVALID_ARGUMENT');
    expect(code(() => conv.send([]))).toBe('INVALID_ARGUMENT');
    const a = conv.send('Hello', turn);
    const it1 = a[Symbol.asyncIterator]();
    await it1.next();
    expect(code(() => conv.send('Again', turn))).toBe('SESSION_BUSY');
    await it1.return?.();
    // A stream is iterable once.
    expect(code(() => a[Symbol.asyncIterator]())).toBe('STREAM_CONSUMED');
    s.dispose();
    expect(code(() => conv.send('x'))).toBe('DISPOSED');
  });
});
