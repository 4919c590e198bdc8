/**
 * Built-in Qwen3.5/3.6 chat template: renders compared with prompts written by hand from spec §5.3
 * (ChatML turns, thinking prefix, "# Tools" system turn, XML tool calls, grouped tool responses,
 * reasoning-history rules), plus error handling and GGUF-metadata selection.
 */
import { describe, expect, it } from 'vitest';
import { ChatTemplate, renderChat, templateFromMetadata } from '../../src/chat/index.js';
import type { ChatMessage, ToolDefinition } from '../../src/chat/index.js';
import { GGUFError, QwenHybridError, TemplateError } from '../../src/errors.js';
import { GGUFValueType, type GGUFMetadataValue } from '../../src/gguf/types.js';
import { meta } from '../../src/gguf/writer.js';

const weatherTool: ToolDefinition = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Current weather for a city',
    parameters: { type: 'object', properties: { city: { type: 'string' }, days: { type: 'integer' } }, required: ['city'] },
  },
};

/** The built-in "# Tools" system turn body for `weatherTool` (our own instruction text, written out in full). */
const TOOLS_SYSTEM =
  '<|im_start|>system\n' +
  '# Tools\n' +
  '\n' +
  'You may call one or more of the functions below to help with the request. Each function is described by a JSON signature inside <tools></tools> XML tags:\n' +
  '<tools>\n' +
  '{"type": "function", "function": {"name": "get_weather", "description": "Current weather for a city", "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}, "required": ["city"]}}}\n' +
  '</tools>\n' +
  '\n' +
  'To call a function, reply in exactly this format and write nothing after the last </tool_call>:\n' +
  '\n' +
  '<tool_call>\n' +
  '<function=function_name>\n' +
  '<parameter=parameter_name>\n' +
  'value\n' +
  '</parameter>\n' +
  '<parameter=other_parameter>\n' +
  'a value that\n' +
  'spans several lines\n' +
  '</parameter>\n' +
  '</function>\n' +
  '</tool_call>\n' +
  '\n' +
  'Rules:\n' +
  '- Wrap every call in <tool_call></tool_call>, name the function in <function=...></function> and put each argument in its own <parameter=...></parameter> block.\n' +
  '- Give every required parameter. Write strings as plain text and any other value as JSON.\n' +
  '- You may reason or explain before a call, but not after it.\n' +
  '- If no function is needed, answer directly.';

describe('built-in template: basic turns and generation prompt', () => {
  it('user only, thinking on (default): prompt ends with <think>\\n', () => {
    expect(renderChat([{ role: 'user', content: 'Hi' }])).toBe('<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n');
  });

  it('system + user, thinking off: empty think block after the assistant header', () => {
    const out = renderChat(
      [
        { role: 'system', content: 'You are terse.' },
        { role: 'user', content: 'Hi' },
      ],
      { enableThinking: false },
    );
    expect(out).toBe(
      '<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n',
    );
  });

  it('addGenerationPrompt false renders the history only', () => {
    expect(renderChat([{ role: 'user', content: 'Hi' }], { addGenerationPrompt: false })).toBe('<|im_start|>user\nHi<|im_end|>\n');
  });

  it('multi-turn: reasoning dropped before the last user query, kept (think block) after it', () => {
    const msgs: ChatMessage[] = [
      { role: 'user', content: 'What is 2+2?' },
      { role: 'assistant', content: '4', reasoning_content: 'Simple addition.' },
      { role: 'user', content: 'And 3+3?' },
      { role: 'assistant', content: '6', reasoning_content: 'Again addition.' },
    ];
    expect(renderChat(msgs, { addGenerationPrompt: false })).toBe(
      '<|im_start|>user\nWhat is 2+2?<|im_end|>\n' +
        '<|im_start|>assistant\n4<|im_end|>\n' +
        '<|im_start|>user\nAnd 3+3?<|im_end|>\n' +
        '<|im_start|>assistant\n<think>\nAgain addition.\n</think>\n\n6<|im_end|>\n',
    );
  });

  it('preserveThinking keeps the think block on every assistant turn', () => {
    const msgs: ChatMessage[] = [
      { role: 'user', content: 'What is 2+2?' },
      { role: 'assistant', content: '4', reasoning_content: 'Simple addition.' },
      { role: 'user', content: 'And 3+3?' },
    ];
    expect(renderChat(msgs, { preserveThinking: true })).toBe(
      '<|im_start|>user\nWhat is 2+2?<|im_end|>\n' +
        '<|im_start|>assistant\n<think>\nSimple addition.\n</think>\n\n4<|im_end|>\n' +
        '<|im_start|>user\nAnd 3+3?<|im_end|>\n' +
        '<|im_start|>assistant\n<think>\n',
    );
    // and without it the same history drops the reasoning
    expect(renderChat(msgs)).toBe(
      '<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n4<|im_end|>\n<|im_start|>user\nAnd 3+3?<|im_end|>\n<|im_start|>assistant\n<think>\n',
    );
  });

  it('reasoning written inside content (<think>…</think>) is split out like reasoning_content', () => {
    const msgs: ChatMessage[] = [
      { role: 'user', content: 'Q1' },
      { role: 'assistant', content: '<think>\nold thoughts\n</think>\n\nA1' },
      { role: 'user', content: 'Q2' },
      { role: 'assistant', content: '<think>\nnew thoughts\n</think>\n\nA2' },
    ];
    expect(renderChat(msgs, { addGenerationPrompt: false })).toBe(
      '<|im_start|>user\nQ1<|im_end|>\n<|im_start|>assistant\nA1<|im_end|>\n' +
        '<|im_start|>user\nQ2<|im_end|>\n<|im_start|>assistant\n<think>\nnew thoughts\n</think>\n\nA2<|im_end|>\n',
    );
  });

  it('an assistant turn after the last query with no reasoning gets an empty think block', () => {
    const msgs: ChatMessage[] = [
      { role: 'user', content: 'Q' },
      { role: 'assistant', content: 'A' },
    ];
    expect(renderChat(msgs, { addGenerationPrompt: false })).toBe(
      '<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\nA<|im_end|>\n',
    );
  });

  it('a later system message is rendered as its own turn', () => {
    const msgs: ChatMessage[] = [
      { role: 'user', content: 'Q' },
      { role: 'system', content: 'Note' },
    ];
    expect(renderChat(msgs, { addGenerationPrompt: false })).toBe('<|im_start|>user\nQ<|im_end|>\n<|im_start|>system\nNote<|im_end|>\n');
  });
});

describe('built-in template: tools', () => {
  it('tools without a system prompt: "# Tools" system turn alone', () => {
    const out = renderChat([{ role: 'user', content: 'Weather in Paris?' }], { tools: [weatherTool] });
    expect(out).toBe(TOOLS_SYSTEM + '<|im_end|>\n<|im_start|>user\nWeather in Paris?<|im_end|>\n<|im_start|>assistant\n<think>\n');
  });

  it('tools + system prompt: the system prompt follows after a blank line', () => {
    const out = renderChat(
      [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Weather in Paris?' },
      ],
      { tools: [weatherTool], enableThinking: false },
    );
    expect(out).toBe(
      TOOLS_SYSTEM + '\n\nBe brief.<|im_end|>\n<|im_start|>user\nWeather in Paris?<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n',
    );
  });

  it('a bare function object renders exactly like the OpenAI-style wrapper', () => {
    const bare: ToolDefinition = (weatherTool as { function: ToolDefinition }).function;
    const msgs: ChatMessage[] = [{ role: 'user', content: 'x' }];
    expect(renderChat(msgs, { tools: [bare] })).toBe(renderChat(msgs, { tools: [weatherTool] }));
  });

  it('tool-calling loop: XML calls, typed values, grouped tool responses, reasoning kept inside the loop', () => {
    const msgs: ChatMessage[] = [
      { role: 'user', content: 'Weather in Paris and Rome?' },
      {
        role: 'assistant',
        content: '',
        reasoning_content: 'Two cities, two calls.',
        tool_calls: [
          { type: 'function', function: { name: 'get_weather', arguments: { city: 'Paris', days: 3 } } },
          { type: 'function', function: { name: 'get_weather', arguments: '{"city": "Rome", "days": 1}' } },
        ],
      },
      { role: 'tool', name: 'get_weather', content: '{"temp": 21}' },
      { role: 'tool', name: 'get_weather', content: '{"temp": 25}' },
      {
        role: 'assistant',
        content: 'Let me also check the forecast.',
        reasoning_content: 'One more.',
        tool_calls: [
          {
            function: {
              name: 'forecast',
              arguments: { note: 'line one\nline <b>two</b>', detailed: true, hours: [1, 2], opts: { unit: 'C' }, ratio: 0.5, none: null },
            },
          },
        ],
      },
      { role: 'tool', content: 'sunny' },
    ];
    const out = renderChat(msgs, { tools: [weatherTool] });
    expect(out).toBe(
      TOOLS_SYSTEM +
        '<|im_end|>\n' +
        '<|im_start|>user\nWeather in Paris and Rome?<|im_end|>\n' +
        '<|im_start|>assistant\n<think>\nTwo cities, two calls.\n</think>\n\n' +
        '<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n<parameter=days>\n3\n</parameter>\n</function>\n</tool_call>\n' +
        '<tool_call>\n<function=get_weather>\n<parameter=city>\nRome\n</parameter>\n<parameter=days>\n1\n</parameter>\n</function>\n</tool_call><|im_end|>\n' +
        '<|im_start|>user\n<tool_response>\n{"temp": 21}\n</tool_response>\n<tool_response>\n{"temp": 25}\n</tool_response><|im_end|>\n' +
        '<|im_start|>assistant\n<think>\nOne more.\n</think>\n\nLet me also check the forecast.\n\n' +
        '<tool_call>\n<function=forecast>\n' +
        '<parameter=note>\nline one\nline <b>two</b>\n</parameter>\n' +
        '<parameter=detailed>\ntrue\n</parameter>\n' +
        '<parameter=hours>\n[1, 2]\n</parameter>\n' +
        '<parameter=opts>\n{"unit": "C"}\n</parameter>\n' +
        '<parameter=ratio>\n0.5\n</parameter>\n' +
        '<parameter=none>\nnull\n</parameter>\n' +
        '</function>\n</tool_call><|im_end|>\n' +
        '<|im_start|>user\n<tool_response>\nsunny\n</tool_response><|im_end|>\n' +
        '<|im_start|>assistant\n<think>\n',
    );
  });

  it('a user turn that only wraps a <tool_response> is not a real query (reasoning stays)', () => {
    const msgs: ChatMessage[] = [
      { role: 'user', content: 'Q' },
      { role: 'assistant', content: '', reasoning_content: 'R1', tool_calls: [{ function: { name: 'f', arguments: {} } }] },
      { role: 'user', content: '<tool_response>\nok\n</tool_response>' },
      { role: 'assistant', content: 'Done', reasoning_content: 'R2' },
    ];
    expect(renderChat(msgs, { addGenerationPrompt: false })).toBe(
      '<|im_start|>user\nQ<|im_end|>\n' +
        '<|im_start|>assistant\n<think>\nR1\n</think>\n\n<tool_call>\n<function=f>\n</function>\n</tool_call><|im_end|>\n' +
        '<|im_start|>user\n<tool_response>\nok\n</tool_response><|im_end|>\n' +
        '<|im_start|>assistant\n<think>\nR2\n</think>\n\nDone<|im_end|>\n',
    );
  });
});

describe('ChatTemplate: custom templates, context and errors', () => {
  it('passes bos/eos tokens, extra variables and the option flags to the template', () => {
    const t = new ChatTemplate(
      '{{ bos_token }}{% for m in messages %}[{{ m.role }}:{{ m.content }}]{% endfor %}' +
        '{{ add_generation_prompt }}/{{ enable_thinking }}/{{ preserve_thinking is defined }}/{{ tools | length }}/{{ who }}{{ eos_token }}',
      { bosToken: '<s>', eosToken: '</s>' },
    );
    const msgs: ChatMessage[] = [
      { role: 'system', content: 'S' },
      { role: 'user', content: 'U' },
    ];
    expect(t.render(msgs, { tools: [weatherTool], extra: { who: 'me' } })).toBe('<s>[system:S][user:U]true/true/false/1/me</s>');
    expect(t.render(msgs, { addGenerationPrompt: false, enableThinking: false, preserveThinking: true, tools: [], extra: { who: 'x', enable_thinking: true } })).toBe(
      '<s>[system:S][user:U]false/false/true/0/x</s>',
    );
  });

  it('a syntax error is a TemplateError naming the line and the cause', () => {
    let err: unknown;
    try {
      new ChatTemplate('line one\n{{ messages[0].content }}\n{{ a $ b }}\nlast', { name: 'my-template' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TemplateError);
    const te = err as TemplateError;
    expect(te.code).toBe('TEMPLATE_ERROR');
    expect(te.details.line).toBe(3);
    expect(te.message).toContain('my-template');
    expect(te.message).toContain('line 3');
    expect(te.message).toContain('Unexpected character: $');
  });

  it('a parse error (mismatched block) is a TemplateError too', () => {
    expect(() => new ChatTemplate('{% if x %}\nA\n{% endfor %}')).toThrow(TemplateError);
  });

  it('a render-time failure (raise_exception) is a TemplateError with the message', () => {
    const t = new ChatTemplate("{% if messages | length == 0 %}{{ raise_exception('need a message') }}{% endif %}ok");
    expect(t.render([{ role: 'user', content: 'x' }])).toBe('ok');
    expect(() => t.render([])).toThrow(/need a message/);
    try {
      t.render([]);
    } catch (e) {
      expect(e).toBeInstanceOf(TemplateError);
      expect((e as TemplateError).code).toBe('TEMPLATE_ERROR');
    }
  });

  it('built-in template refuses non-JSON string arguments with a TemplateError', () => {
    const msgs: ChatMessage[] = [
      { role: 'user', content: 'Q' },
      { role: 'assistant', content: '', tool_calls: [{ function: { name: 'f', arguments: 'not json' } }] },
    ];
    expect(() => renderChat(msgs)).toThrow(TemplateError);
  });

  it('bad messages and tools are INVALID_ARGUMENT errors naming the field', () => {
    const bad = [{ role: 'robot', content: 'x' }] as unknown as ChatMessage[];
    expect(() => renderChat(bad)).toThrow(QwenHybridError);
    try {
      renderChat(bad);
    } catch (e) {
      expect((e as QwenHybridError).code).toBe('INVALID_ARGUMENT');
      expect((e as Error).message).toContain('messages[0].role');
    }
    const badContent = [{ role: 'user', content: 5 }] as unknown as ChatMessage[];
    expect(() => renderChat(badContent)).toThrow(/messages\[0\]\.content/);
    const badTool = [{ description: 'no name' }] as unknown as ToolDefinition[];
    expect(() => renderChat([{ role: 'user', content: 'x' }], { tools: badTool })).toThrow(/tools\[0\]/);
  });

  it('renderChat with a template string compiles it and renders like ChatTemplate', () => {
    const src = '{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}';
    const msgs: ChatMessage[] = [{ role: 'user', content: 'a' }];
    expect(renderChat(msgs, { template: src })).toBe('<user>a');
    expect(renderChat(msgs, { template: src })).toBe('<user>a');
  });
});

describe('templateFromMetadata', () => {
  const vocab = meta.array(GGUFValueType.STRING, ['a', '<|endoftext|>', '<|im_start|>', '<|im_end|>']);
  it('uses tokenizer.chat_template and the BOS/EOS token strings from the vocabulary', () => {
    const md = new Map<string, GGUFMetadataValue>([
      ['tokenizer.chat_template', meta.str('{{ bos_token }}|{% for m in messages %}{{ m.content }}{% endfor %}|{{ eos_token }}')],
      ['tokenizer.ggml.tokens', vocab],
      ['tokenizer.ggml.bos_token_id', meta.u32(1)],
      ['tokenizer.ggml.eos_token_id', meta.u32(3)],
    ]);
    expect(templateFromMetadata(md).render([{ role: 'user', content: 'hi' }])).toBe('<|endoftext|>|hi|<|im_end|>');
  });

  it('falls back to the built-in template when the key is absent', () => {
    const md = new Map<string, GGUFMetadataValue>([['tokenizer.ggml.tokens', vocab]]);
    expect(templateFromMetadata(md).render([{ role: 'user', content: 'hi' }])).toBe('<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n<think>\n');
  });

  it('named templates: tokenizer.chat_template.<name>; a missing name is a TemplateError', () => {
    const md = new Map<string, GGUFMetadataValue>([['tokenizer.chat_template.tool_use', meta.str('TOOLS')]]);
    expect(templateFromMetadata(md, { name: 'tool_use' }).render([])).toBe('TOOLS');
    expect(() => templateFromMetadata(md, { name: 'rag' })).toThrow(TemplateError);
  });

  it('a non-string tokenizer.chat_template is GGUF_BAD_METADATA naming the key', () => {
    const md = new Map<string, GGUFMetadataValue>([['tokenizer.chat_template', meta.u32(7)]]);
    let err: unknown;
    try {
      templateFromMetadata(md);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(GGUFError);
    expect((err as GGUFError).code).toBe('GGUF_BAD_METADATA');
    expect((err as Error).message).toContain('tokenizer.chat_template');
  });

  it('a bad template in the file is a TemplateError naming the key', () => {
    const md = new Map<string, GGUFMetadataValue>([['tokenizer.chat_template', meta.str('{% for %}')]]);
    expect(() => templateFromMetadata(md)).toThrow(/tokenizer\.chat_template/);
  });
});
