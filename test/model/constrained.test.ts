/**
 * Constrained generation (issue 17) on the random-weight demo model, which emits noise unconstrained, so every
 * valid output below is the grammar's doing. References independent of the engine: ajv validates JSON outputs
 * against their schemas; RegExp checks regex outputs; hand-written readers check the EBNF languages (a recursive-
 * descent reader for arithmetic, a depth counter for balanced parentheses). Masks are replayed with a fresh matcher
 * built here: every generated token was allowed at its step. Greedy constrained runs are recomputed step by step
 * from the session's own logits (argmax over the tokens the mask allows). Unconstrained runs are compared with a
 * baseline taken before this process used any grammar.
 */
import { Ajv } from 'ajv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { thrownCode } from '../helpers/errors.js';
import { GrammarEngine, loadModel, maskAllows, QwenHybridError, type GenerateOptions, type GrammarSpec, type Model } from '../../src/index.js';
import { demoModelPath } from '../../src/model/demo.js';

const PROMPT = 'Output:';
/** Unconstrained reference options (ignoreEos: a fixed length whatever the noise). */
const PLAIN = { seed: 9, temperature: 0.8, maxTokens: 24, ignoreEos: true } as const;

let model: Model;
/** Unconstrained tokens, generated before anything in this process touched XGrammar. */
let baseline: number[];
beforeAll(async () => {
  model = await loadModel(await demoModelPath(), { backend: 'cpu', threads: 2 });
  baseline = await plain();
});
afterAll(() => model?.dispose());

const ajv = new Ajv({ strict: false });
const eog = (): number[] => [...model.tokenizer.eogIds].filter((t) => t < model.vocabSize);
const engine = () => GrammarEngine.forTokenizer(model.tokenizer, model.vocabSize);

async function plain(opts: GenerateOptions = {}): Promise<number[]> {
  const s = model.createSession({ contextSize: 256 });
  try {
    return (await s.generate(PROMPT, { ...PLAIN, ...opts }).complete()).tokens;
  } finally {
    s.dispose();
  }
}

type ConstraintOpts = Pick<GenerateOptions, 'jsonSchema' | 'grammar' | 'regex' | 'constraint'>;
async function run(c: ConstraintOpts, seed: number, temperature: number, maxTokens = 256, extra: GenerateOptions = {}) {
  const s = model.createSession({ contextSize: 512 });
  try {
    return await s.generate(PROMPT, { ...c, seed, temperature, maxTokens, ...extra }).complete();
  } finally {
    s.dispose();
  }
}

/** The token ids `mask` allows. */
function allowed(mask: Int32Array): number[] {
  const out: number[] = [];
  for (let t = 0; t < model.vocabSize; t++) if (maskAllows(mask, t)) out.push(t);
  return out;
}

/**
 * Replays `tokens` on a fresh matcher of `spec`: each was allowed by the mask at its step and accepted. `completed`:
 * the run ended with EOG, which the grammar must allow there; `onlyEogAfter`: nothing but EOG may follow (a JSON
 * document, a fixed-length pattern): the mask is then exactly the EOG set.
 */
async function replay(spec: GrammarSpec, tokens: readonly number[], completed: boolean, onlyEogAfter = false): Promise<void> {
  const m = await (await (await engine()).compile(spec)).matcher();
  try {
    for (const [i, t] of tokens.entries()) {
      expect(maskAllows(await m.mask(), t), `token #${i} (${t}) was banned by the mask`).toBe(true);
      expect(m.accept(t), `token #${i} (${t}) refused by the matcher`).toBe(true);
    }
    const last = await m.mask();
    if (completed) expect(eog().some((t) => maskAllows(last, t)), 'EOG allowed where the run ended').toBe(true);
    else expect(m.terminated).toBe(false);
    if (completed && onlyEogAfter) expect(allowed(last)).toEqual([...eog()].sort((a, b) => a - b));
  } finally {
    m.dispose();
  }
}

// ─── 1. JSON schema suite ──────────────────────────────────────────────────────────────────────────────────────────

const obj = (properties: Record<string, unknown>, required = Object.keys(properties)) => ({ type: 'object', properties, required, additionalProperties: false });
const SCHEMAS: Record<string, Record<string, unknown>> = {
  nested: obj({ user: obj({ id: { type: 'integer', minimum: 1, maximum: 99 }, admin: { type: 'boolean' }, tags: obj({ a: { type: 'null' } }) }) }),
  arrayBounds: obj({ xs: { type: 'array', items: { type: 'integer', minimum: 0, maximum: 9 }, minItems: 2, maxItems: 3 } }),
  arrayOfObjects: obj({ items: { type: 'array', items: obj({ k: { enum: ['p', 'q'] }, on: { type: 'boolean' } }), minItems: 1, maxItems: 2 } }),
  enumsAndConst: obj({ color: { enum: ['red', 'green', 'blue'] }, level: { enum: [1, 2, 3] }, v: { const: 'v1' } }),
  integerRanges: obj({ neg: { type: 'integer', minimum: -50, maximum: -10 }, wide: { type: 'integer', minimum: 100, maximum: 250 } }),
  // Unbounded numbers only: a non-integer range is not enforced by the engine (visible skip below).
  numbersBoolsNull: obj({ x: { type: 'number' }, ok: { type: 'boolean' }, nothing: { type: 'null' } }),
  optional: obj({ a: { type: 'boolean' }, b: { type: 'integer', minimum: 0, maximum: 5 }, c: { type: 'null' } }, ['a']),
  anyOf: obj({ v: { anyOf: [{ type: 'integer', minimum: 0, maximum: 3 }, { type: 'boolean' }, obj({ w: { type: 'null' } })] } }),
  strings: obj({ code: { type: 'string', pattern: '^[A-Z]{2}[0-9]$' }, note: { type: 'string', maxLength: 6 }, word: { type: 'string', pattern: '^(ab|cd)+$' } }),
  nestedArrays: obj({ grid: { type: 'array', items: { type: 'array', items: { type: 'boolean' }, minItems: 1, maxItems: 2 }, minItems: 1, maxItems: 2 } }),
};

function withoutMaxLength(s: unknown): unknown {
  if (Array.isArray(s)) return s.map(withoutMaxLength);
  if (s === null || typeof s !== 'object') return s;
  return Object.fromEntries(Object.entries(s).filter(([k]) => k !== 'maxLength').map(([k, v]) => [k, withoutMaxLength(v)]));
}

const SEEDS = [1, 2, 3, 4];
const TEMPERATURES = [0.7, 1.2];
const completion: Record<string, string> = {};
afterAll(() => console.info(`constrained JSON runs completed (eog) within 256 tokens:\n${Object.entries(completion).map(([k, v]) => `  ${k}: ${v}`).join('\n')}`));

describe('JSON schema suite', () => {
  it.each(Object.keys(SCHEMAS))('%s: completed outputs parse and validate (ajv); most runs complete; every run replays under the mask', async (name) => {
    const schema = SCHEMAS[name]!;
    const spec: GrammarSpec = { type: 'json_schema', schema };
    const validate = ajv.compile(schema);
    const lifted = ajv.compile(withoutMaxLength(schema) as object);
    let completed = 0, total = 0;
    for (const temperature of TEMPERATURES) {
      for (const seed of SEEDS) {
        total++;
        const r = await run({ jsonSchema: schema }, seed, temperature);
        const done = r.stats.stopReason === 'eog';
        await replay(spec, r.tokens, done, true);
        if (!done) {
          expect(r.stats.stopReason).toBe('max-tokens');
          expect(r.stats.incomplete).toBe(true);
          continue;
        }
        completed++;
        expect(r.stats.incomplete).toBe(false);
        const v = JSON.parse(r.text) as unknown;
        // XGrammar matches bytes and accepts some invalid UTF-8 in strings (engine gap below), which decodes to
        // U+FFFD each and then counts as more characters than the grammar counted (maxLength). Such outputs are
        // checked with maxLength lifted; every other keyword still applies.
        const ok = r.text.includes('\uFFFD') ? lifted(v) : validate(v);
        expect(ok, `seed ${seed} T ${temperature}: ${r.text}: ${ajv.errorsText(validate.errors)}`).toBe(true);
      }
    }
    completion[name] = `${completed}/${total}`;
    expect(completed, `${name}: ${completed} of ${total} runs completed within 256 tokens (a schema that never completes is a failure)`).toBeGreaterThan(total / 2);
  });

  it('json_object: completed outputs are JSON objects, cut ones start one; the constraint spec, the jsonSchema option and a CompiledConstraint agree', async () => {
    // Free-form keys and strings end only at a '"' among ~1,400 allowed tokens: on noise weights most runs are cut,
    // so completion is not required here (the schema suite requires it where the schema bounds the document).
    for (const seed of SEEDS) {
      const r = await run({ constraint: { type: 'json_object' } }, seed, 0.9, 128);
      await replay({ type: 'json_object' }, r.tokens, r.stats.stopReason === 'eog', true);
      if (r.stats.stopReason !== 'eog') {
        expect(r.stats.incomplete).toBe(true);
        expect(r.text.startsWith('{')).toBe(true);
        continue;
      }
      const v = JSON.parse(r.text) as unknown;
      expect(v !== null && typeof v === 'object' && !Array.isArray(v), r.text).toBe(true);
    }
    // The same schema three ways gives the same tokens (same seed); a compiled constraint serves several runs.
    const schema = SCHEMAS.enumsAndConst!;
    const a = await run({ jsonSchema: schema }, 3, 1.0);
    const b = await run({ constraint: { type: 'json_schema', schema } }, 3, 1.0);
    const compiled = await model.compileGrammar({ type: 'json_schema', schema });
    const c1 = await run({ constraint: compiled }, 3, 1.0);
    const c2 = await run({ constraint: compiled }, 3, 1.0);
    expect(b.tokens).toEqual(a.tokens);
    expect(c1.tokens).toEqual(a.tokens);
    expect(c2.tokens).toEqual(a.tokens);
  });

  it('concurrent constrained generations on separate sessions match the same runs done one after another', async () => {
    const jobs: [ConstraintOpts, number][] = [
      [{ jsonSchema: SCHEMAS.nested! }, 1],
      [{ regex: '[0-9]{3}-[a-z]{2}' }, 2],
      [{ grammar: 'root ::= [a-z]+ ("," [a-z]+)*' }, 3],
    ];
    const sequential = [];
    for (const [c, seed] of jobs) sequential.push((await run(c, seed, 1.0, 64)).tokens);
    const concurrent = await Promise.all(jobs.map(([c, seed]) => run(c, seed, 1.0, 64)));
    expect(concurrent.map((r) => r.tokens)).toEqual(sequential);
  });

  // Measured with a matcher fed by hand: under {type:'string', pattern:'^(ab|cd)+$', maxLength:6} the string
  // "abababab" is accepted (maxLength alone refuses it; a pattern with minLength 3 accepts "a"); on the demo model
  // seed 1 / T 0.7 wrote "abababcdababcdcdcdab". A pattern and a length bound on one string: only the pattern holds.
  it.skip('engine gap (XGrammar 0.1.27 WASM): minLength / maxLength are ignored on a string that has a pattern', () => {});

  // Measured: in 10 of 17 completed runs of {note:{maxLength:6}, s:{}} on the demo model a string held invalid UTF-8,
  // e.g. the byte-level tokens 'Á' 'º…' = bytes C1 BA (an overlong encoding), which XGrammar's string rule accepts.
  it.skip('engine gap (XGrammar 0.1.27 WASM): a JSON string accepts invalid UTF-8 (overlong C1 BA)', async () => {
    const m = await (await (await engine()).compile({ type: 'json_schema', schema: { type: 'string' } })).matcher();
    const ids = ['"', 'Á', 'º'].map((t) => model.tokenizer.tokenId(t)!);
    const accepted = ids.map((t) => m.accept(t));
    m.dispose();
    expect(accepted).toEqual([true, true, false]);
  });

  // Measured with a matcher fed by hand: under {type:'number', minimum:0, maximum:10} the documents x = 10.5 and
  // 9.75 are accepted (11 and -1 are refused): the range reaches only the integer part. Earlier, minimum -1 /
  // maximum 1 gave x = -1.559797 on the demo model. Integer ranges are enforced (integerRanges above).
  it.skip('engine gap (XGrammar 0.1.27 WASM): non-integer number ranges (minimum / maximum on type number) are not enforced', () => {});
});

// ─── 2. regex and EBNF ─────────────────────────────────────────────────────────────────────────────────────────────

/** Recursive-descent reader of expr ::= term (("+"|"-") term)*, term ::= factor (("*"|"/") factor)*, factor ::= digits | "(" expr ")". */
function isArithmetic(s: string): boolean {
  let i = 0;
  const factor = (): boolean => {
    if (s[i] === '(') {
      i++;
      if (!expr() || s[i] !== ')') return false;
      i++;
      return true;
    }
    const j = i;
    while (i < s.length && s[i]! >= '0' && s[i]! <= '9') i++;
    return i > j;
  };
  const chain = (item: () => boolean, ops: string): boolean => {
    if (!item()) return false;
    while (i < s.length && ops.includes(s[i]!)) {
      i++;
      if (!item()) return false;
    }
    return true;
  };
  const term = (): boolean => chain(factor, '*/');
  const expr = (): boolean => chain(term, '+-');
  return expr() && i === s.length;
}

/** One balanced group: "(" group* ")". */
function isOneBalancedGroup(s: string): boolean {
  if (!/^[()]+$/.test(s)) return false;
  let depth = 0;
  for (const [i, ch] of [...s].entries()) {
    depth += ch === '(' ? 1 : -1;
    if (depth < 0 || (depth === 0 && i !== s.length - 1)) return false;
  }
  return depth === 0;
}

describe('regex and EBNF', () => {
  // Bounded patterns (at most L bytes): with maxTokens > L every run must end with EOG.
  const BOUNDED = ['[0-9]{3}-[a-z]{2}', '(yes|no|maybe)', '[A-Z][a-z]{1,5}( [A-Z][a-z]{1,5})?', '\\d{1,3}(\\.\\d{1,3}){3}', '[a-f0-9]{8}', '(ab|c){1,4}x{0,2}'];
  it.each(BOUNDED)('regex %s: every output matches the whole pattern and replays under the mask', async (pattern) => {
    const re = new RegExp(`^(?:${pattern})$`);
    for (const seed of SEEDS) {
      for (const temperature of [0.8, 1.5]) {
        const r = await run({ regex: pattern }, seed, temperature, 40);
        expect(r.stats.stopReason).toBe('eog');
        expect(r.stats.incomplete).toBe(false);
        expect(r.text).toMatch(re);
        await replay({ type: 'regex', pattern }, r.tokens, true);
      }
    }
  });

  it('regex with an unbounded part: completed outputs match; cut runs are incomplete and replay', async () => {
    const pattern = 'https?://[a-z]{1,12}\\.(com|org)(/[a-z0-9]+)*';
    const re = new RegExp(`^(?:${pattern})$`);
    let completed = 0;
    for (const seed of SEEDS) {
      const r = await run({ regex: pattern }, seed, 1.0, 48);
      const done = r.stats.stopReason === 'eog';
      await replay({ type: 'regex', pattern }, r.tokens, done);
      if (done) {
        completed++;
        expect(r.text).toMatch(re);
      } else expect(r.stats.incomplete).toBe(true);
    }
    expect(completed).toBeGreaterThan(0);
  });

  const EBNF: { name: string; spec: GrammarSpec; check: (s: string) => boolean; min: number }[] = [
    {
      name: 'arithmetic (recursive-descent reader)',
      spec: { type: 'ebnf', grammar: 'root ::= expr\nexpr ::= term (("+" | "-") term)*\nterm ::= factor (("*" | "/") factor)*\nfactor ::= [0-9]+ | "(" expr ")"' },
      check: isArithmetic,
      min: 6,
    },
    {
      name: 'balanced parentheses, root "start" (depth counter)',
      spec: { type: 'ebnf', grammar: 'start ::= "(" start* ")"', root: 'start' },
      check: isOneBalancedGroup,
      min: 4,
    },
    {
      name: 'key=value list (RegExp)',
      spec: { type: 'ebnf', grammar: 'root ::= pair ("; " pair)*\npair ::= key "=" value\nkey ::= [a-z] [a-z_]? [a-z_]?\nvalue ::= "true" | "false" | "-"? [1-9] [0-9]*' },
      check: (s) => /^[a-z][a-z_]{0,2}=(true|false|-?[1-9][0-9]*)(; [a-z][a-z_]{0,2}=(true|false|-?[1-9][0-9]*))*$/.test(s),
      min: 4,
    },
    {
      name: 'multi-byte literals (byte-level matching of UTF-8)',
      spec: { type: 'ebnf', grammar: 'root ::= ("α" | "βγ" | "—")+ "!"' },
      check: (s) => /^(α|βγ|—)+!$/u.test(s),
      min: 4,
    },
  ];
  it.each(EBNF.map((e) => [e.name, e] as const))('EBNF %s: completed outputs are in the language, cut ones incomplete; all replay', async (_, e) => {
    let completed = 0;
    for (const seed of SEEDS) {
      for (const temperature of [0.7, 1.2]) {
        const r = await run({ constraint: e.spec }, seed, temperature, 64);
        const done = r.stats.stopReason === 'eog';
        await replay(e.spec, r.tokens, done);
        if (done) {
          completed++;
          expect(r.stats.incomplete).toBe(false);
          expect(e.check(r.text), JSON.stringify(r.text)).toBe(true);
        } else {
          expect(r.stats.stopReason).toBe('max-tokens');
          expect(r.stats.incomplete).toBe(true);
        }
      }
    }
    expect(completed, `${completed} of 8 runs completed`).toBeGreaterThanOrEqual(e.min);
  });

  it('the grammar option is the ebnf spec with root "root"', async () => {
    const grammar = 'root ::= [1-9] [0-9]? (" + " [1-9] [0-9]?)*';
    const a = await run({ grammar }, 2, 1.0, 32);
    const b = await run({ constraint: { type: 'ebnf', grammar } }, 2, 1.0, 32);
    expect(b.tokens).toEqual(a.tokens);
  });
});

// ─── 3. the mask is what decides: greedy runs recomputed from the logits ──────────────────────────────────────────

describe('greedy constrained decoding = argmax over the allowed tokens', () => {
  it.each([
    ['json_schema', { type: 'json_schema', schema: SCHEMAS.nested! }],
    ['regex', { type: 'regex', pattern: '[a-z]{2,6}( [a-z]{2,6}){0,5}' }],
    ['ebnf', { type: 'ebnf', grammar: 'root ::= expr\nexpr ::= term (("+" | "-") term)*\nterm ::= [0-9]+ | "(" expr ")"' }],
  ] as [string, GrammarSpec][])('%s: each token is the best-scoring allowed token of its logits row', async (_, spec) => {
    const N = 40;
    const r = await run({ constraint: spec }, 1, 0, N);
    // Reference: the same prompt evaluated on a fresh session, one token at a time as generate does.
    const s = model.createSession({ contextSize: 512 });
    const m = await (await (await engine()).compile(spec)).matcher();
    const ref: number[] = [];
    let maskMattered = 0;
    try {
      let row = (await s.evaluate(model.tokenize(PROMPT), { logits: 'last' }))[0]!;
      for (let step = 0; step < N; step++) {
        const mask = await m.mask();
        let best = -1, bestAny = 0;
        for (let t = 0; t < row.length; t++) {
          if (row[t]! > row[bestAny]!) bestAny = t;
          if (maskAllows(mask, t) && (best < 0 || row[t]! > row[best]!)) best = t;
        }
        if (best !== bestAny) maskMattered++;
        if (model.tokenizer.isEog(best)) break;
        expect(m.accept(best)).toBe(true);
        ref.push(best);
        if (step + 1 < N) row = (await s.evaluate([best], { logits: 'last' }))[0]!;
      }
    } finally {
      m.dispose();
      s.dispose();
    }
    expect(r.tokens).toEqual(ref);
    // On noise weights the unconstrained argmax is almost never allowed: the mask did the work.
    expect(maskMattered).toBeGreaterThan(ref.length / 2);
  });
});

// ─── 4. unconstrained generation is unchanged ──────────────────────────────────────────────────────────────────────

describe('unconstrained generation is unchanged', () => {
  it('same tokens as before any grammar was used, with constraint options set to undefined, and beside a concurrent constrained run', async () => {
    await run({ jsonSchema: SCHEMAS.nested }, 1, 1);
    expect(await plain()).toEqual(baseline);
    expect(await plain({ constraint: undefined, jsonSchema: undefined, grammar: undefined, regex: undefined })).toEqual(baseline);
    const [, beside] = await Promise.all([run({ jsonSchema: SCHEMAS.arrayOfObjects }, 2, 1.2, 64), plain()]);
    expect(beside).toEqual(baseline);
    // The unconstrained baseline is noise: the constraint suites above are not passing by accident of the weights.
    const s = model.createSession();
    const r = await s.generate(PROMPT, PLAIN).complete();
    s.dispose();
    expect(r.stats.incomplete).toBeUndefined();
    expect(() => JSON.parse(r.text)).toThrow();
  });

  it('a session continues unconstrained after a constrained generation as one that consumed the same tokens without a grammar', async () => {
    const a = model.createSession({ contextSize: 512 });
    const b = model.createSession({ contextSize: 512 });
    try {
      const c = await a.generate(PROMPT, { regex: '[a-z]{3,8}', seed: 5, temperature: 1 }).complete();
      expect(c.text).toMatch(/^[a-z]{3,8}$/);
      // b consumes a's history the way generate did: the prompt in one evaluate, then one token per step.
      const h = a.history;
      const np = model.tokenize(PROMPT).length;
      await b.evaluate(h.slice(0, np));
      for (const t of h.slice(np)) await b.evaluate([t]);
      expect(b.history).toEqual(h);
      const fromA = await a.generate([1, 2], PLAIN).complete();
      const fromB = await b.generate([1, 2], PLAIN).complete();
      expect(fromA.tokens).toEqual(fromB.tokens);
      expect(fromA.stats.incomplete).toBeUndefined();
    } finally {
      a.dispose();
      b.dispose();
    }
  });
});

// ─── 5. errors ─────────────────────────────────────────────────────────────────────────────────────────────────────

async function rejected(opts: GenerateOptions): Promise<{ err: QwenHybridError; chunks: number; position: number; history: readonly number[] }> {
  const s = model.createSession({ contextSize: 64 });
  try {
    await s.evaluate([5, 6, 7]);
    const before = s.history;
    const stream = s.generate([1, 2], { ...opts, maxTokens: 4 }); // does not throw: the compile runs in the iteration
    let chunks = 0;
    let err: unknown;
    try {
      for await (const _ of stream) chunks++;
    } catch (e) {
      err = e;
    }
    await expect(stream.stats).rejects.toBe(err);
    expect(err, JSON.stringify(opts)).toBeInstanceOf(QwenHybridError);
    expect(s.history).toEqual(before);
    // The session is usable afterwards.
    expect((await s.generate([1, 2], { seed: 1, maxTokens: 2, ignoreEos: true }).complete()).tokens).toHaveLength(2);
    return { err: err as QwenHybridError, chunks, position: before.length, history: before };
  } finally {
    s.dispose();
  }
}

describe('errors', () => {
  it('bad EBNF: INVALID_GRAMMAR from the iteration, before any token, with the line / column of the fault; session untouched', async () => {
    // The faults are at the end of the named line (a missing element, an unterminated class) or at an undefined name.
    const cases: [string, number, number][] = [
      ['root ::= "a" |', 1, 'root ::= "a" |'.length + 1],
      ['root ::= a\na ::= "x" (', 2, 'a ::= "x" ('.length + 1],
      ['root ::= "x"\n\nfoo ::= [a-', 3, 'foo ::= [a-'.length + 1],
      ['root ::= foo', 1, 'root ::= '.length + 1],
    ];
    for (const [grammar, line, column] of cases) {
      const { err, chunks } = await rejected({ grammar });
      expect(chunks).toBe(0);
      expect(err.code).toBe('INVALID_GRAMMAR');
      expect(err.details, grammar).toMatchObject({ line, column });
      expect(err.message).toMatch(new RegExp(`line ${line}, column ${column}`));
    }
    // A root rule that is not there, through the spec's root option.
    const { err } = await rejected({ constraint: { type: 'ebnf', grammar: 'root ::= "a"', root: 'start' } });
    expect(err.code).toBe('INVALID_GRAMMAR');
    expect(err.message).toMatch(/"start"/);
  });

  it('unparsable regexes and schemas XGrammar rejects: INVALID_GRAMMAR, no chunk, session untouched', async () => {
    const cases: [GenerateOptions, RegExp][] = [
      [{ regex: '(unclosed' }, /^regex: .*parenthesis/],
      [{ regex: '[z-a]' }, /^regex: .*lower bound/i],
      [{ regex: 'a{3,1}' }, /^regex: .*bound/i],
      [{ jsonSchema: { type: 'object', properties: { a: { type: 'no-such-type' } } } }, /^json_schema: .*no-such-type/],
      [{ jsonSchema: { $ref: '#/$defs/missing' } }, /^json_schema: /],
      [{ jsonSchema: { type: 'string', minLength: 5, maxLength: 2 } }, /^json_schema: .*minLength/],
      [{ jsonSchema: { type: 'integer', minimum: 5, maximum: 2 } }, /^json_schema: .*minimum/],
    ];
    for (const [opts, msg] of cases) {
      const { err, chunks } = await rejected(opts);
      expect(chunks).toBe(0);
      expect(err.code, JSON.stringify(opts)).toBe('INVALID_GRAMMAR');
      expect(err.message).toMatch(msg);
    }
  });

  it('shape errors throw at the call: two constraints, ignoreEos with a constraint (INVALID_ARGUMENT); an empty or mistyped spec (INVALID_GRAMMAR)', () => {
    const s = model.createSession({ contextSize: 64 });
    try {
      expect(thrownCode(() => s.generate([1], { regex: 'a', grammar: 'root ::= "a"' }))).toBe('INVALID_ARGUMENT');
      expect(thrownCode(() => s.generate([1], { jsonSchema: {}, constraint: { type: 'json_object' } }))).toBe('INVALID_ARGUMENT');
      expect(thrownCode(() => s.generate([1], { regex: 'a', ignoreEos: true }))).toBe('INVALID_ARGUMENT');
      expect(thrownCode(() => s.generate([1], { jsonSchema: { type: 'object' }, ignoreEos: true }))).toBe('INVALID_ARGUMENT');
      expect(thrownCode(() => s.generate([1], { grammar: 'root ::= "a"', ignoreEos: false }))).toBeUndefined();
      // Empty / mistyped specs are grammar-shape errors (src/grammar/constraint.ts checkGrammarSpec), still synchronous.
      expect(thrownCode(() => s.generate([1], { grammar: '' }))).toBe('INVALID_GRAMMAR');
      expect(thrownCode(() => s.generate([1], { grammar: '   ' }))).toBe('INVALID_GRAMMAR');
      expect(thrownCode(() => s.generate([1], { regex: '' }))).toBe('INVALID_GRAMMAR');
      expect(thrownCode(() => s.generate([1], { jsonSchema: [] as never }))).toBe('INVALID_GRAMMAR');
      expect(thrownCode(() => s.generate([1], { constraint: { type: 'yaml' } as never }))).toBe('INVALID_GRAMMAR');
      expect(s.position).toBe(0);
    } finally {
      s.dispose();
    }
  });

  it('stats.incomplete: true when maxTokens, a stop string or an abort cuts the structure; the cut output replays', async () => {
    const spec: GrammarSpec = { type: 'json_schema', schema: SCHEMAS.nested! };
    // The shortest document of `nested` is over 40 bytes: 3 tokens cannot hold it.
    const short = await run({ constraint: spec }, 1, 0.7, 3);
    expect(short.stats.stopReason).toBe('max-tokens');
    expect(short.stats.incomplete).toBe(true);
    expect(short.tokens).toHaveLength(3);
    await replay(spec, short.tokens, false);
    const stopped = await run({ constraint: spec }, 1, 0.7, 256, { stop: '"user"' });
    expect(stopped.stats.stopReason).toBe('stop-string');
    expect(stopped.stats.incomplete).toBe(true);
    const ac = new AbortController();
    const s = model.createSession({ contextSize: 512 });
    const stream = s.generate(PROMPT, { constraint: spec, seed: 1, temperature: 0.7, maxTokens: 256, signal: ac.signal });
    let n = 0;
    for await (const _ of stream) if (++n === 4) ac.abort();
    s.dispose();
    const st = await stream.stats;
    expect(st.stopReason).toBe('aborted');
    expect(st.incomplete).toBe(true);
  });

  // Regression: generate() accepts a CompiledConstraint built for another vocabulary size. With a smaller
  // one (1000 < the model's 1472) the mask leaves ids ≥ 1024 unbanned, the sampler picks one, and the stream throws a
  // plain Error "the sampler chose token …, which the grammar mask banned (a bug)" after the prefill instead of a
  // typed error at the call.
  it('regression: a CompiledConstraint of another vocabulary size is INVALID_ARGUMENT at the call', async () => {
    const other = await (await GrammarEngine.forTokenizer(model.tokenizer, 1000)).compile({ type: 'regex', pattern: '[a-z ]{1,30}' });
    const s = model.createSession();
    expect(thrownCode(() => s.generate(PROMPT, { constraint: other, seed: 1, temperature: 1.5, maxTokens: 30 }))).toBe('INVALID_ARGUMENT');
    s.dispose();
  });

  // Regression: src/grammar/constraint.ts GrammarEngine.forTokenizer gives XGrammar every token's raw text
  // (tokenizer.tokenText), CONTROL and UNUSED ones included, while the output decodes those to "". A grammar then
  // accepts '<|im_start|>' or '[PAD1432]' as literal text that never reaches the output: regex
  // (<\|im_start\|>|xyz) with that token favoured completes (eog, incomplete false) with text "". Unforced, the
  // demo model's JSON strings hold [PADnnnn] tokens (dropped from the text) in most runs of a free string.
  it('regression: the mask never allows a CONTROL or UNUSED token (they decode to nothing)', async () => {
    const hidden = Array.from({ length: model.tokenizer.vocabSize }, (_, i) => i).filter((i) => !model.tokenizer.isEog(i) && [3, 5].includes(model.tokenizer.tokenType(i)));
    expect(hidden.length).toBeGreaterThan(0);
    const m = await (await (await engine()).compile({ type: 'json_schema', schema: { type: 'string' } })).matcher();
    expect(m.accept(model.tokenizer.tokenId('"')!)).toBe(true);
    const mask = await m.mask();
    m.dispose();
    expect(hidden.filter((t) => maskAllows(mask, t))).toEqual([]);
    const ctl = model.tokenizer.tokenId('<|im_start|>')!;
    const pattern = '(<\\|im_start\\|>|xyz)';
    // The literal text must then be spelled with text tokens (room for it: 32 tokens).
    const r = await run({ regex: pattern }, 1, 0, 32, { logitBias: { [ctl]: 100 } });
    expect(r.text).toMatch(new RegExp(`^(?:${pattern})$`));
  });

  // Regression: a run cut by maxTokens exactly where the grammar is complete (here "054-at" for
  // [0-9]{3}-[a-z]{2}, after which only EOG is allowed) reports incomplete: true, because incomplete is
  // !matcher.terminated and the EOG was never sampled. The output is a full match.
  it('regression: maxTokens landing exactly on a complete match is not incomplete', async () => {
    const pattern = '[0-9]{3}-[a-z]{2}';
    const full = await run({ regex: pattern }, 1, 1, 40);
    const cut = await run({ regex: pattern }, 1, 1, full.tokens.length);
    expect(cut.text).toBe(full.text);
    expect(cut.stats.stopReason).toBe('max-tokens');
    expect(cut.stats.incomplete).toBe(false);
  });

  // Regression: regex errors carry XGrammar's line / column in the EBNF it generated from the pattern
  // (`[z-a]` → line 1, column 11, past the 5-character pattern), which reads as a position in the user's regex.
  it('regression: a regex error never reports a column outside the pattern', async () => {
    const { err } = await rejected({ regex: '[z-a]' });
    const column = (err.details as { column?: number }).column;
    if (column !== undefined) expect(column).toBeLessThanOrEqual('[z-a]'.length + 1);
  });
});
