/**
 * generate() and chat() on the tiny models. Oracle: llama.cpp (node-llama-cpp, CPU, one thread, F32 KV, flash
 * attention off) greedy-decodes the exact-F32 TWIN; our engine greedy-decodes the QUANTIZED file: the 16 tokens
 * must be identical. Stop strings, maxTokens, abort and context-full are checked against that oracle's text and
 * token counts; the streaming mechanics (UTF-8 boundaries, held-back stop prefixes) against a scripted session
 * whose next token is fixed in advance; chat() against ChatOutputParser fed the same generated text.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseChatOutput } from '../../src/chat/parser.js';
import { builtinChatTemplate } from '../../src/chat/template.js';
import type { ChatEvent } from '../../src/chat/types.js';
import { QwenHybridError } from '../../src/errors.js';
import { loadModel, type Model } from '../../src/model/index.js';
import { TINY_PRESET_NAMES } from '../../src/model/tiny/index.js';
import { chat, renderChatPrompt } from '../../src/runtime/chat.js';
import { generate, type GenerateChunk, type GenerationSession } from '../../src/runtime/generate.js';
import { buildTinyVocab, Tokenizer } from '../../src/tokenizer/index.js';
import { disposeOracleLlama, llamaGreedy } from '../helpers/llama-oracle.js';
import { getTinyModel } from '../helpers/model-cache.js';

const GREEDY = 16;
const PROMPT = 'The quick brown fox jumps over the lazy dog. Once upon a time';

afterAll(disposeOracleLlama);

async function collect(it: AsyncIterable<GenerateChunk>): Promise<GenerateChunk[]> {
  const out: GenerateChunk[] = [];
  for await (const c of it) out.push(c);
  return out;
}

describe.each(TINY_PRESET_NAMES)('preset %s', (preset) => {
  let model: Model;
  let oracle: number[];
  let prompt: number[];
  beforeAll(async () => {
    const m = await getTinyModel(preset);
    model = await loadModel(m.path, { kvCacheType: 'f32', threads: 1 });
    prompt = model.tokenize(PROMPT);
    oracle = await llamaGreedy(m.twinPath, prompt, m.config.nVocab, GREEDY);
    console.log(`[generate ${preset}] oracle ${oracle.join(",")} eog-at ${oracle.findIndex((t) => model.tokenizer.isEog(t))} text ${JSON.stringify(model.tokenizer.decode(oracle))}`);
  });
  afterAll(() => model?.dispose());

  // Our generate stops at an EOG token (not yielded); compare up to llama's first EOG.
  const upToEog = (ids: number[]): number[] => {
    const i = ids.findIndex((t) => model.tokenizer.isEog(t));
    return i < 0 ? ids : ids.slice(0, i);
  };

  it(`${GREEDY} greedy tokens equal llama.cpp's on the F32 twin`, async () => {
    const s = model.createSession({ contextSize: 128 });
    const stream = generate(s, prompt, { temperature: 0, maxTokens: GREEDY });
    const chunks = await collect(stream);
    const want = upToEog(oracle);
    expect(chunks.map((c) => c.token)).toEqual(want);
    const stats = await stream.stats;
    expect(stats.stopReason).toBe(want.length < GREEDY ? 'eog' : 'max-tokens');
    expect(stats.promptTokens).toBe(prompt.length);
    expect(stats.generatedTokens).toBe(want.length);
    // The streamed text is the detokenized oracle sequence.
    expect(chunks.map((c) => c.text).join('')).toBe(model.tokenizer.decode(want));
    // The last token is not fed back: position = prompt + generated − 1 (max-tokens case).
    if (want.length === GREEDY) expect(s.position).toBe(prompt.length + GREEDY - 1);
    s.dispose();
  });

  it('a text prompt tokenizes like the token prompt; maxTokens bounds the output', async () => {
    const s = model.createSession({ contextSize: 128 });
    const stream = generate(s, PROMPT, { temperature: 0, maxTokens: 5 });
    const chunks = await collect(stream);
    expect(chunks.map((c) => c.token)).toEqual(upToEog(oracle).slice(0, 5));
    if (chunks.length === 5) expect((await stream.stats).stopReason).toBe('max-tokens');
    const zero = generate(model.createSession(), prompt, { temperature: 0, maxTokens: 0 });
    expect(await collect(zero)).toEqual([]);
    expect((await zero.stats).stopReason).toBe('max-tokens');
  });

  it('stops at a stop string taken from the oracle text, emitting exactly the text before it', async () => {
    const want = upToEog(oracle);
    const text = model.tokenizer.decode(want);
    // A 2-code-point stop string starting in the second half of the text, free of U+FFFD.
    const cps = [...text];
    let at = Math.floor(cps.length / 2);
    while (at + 2 <= cps.length && cps.slice(at, at + 2).join('').includes('\uFFFD')) at++;
    expect(at + 2, 'oracle text long enough for a stop string').toBeLessThanOrEqual(cps.length);
    const stop = cps.slice(at, at + 2).join('');
    const before = text.slice(0, text.indexOf(stop));
    const stream = generate(model.createSession(), prompt, { temperature: 0, maxTokens: GREEDY, stop: [stop] });
    const chunks = await collect(stream);
    expect(chunks.map((c) => c.text).join('')).toBe(before);
    expect((await stream.stats).stopReason).toBe('stop-string');
    // Tokens are the oracle's up to the one that completed the stop string.
    expect(chunks.map((c) => c.token)).toEqual(want.slice(0, chunks.length));
  });

  it('context full during generation ends with context-full; a prompt too long throws CONTEXT_FULL', async () => {
    const s = model.createSession({ contextSize: prompt.length + 3 });
    const stream = generate(s, prompt, { temperature: 0, maxTokens: GREEDY });
    const chunks = await collect(stream);
    const want = upToEog(oracle);
    if (want.length >= 4) {
      // t1..t3 are fed (positions P..P+2); t4 is sampled, yielded, and cannot be fed.
      expect(chunks.map((c) => c.token)).toEqual(want.slice(0, 4));
      expect((await stream.stats).stopReason).toBe('context-full');
      expect(s.position).toBe(prompt.length + 3);
    }
    const small = model.createSession({ contextSize: prompt.length - 1 });
    // Thrown at the call (issue 13: a streaming server learns it before sending headers), not at the first next().
    let err: unknown;
    try {
      generate(small, prompt, { temperature: 0 });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(QwenHybridError);
    expect((err as QwenHybridError).code).toBe('CONTEXT_FULL');
    expect(small.position).toBe(0);
  });

  it('an AbortSignal ends the stream with aborted', async () => {
    const pre = new AbortController();
    pre.abort();
    const s0 = model.createSession();
    const st0 = generate(s0, prompt, { temperature: 0, signal: pre.signal });
    expect(await collect(st0)).toEqual([]);
    expect((await st0.stats).stopReason).toBe('aborted');
    expect(s0.position).toBe(0);

    const ac = new AbortController();
    const st = generate(model.createSession(), prompt, { temperature: 0, maxTokens: GREEDY, signal: ac.signal });
    const got: number[] = [];
    for await (const c of st) {
      got.push(c.token);
      if (got.length === 2) ac.abort();
    }
    const stats = await st.stats;
    if (upToEog(oracle).length > 4) {
      expect(stats.stopReason).toBe('aborted');
      // Nothing arrives after abort() (the look-ahead chunk is dropped).
      expect(got.length).toBe(2);
      expect(got).toEqual(oracle.slice(0, got.length));
    }
    expect(stats.generatedTokens).toBe(got.length);

    // Breaking out of the loop also resolves the stats as aborted.
    const st2 = generate(model.createSession(), prompt, { temperature: 0, maxTokens: GREEDY });
    for await (const _ of st2) break;
    if (upToEog(oracle).length > 2) expect((await st2.stats).stopReason).toBe('aborted');
  });

  it('seeded sampling is reproducible', async () => {
    const run = async (seed: number): Promise<number[]> =>
      (await collect(generate(model.createSession(), prompt, { temperature: 1, topK: 0, topP: 1, minP: 0, seed, maxTokens: 12 }))).map((c) => c.token);
    expect(await run(5)).toEqual(await run(5));
  });

  it('chat(): events and result equal ChatOutputParser fed the generated text', async () => {
    for (const thinking of [true, false]) {
      const messages = [{ role: 'user' as const, content: 'Hello, who are you?' }];
      const opts = { temperature: 1, seed: 11, maxTokens: 24, thinking };
      const s = model.createSession();
      const stream = chat(s, messages, opts);
      const events: ChatEvent[] = [];
      for await (const e of stream) events.push(e);
      const result = await stream.result;
      // The same generation through generate(): same prompt tokens, same seed → same tokens.
      const { tokens, startInReasoning, prompt: rendered } = renderChatPrompt(s, messages, { thinking });
      expect(startInReasoning).toBe(thinking);
      expect(rendered.endsWith(thinking ? '<think>\n' : '</think>\n\n')).toBe(true);
      const { thinking: _t, ...genOpts } = opts;
      const raw = (await collect(generate(model.createSession(), tokens, genOpts))).map((c) => c.text).join('');
      const want = parseChatOutput(raw, { startInReasoning });
      // Tool-call ids are random per parse: compare the calls without them.
      const noIds = (r: { reasoning: string; content: string; toolCalls: { id: string }[] }) => ({ ...r, toolCalls: r.toolCalls.map(({ id: _id, ...c }) => c) });
      expect(noIds({ reasoning: result.reasoning, content: result.content, toolCalls: result.toolCalls })).toEqual(noIds(want));
      const joined = (type: string): string => events.filter((e) => e.type === type).map((e) => (e as { text: string }).text).join('');
      expect(joined('reasoning')).toBe(want.reasoning);
      expect(joined('content')).toBe(want.content);
      expect(events.filter((e) => e.type === 'tool_call').length).toBe(want.toolCalls.length);
      expect(result.stats.promptTokens).toBe(tokens.length);
      if (!thinking) expect(result.reasoning).toBe('');
    }
  });
});

// --------------------------------------------------------------- scripted session: streaming mechanics

/** A session whose next token is scripted: evaluate returns a one-hot row for script[generated so far]. */
function scripted(script: number[], contextSize = 1000): GenerationSession {
  const tokenizer = Tokenizer.fromVocab(buildTinyVocab());
  const V = tokenizer.vocabSize;
  const history: number[] = [];
  let promptLen = -1;
  return {
    model: { tokenizer, vocabSize: V, tokenize: (t, o) => tokenizer.encode(t, o) },
    get position() { return history.length; },
    get history() { return history; },
    async evaluate(tokens) {
      if (history.length + tokens.length > contextSize) throw new QwenHybridError('CONTEXT_FULL', 'full');
      history.push(...tokens);
      if (promptLen < 0) promptLen = history.length;
      const row = new Float32Array(V);
      const next = script[history.length - promptLen];
      if (next !== undefined) row[next] = 10;
      return [row];
    },
  };
}

describe('streaming detokenization and stop strings (scripted tokens)', () => {
  const tok = Tokenizer.fromVocab(buildTinyVocab());
  const EOG = tok.tokenId('<|im_end|>')!;
  // Byte tokens: id b is the byte b.
  const bytes = (s: string): number[] => [...new TextEncoder().encode(s)];

  it('never emits half a UTF-8 character', async () => {
    const ids = [...bytes('aé'), ...bytes('🚀'), ...bytes('好'), EOG];
    const st = generate(scripted(ids), [0x41], { temperature: 0 });
    const chunks = await collect(st);
    expect(chunks.map((c) => c.token)).toEqual(ids.slice(0, -1));
    expect(chunks.map((c) => c.text)).toEqual(['a', '', 'é', '', '', '', '🚀', '', '', '好']);
    expect((await st.stats).stopReason).toBe('eog');
  });
  it('an unfinished character at the end becomes U+FFFD in the last chunk', async () => {
    const st = generate(scripted([0x61, 0xe5, 0xa5, EOG]), [0x41], { temperature: 0 });
    expect((await collect(st)).map((c) => c.text)).toEqual(['a', '', '\uFFFD']);
  });
  it('a stop string split across tokens and characters; a never-completed prefix is released at the end', async () => {
    const ids = [...bytes('x<|st'), ...bytes('op|>tail'), EOG];
    const st = generate(scripted(ids), [0x41], { temperature: 0, stop: ['<|stop|>'] });
    const chunks = await collect(st);
    expect(chunks.map((c) => c.text).join('')).toBe('x');
    expect(chunks.length).toBe(bytes('x<|stop|>').length);
    expect((await st.stats).stopReason).toBe('stop-string');

    const st2 = generate(scripted([...bytes('ok<|st'), EOG]), [0x41], { temperature: 0, stop: ['<|stop|>'] });
    const c2 = await collect(st2);
    expect(c2.map((c) => c.text)).toEqual(['o', 'k', '', '', '', '<|st']);
    expect((await st2.stats).stopReason).toBe('eog');
  });
  it('the EOG token is neither yielded nor fed', async () => {
    const s = scripted([0x61, EOG, 0x62]);
    const chunks = await collect(generate(s, [0x41, 0x42], { temperature: 0 }));
    expect(chunks.map((c) => c.token)).toEqual([0x61]);
    expect(s.history).toEqual([0x41, 0x42, 0x61]);
  });
  it('bad options throw at the call', () => {
    expect(() => generate(scripted([]), [1], { maxTokens: -1 })).toThrow(/maxTokens/);
    expect(() => generate(scripted([]), [1], { topP: 0 })).toThrow(/topP/);
    expect(() => generate(scripted([]), [], {})).toThrow(/empty/);
    expect(() => generate(scripted([]), [1], { stop: [''] })).toThrow(/stop/);
  });
});

describe('chat() streaming (scripted tokens)', () => {
  it('reasoning, content and a tool call come out as events and in the result', async () => {
    const tokenizer = Tokenizer.fromVocab(buildTinyVocab());
    const EOG = tokenizer.tokenId('<|im_end|>')!;
    const reply = 'hmm, let me call\n</think>\n\nSure.\n\n<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n</function>\n</tool_call>';
    const base = scripted([...tokenizer.encode(reply), EOG]);
    const session = { ...base, get position() { return base.position; }, get history() { return base.history; }, evaluate: base.evaluate, model: { ...base.model, chatTemplate: builtinChatTemplate() } };
    const tools = [{ type: 'function' as const, function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];
    const stream = chat(session, [{ role: 'user', content: 'Weather in Paris?' }], { temperature: 0, tools });
    const events: ChatEvent[] = [];
    for await (const e of stream) events.push(e);
    const r = await stream.result;
    expect(r.reasoning).toBe('hmm, let me call');
    expect(r.content).toBe('Sure.');
    expect(r.toolCalls.map(({ name, arguments: a }) => ({ name, a }))).toEqual([{ name: 'get_weather', a: { city: 'Paris' } }]);
    expect(r.stats.stopReason).toBe('eog');
    expect(events.filter((e) => e.type === 'reasoning').map((e) => (e as { text: string }).text).join('')).toBe('hmm, let me call');
    expect(events.filter((e) => e.type === 'content').map((e) => (e as { text: string }).text).join('')).toBe('Sure.');
    expect(events.at(-1)?.type).toBe('tool_call');
    // Several events: the reasoning streamed token by token, not in one piece at the end.
    expect(events.filter((e) => e.type === 'reasoning').length).toBeGreaterThan(1);
    // A session whose history is not a prefix of the new conversation is refused.
    expect(() => chat(session, [{ role: 'user', content: 'Something else' }])).toThrow(/prefix/);
  });
});
