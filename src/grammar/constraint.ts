/**
 * Constrained decoding on XGrammar (xgrammar.ts): a grammar compiled against the model's vocabulary gives, before
 * every sampling step, the bitmask of tokens that keep the output inside the grammar; generate() bans the others
 * (logit −∞) and feeds the chosen token back to the matcher.
 *
 *   spec (GrammarSpec)  ──compile (per model: TokenizerInfo + GrammarCompiler, cached)──▶ CompiledConstraint
 *   CompiledConstraint  ──matcher() per generation──▶ ConstraintMatcher { mask(): Int32Array, accept(t), terminated }
 *
 * Vocabulary: the GGUF tokenizer's token strings (byte-level BPE, the GPT-2 byte↔char map XGrammar's 'byte_level'
 * decoder expects), padded with '' up to the model's vocab (token_embd rows), EOG ids as the stop tokens: EOG is
 * allowed exactly where the grammar can end. Bitmask: ceil(V / 32) int32 words, bit (i & 31) of word i >> 5 set =
 * token i allowed.
 *
 * Errors: a grammar XGrammar cannot parse or compile is INVALID_GRAMMAR with the engine's message (and `line` /
 * `column` where it gives them); the engine prints its diagnostics through console.error, which is routed into the
 * error instead of the user's stderr.
 */
import { QwenHybridError } from '../errors.js';
import type { Tokenizer } from '../tokenizer/index.js';
import { loadXGrammar, type XGrammar } from './xgrammar.js';
import type { CompiledGrammar, GrammarCompiler, GrammarMatcher, StructuralTagFormat } from '@mlc-ai/web-xgrammar';

export type { StructuralTagFormat } from '@mlc-ai/web-xgrammar';

/** What the output must match. */
export type GrammarSpec =
  | { type: 'json_schema'; schema: Record<string, unknown> | boolean }
  /** Any JSON object (OpenAI's response_format json_object). */
  | { type: 'json_object' }
  /** GBNF-style EBNF (XGrammar's dialect: `root ::= …`, character classes, `*` `+` `?`, `(…)`). */
  | { type: 'ebnf'; grammar: string; root?: string }
  | { type: 'regex'; pattern: string }
  /** XGrammar structural tag (sequences, tags, triggered tags, Qwen XML parameters, …). */
  | { type: 'structural_tag'; format: StructuralTagFormat };

type XG = XGrammar;

/** Engine diagnostics captured while `capturing` (see the file comment). */
let diagnostics: string[] | null = null;
let routed = false;
function routeConsoleError(): void {
  if (routed) return;
  routed = true;
  const original = console.error;
  // The Emscripten glue binds console.error once, when the module initialises (the first engine call): bind it
  // to this router so that diagnostics during a compile land in the error, and everything else passes through.
  console.error = (...a: unknown[]) => {
    if (diagnostics) diagnostics.push(a.map(String).join(' '));
    else original(...a);
  };
  initRouter = () => {
    console.error = original;
  };
}
let initRouter: (() => void) | null = null;

async function captured<T>(what: string, f: () => Promise<T>): Promise<T> {
  const prev = diagnostics;
  diagnostics = [];
  const lines = diagnostics;
  try {
    return await f();
  } catch (e) {
    const fatal = lines.filter((l) => /\[FATAL\]|error/i.test(l) && !/^Aborted\(/.test(l)).map((l) => l.replace(/^\[FATAL\]\s*\S+:\d+:\s*/, '').replace(/^Check failed: \(.*?\) is false:\s*/, ''));
    const msg = fatal.join('; ') || (e as Error)?.message || String(e);
    // Positions are meaningful for EBNF only (a regex is compiled through XGrammar's own EBNF of it).
    const pos = what === 'ebnf' ? /line (\d+), column (\d+)/.exec(msg) : null;
    throw new QwenHybridError('INVALID_GRAMMAR', `${what}: ${msg}`, { ...(pos ? { line: Number(pos[1]), column: Number(pos[2]) } : {}) }, { cause: e });
  } finally {
    diagnostics = prev;
  }
}

function invalid(msg: string): never {
  throw new QwenHybridError('INVALID_GRAMMAR', msg);
}

/** Shape checks of a spec, synchronous (generate calls this at the call). Returns the spec. */
export function checkGrammarSpec(spec: unknown): GrammarSpec {
  if (spec === null || typeof spec !== 'object') invalid(`a grammar must be an object {type, …}, got ${spec === null ? 'null' : typeof spec}`);
  const s = spec as { type?: unknown } & Record<string, unknown>;
  switch (s.type) {
    case 'json_schema':
      if (typeof s.schema !== 'boolean' && (s.schema === null || typeof s.schema !== 'object' || Array.isArray(s.schema))) invalid('json_schema: schema must be a JSON-schema object (or a boolean)');
      try {
        JSON.stringify(s.schema);
      } catch (e) {
        invalid(`json_schema: schema is not serialisable as JSON: ${(e as Error).message}`);
      }
      break;
    case 'json_object':
      break;
    case 'ebnf':
      if (typeof s.grammar !== 'string' || s.grammar.trim() === '') invalid('ebnf: grammar must be a non-empty string');
      if (s.root !== undefined && typeof s.root !== 'string') invalid('ebnf: root must be a rule name');
      break;
    case 'regex':
      if (typeof s.pattern !== 'string' || s.pattern === '') invalid('regex: pattern must be a non-empty string');
      break;
    case 'structural_tag':
      if (s.format === null || typeof s.format !== 'object') invalid('structural_tag: format must be an object');
      break;
    default:
      invalid(`unknown grammar type ${JSON.stringify(s.type)} (json_schema, json_object, ebnf, regex, structural_tag)`);
  }
  return spec as GrammarSpec;
}

/** Per-vocabulary engine state: XGrammar's TokenizerInfo and a caching GrammarCompiler. */
export class GrammarEngine {
  readonly vocabSize: number;
  readonly #compiler: GrammarCompiler;
  readonly #xg: XG;

  private constructor(xg: XG, compiler: GrammarCompiler, vocabSize: number) {
    this.#xg = xg;
    this.#compiler = compiler;
    this.vocabSize = vocabSize;
  }

  static #cache = new WeakMap<Tokenizer, Map<number, Promise<GrammarEngine>>>();

  /** The engine of `tokenizer` with `vocabSize` rows (≥ tokenizer.vocabSize), built once (~40 ms per 150K tokens measured). */
  static forTokenizer(tokenizer: Tokenizer, vocabSize: number): Promise<GrammarEngine> {
    let byV = GrammarEngine.#cache.get(tokenizer);
    if (!byV) GrammarEngine.#cache.set(tokenizer, (byV = new Map()));
    let p = byV.get(vocabSize);
    if (!p) {
      p = (async () => {
        const xg = loadXGrammar();
        // CONTROL (3) and UNUSED (5) tokens decode to nothing in the output: they must not count as their text, so
        // they are given as '' (never allowed inside the grammar); EOG tokens stay, as the stop tokens.
        const vocab = Array.from({ length: vocabSize }, (_, i) => {
          if (i >= tokenizer.vocabSize) return '';
          const type = tokenizer.tokenType(i);
          return (type === 3 || type === 5) && !tokenizer.eogIds.has(i) ? '' : tokenizer.tokenText(i);
        });
        const stops = [...tokenizer.eogIds].filter((t) => t < vocabSize);
        routeConsoleError();
        try {
          const info = await captured('tokenizer info', () => xg.TokenizerInfo.createTokenizerInfo(vocab, 'byte_level', false, vocabSize, stops));
          const compiler = await captured('grammar compiler', () => xg.GrammarCompiler.createGrammarCompiler(info, true));
          return new GrammarEngine(xg, compiler, vocabSize);
        } finally {
          initRouter?.();
        }
      })();
      const map = byV;
      p.catch(() => map.delete(vocabSize));
      byV.set(vocabSize, p);
    }
    return p;
  }

  /** INVALID_GRAMMAR (with the engine's message) when the spec does not compile. */
  async compile(spec: GrammarSpec): Promise<CompiledConstraint> {
    checkGrammarSpec(spec);
    const c = this.#compiler;
    let cg: CompiledGrammar;
    switch (spec.type) {
      case 'json_schema':
        // Compact JSON (", " and ": " separators, no free whitespace): free whitespace lets a weak model wander in
        // blanks (measured on the random-weight demo model: most tokens were whitespace).
        cg = await captured('json_schema', () => c.compileJSONSchema(JSON.stringify(spec.schema), false));
        break;
      case 'json_object':
        cg = await captured('json_object', () => c.compileJSONSchema(JSON.stringify({ type: 'object' }), false));
        break;
      case 'ebnf':
        cg = await captured('ebnf', () => c.compileGrammar(spec.grammar, spec.root ?? 'root'));
        break;
      case 'regex':
        cg = await captured('regex', () => c.compileStructuralTag({ type: 'structural_tag', format: { type: 'regex', pattern: spec.pattern } }));
        break;
      case 'structural_tag':
        cg = await captured('structural_tag', () => c.compileStructuralTag({ type: 'structural_tag', format: spec.format }));
        break;
    }
    return new CompiledConstraint(this.#xg, cg, this.vocabSize);
  }
}

/** A compiled grammar; matcher() starts one generation's matching state. */
export class CompiledConstraint {
  readonly vocabSize: number;
  readonly #xg: XG;
  readonly #cg: CompiledGrammar;

  /** @internal GrammarEngine.compile */
  constructor(xg: XG, cg: CompiledGrammar, vocabSize: number) {
    this.#xg = xg;
    this.#cg = cg;
    this.vocabSize = vocabSize;
  }

  async matcher(): Promise<ConstraintMatcher> {
    return new ConstraintMatcher(await this.#xg.GrammarMatcher.createGrammarMatcher(this.#cg), this.vocabSize);
  }
}

/** One generation's position in the grammar. */
export class ConstraintMatcher {
  readonly vocabSize: number;
  readonly #m: GrammarMatcher;

  /** @internal */
  constructor(m: GrammarMatcher, vocabSize: number) {
    this.#m = m;
    this.vocabSize = vocabSize;
  }

  /** Allowed tokens at this point: ceil(V / 32) words (file comment). */
  mask(): Promise<Int32Array> {
    return this.#m.getNextTokenBitmask();
  }

  /** Advances by `token`; false (state unchanged) when the grammar does not allow it here. */
  accept(token: number): boolean {
    return this.#m.acceptToken(token);
  }

  /** The grammar has ended (a stop token was accepted at a point where it can end). */
  get terminated(): boolean {
    return this.#m.isTerminated();
  }

  dispose(): void {
    this.#m.dispose();
  }
}

/** Sets every logit whose token `mask` bans to −∞ (in place). */
export function applyTokenMask(logits: Float32Array, mask: Int32Array): void {
  const V = logits.length;
  for (let w = 0; w < mask.length; w++) {
    const bits = mask[w]!;
    if (bits === -1) continue;
    const base = w << 5;
    for (let b = 0; b < 32 && base + b < V; b++) if (((bits >>> b) & 1) === 0) logits[base + b] = -Infinity;
  }
}

/** Whether `mask` allows `token`. */
export function maskAllows(mask: Int32Array, token: number): boolean {
  return ((mask[token >> 5]! >>> (token & 31)) & 1) === 1;
}
