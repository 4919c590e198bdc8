/**
 * Text generation over a Session: prompt prefill, then sample → stream → decode one token per step.
 *
 * Per step: sample t from the last logits row (after `logitBias`; with `ignoreEos` every EOG token not listed in
 * `stopTokens` is banned, logit -Infinity, as llama.cpp's --ignore-eos does); t in `stopTokens` → stop 'stop-token',
 * t an EOG token → stop 'eog' (either way t is not yielded and not fed, as OpenAI leaves stop sequences out of the
 * output); otherwise yield {token t, text} where text is what the streaming detokenizer completes (never half a
 * UTF-8 character) minus anything a stop string may still claim; a completed stop string → stop 'stop-string'
 * (the stop string and any text after it are never emitted); maxTokens reached → 'max-tokens'; else t is
 * evaluated (decode) for the next row. The last yielded token is not fed to the session (as in llama.cpp's
 * loop: a token is evaluated only when its successor is needed). A decode that would overflow the context
 * ends with 'context-full'; a prompt that does not fit throws CONTEXT_FULL before anything runs.
 * Abort: the AbortSignal is checked between steps and between prefill micro-batches (passed to evaluate). An abort
 * never throws from the stream: it ends with stopReason 'aborted' and nothing arrives after abort() (the chunk
 * sampled ahead is dropped); stats.generatedTokens counts the chunks delivered and stats.promptTokens the prompt
 * tokens the session consumed (an abort during prefill leaves the micro-batches already run in the session, whose
 * `position` says how far it got). Breaking out of the iteration also ends it with 'aborted'. Session.evaluate
 * itself throws ABORTED.
 * Chunks are yielded one token late, so that text held back until the end (an unfinished character → U+FFFD,
 * a stop-string prefix that never completed) lands in the last real chunk. `stats` and `result` resolve when the
 * iteration ends (and never if it is not iterated: `complete()` iterates for you). A stream is iterable once; a
 * second iteration (or `complete()` after one) throws STREAM_CONSUMED.
 *
 * `logprobs: k` adds to each chunk ln p(t) and the k most likely tokens under the RAW model distribution: the
 * float64 log-softmax of the logits row t was sampled from, before logitBias, penalties, temperature and
 * truncation (what OpenAI and vLLM report by default). Banned tokens can therefore appear in topLogprobs.
 *
 * Device sampling (model.deviceSampling, i.e. CUDA with the SAMPLE kernel): the first token is sampled on the host
 * from the prompt's last logits row; after that each decode step runs the plan that ends in the SAMPLE op, fed the
 * Sampler's cfg row and penalty window (Sampler.fillSampleRow), so only the next token id comes back. The uniform u
 * is drawn from the same seeded stream at the same point as on the host (one per non-greedy step), so a seed gives
 * the same tokens on both paths. A step whose penalty window does not fit DEVICE_SAMPLE_WINDOW (penaltyLastN = -1
 * with a long history) is sampled on the host with the same u. The op's cfg row has no logit bias and the op
 * returns no logits, so a generation with a logit bias (`logitBias`, `ignoreEos`) or `logprobs` samples every step
 * on the host: each decode then downloads its logits row (vocabSize f32) as evaluate does.
 */
import { deferred } from './deferred.js';
import { QwenHybridError, isQwenHybridError } from '../errors.js';
import type { Tokenizer } from '../tokenizer/index.js';
import { SAMPLE_CFG_WIDTH, Sampler, resolveLogitBias, tokenLogprobs, type SamplingOptions, type TokenLogprob } from './sampler.js';
import { StopMatcher } from './stop.js';
import { applyTokenMask, checkGrammarSpec, CompiledConstraint, GrammarEngine, maskAllows, type ConstraintMatcher, type GrammarSpec } from '../grammar/constraint.js';

export type { LogitBias, SamplingOptions, TokenLogprob } from './sampler.js';

/** Penalty-window rows (the SAMPLE op's hist input) of the device-sampling decode plan. */
export const DEVICE_SAMPLE_WINDOW = 256;

/** Most top logprobs a chunk can carry (OpenAI's top_logprobs limit). */
export const MAX_TOP_LOGPROBS = 20;

export interface GenerateOptions extends SamplingOptions {
  /** Default: until EOG or the context is full. */
  maxTokens?: number;
  /** Stop strings (one or several): the stream ends before the first one completed; it is never emitted. */
  stop?: string | readonly string[];
  /** Token ids that end the stream (stopReason 'stop-token'); the stop token is not yielded and not fed. */
  stopTokens?: readonly number[];
  /** Ban every EOG token (logit -Infinity, except those in stopTokens): run to maxTokens, context-full or a stop. */
  ignoreEos?: boolean;
  /** Per-chunk logprob of the chosen token plus this many top alternatives (0 … MAX_TOP_LOGPROBS); see the file comment. */
  logprobs?: number;
  signal?: AbortSignal;
  /** Parse special tokens (<|im_start|> …) in a text prompt. Default false. */
  special?: boolean;
  /** Constrain the output to match this JSON schema (XGrammar; see "Constrained output" in the file comment). */
  jsonSchema?: Record<string, unknown> | boolean;
  /** Constrain the output to this EBNF grammar (XGrammar's GBNF-like dialect, start rule `root`). */
  grammar?: string;
  /** Constrain the output to match this regular expression. */
  regex?: string;
  /** Any grammar spec (json_object, structural_tag, …), or one compiled before (model.compileGrammar). */
  constraint?: GrammarSpec | CompiledConstraint;
}

export interface GenerateChunk {
  token: number;
  text: string;
  /** With `logprobs`: ln p(token) under the raw model distribution (float64 log-softmax of the logits row). */
  logprob?: number;
  /** With `logprobs`: the `logprobs` most likely tokens under the same distribution, descending (ties: lower id). */
  topLogprobs?: TokenLogprob[];
}

export type StopReason = 'eog' | 'stop-token' | 'stop-string' | 'max-tokens' | 'aborted' | 'context-full';

export interface GenerateStats {
  /** Constrained generations only: the output stopped before the grammar was complete (e.g. maxTokens). */
  incomplete?: boolean;
  promptTokens: number;
  generatedTokens: number;
  promptMs: number;
  generateMs: number;
  promptTokensPerSecond: number;
  tokensPerSecond: number;
  stopReason: StopReason;
}

/** The whole generation: the yielded chunks' text joined, their tokens, and the stats. */
export interface GenerateResult {
  text: string;
  tokens: number[];
  stats: GenerateStats;
  /** With `logprobs`: one entry per token of `tokens`. */
  logprobs?: { token: number; logprob: number; topLogprobs: TokenLogprob[] }[];
}

export type GenerateStream = AsyncIterable<GenerateChunk> & {
  /** Resolves when the iteration ends (early break: stopReason 'aborted'); rejects with the generation's error. */
  readonly stats: Promise<GenerateStats>;
  /** Resolves with `stats` and what was yielded. */
  readonly result: Promise<GenerateResult>;
  /** Runs the generation without a loop: iterates the stream and resolves with `result`. */
  complete(): Promise<GenerateResult>;
};

/** What generate needs from a Session (src/model/session.ts satisfies it). */
export interface GenerationSession {
  readonly model: {
    readonly tokenizer: Tokenizer;
    readonly vocabSize: number;
    /** Decode steps may sample on the device through decodeSample. */
    readonly deviceSampling?: boolean;
    tokenize(text: string, opts?: { special?: boolean }): number[];
  };
  readonly position: number;
  readonly history: readonly number[];
  /** KV rows of the session: a prompt that cannot fit after `position` is CONTEXT_FULL at the call. */
  readonly contextSize?: number;
  evaluate(tokens: readonly number[], opts?: { logits?: 'none' | 'last' | 'all'; signal?: AbortSignal }): Promise<Float32Array[]>;
  /** Decodes `token` and returns the id the SAMPLE op drew for the next position (Session.decodeSample). */
  decodeSample?(token: number, cfg: Float32Array, hist: Int32Array, signal?: AbortSignal): Promise<number>;
  /**
   * Called when the iteration starts (it may throw, e.g. SESSION_BUSY); the function it returns is called when the
   * iteration ends, however it ends.
   */
  beginGeneration?(): () => void;
}

function invalid(parameter: string, message: string, value: unknown): never {
  throw new QwenHybridError('INVALID_ARGUMENT', `generate: ${message}`, { parameter, value });
}

function checkMaxTokens(n: number | undefined): void {
  if (n !== undefined && !(Number.isSafeInteger(n) && n >= 0)) invalid('maxTokens', `maxTokens must be a non-negative integer, got ${n}`, n);
}

function checkStopTokens(ids: readonly number[] | undefined, vocabSize: number): Set<number> {
  if (ids === undefined) return new Set();
  if (!Array.isArray(ids)) invalid('stopTokens', `stopTokens must be an array of token ids, got ${typeof ids}`, ids);
  ids.forEach((t: unknown, i) => {
    if (!(typeof t === 'number' && Number.isInteger(t) && t >= 0 && t < vocabSize)) {
      invalid('stopTokens', `stopTokens[${i}] must be a token id in [0, ${vocabSize}), got ${String(t)}`, t);
    }
  });
  return new Set(ids);
}

function checkLogprobs(k: number | undefined): void {
  if (k !== undefined && !(Number.isInteger(k) && k >= 0 && k <= MAX_TOP_LOGPROBS)) {
    invalid('logprobs', `logprobs must be an integer in [0, ${MAX_TOP_LOGPROBS}] (top alternatives per token), got ${String(k)}`, k);
  }
}

/** The one constraint among jsonSchema / grammar / regex / constraint (INVALID_ARGUMENT for several, INVALID_GRAMMAR for a bad shape). */
function constraintSpec(jsonSchema: GenerateOptions['jsonSchema'], grammar: string | undefined, regex: string | undefined, constraint: GenerateOptions['constraint'], V: number): GrammarSpec | CompiledConstraint | undefined {
  const given = [jsonSchema !== undefined && 'jsonSchema', grammar !== undefined && 'grammar', regex !== undefined && 'regex', constraint !== undefined && 'constraint'].filter(Boolean);
  if (given.length > 1) invalid('constraint', `generate: give at most one of jsonSchema, grammar, regex, constraint (got ${given.join(', ')})`, given);
  if (jsonSchema !== undefined) return checkGrammarSpec({ type: 'json_schema', schema: jsonSchema });
  if (grammar !== undefined) return checkGrammarSpec({ type: 'ebnf', grammar });
  if (regex !== undefined) return checkGrammarSpec({ type: 'regex', pattern: regex });
  if (constraint instanceof CompiledConstraint) {
    if (constraint.vocabSize !== V) invalid('constraint', `generate: the grammar was compiled for a vocabulary of ${constraint.vocabSize} tokens, this model has ${V} (compile it with model.compileGrammar)`, constraint.vocabSize);
    return constraint;
  }
  if (constraint !== undefined) return checkGrammarSpec(constraint);
  return undefined;
}

export function generate(session: GenerationSession, prompt: string | readonly number[], opts: GenerateOptions = {}): GenerateStream {
  const { maxTokens, stop, stopTokens, ignoreEos, logprobs, signal, special, logitBias, jsonSchema, grammar, regex, constraint, ...sampling } = opts;
  // Validate synchronously so bad options throw at the call, not at the first next().
  checkMaxTokens(maxTokens);
  checkLogprobs(logprobs);
  if (ignoreEos !== undefined && typeof ignoreEos !== 'boolean') invalid('ignoreEos', `ignoreEos must be a boolean, got ${typeof ignoreEos}`, ignoreEos);
  const V = session.model.vocabSize;
  const stopIds = checkStopTokens(stopTokens, V);
  const bias = resolveLogitBias(logitBias, V);
  if (ignoreEos === true) for (const t of session.model.tokenizer.eogIds) if (t < V && !stopIds.has(t)) bias.set(t, -Infinity);
  const sampler = new Sampler({ ...sampling, logitBias: bias, vocabSize: V });
  const spec = constraintSpec(jsonSchema, grammar, regex, constraint, V);
  if (spec && ignoreEos === true) invalid('ignoreEos', 'ignoreEos cannot be combined with a grammar (the grammar decides where EOG is allowed)', ignoreEos);
  // Compiled now (the engine's work overlaps the prefill); a bad grammar is INVALID_GRAMMAR before any token.
  const compiled: Promise<CompiledConstraint> | undefined = spec === undefined ? undefined : spec instanceof CompiledConstraint ? Promise.resolve(spec) : GrammarEngine.forTokenizer(session.model.tokenizer, V).then((e) => e.compile(spec));
  compiled?.catch(() => {});
  const stopper = new StopMatcher(stop ?? []);
  const tokens = typeof prompt === 'string' ? session.model.tokenize(prompt, { special: special ?? false }) : [...prompt];
  if (tokens.length === 0) throw new QwenHybridError('INVALID_ARGUMENT', 'generate: the prompt is empty (nothing to predict from)', { parameter: 'prompt' });
  const ctx = session.contextSize;
  if (ctx !== undefined && session.position + tokens.length > ctx) {
    throw new QwenHybridError('CONTEXT_FULL', `context full: ${session.position} tokens + a prompt of ${tokens.length} > context size ${ctx}`, { position: session.position, tokens: tokens.length, contextSize: ctx });
  }

  const { promise: result, resolve: resolveResult, reject: rejectResult } = deferred<GenerateResult>();
  const stats = result.then((r) => r.stats);
  stats.catch(() => {}); // the iterator rethrows; an unobserved rejection must not crash the process

  async function* run(): AsyncGenerator<GenerateChunk> {
    let release: (() => void) | undefined;
    try {
      release = session.beginGeneration?.();
    } catch (e) {
      rejectResult(e);
      throw e;
    }
    try {
      yield* steps();
    } finally {
      release?.();
    }
  }

  async function* steps(): AsyncGenerator<GenerateChunk> {
    const tok = session.model.tokenizer;
    const decoder = tok.createStreamingDecoder();
    let reason: StopReason | undefined;
    let generated = 0;
    let promptMs = 0;
    /** Prompt tokens the session consumed: all of them, or the micro-batches run before an abort. */
    let promptDone = 0;
    const t0 = performance.now();
    let t1 = t0;
    // What was yielded, for `result`.
    let text = '';
    const yielded: number[] = [];
    const lps: NonNullable<GenerateResult['logprobs']> = [];
    const out = (c: GenerateChunk): GenerateChunk => {
      text += c.text;
      yielded.push(c.token);
      if (logprobs !== undefined) lps.push({ token: c.token, logprob: c.logprob!, topLogprobs: c.topLogprobs! });
      return c;
    };
    const settle = (): void => {
      const generateMs = performance.now() - t1;
      const st: GenerateStats = {
        promptTokens: promptDone,
        // What the consumer received (a chunk sampled but not yet delivered when the stream was aborted is dropped).
        generatedTokens: yielded.length,
        promptMs,
        generateMs,
        promptTokensPerSecond: promptMs > 0 ? (promptDone * 1000) / promptMs : 0,
        tokensPerSecond: generateMs > 0 ? (yielded.length * 1000) / generateMs : 0,
        stopReason: reason ?? 'aborted',
        ...(matcher ? { incomplete: !(matcher.terminated || (mask !== undefined && endAllowed(mask))) } : {}),
      };
      resolveResult({ text, tokens: [...yielded], stats: st, ...(logprobs !== undefined ? { logprobs: [...lps] } : {}) });
    };
    const isAbort = (e: unknown): boolean => isQwenHybridError(e) && e.code === 'ABORTED';
    // The SAMPLE op can express neither a bias nor return the logits that logprobs need: host sampling then.
    // … nor a grammar's token mask (CUDA SAMPLE bitmask input: not yet).
    const onDevice = session.model.deviceSampling === true && session.decodeSample !== undefined && sampler.logitBias.size === 0 && logprobs === undefined && compiled === undefined;
    let matcher: ConstraintMatcher | undefined;
    /** The grammar's allowed tokens for the next sample. */
    let mask: Int32Array | undefined;
    let maskedRow: Float32Array | undefined;
    // The output is complete where the grammar may end: an EOG token is allowed next (maxTokens can land there).
    const endAllowed = (m: Int32Array): boolean => [...tok.eogIds].some((t) => t < V && maskAllows(m, t));
    const constrain = (row: Float32Array): Float32Array => {
      if (!mask) return row;
      maskedRow ??= new Float32Array(row.length);
      maskedRow.set(row);
      applyTokenMask(maskedRow, mask);
      return maskedRow;
    };
    const cfg = new Float32Array(SAMPLE_CFG_WIDTH);
    const hist = new Int32Array(DEVICE_SAMPLE_WINDOW);
    try {
      let logits: Float32Array | undefined;
      /** The next token when the device already sampled it. */
      let next: number | undefined;
      if (compiled) {
        // Before the prefill: a bad grammar leaves the session untouched.
        matcher = await (await compiled).matcher();
        mask = await matcher.mask();
      }
      const p0 = session.position;
      if (signal?.aborted) reason = 'aborted';
      else {
        try {
          logits = (await session.evaluate(tokens, { logits: 'last', signal }))[0];
        } catch (e) {
          if (!isAbort(e)) throw e;
          reason = 'aborted';
        }
      }
      promptDone = session.position - p0;
      t1 = performance.now();
      promptMs = t1 - t0;
      // One chunk of lookahead: the final chunk carries the text held back until the end (an unfinished
      // character → U+FFFD, a stop-string prefix that never completed).
      let pending: GenerateChunk | undefined;
      const history = [...session.history]; // penalties' view; session.history copies on every read
      while (reason === undefined) {
        if (maxTokens !== undefined && generated >= maxTokens) {
          reason = 'max-tokens';
          break;
        }
        if (signal?.aborted) {
          reason = 'aborted';
          break;
        }
        const t = next ?? sampler.sample(constrain(logits!), history);
        next = undefined;
        if (matcher && !matcher.accept(t)) throw new Error(`generate: the sampler chose token ${t}, which the grammar mask banned (a bug)`);
        if (stopIds.has(t)) {
          reason = 'stop-token';
          break;
        }
        if (tok.isEog(t)) {
          reason = 'eog';
          break;
        }
        generated++;
        history.push(t);
        const r = stopper.push(decoder.push(t));
        if (pending) yield out(pending);
        pending = { token: t, text: r.text };
        if (logprobs !== undefined) Object.assign(pending, tokenLogprobs(logits!, t, logprobs)); // host path: logits is t's row
        if (r.stopped) {
          reason = 'stop-string';
          break;
        }
        if (maxTokens !== undefined && generated >= maxTokens) {
          reason = 'max-tokens';
          break;
        }
        if (signal?.aborted) {
          reason = 'aborted';
          break;
        }
        try {
          const u = onDevice && sampler.options.temperature > 0 ? sampler.nextUniform() : 0;
          let fits = onDevice;
          if (onDevice) {
            try {
              sampler.fillSampleRow(cfg, hist, 0, 1, history, u);
            } catch (e) {
              if (!isQwenHybridError(e) || e.code !== 'INVALID_ARGUMENT') throw e;
              fits = false; // the penalty window is longer than DEVICE_SAMPLE_WINDOW: this step samples on the host
            }
          }
          if (fits) {
            next = sampler.checkDeviceSample(await session.decodeSample!(t, cfg, hist, signal));
          } else {
            const ev = session.evaluate([t], { logits: 'last', signal });
            if (matcher) {
              // The next mask needs only t: computed on this thread while the decode runs on the native worker
              // (one event-loop turn first, so that the run has been handed to the worker).
              ev.catch(() => {});
              await new Promise<void>((r) => setImmediate(r));
              mask = await matcher.mask();
            }
            logits = (await ev)[0];
            if (onDevice) next = sampler.sampleWith(logits!, history, u);
          }
        } catch (e) {
          if (isAbort(e)) reason = 'aborted';
          else if (isQwenHybridError(e) && e.code === 'CONTEXT_FULL') reason = 'context-full';
          else throw e;
        }
      }
      // The mask after the last accepted token decides `incomplete` (the loop may have stopped before computing it).
      if (matcher && !matcher.terminated && reason !== 'aborted') mask = await matcher.mask();
      if (reason !== 'stop-string') {
        const rest = stopper.push(decoder.flush());
        const tail = rest.text + (rest.stopped ? '' : stopper.flush());
        if (rest.stopped) reason = 'stop-string';
        if (pending) pending.text += tail;
      }
      // An abort ends the stream at once: nothing arrives after abort() (the look-ahead chunk is dropped).
      if (pending && reason !== 'aborted') yield out(pending);
      settle();
    } catch (e) {
      rejectResult(e);
      throw e;
    } finally {
      // Early return() by the consumer: stats and result still resolve (reason 'aborted', what was yielded).
      settle();
      matcher?.dispose();
    }
  }

  let consumed = false;
  const stream: GenerateStream = {
    [Symbol.asyncIterator]() {
      if (consumed) throw new QwenHybridError('STREAM_CONSUMED', 'generate: this stream was already iterated (a stream is iterable once; call generate again)', {});
      consumed = true;
      return run();
    },
    stats,
    result,
    async complete() {
      for await (const _ of stream);
      return result;
    },
  };
  return stream;
}
