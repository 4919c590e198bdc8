/**
 * Constrained generation (issue 17) on the random-weight demo model, which emits noise unconstrained, so every
 * valid output below is the grammar's doing. References independent of the engine: ajv validates JSON outputs
 * against their schemas; RegExp checks regex outputs; a hand-written checker reads the EBNF language. Masks are
 * replayed with a fresh matcher: every generated token was allowed at its step. Unconstrained runs are unchanged.
 */
import { Ajv } from 'ajv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GrammarEngine, loadModel, maskAllows, QwenHybridError, type GrammarSpec, type Model } from '../../src/index.js';
import { demoModelPath } from '../../src/model/demo.js';

let model: Model;
beforeAll(async () => {
  model = await loadModel(await demoModelPath(), { backend: 'cpu', threads: 2 });
});
afterAll(() => model?.dispose());

const ajv = new Ajv({ strict: false });

const SCHEMAS: Record<string, Record<string, unknown>> = {
  nested: { type: 'object', properties: { user: { type: 'object', properties: { id: { type: 'integer', minimum: 1, maximum: 99 }, admin: { type: 'boolean' } }, required: ['id', 'admin'], additionalProperties: false } }, required: ['user'], additionalProperties: false },
  array: { type: 'object', properties: { xs: { type: 'array', items: { type: 'integer', minimum: 0, maximum: 9 }, minItems: 1, maxItems: 3 } }, required: ['xs'], additionalProperties: false },
  enumNull: { type: 'object', properties: { c: { enum: ['red', 'green'] }, n: { type: 'null' }, x: { type: 'number' } }, required: ['c', 'n', 'x'], additionalProperties: false },
  optional: { type: 'object', properties: { a: { type: 'boolean' }, b: { type: 'integer', minimum: 0, maximum: 5 } }, required: ['a'], additionalProperties: false },
  anyOf: { type: 'object', properties: { v: { anyOf: [{ type: 'integer', minimum: 0, maximum: 3 }, { type: 'boolean' }] } }, required: ['v'], additionalProperties: false },
  strings: { type: 'object', properties: { code: { type: 'string', pattern: '^[A-Z]{2}[0-9]$' }, note: { type: 'string', maxLength: 6 } }, required: ['code', 'note'], additionalProperties: false },
};

function withoutMaxLength(s: unknown): unknown {
  if (Array.isArray(s)) return s.map(withoutMaxLength);
  if (s === null || typeof s !== 'object') return s;
  return Object.fromEntries(Object.entries(s).filter(([k]) => k !== 'maxLength').map(([k, v]) => [k, withoutMaxLength(v)]));
}

async function run(spec: { jsonSchema?: Record<string, unknown>; grammar?: string; regex?: string }, seed: number, temperature: number, maxTokens = 160) {
  const s = model.createSession({ contextSize: 512 });
  try {
    return await s.generate('Output:', { ...spec, seed, temperature, maxTokens }).complete();
  } finally {
    s.dispose();
  }
}

/** Replays `tokens` on a fresh matcher of `spec`: each was allowed by the mask at its step and accepted. */
async function replay(spec: GrammarSpec, tokens: readonly number[], endsWithEog: boolean): Promise<void> {
  const c = await (await GrammarEngine.forTokenizer(model.tokenizer, model.vocabSize)).compile(spec);
  const m = await c.matcher();
  try {
    for (const [i, t] of tokens.entries()) {
      expect(maskAllows(await m.mask(), t), `token #${i} (${t}) was banned by the mask`).toBe(true);
      expect(m.accept(t)).toBe(true);
    }
    if (endsWithEog) {
      const mask = await m.mask();
      // Only EOG may follow a completed output here, and it is allowed.
      const eog = [...model.tokenizer.eogIds].filter((t) => t < model.vocabSize);
      expect(eog.some((t) => maskAllows(mask, t))).toBe(true);
    }
  } finally {
    m.dispose();
  }
}

describe('JSON schema suite', () => {
  it.each(Object.keys(SCHEMAS))('%s: every completed output validates; most complete; tokens replay under the mask', async (name) => {
    const schema = SCHEMAS[name]!;
    const validate = ajv.compile(schema);
    let completed = 0, total = 0;
    for (const temperature of [0.7, 1.2]) {
      for (const seed of [1, 2, 3]) {
        total++;
        const r = await run({ jsonSchema: schema }, seed, temperature);
        if (r.stats.stopReason !== 'eog') {
          expect(r.stats.incomplete).toBe(true);
          continue;
        }
        completed++;
        expect(r.stats.incomplete).toBe(false);
        const v = JSON.parse(r.text) as unknown;
        // XGrammar matches bytes: a string may hold byte tokens that are not valid UTF-8, which decode to U+FFFD
        // each and then count as more characters than the grammar counted (maxLength). Such outputs are checked
        // with maxLength lifted; every other keyword still applies.
        const ok = r.text.includes('\uFFFD') ? ajv.compile(withoutMaxLength(schema) as object)(v) : validate(v);
        expect(ok, `${r.text}: ${ajv.errorsText(validate.errors)}`).toBe(true);
        if (seed === 1) await replay({ type: 'json_schema', schema }, r.tokens, true);
      }
    }
    expect(completed, `${name}: ${completed} of ${total} runs completed within 160 tokens`).toBeGreaterThanOrEqual(total / 2);
  });
});

describe('engine gaps (XGrammar 0.1.27 WASM), visible', () => {
  // Measured: {type:'number', minimum:-1, maximum:1} gave x = -1.559797, 1.90114, -1.6 on the demo model (the range
  // reaches only the integer part). Integer ranges are enforced (suite above). Until the engine enforces it (or we
  // rewrite such schemas), a non-integer range is not a guarantee.
  it.skip('non-integer number ranges (minimum / maximum on type number) are enforced: XGrammar 0.1.27 does not', () => {});
});

describe('regex and EBNF', () => {
  it('regex: outputs match the whole pattern', async () => {
    for (const pattern of ['[0-9]{3}-[a-z]{2}', '(yes|no|maybe)', '[A-Z][a-z]{1,5}( [A-Z][a-z]{1,5})?']) {
      for (const seed of [1, 2]) {
        const r = await run({ regex: pattern }, seed, 1.0, 40);
        expect(r.stats.stopReason).toBe('eog');
        expect(r.text).toMatch(new RegExp(`^(?:${pattern})$`));
      }
    }
  });

  it('EBNF: sums of small numbers, checked by an independent reader', async () => {
    const grammar = 'root ::= num (" + " num)*\nnum ::= [1-9] [0-9]?';
    const reader = /^[1-9][0-9]?( \+ [1-9][0-9]?)*$/;
    for (const seed of [1, 2, 3]) {
      const r = await run({ grammar }, seed, 0.9, 30);
      if (r.stats.stopReason === 'eog') expect(r.text).toMatch(reader);
      else {
        // Cut off by maxTokens: not terminated, and what was written is a prefix of the language.
        expect(r.stats.stopReason).toBe('max-tokens');
        expect(r.stats.incomplete).toBe(true);
        expect(r.text).toMatch(/^([1-9][0-9]?( \+ [1-9][0-9]?)*( | \+| \+ )?)?$/);
      }
    }
  });
});

describe('unconstrained generation is unchanged', () => {
  it('same tokens before and after constrained runs, and with constraint: undefined', async () => {
    const opts = { seed: 9, temperature: 0.8, maxTokens: 16, ignoreEos: true } as const;
    const before = await model.createSession().generate([1, 2, 3], opts).complete();
    await run({ jsonSchema: SCHEMAS.nested }, 1, 1);
    const after = await model.createSession().generate([1, 2, 3], opts).complete();
    const explicit = await model.createSession().generate([1, 2, 3], { ...opts, constraint: undefined }).complete();
    expect(after.tokens).toEqual(before.tokens);
    expect(explicit.tokens).toEqual(before.tokens);
    expect(before.stats.incomplete).toBeUndefined();
  });
});

describe('errors', () => {
  it('INVALID_GRAMMAR from the iteration, before any token, with the session untouched', async () => {
    const cases: [object, RegExp][] = [
      [{ grammar: 'root ::= "a" |' }, /line 1, column/],
      [{ regex: '(unclosed' }, /regex/],
      [{ jsonSchema: { type: 'object', properties: { a: { type: 'no-such-type' } } } }, /json_schema/],
    ];
    for (const [spec, msg] of cases) {
      const s = model.createSession({ contextSize: 64 });
      let err: unknown;
      try {
        await s.generate([1, 2], { ...spec, maxTokens: 4 }).complete();
      } catch (e) {
        err = e;
      }
      expect(err, JSON.stringify(spec)).toBeInstanceOf(QwenHybridError);
      expect((err as QwenHybridError).code).toBe('INVALID_GRAMMAR');
      expect((err as QwenHybridError).message).toMatch(msg);
      expect(s.position).toBe(0);
      s.dispose();
    }
  });

  it('shape errors at the call: two constraints, an empty grammar, ignoreEos with a grammar, a bad spec type', () => {
    const s = model.createSession({ contextSize: 64 });
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return (e as QwenHybridError).code;
      }
      return undefined;
    };
    expect(code(() => s.generate([1], { regex: 'a', grammar: 'root ::= "a"' }))).toBe('INVALID_ARGUMENT');
    expect(code(() => s.generate([1], { grammar: '' }))).toBe('INVALID_GRAMMAR');
    expect(code(() => s.generate([1], { regex: 'a', ignoreEos: true }))).toBe('INVALID_ARGUMENT');
    expect(code(() => s.generate([1], { constraint: { type: 'yaml' } as never }))).toBe('INVALID_GRAMMAR');
    s.dispose();
  });

  it('stats.incomplete when maxTokens cuts the structure', async () => {
    const r = await run({ jsonSchema: SCHEMAS.nested }, 1, 0.7, 3);
    expect(r.stats.stopReason).toBe('max-tokens');
    expect(r.stats.incomplete).toBe(true);
  });
});
