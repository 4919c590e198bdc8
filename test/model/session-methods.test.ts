// session.generate / session.chat are the public spelling of generate(session, …) / chat(session, …):
// same tokens, same parsed result.
import { describe, expect, it } from 'vitest';
import { loadModel } from '../../src/model/index.js';
import { chat } from '../../src/runtime/chat.js';
import { generate } from '../../src/runtime/generate.js';
import { getTinyModel } from '../helpers/model-cache.js';

describe('Session.generate / Session.chat', () => {
  it('equal the runtime functions', async () => {
    const { path } = await getTinyModel('dense-r2');
    await using model = await loadModel(path, { backend: 'cpu', threads: 2, kvCacheType: 'f32' });
    const collect = async (it: AsyncIterable<{ token: number }>) => {
      const ids: number[] = [];
      for await (const c of it) ids.push(c.token);
      return ids;
    };
    const opts = { temperature: 0, maxTokens: 8 };
    const a = await collect(model.createSession().generate('Hello world', opts));
    const b = await collect(generate(model.createSession(), 'Hello world', opts));
    expect(a.length).toBe(8);
    expect(a).toEqual(b);

    const messages = [{ role: 'user' as const, content: 'Hi' }];
    const s1 = model.createSession().chat(messages, { ...opts, thinking: false });
    for await (const _ of s1) void _;
    const s2 = chat(model.createSession(), messages, { ...opts, thinking: false });
    for await (const _ of s2) void _;
    const [r1, r2] = [await s1.result, await s2.result];
    expect({ ...r1, stats: undefined }).toEqual({ ...r2, stats: undefined });
    expect(r1.stats.generatedTokens).toBe(8);
  });
});
