/**
 * Render → parse round trip through the built-in template: an assistant message (reasoning, content,
 * tool calls) rendered as history, cut out of the prompt and parsed, gives back the same fields.
 * Also: the generation prompt is a prefix of the rendered history (so "prompt + generated text" is
 * what the model sees next turn), and parsing the generated part with startInReasoning agrees.
 */
import { describe, expect, it } from 'vitest';
import { ChatOutputParser, renderChat } from '../../src/chat/index.js';
import type { ChatMessage, ChatToolCall, ToolDefinition } from '../../src/chat/index.js';

const TOOLS: ToolDefinition[] = [
  {
    type: 'function',
    function: {
      name: 'run_sql',
      parameters: {
        type: 'object',
        properties: { query: { type: 'string' }, limit: { type: 'integer' }, dry: { type: 'boolean' }, params: { type: 'array' }, code: { type: 'string' } },
      },
    },
  },
  { name: 'notify', parameters: { type: 'object', properties: { to: { type: 'string' }, meta: { type: 'object' } } } },
];

interface Case {
  name: string;
  reasoning: string;
  content: string;
  calls: { name: string; arguments: Record<string, unknown> }[];
}

const CASES: Case[] = [
  { name: 'reasoning + content', reasoning: 'The user wants a haiku.\nKeep it 5-7-5.', content: 'Autumn moonlight—\na worm digs silently\ninto the chestnut.', calls: [] },
  { name: 'content only (empty reasoning)', reasoning: '', content: 'Plain answer with <b>markup</b> and a < b.', calls: [] },
  {
    name: 'reasoning + one call, typed values',
    reasoning: 'Query the table.',
    content: '',
    calls: [{ name: 'run_sql', arguments: { query: 'SELECT * FROM t WHERE a < 3', limit: 10, dry: false, params: [1, 'x', null], code: '007' } }],
  },
  {
    name: 'reasoning + content + two calls, multi-line and tag-like values',
    reasoning: 'Two steps:\n1. run\n2. notify',
    content: 'Running it now.',
    calls: [
      { name: 'run_sql', arguments: { query: 'SELECT 1;\n-- <tool_call> in a comment\n</function> too' } },
      { name: 'notify', arguments: { to: 'ops@example.com', meta: { level: 'info', tags: ['a', 'b'], nested: { n: 1.5 } } } },
    ],
  },
  { name: 'call without arguments, no content', reasoning: 'Just ping.', content: '', calls: [{ name: 'notify', arguments: {} }] },
];

function assistantMessage(c: Case): ChatMessage {
  const tool_calls: ChatToolCall[] = c.calls.map((k) => ({ type: 'function', function: { name: k.name, arguments: k.arguments } }));
  return { role: 'assistant', content: c.content, reasoning_content: c.reasoning, ...(tool_calls.length ? { tool_calls } : {}) };
}

function parse(text: string, startInReasoning: boolean): { reasoning: string; content: string; calls: { name: string; arguments: Record<string, unknown> }[] } {
  const p = new ChatOutputParser({ startInReasoning, tools: TOOLS });
  // token-ish chunks of 3 chars, to exercise streaming on the way
  for (let i = 0; i < text.length; i += 3) p.push(text.slice(i, i + 3));
  p.end();
  const r = p.result();
  return { reasoning: r.reasoning, content: r.content, calls: r.toolCalls.map((t) => ({ name: t.name, arguments: t.arguments })) };
}

describe('render → parse round trip (built-in template)', () => {
  for (const c of CASES) {
    it(c.name, () => {
      const user: ChatMessage = { role: 'user', content: 'Do the thing.' };
      const history = renderChat([user, assistantMessage(c)], { tools: TOOLS, addGenerationPrompt: false });
      const header = '<|im_start|>assistant\n';
      const start = history.lastIndexOf(header);
      expect(start).toBeGreaterThan(0);
      expect(history.endsWith('<|im_end|>\n')).toBe(true);
      const assistantPart = history.slice(start + header.length, history.length - '<|im_end|>\n'.length);

      // whole assistant part, parser starting outside reasoning (sees "<think>\n" itself)
      expect(parse(assistantPart, false)).toEqual({ reasoning: c.reasoning, content: c.content, calls: c.calls });

      // the thinking generation prompt is a prefix of the history; the rest is what the model generates
      const prompt = renderChat([user], { tools: TOOLS });
      expect(prompt.endsWith('<|im_start|>assistant\n<think>\n')).toBe(true);
      expect(history.startsWith(prompt)).toBe(true);
      const generated = history.slice(prompt.length, history.length - '<|im_end|>\n'.length);
      expect(parse(generated, true)).toEqual({ reasoning: c.reasoning, content: c.content, calls: c.calls });
    });
  }

  it('non-thinking prompt + generated text equals the history of an assistant turn without reasoning', () => {
    const c = CASES[3]!;
    const user: ChatMessage = { role: 'user', content: 'Q' };
    const msg = { ...assistantMessage(c), reasoning_content: '' };
    const history = renderChat([user, msg], { tools: TOOLS, addGenerationPrompt: false });
    const prompt = renderChat([user], { tools: TOOLS, enableThinking: false });
    expect(prompt.endsWith('<|im_start|>assistant\n<think>\n\n</think>\n\n')).toBe(true);
    expect(history.startsWith(prompt)).toBe(true);
    const generated = history.slice(prompt.length, history.length - '<|im_end|>\n'.length);
    expect(parse(generated, false)).toEqual({ reasoning: '', content: c.content, calls: c.calls });
  });

  it('parsed output fed back as a message renders to the same history', () => {
    for (const c of CASES) {
      const user: ChatMessage = { role: 'user', content: 'Q' };
      const h1 = renderChat([user, assistantMessage(c)], { addGenerationPrompt: false });
      const start = h1.lastIndexOf('<|im_start|>assistant\n') + '<|im_start|>assistant\n'.length;
      const parsed = parse(h1.slice(start, h1.length - '<|im_end|>\n'.length), false);
      const again: Case = { name: c.name, reasoning: parsed.reasoning, content: parsed.content, calls: parsed.calls };
      expect(renderChat([user, assistantMessage(again)], { addGenerationPrompt: false })).toBe(h1);
    }
  });
});
