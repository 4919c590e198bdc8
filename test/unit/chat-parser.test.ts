/**
 * ChatOutputParser: hand-written fixtures of Qwen3.5-style generations (spec §5.3) with their expected
 * reasoning / content / tool calls; chunk-boundary independence (every 2-way split, random multi-way
 * splits, one char at a time, fuzzed markup soup); prompt emission (only possible markup is held back);
 * malformed and unterminated calls kept as text; parameter typing by schema.
 */
import { describe, expect, it } from 'vitest';
import { ChatOutputParser, parseChatOutput } from '../../src/chat/index.js';
import type { ChatEvent, ChatOutputParserOptions, ParsedChatOutput, ToolDefinition } from '../../src/chat/index.js';
import { QwenHybridError } from '../../src/errors.js';

const TOOLS: ToolDefinition[] = [
  {
    type: 'function',
    function: {
      name: 'search',
      parameters: {
        type: 'object',
        properties: {
          query: { type: 'string' },
          limit: { type: 'integer' },
          exact: { type: 'boolean' },
          filters: { type: 'object' },
          ids: { type: 'array' },
          zip: { type: 'string' },
          mode: { enum: ['1', '2'] },
          maybe: { type: ['string', 'null'] },
        },
      },
    },
  },
  { name: 'write_file', parameters: { type: 'object', properties: { path: { type: 'string' }, content: { type: 'string' } } } },
];

interface Fixture {
  name: string;
  text: string;
  opts?: ChatOutputParserOptions;
  want: { reasoning: string; content: string; calls: [string, Record<string, unknown>][] };
}

const FIXTURES: Fixture[] = [
  {
    name: 'prefilled thinking, then answer',
    text: 'The user greets me.\nI should greet back.\n</think>\n\nHello there!',
    opts: { startInReasoning: true },
    want: { reasoning: 'The user greets me.\nI should greet back.', content: 'Hello there!', calls: [] },
  },
  {
    name: 'explicit <think> block at the start',
    text: '<think>\nr1\n\nr2\n</think>\n\nAnswer: 42.',
    want: { reasoning: 'r1\n\nr2', content: 'Answer: 42.', calls: [] },
  },
  {
    name: 'empty think block (non-thinking style)',
    text: '<think>\n\n</think>\n\nHi.',
    want: { reasoning: '', content: 'Hi.', calls: [] },
  },
  {
    name: 'plain content with angle brackets and tag-like text',
    text: 'Use a < b and <b>bold</b>; also <tool and <think> mid-text, </think> and <tool_callx stay text.\n',
    want: { reasoning: '', content: 'Use a < b and <b>bold</b>; also <tool and <think> mid-text, </think> and <tool_callx stay text.\n', calls: [] },
  },
  {
    name: 'reasoning that mentions tags; only </think> ends it',
    text: 'I could write <tool_call> here or <think> or </thin k>.\n\n</think>\n\nOK',
    opts: { startInReasoning: true },
    want: { reasoning: 'I could write <tool_call> here or <think> or </thin k>.\n', content: 'OK', calls: [] },
  },
  {
    name: 'unterminated reasoning keeps everything',
    text: 'still thinking\n',
    opts: { startInReasoning: true },
    want: { reasoning: 'still thinking\n', content: '', calls: [] },
  },
  {
    name: 'reasoning, content and two XML tool calls with typed values',
    text:
      'Need to search.\n</think>\n\nLet me look that up.\n\n' +
      '<tool_call>\n<function=search>\n<parameter=query>\nqwen <hybrid> models\n</parameter>\n<parameter=limit>\n5\n</parameter>\n' +
      '<parameter=exact>\nfalse\n</parameter>\n<parameter=filters>\n{"lang": "en", "year": [2025, 2026]}\n</parameter>\n' +
      '<parameter=ids>\n[1, 2, 3]\n</parameter>\n<parameter=zip>\n02139\n</parameter>\n<parameter=mode>\n1\n</parameter>\n' +
      '<parameter=maybe>\nnull\n</parameter>\n</function>\n</tool_call>\n' +
      '<tool_call>\n<function=write_file>\n<parameter=path>\n/tmp/a.html\n</parameter>\n<parameter=content>\n<html>\n  <parameter=x>\n</html>\n\n</parameter>\n</function>\n</tool_call>',
    opts: { startInReasoning: true, tools: TOOLS },
    want: {
      reasoning: 'Need to search.',
      content: 'Let me look that up.',
      calls: [
        ['search', { query: 'qwen <hybrid> models', limit: 5, exact: false, filters: { lang: 'en', year: [2025, 2026] }, ids: [1, 2, 3], zip: '02139', mode: '1', maybe: null }],
        ['write_file', { path: '/tmp/a.html', content: '<html>\n  <parameter=x>\n</html>\n' }],
      ],
    },
  },
  {
    name: 'no schema: JSON numbers/bools/objects decoded, other text kept',
    text:
      '<tool_call>\n<function=unknown_fn>\n<parameter=n>\n42\n</parameter>\n<parameter=b>\ntrue\n</parameter>\n<parameter=s>\nhello world\n</parameter>\n' +
      '<parameter=q>\n"quoted"\n</parameter>\n<parameter=o>\n{"a": 1}\n</parameter>\n<parameter=bad>\n{not json\n</parameter>\n<parameter=neg>\n-1.5e3\n</parameter>\n</function>\n</tool_call>',
    want: { reasoning: '', content: '', calls: [['unknown_fn', { n: 42, b: true, s: 'hello world', q: '"quoted"', o: { a: 1 }, bad: '{not json', neg: -1500 }]] },
  },
  {
    name: 'schema type says number but value is not JSON: kept as text',
    text: '<tool_call>\n<function=search>\n<parameter=limit>\nfive\n</parameter>\n</function>\n</tool_call>',
    opts: { tools: TOOLS },
    want: { reasoning: '', content: '', calls: [['search', { limit: 'five' }]] },
  },
  {
    name: 'schema non-string types accept Python literals (True/False/None)',
    text: '<tool_call>\n<function=search>\n<parameter=exact>\nTrue\n</parameter>\n<parameter=limit>\nNone\n</parameter>\n<parameter=query>\nFalse\n</parameter>\n</function>\n</tool_call>',
    opts: { tools: TOOLS },
    want: { reasoning: '', content: '', calls: [['search', { exact: true, limit: null, query: 'False' }]] },
  },
  {
    name: 'compact tool call without newlines, no parameters call',
    text: '<tool_call><function=search><parameter=query>x</parameter></function></tool_call><tool_call>\n<function=noop>\n</function>\n</tool_call>',
    want: { reasoning: '', content: '', calls: [['search', { query: 'x' }], ['noop', {}]] },
  },
  {
    name: 'Qwen3 JSON body',
    text: 'Sure.\n<tool_call>\n{"name": "search", "arguments": {"query": "q", "limit": 2}}\n</tool_call>',
    want: { reasoning: '', content: 'Sure.', calls: [['search', { query: 'q', limit: 2 }]] },
  },
  {
    name: 'malformed call (unknown tag inside) is content, verbatim',
    text: 'Text <tool_call>\n<function=f>\n<oops>\n</tool_call> tail',
    want: { reasoning: '', content: 'Text <tool_call>\n<function=f>\n<oops>\n</tool_call> tail', calls: [] },
  },
  {
    name: 'malformed call followed by a valid one',
    text: 'A\n<tool_call>garbage</tool_call>\n<tool_call>\n<function=g>\n<parameter=k>\nv\n</parameter>\n</function>\n</tool_call>',
    want: { reasoning: '', content: 'A\n<tool_call>garbage</tool_call>', calls: [['g', { k: 'v' }]] },
  },
  {
    name: 'unterminated call at the end is content, verbatim',
    text: 'Sure.\n\n<tool_call>\n<function=search>\n<parameter=query>\nabc',
    want: { reasoning: '', content: 'Sure.\n\n<tool_call>\n<function=search>\n<parameter=query>\nabc', calls: [] },
  },
  {
    name: 'text after a tool call joins the content without the separating whitespace',
    text: 'Before.\n\n<tool_call>\n<function=f>\n</function>\n</tool_call>\n\nAfter.',
    want: { reasoning: '', content: 'Before.After.', calls: [['f', {}]] },
  },
  {
    name: 'tool call right after </think>',
    text: 'plan\n</think>\n\n<tool_call>\n<function=f>\n<parameter=a>\n1\n</parameter>\n</function>\n</tool_call>',
    opts: { startInReasoning: true },
    want: { reasoning: 'plan', content: '', calls: [['f', { a: 1 }]] },
  },
  {
    name: 'leading whitespace before <think> is dropped; trailing content whitespace kept',
    text: '\n <think>\nx\n</think>\n\n\nY  \n',
    want: { reasoning: 'x', content: 'Y  \n', calls: [] },
  },
  {
    name: 'partial tags at the very end are flushed as text',
    text: 'abc <tool_ca',
    want: { reasoning: '', content: 'abc <tool_ca', calls: [] },
  },
  {
    name: 'partial </think> at the end of reasoning is flushed as reasoning',
    text: 'hmm\n</thi',
    opts: { startInReasoning: true },
    want: { reasoning: 'hmm\n</thi', content: '', calls: [] },
  },
];

/** Deterministic tool-call ids, so that outputs of different parsers compare equal. */
const seqId = (i: number): string => `call_${i}`;

/** Feeds `chunks`, returns the events with adjacent text events of one type merged. */
function feed(chunks: readonly string[], opts?: ChatOutputParserOptions): { events: ChatEvent[]; result: ParsedChatOutput } {
  const p = new ChatOutputParser({ toolCallId: seqId, ...opts });
  const all: ChatEvent[] = [];
  for (const c of chunks) all.push(...p.push(c));
  all.push(...p.end());
  return { events: mergeEvents(all), result: p.result() };
}

function mergeEvents(events: readonly ChatEvent[]): ChatEvent[] {
  const out: ChatEvent[] = [];
  for (const e of events) {
    const last = out[out.length - 1];
    if (e.type !== 'tool_call' && last !== undefined && last.type === e.type) out[out.length - 1] = { type: e.type, text: last.text + e.text };
    else out.push(e.type === 'tool_call' ? e : { ...e });
  }
  return out;
}

/** Deterministic PRNG (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomSplit(text: string, r: () => number, maxPieces: number): string[] {
  const n = 1 + Math.floor(r() * maxPieces);
  const cuts = Array.from({ length: n - 1 }, () => Math.floor(r() * (text.length + 1))).sort((a, b) => a - b);
  const out: string[] = [];
  let prev = 0;
  for (const c of cuts) {
    out.push(text.slice(prev, c));
    prev = c;
  }
  out.push(text.slice(prev));
  return out;
}

describe('ChatOutputParser: fixtures', () => {
  for (const f of FIXTURES) {
    it(f.name, () => {
      const { result } = feed([f.text], f.opts);
      expect(result.reasoning).toBe(f.want.reasoning);
      expect(result.content).toBe(f.want.content);
      expect(result.toolCalls.map((c) => [c.name, c.arguments])).toEqual(f.want.calls);
      // every call's raw text is a verbatim slice of the input starting with <tool_call>
      for (const c of result.toolCalls) {
        expect(f.text).toContain(c.raw);
        expect(c.raw.startsWith('<tool_call>') && c.raw.endsWith('</tool_call>')).toBe(true);
      }
    });
  }

  it('parseChatOutput equals push(all) + end()', () => {
    for (const f of FIXTURES) expect(parseChatOutput(f.text, { toolCallId: seqId, ...f.opts })).toEqual(feed([f.text], f.opts).result);
  });
});

describe('ChatOutputParser: chunk boundaries do not matter', () => {
  for (const f of FIXTURES) {
    it(f.name, () => {
      const ref = feed([f.text], f.opts);
      for (let i = 0; i <= f.text.length; i++) {
        const got = feed([f.text.slice(0, i), f.text.slice(i)], f.opts);
        expect(got.events, `split at ${i}`).toEqual(ref.events);
        expect(got.result).toEqual(ref.result);
      }
      expect(feed([...f.text], f.opts).events, 'one char at a time').toEqual(ref.events);
      const r = rng(f.text.length * 7919 + 1);
      for (let k = 0; k < 60; k++) {
        const chunks = randomSplit(f.text, r, 12);
        expect(feed(chunks, f.opts).events, JSON.stringify(chunks)).toEqual(ref.events);
      }
    });
  }

  it('fuzzed markup soup: chunking invariance, and no non-whitespace character is lost', () => {
    const atoms = ['a', 'b', ' ', '\n', '<', '>', '/', '=', '{', '}', '"', '<tool_call>', '</tool_call>', '<function=f>', '</function>', '<parameter=x>', '</parameter>', '<parameter=y>', '1', 'true', '<tool_', '</param', '{"name": "f", "arguments": {}}'];
    const r = rng(12345);
    for (let n = 0; n < 400; n++) {
      const len = 1 + Math.floor(r() * 30);
      let text = '';
      for (let i = 0; i < len; i++) text += atoms[Math.floor(r() * atoms.length)]!;
      const ref = feed([text]);
      for (let k = 0; k < 8; k++) {
        const chunks = randomSplit(text, r, 10);
        expect(feed(chunks).events, JSON.stringify(chunks)).toEqual(ref.events);
      }
      expect(feed([...text]).events, JSON.stringify(text)).toEqual(ref.events);
      // no <think> atom: everything is content or tool-call text; only whitespace may be dropped
      const kept = ref.events.map((e) => (e.type === 'tool_call' ? e.call.raw : e.text)).join('');
      expect(kept.replace(/\s+/g, ''), JSON.stringify(text)).toBe(text.replace(/\s+/g, ''));
      expect(ref.result.reasoning).toBe('');
    }
  });
});

describe('ChatOutputParser: emits promptly', () => {
  /** Longest suffix of s that is a proper prefix of tag. */
  const partial = (s: string, tag: string): number => {
    for (let k = Math.min(tag.length - 1, s.length); k > 0; k--) if (s.endsWith(tag.slice(0, k))) return k;
    return 0;
  };

  it('content: everything but trailing whitespace and a possible "<tool_call>" prefix is out after each push', () => {
    const text = 'Hello world, a < b <to and <b>x</b>\n\nmore text <tool_c then done. ';
    const p = new ChatOutputParser();
    let emitted = '';
    for (let i = 0; i < text.length; i++) {
      for (const e of p.push(text[i]!)) if (e.type === 'content') emitted += e.text;
      const seen = text.slice(0, i + 1);
      let keep = seen.slice(0, seen.length - partial(seen, '<tool_call>'));
      keep = keep.replace(/[ \t\r\n]+$/, '');
      expect(emitted, `after ${JSON.stringify(seen)}`).toBe(keep);
    }
  });

  it('reasoning: everything but a trailing "\\n" / "</think>" prefix is out after each push', () => {
    const text = 'Let me think.\nStep 1: a < b.\n\nStep 2: </thx done\n';
    const p = new ChatOutputParser({ startInReasoning: true });
    let emitted = '';
    for (let i = 0; i < text.length; i++) {
      for (const e of p.push(text[i]!)) if (e.type === 'reasoning') emitted += e.text;
      const seen = text.slice(0, i + 1);
      const hold = Math.max(partial(seen, '\n</think>'), partial(seen, '</think>'));
      expect(emitted, `after ${JSON.stringify(seen)}`).toBe(seen.slice(0, seen.length - hold));
    }
  });

  it('a token-sized push of ordinary text comes straight back', () => {
    const p = new ChatOutputParser();
    expect(p.push('Hello')).toEqual([{ type: 'content', text: 'Hello' }]);
    expect(p.push(' world')).toEqual([{ type: 'content', text: ' world' }]);
    expect(p.push('!\n')).toEqual([{ type: 'content', text: '!' }]);
    expect(p.push('Next')).toEqual([{ type: 'content', text: '\nNext' }]);
    const q = new ChatOutputParser({ startInReasoning: true });
    expect(q.push('Thinking')).toEqual([{ type: 'reasoning', text: 'Thinking' }]);
    expect(q.push('\n</think>\n\nDone')).toEqual([{ type: 'content', text: 'Done' }]);
  });

  it('a tool call is emitted as soon as </tool_call> arrives', () => {
    const p = new ChatOutputParser();
    expect(p.push('<tool_call>\n<function=f>\n<parameter=a>\nx\n</parameter>\n</function>\n')).toEqual([]);
    const ev = p.push('</tool_call>');
    expect(ev).toHaveLength(1);
    expect(ev[0]).toEqual({ type: 'tool_call', call: { id: expect.stringMatching(/^call_[A-Za-z0-9]{24}$/), name: 'f', arguments: { a: 'x' }, raw: '<tool_call>\n<function=f>\n<parameter=a>\nx\n</parameter>\n</function>\n</tool_call>' } });
  });

  it('push after end() is an INVALID_ARGUMENT error; end() is idempotent', () => {
    const p = new ChatOutputParser();
    p.push('x');
    expect(p.end()).toEqual([]);
    expect(p.end()).toEqual([]);
    expect(() => p.push('y')).toThrow(QwenHybridError);
    expect(p.result()).toEqual({ reasoning: '', content: 'x', toolCalls: [] });
  });
});

describe('ChatOutputParser: tool-call ids', () => {
  const call = (name: string, v: string): string => `<tool_call>\n<function=${name}>\n<parameter=a>\n${v}\n</parameter>\n</function>\n</tool_call>`;
  const text = `${call('f', 'x')}\n${call('g', 'y')}\n<tool_call>\n{"name": "h", "arguments": {}, "id": "model_written"}\n</tool_call>`;

  it('default ids: OpenAI shape call_ + 24 [A-Za-z0-9], distinct, the same object in the event and the result', () => {
    const p = new ChatOutputParser();
    const events = [...p.push(text), ...p.end()].filter((e) => e.type === 'tool_call');
    const calls = p.result().toolCalls;
    expect(calls.map((c) => c.name)).toEqual(['f', 'g', 'h']);
    for (const c of calls) expect(c.id).toMatch(/^call_[A-Za-z0-9]{24}$/);
    expect(new Set(calls.map((c) => c.id)).size).toBe(3);
    // a JSON body's own "id" is not the call id
    expect(calls[2]!.id).not.toBe('model_written');
    expect(events.map((e) => (e.type === 'tool_call' ? e.call.id : ''))).toEqual(calls.map((c) => c.id));
    // another parse of the same text draws fresh ids (random, not derived from the text)
    const again = parseChatOutput(text).toolCalls.map((c) => c.id);
    for (const id of again) expect(calls.map((c) => c.id)).not.toContain(id);
  });

  it('every character of the alphabet is reachable and the draw is not skewed to the first 8 (modulo bias)', () => {
    // 24 × 400 = 9600 characters over 62 symbols: each expected 154.8 times, σ ≈ 12.3; bounds at ±6σ.
    const counts = new Map<string, number>();
    for (let n = 0; n < 400; n++) {
      const p = new ChatOutputParser();
      p.push(call('f', 'x'));
      for (const ch of p.result().toolCalls[0]!.id.slice(5)) counts.set(ch, (counts.get(ch) ?? 0) + 1);
    }
    expect(counts.size).toBe(62);
    for (const c of counts.values()) {
      expect(c).toBeGreaterThan(154.8 - 6 * 12.3);
      expect(c).toBeLessThan(154.8 + 6 * 12.3);
    }
    // byte % 62 without redraws would give 'A'…'H' p = 5/256 each (256 = 4·62 + 8): together 0.15625·9600 = 1500
    // instead of 8/62·9600 = 1238.7 (σ = √(9600·0.129·0.871) ≈ 32.9); bound at ±5σ.
    let first8 = 0;
    for (const ch of 'ABCDEFGH') first8 += counts.get(ch) ?? 0;
    expect(Math.abs(first8 - 1238.7)).toBeLessThan(5 * 32.9);
  });

  it('toolCallId gives the ids by index; a duplicate or empty id, or a non-function, is INVALID_ARGUMENT', () => {
    const r = parseChatOutput(text, { toolCallId: (i) => `call_fixed_${i}` });
    expect(r.toolCalls.map((c) => c.id)).toEqual(['call_fixed_0', 'call_fixed_1', 'call_fixed_2']);
    const code = (f: () => unknown): string | undefined => {
      try {
        f();
      } catch (e) {
        return e instanceof QwenHybridError ? e.code : 'not typed';
      }
      return undefined;
    };
    expect(code(() => parseChatOutput(text, { toolCallId: () => 'same' }))).toBe('INVALID_ARGUMENT');
    expect(code(() => parseChatOutput(text, { toolCallId: () => '' }))).toBe('INVALID_ARGUMENT');
    expect(code(() => new ChatOutputParser({ toolCallId: 'x' as unknown as () => string }))).toBe('INVALID_ARGUMENT');
    // a text without tool calls never asks for an id
    expect(parseChatOutput('just text', { toolCallId: () => 'same' }).content).toBe('just text');
  });
});
