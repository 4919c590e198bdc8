/**
 * Generation controls (logitBias, ignoreEos, stopTokens, stop as a string, logprobs, result / complete(), tool-call
 * ids) on the dense-r2 tiny model. The reference for every expectation is an independent replay through
 * session.evaluate: the prompt, then one token at a time, giving each step's logits row; the test takes its own
 * argmax (lowest id on ties) and its own float64 log-softmax of those rows. The device-sampling path is driven on
 * the CPU backend's SAMPLE op (as test/model/backend-select.test.ts does) to check that bias and logprobs move every
 * step to the host.
 */
import { deviceSamplingView } from '../helpers/device-sampling.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { builtinChatTemplate } from '../../src/chat/template.js';
import type { ChatEvent } from '../../src/chat/types.js';
import { QwenHybridError } from '../../src/errors.js';
import { loadModel, type Model, type Session } from '../../src/model/index.js';
import { chat } from '../../src/runtime/chat.js';
import { generate, type GenerateChunk, type GenerateOptions, type GenerationSession } from '../../src/runtime/generate.js';
import { buildTinyVocab, Tokenizer } from '../../src/tokenizer/index.js';
import { getTinyModel } from '../helpers/model-cache.js';

const PROMPT = 'The quick brown fox jumps over the lazy dog. Once upon a time';

async function collect(it: AsyncIterable<GenerateChunk>): Promise<GenerateChunk[]> {
  const out: GenerateChunk[] = [];
  for await (const c of it) out.push(c);
  return out;
}

/** Index of the largest value not in `exclude`; lowest index on ties. */
function argmax(row: ArrayLike<number>, exclude: ReadonlySet<number> = new Set()): number {
  let best = -1;
  for (let i = 0; i < row.length; i++) if (!exclude.has(i) && (best < 0 || row[i]! > row[best]!)) best = i;
  return best;
}

/** Float64 log-softmax of a row. */
function logSoftmax(row: ArrayLike<number>): Float64Array {
  let m = -Infinity;
  for (let i = 0; i < row.length; i++) m = Math.max(m, row[i]!);
  let z = 0;
  for (let i = 0; i < row.length; i++) z += Math.exp(row[i]! - m);
  const lz = m + Math.log(z);
  return Float64Array.from(row as ArrayLike<number>, (x) => x - lz);
}

/** The k best ids of a row by value, ties by lower id (a full sort). */
function topIds(row: ArrayLike<number>, k: number): number[] {
  return Array.from({ length: row.length }, (_, i) => i).sort((a, b) => row[b]! - row[a]! || a - b).slice(0, k);
}

function errorOf(f: () => unknown): QwenHybridError | undefined {
  try {
    f();
  } catch (e) {
    if (e instanceof QwenHybridError) return e;
    throw e;
  }
  return undefined;
}

async function rejectionOf(p: Promise<unknown>): Promise<unknown> {
  return p.then(() => undefined, (e: unknown) => e);
}

describe('generation controls (dense-r2)', () => {
  let model: Model;
  let prompt: number[];
  let V: number;
  let eog: number[];

  beforeAll(async () => {
    const m = await getTinyModel('dense-r2');
    model = await loadModel(m.path, { kvCacheType: 'f32', threads: 1 });
    prompt = model.tokenize(PROMPT);
    V = model.vocabSize;
    eog = [...model.tokenizer.eogIds].filter((t) => t < V).sort((a, b) => a - b);
    expect(eog.length).toBeGreaterThan(0);
  });
  afterAll(() => model?.dispose());

  /** The logits rows after the prompt and after each of `tokens` (rows[i] predicts tokens[i]). */
  async function replay(tokens: readonly number[]): Promise<Float32Array[]> {
    const s = model.createSession({ contextSize: 128 });
    const rows = [(await s.evaluate(prompt, { logits: 'last' }))[0]!];
    for (const t of tokens.slice(0, -1)) rows.push((await s.evaluate([t], { logits: 'last' }))[0]!);
    s.dispose();
    return rows;
  }

  /** Greedy continuation by evaluate alone, never choosing a token in `exclude`. */
  async function greedyReplay(n: number, exclude: ReadonlySet<number> = new Set()): Promise<number[]> {
    const s = model.createSession({ contextSize: 128 });
    let row = (await s.evaluate(prompt, { logits: 'last' }))[0]!;
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      const t = argmax(row, exclude);
      out.push(t);
      row = (await s.evaluate([t], { logits: 'last' }))[0]!;
    }
    s.dispose();
    return out;
  }

  const onDevice = deviceSamplingView;

  const first = async (o: GenerateOptions): Promise<GenerateChunk[]> => collect(generate(model.createSession({ contextSize: 128 }), prompt, { temperature: 0, ...o }));

  it('logitBias: a ban moves greedy to the second best at every step; a positive bias lifts a token to the top', async () => {
    const [row0] = await replay([0]);
    const a = argmax(row0!);
    const b = argmax(row0!, new Set([a]));
    for (const bias of [{ [a]: -Infinity }, { [a]: -100 }, new Map([[a, -1e6]])]) {
      expect((await first({ logitBias: bias, maxTokens: 1 })).map((c) => c.token)).toEqual([b]);
    }
    // The ban holds on every decode step: each token is the argmax of its row without `a`.
    const banned = await greedyReplay(5, new Set([a]));
    expect((await first({ logitBias: { [a]: -Infinity }, maxTokens: 5 })).map((c) => c.token)).toEqual(banned);
    // c: the lowest-logit non-EOG token. Biased by the gap to the max + 1 it wins; by the gap − 0.5 it does not.
    const c = argmax(Float32Array.from(row0!, (x) => -x), new Set(eog));
    const gap = row0![a]! - row0![c]!;
    expect((await first({ logitBias: { [c]: gap + 1 }, maxTokens: 1 }))[0]!.token).toBe(c);
    expect((await first({ logitBias: { [c]: gap - 0.5 }, maxTokens: 1 }))[0]!.token).toBe(a);
  });

  it('logitBias is validated at the call (INVALID_ARGUMENT naming logitBias), before anything runs', () => {
    const s = model.createSession();
    for (const bias of [{ [V]: 1 }, { '-1': 1 }, { 0: NaN }, { 0: Infinity }, new Map([[0.5, 1]]), 'x']) {
      const e = errorOf(() => generate(s, prompt, { logitBias: bias as Record<number, number> }));
      expect(e?.code, JSON.stringify(bias)).toBe('INVALID_ARGUMENT');
      expect(e?.details['parameter']).toBe('logitBias');
    }
    expect(s.position).toBe(0);
    s.dispose();
  });

  it('ignoreEos: a prompt whose greedy token is EOG keeps going; an EOG listed in stopTokens still stops', async () => {
    // Bias every EOG token up by 1000: greedy picks one at once.
    const up = Object.fromEntries(eog.map((t) => [t, 1000]));
    const st = generate(model.createSession(), prompt, { temperature: 0, logitBias: up, maxTokens: 6 });
    expect(await collect(st)).toEqual([]);
    expect((await st.stats).stopReason).toBe('eog');
    // ignoreEos bans them (the ban beats the +1000): six tokens, none EOG, the first the row's best non-EOG token.
    const row0 = (await replay([0]))[0]!;
    const ig = generate(model.createSession(), prompt, { temperature: 0, logitBias: up, ignoreEos: true, maxTokens: 6 });
    const chunks = await collect(ig);
    expect(chunks.length).toBe(6);
    expect((await ig.stats).stopReason).toBe('max-tokens');
    expect(chunks.some((c) => model.tokenizer.isEog(c.token))).toBe(false);
    expect(chunks[0]!.token).toBe(argmax(row0, new Set(eog)));
    expect(chunks.map((c) => c.token)).toEqual(await greedyReplay(6, new Set(eog)));
    // An EOG token named in stopTokens is exempt from the ban: it wins (+1000) and stops as a stop token.
    const ex = generate(model.createSession(), prompt, { temperature: 0, logitBias: up, ignoreEos: true, stopTokens: [eog[0]!], maxTokens: 6 });
    expect(await collect(ex)).toEqual([]);
    expect((await ex.stats).stopReason).toBe('stop-token');
    expect(errorOf(() => generate(model.createSession(), prompt, { ignoreEos: 1 as unknown as boolean }))?.details['parameter']).toBe('ignoreEos');
  });

  it('stopTokens: ends with stop-token; the stop token is neither yielded nor fed', async () => {
    const g = await greedyReplay(10);
    // k: the first position whose token did not occur before it (and nothing before it is EOG)
    let k = 1;
    while (k < g.length && g.slice(0, k).includes(g[k]!)) k++;
    expect(k, `a fresh token in ${g.join(',')}`).toBeLessThan(g.length);
    expect(g.slice(0, k + 1).some((t) => model.tokenizer.isEog(t))).toBe(false);
    const s = model.createSession({ contextSize: 128 });
    const st = generate(s, prompt, { temperature: 0, stopTokens: [g[k]!], maxTokens: 16 });
    const chunks = await collect(st);
    expect(chunks.map((c) => c.token)).toEqual(g.slice(0, k));
    expect(chunks.map((c) => c.text).join('')).toBe(model.tokenizer.decode(g.slice(0, k)));
    const stats = await st.stats;
    expect(stats.stopReason).toBe('stop-token');
    expect(stats.generatedTokens).toBe(k);
    // g[k-1] was fed (its successor was needed), g[k] was not.
    expect(s.history).toEqual([...prompt, ...g.slice(0, k)]);
    for (const bad of [[V], [-1], [1.5], 'x', [null]]) {
      const e = errorOf(() => generate(s, prompt, { stopTokens: bad as number[] }));
      expect(e?.code, JSON.stringify(bad)).toBe('INVALID_ARGUMENT');
      expect(e?.details['parameter']).toBe('stopTokens');
    }
    s.dispose();
  });

  it('stop accepts one string like a one-element list; other types are INVALID_ARGUMENT at the call', async () => {
    const g = await greedyReplay(12);
    const text = model.tokenizer.decode(g);
    const cps = [...text];
    let at = Math.floor(cps.length / 2);
    while (at + 2 <= cps.length && cps.slice(at, at + 2).join('').includes('\uFFFD')) at++;
    expect(at + 2).toBeLessThanOrEqual(cps.length);
    const stop = cps.slice(at, at + 2).join('');
    const before = text.slice(0, text.indexOf(stop));
    const one = generate(model.createSession(), prompt, { temperature: 0, maxTokens: 12, stop });
    const c1 = await collect(one);
    expect(c1.map((c) => c.text).join('')).toBe(before);
    expect((await one.stats).stopReason).toBe('stop-string');
    expect(c1).toEqual(await first({ maxTokens: 12, stop: [stop] }));
    for (const bad of [5, {}, [1], [''], '']) {
      const e = errorOf(() => generate(model.createSession(), prompt, { stop: bad as string }));
      expect(e?.code, JSON.stringify(bad)).toBe('INVALID_ARGUMENT');
      expect(e?.details['parameter']).toBe('stop');
    }
  });

  it('logprobs: the float64 log-softmax of the raw logits row, top-k descending with ties by lower id', async () => {
    const chunks = await first({ maxTokens: 4, logprobs: 5 });
    const rows = await replay(chunks.map((c) => c.token));
    chunks.forEach((c, i) => {
      const lp = logSoftmax(rows[i]!);
      expect(c.logprob).toBeCloseTo(lp[c.token]!, 10);
      expect(c.topLogprobs!.map((x) => x.token)).toEqual(topIds(rows[i]!, 5));
      c.topLogprobs!.forEach((x) => expect(x.logprob).toBeCloseTo(lp[x.token]!, 10));
      // greedy: the chosen token is the top one
      expect(c.topLogprobs![0]!.token).toBe(c.token);
    });
    // No logprobs asked: the chunks have no such fields. logprobs 0: the chosen token only.
    expect('logprob' in (await first({ maxTokens: 1 }))[0]!).toBe(false);
    const zero = (await first({ maxTokens: 2, logprobs: 0 }))[0]!;
    expect(zero.topLogprobs).toEqual([]);
    expect(zero.logprob).toBeCloseTo(logSoftmax(rows[0]!)[zero.token]!, 10);
  });

  it('logprobs are raw: before temperature, penalties and logitBias (a banned token can be the top alternative)', async () => {
    const row0 = (await replay([0]))[0]!;
    const a = argmax(row0);
    const st = generate(model.createSession({ contextSize: 128 }), prompt, {
      temperature: 2, topK: 0, topP: 1, minP: 0, repeatPenalty: 1.5, frequencyPenalty: 0.5, seed: 3, logitBias: { [a]: -Infinity }, logprobs: 2, maxTokens: 6,
    });
    const chunks = await collect(st);
    expect(chunks.length).toBe(6);
    const rows = await replay(chunks.map((c) => c.token));
    chunks.forEach((c, i) => {
      const lp = logSoftmax(rows[i]!);
      expect(c.token).not.toBe(a);
      expect(c.logprob).toBeCloseTo(lp[c.token]!, 10);
      expect(c.topLogprobs!.map((x) => x.token)).toEqual(topIds(rows[i]!, 2));
    });
    expect(chunks[0]!.topLogprobs![0]!.token).toBe(a);
    // `result` carries the same per-token logprobs.
    const r = await st.result;
    expect(r.logprobs).toEqual(chunks.map((c) => ({ token: c.token, logprob: c.logprob, topLogprobs: c.topLogprobs })));
    for (const bad of [21, -1, 1.5, '3']) {
      const e = errorOf(() => generate(model.createSession(), prompt, { logprobs: bad as number }));
      expect(e?.code, String(bad)).toBe('INVALID_ARGUMENT');
      expect(e?.details['parameter']).toBe('logprobs');
    }
  });

  it('device-sampling path: logitBias, ignoreEos and logprobs sample every step on the host, with the host tokens', async () => {
    const row0 = (await replay([0]))[0]!;
    const a = argmax(row0);
    const base = { temperature: 0.9, seed: 7, repeatPenalty: 1.2, maxTokens: 8 } as const;
    const host = async (o: GenerateOptions): Promise<GenerateChunk[]> => collect(generate(model.createSession(), prompt, o));
    const dev = async (o: GenerateOptions): Promise<{ chunks: GenerateChunk[]; steps: number }> => {
      const counter = { steps: 0 };
      const chunks = await collect(generate(onDevice(model.createSession(), counter), prompt, o));
      return { chunks, steps: counter.steps };
    };
    // Control: without them the wrapper does sample on the device.
    const plain = await dev(base);
    // (one device step per decode; one more when the device drew an EOG)
    expect(plain.steps).toBeGreaterThanOrEqual(plain.chunks.length - 1);
    expect(plain.steps).toBeGreaterThan(0);
    for (const extra of [{ logitBias: { [a]: -Infinity } }, { ignoreEos: true }, { logprobs: 3 }] as GenerateOptions[]) {
      const o = { ...base, ...extra };
      const d = await dev(o);
      expect(d.steps, JSON.stringify(extra)).toBe(0);
      expect(d.chunks).toEqual(await host(o));
      expect(d.chunks.length).toBeGreaterThan(1);
    }
  });

  it('result / complete(): the whole text as one value; a stream is iterable once (STREAM_CONSUMED)', async () => {
    const g = await greedyReplay(8);
    const r = await generate(model.createSession(), prompt, { temperature: 0, maxTokens: 8 }).complete();
    expect(r.tokens).toEqual(g);
    expect(r.text).toBe(model.tokenizer.decode(g));
    expect(r.stats.stopReason).toBe('max-tokens');
    expect(r.stats.generatedTokens).toBe(8);
    expect('logprobs' in r).toBe(false);

    const st = generate(model.createSession(), prompt, { temperature: 0, maxTokens: 8 });
    const chunks = await collect(st);
    const res = await st.result;
    expect(res).toEqual({ text: chunks.map((c) => c.text).join(''), tokens: chunks.map((c) => c.token), stats: await st.stats });
    // A second iteration, or complete() after one, is refused.
    const again = await rejectionOf(collect(st));
    expect(again).toBeInstanceOf(QwenHybridError);
    expect((again as QwenHybridError).code).toBe('STREAM_CONSUMED');
    expect(((await rejectionOf(st.complete())) as QwenHybridError).code).toBe('STREAM_CONSUMED');
    const twice = generate(model.createSession(), prompt, { temperature: 0, maxTokens: 2 });
    await twice.complete();
    expect(((await rejectionOf(twice.complete())) as QwenHybridError).code).toBe('STREAM_CONSUMED');

    // Breaking out: the result holds what was yielded, stopReason 'aborted'.
    const br = generate(model.createSession(), prompt, { temperature: 0, maxTokens: 8 });
    const got: GenerateChunk[] = [];
    for await (const c of br) {
      got.push(c);
      if (got.length === 3) break;
    }
    const partial = await br.result;
    expect(partial.tokens).toEqual(g.slice(0, 3));
    expect(partial.text).toBe(got.map((c) => c.text).join(''));
    expect(partial.stats.stopReason).toBe('aborted');
  });
});

describe('chat(): tool-call ids', () => {
  it('each call has an OpenAI-style id, distinct, the same in the event and in the result', async () => {
    const tokenizer = Tokenizer.fromVocab(buildTinyVocab());
    const V = tokenizer.vocabSize;
    const EOG = tokenizer.tokenId('<|im_end|>')!;
    const call = (city: string): string => `<tool_call>\n<function=get_weather>\n<parameter=city>\n${city}\n</parameter>\n</function>\n</tool_call>`;
    const script = [...tokenizer.encode(`Checking.\n\n${call('Paris')}\n${call('Oslo')}`), EOG];
    const history: number[] = [];
    let promptLen = -1;
    // A session whose next token is scripted: evaluate returns a one-hot row for script[generated so far].
    const session = {
      model: { tokenizer, vocabSize: V, tokenize: (t: string, o?: { special?: boolean }) => tokenizer.encode(t, o), chatTemplate: builtinChatTemplate() },
      get position() {
        return history.length;
      },
      get history() {
        return history;
      },
      async evaluate(tokens: readonly number[]) {
        history.push(...tokens);
        if (promptLen < 0) promptLen = history.length;
        const row = new Float32Array(V);
        const next = script[history.length - promptLen];
        if (next !== undefined) row[next] = 10;
        return [row];
      },
    };
    const tools = [{ type: 'function' as const, function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];
    const stream = chat(session, [{ role: 'user', content: 'Weather in Paris and Oslo?' }], { temperature: 0, tools, thinking: false });
    const events: ChatEvent[] = [];
    for await (const e of stream) events.push(e);
    const r = await stream.result;
    expect(r.toolCalls.map((c) => c.arguments)).toEqual([{ city: 'Paris' }, { city: 'Oslo' }]);
    const ids = r.toolCalls.map((c) => c.id);
    for (const id of ids) expect(id).toMatch(/^call_[A-Za-z0-9]{24}$/);
    expect(new Set(ids).size).toBe(2);
    expect(events.flatMap((e) => (e.type === 'tool_call' ? [e.call.id] : []))).toEqual(ids);
    // A chat stream is iterable once too (its generate stream refuses a second pass).
    const again = await rejectionOf((async () => {
      for await (const _ of stream);
    })());
    expect((again as QwenHybridError).code).toBe('STREAM_CONSUMED');
  });
});
