/**
 * Chat-level constraints (issue 17): responseFormat (json_object / json_schema) and toolChoice ('required', a named
 * function, 'none') on the random-weight demo model, which emits noise unconstrained. References: ajv validates
 * the JSON replies and the tool-call arguments against their schemas; ChatOutputParser (independent of the grammar)
 * parses the tool calls; the structural tag built for thinking mode is checked by feeding hand-written replies to a
 * matcher (accepted / refused / can end).
 */
import { thrownCode } from '../helpers/errors.js';
import { Ajv } from 'ajv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chatConstraint, loadModel, QwenHybridError, renderChatPrompt, type Model } from '../../src/index.js';
import { demoModelPath } from '../../src/model/demo.js';

let model: Model;
beforeAll(async () => {
  model = await loadModel(await demoModelPath(), { backend: 'cpu', threads: 2 });
});
afterAll(() => model?.dispose());

const ajv = new Ajv({ strict: false });
const schema = {
  type: 'object',
  properties: { ok: { type: 'boolean' }, n: { type: 'integer', minimum: 0, maximum: 9 }, tag: { enum: ['x', 'y'] } },
  required: ['ok', 'n', 'tag'],
  additionalProperties: false,
};
const tools = [
  { type: 'function' as const, function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string', maxLength: 12 }, days: { type: 'integer', minimum: 1, maximum: 7 } }, required: ['city', 'days'] } } },
  { type: 'function' as const, function: { name: 'get_time', parameters: { type: 'object', properties: { zone: { enum: ['UTC', 'CET'] } }, required: ['zone'] } } },
];

const callId = (): number => model.tokenizer.tokenId('<tool_call>')!;

async function reply(opts: Parameters<ReturnType<Model['createSession']>['chat']>[1]) {
  const s = model.createSession({ contextSize: 1024 });
  try {
    const st = s.chat([{ role: 'user', content: 'Weather in Paris?' }], opts);
    for await (const _ of st) {
      // events are in the result
    }
    return await st.result;
  } finally {
    s.dispose();
  }
}

describe('responseFormat', () => {
  it('json_schema (OpenAI shape): every completed reply parses and validates; most complete', async () => {
    const validate = ajv.compile(schema);
    let completed = 0;
    for (const seed of [1, 2, 3, 4]) {
      const r = await reply({ thinking: false, temperature: 0.9, seed, maxTokens: 120, responseFormat: { type: 'json_schema', json_schema: { name: 'answer', schema } } });
      if (r.stats.stopReason !== 'eog') {
        expect(r.stats.incomplete).toBe(true);
        continue;
      }
      completed++;
      expect(r.stats.incomplete).toBe(false);
      const v = JSON.parse(r.content);
      expect(validate(v), `${r.content}: ${ajv.errorsText(validate.errors)}`).toBe(true);
    }
    expect(completed).toBeGreaterThanOrEqual(2);
  });

  it('json_object: a JSON object', async () => {
    const r = await reply({ thinking: false, temperature: 0.7, seed: 5, maxTokens: 200, responseFormat: { type: 'json_object' } });
    if (r.stats.stopReason === 'eog') {
      const v = JSON.parse(r.content) as unknown;
      expect(typeof v === 'object' && v !== null && !Array.isArray(v)).toBe(true);
    } else expect(r.stats.incomplete).toBe(true);
  });

  it('thinking mode: free reasoning up to </think>, then the JSON (the structural tag, by hand-written replies)', async () => {
    const c = await model.compileGrammar(chatConstraint({ responseFormat: { type: 'json_schema', schema }, startInReasoning: true })!);
    const EOG = model.tokenizer.tokenId('<|im_end|>')!;
    const run = async (text: string) => {
      const m = await c.matcher();
      try {
        const all = model.tokenize(text, { special: true }).every((t) => m.accept(t));
        return { all, ends: all && m.accept(EOG) && m.terminated };
      } finally {
        m.dispose();
      }
    };
    expect(await run('The user wants JSON. {maybe}</think>\n\n{"ok": true, "n": 3, "tag": "y"}')).toEqual({ all: true, ends: true });
    expect((await run('Hmm.</think>\n\n{"ok": true, "n": 12, "tag": "y"}')).all).toBe(false); // n > maximum
    expect((await run('Hmm.</think>\n\nSure!')).all).toBe(false); // text instead of JSON
    expect(await run('{"ok": true, "n": 3, "tag": "y"}')).toEqual({ all: true, ends: false }); // still reasoning: cannot end
  });
});

describe('toolChoice', () => {
  it("'required': every completed reply holds a call of a given tool whose arguments validate", async () => {
    let completed = 0;
    for (const seed of [1, 2, 3]) {
      // The grammar allows free text before the call (the template does); a bias on <tool_call> keeps the random
      // model's preamble short so that calls complete within maxTokens. Whatever it writes must still be valid.
      const r = await reply({ thinking: false, tools, toolChoice: 'required', temperature: 0.8, seed, maxTokens: 300, logitBias: { [callId()]: 6 } });
      if (r.stats.stopReason !== 'eog') continue;
      completed++;
      expect(r.toolCalls.length).toBeGreaterThanOrEqual(1);
      for (const call of r.toolCalls) {
        const fn = tools.find((t) => t.function.name === call.name);
        expect(fn, call.name).toBeDefined();
        const validate = ajv.compile(fn!.function.parameters);
        expect(validate(call.arguments), `${JSON.stringify(call.arguments)}: ${ajv.errorsText(validate.errors)}`).toBe(true);
        expect(call.id).toMatch(/^call_/);
      }
    }
    expect(completed).toBeGreaterThanOrEqual(1);
  });

  it('the forced-call grammar accepts exactly what the chat template renders for a call (and refuses a bad value)', async () => {
    const s = model.createSession({ contextSize: 1024 });
    const rendered = model.chatTemplate.render(
      [{ role: 'user', content: 'x' }, { role: 'assistant', content: '', tool_calls: [{ type: 'function', function: { name: 'get_weather', arguments: { city: 'Paris', days: 3 } } }] }],
      { tools },
    );
    const call = rendered.slice(rendered.lastIndexOf('<tool_call>'), rendered.lastIndexOf('</tool_call>') + '</tool_call>'.length);
    const c = await model.compileGrammar(chatConstraint({ toolChoice: 'required', tools, startInReasoning: false })!);
    const EOG = model.tokenizer.tokenId('<|im_end|>')!;
    const feed = async (text: string) => {
      const m = await c.matcher();
      try {
        const all = model.tokenize(text, { special: true }).every((t) => m.accept(t));
        return all && m.accept(EOG) && m.terminated;
      } finally {
        m.dispose();
      }
    };
    expect(await feed(call)).toBe(true);
    expect(await feed(call.replace('\n3\n', '\n9\n'))).toBe(false); // days > maximum 7
    expect(await feed(call.replace('get_weather', 'get_wether'))).toBe(false);
    s.dispose();
  });

  it('a named function: exactly one call of it', async () => {
    const r = await reply({ thinking: false, tools, toolChoice: { type: 'function', function: { name: 'get_time' } }, temperature: 0.8, seed: 2, maxTokens: 300, logitBias: { [callId()]: 6 } });
    if (r.stats.stopReason === 'eog') {
      expect(r.toolCalls.map((c) => c.name)).toEqual(['get_time']);
      expect(['UTC', 'CET']).toContain(r.toolCalls[0]!.arguments.zone);
    } else expect(r.stats.incomplete).toBe(true);
  });

  it("'none' does not offer the tools; bad choices and combinations are INVALID_ARGUMENT at the call", () => {
    const s = model.createSession({ contextSize: 1024 });
    const withTools = renderChatPrompt(s, [{ role: 'user', content: 'x' }], { tools }).prompt;
    expect(withTools).toContain('get_weather');
    const code = thrownCode;
    const msgs = [{ role: 'user' as const, content: 'x' }];
    expect(code(() => s.chat(msgs, { tools, toolChoice: { type: 'function', function: { name: 'nope' } } }))).toBe('INVALID_ARGUMENT');
    expect(code(() => s.chat(msgs, { toolChoice: 'required' }))).toBe('INVALID_ARGUMENT');
    expect(code(() => s.chat(msgs, { tools, toolChoice: 'required', responseFormat: { type: 'json_object' } }))).toBe('INVALID_ARGUMENT');
    expect(code(() => s.chat(msgs, { responseFormat: { type: 'yaml' } as never }))).toBe('INVALID_ARGUMENT');
    expect(code(() => s.chat(msgs, { responseFormat: { type: 'json_object' }, regex: 'a+' }))).toBe('INVALID_ARGUMENT');
    s.dispose();
  });

  it("toolChoice 'none': the rendered prompt has no tool section", async () => {
    // chat() with toolChoice 'none' renders as if no tools were given: the session then holds that prompt.
    const s = model.createSession({ contextSize: 1024 });
    const st = s.chat([{ role: 'user', content: 'x' }], { tools, toolChoice: 'none', maxTokens: 1, temperature: 0 });
    for await (const _ of st) {
      // drain
    }
    const plain = renderChatPrompt(s, [{ role: 'user', content: 'x' }], {}).tokens;
    expect(s.history.slice(0, plain.length)).toEqual(plain);
    s.dispose();
  });
});
