/**
 * A Session: one sequence's state (KV caches of the attention layers, conv + recurrent state of the GDN layers)
 * and the tokens consumed so far. evaluate() appends tokens: prefill in micro-batches of model.batchSize (one
 * native run each), a single token is a decode step. Calls on one session run one at a time in call order.
 *
 * Snapshots (snapshot() / restore() in memory, saveSnapshot() / loadSnapshot() through a file) are thin wrappers
 * over snapshot.ts, which holds the file format, the checks and the model identity (shapes, KV type, weights
 * fingerprint) a snapshot must match.
 */
import { QwenHybridError } from '../errors.js';
import type { SessionState } from '../runtime/backend.js';
import type { TensorArray } from '../native/types.js';
import { stateTensorNames, type LogitsMode } from './forward.js';
import { checkSnapshot, readSnapshotFile, snapshotKindOf, SNAPSHOT_KIND_BYTES, writeSnapshotFile, type SessionSnapshot, type SnapshotTarget } from './snapshot.js';
import type { Model } from './model.js';
import { chat, type ChatOptions, type ChatStream } from '../runtime/chat.js';
import { generate, type GenerateOptions, type GenerateResult, type GenerateStream, type GenerationSession } from '../runtime/generate.js';
import type { ChatMessage } from '../chat/types.js';

export interface SessionOptions {
  /** KV cache rows (max tokens); default model.contextSize. */
  contextSize?: number;
}

export interface EvaluateOptions {
  /** 'last' (default) → [last row]; 'all' → one row per token; 'none' → []. */
  logits?: LogitsMode;
  signal?: AbortSignal;
}

export type { SessionSnapshot, SnapshotModel } from './snapshot.js';

export class Session {
  readonly model: Model;
  readonly contextSize: number;
  #state: SessionState | null;
  #history: number[] = [];
  #queue: Promise<unknown> = Promise.resolve();
  #onDispose: (() => void) | null;
  #disposed = false;
  /** The lease of the generation (generate / chat) iterating on this session, if any. */
  #generation: symbol | null = null;

  /** @internal use model.createSession() */
  constructor(model: Model, contextSize: number, onDispose: () => void) {
    this.model = model;
    this.contextSize = contextSize;
    this.#state = model.plan(1, 'last', contextSize).createState();
    this.#onDispose = onDispose;
  }

  /** Tokens consumed so far (= the position of the next token). */
  get position(): number {
    return this.#history.length;
  }

  get history(): readonly number[] {
    return this.#history.slice();
  }

  get disposed(): boolean {
    return this.#disposed || this.model.disposed;
  }

  #alive(): SessionState {
    if (this.#disposed || !this.#state) throw new QwenHybridError('DISPOSED', 'session was disposed');
    this.model.assertAlive('the model of this session');
    return this.#state;
  }

  /** SESSION_BUSY unless no generation runs here, or `lease` is the running generation's own. */
  #notBusy(what: string, lease?: symbol): void {
    if (this.#generation !== null && lease !== this.#generation) {
      throw new QwenHybridError('SESSION_BUSY', `${what}: this session is running a generation (one at a time per session: finish or break out of it, or use another session)`);
    }
  }

  /** Runs `f` after every earlier call on this session settled. */
  #serial<T>(f: () => Promise<T>): Promise<T> {
    const r = this.#queue.then(f, f);
    this.#queue = r.catch(() => undefined);
    return r;
  }

  #checkTokens(tokens: readonly number[]): void {
    if (!Array.isArray(tokens) && !ArrayBuffer.isView(tokens)) throw new QwenHybridError('INVALID_ARGUMENT', 'tokens must be an array of token ids');
    const V = this.model.vocabSize;
    for (let i = 0; i < tokens.length; i++) {
      const t = tokens[i] as number;
      if (!Number.isInteger(t) || t < 0 || t >= V) throw new QwenHybridError('TOKEN_ID_OUT_OF_RANGE', `token #${i} = ${t} is outside [0, ${V})`, { index: i, token: t, vocabSize: V });
    }
    if (this.position + tokens.length > this.contextSize) {
      throw new QwenHybridError('CONTEXT_FULL', `context full: ${this.position} tokens + ${tokens.length} new > context size ${this.contextSize}`, { position: this.position, tokens: tokens.length, contextSize: this.contextSize });
    }
  }

  /**
   * Appends `tokens` and returns logits rows (each vocabSize long). CONTEXT_FULL / TOKEN_ID_OUT_OF_RANGE are
   * thrown before anything runs; an aborted signal is checked before each micro-batch (ABORTED: the batches
   * already run stay consumed, `position` says how far it got).
   */
  evaluate(tokens: readonly number[], opts: EvaluateOptions = {}): Promise<Float32Array[]> {
    return this.#evaluateAs(tokens, opts, undefined);
  }

  #evaluateAs(tokens: readonly number[], opts: EvaluateOptions, lease: symbol | undefined): Promise<Float32Array[]> {
    let toks: number[];
    try {
      this.#alive();
      this.#notBusy('evaluate', lease);
      if (opts === null || typeof opts !== 'object') throw new QwenHybridError('INVALID_ARGUMENT', 'evaluate: options must be an object', { parameter: 'opts' });
      const mode = opts.logits ?? 'last';
      if (mode !== 'none' && mode !== 'last' && mode !== 'all') throw new QwenHybridError('INVALID_ARGUMENT', `logits must be 'none', 'last' or 'all', got ${JSON.stringify(mode)}`);
      toks = this.#tokenArray(tokens);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.#serial(() => this.#evaluate(toks, opts.logits ?? 'last', opts.signal));
  }

  /** A copy of `tokens` with every id checked (INVALID_ARGUMENT / TOKEN_ID_OUT_OF_RANGE), before anything is queued. */
  #tokenArray(tokens: readonly number[]): number[] {
    if (!Array.isArray(tokens) && !ArrayBuffer.isView(tokens)) throw new QwenHybridError('INVALID_ARGUMENT', `tokens must be an array of token ids, got ${tokens === null ? 'null' : typeof tokens}`, { parameter: 'tokens' });
    const toks = Array.from(tokens);
    const V = this.model.vocabSize;
    for (let i = 0; i < toks.length; i++) {
      const t = toks[i] as number;
      if (!Number.isInteger(t) || t < 0 || t >= V) throw new QwenHybridError('TOKEN_ID_OUT_OF_RANGE', `token #${i} = ${t} is outside [0, ${V})`, { index: i, token: t, vocabSize: V });
    }
    return toks;
  }

  async #evaluate(tokens: number[], mode: LogitsMode, signal: AbortSignal | undefined): Promise<Float32Array[]> {
    const state = this.#alive();
    this.#checkTokens(tokens);
    const V = this.model.vocabSize;
    const B = this.model.batchSize;
    const rows: Float32Array[] = [];
    for (let at = 0; at < tokens.length; at += B) {
      if (signal?.aborted) throw new QwenHybridError('ABORTED', `evaluate aborted after ${at} of ${tokens.length} tokens`, { done: at, total: tokens.length });
      const chunk = tokens.slice(at, at + B);
      const T = chunk.length;
      const isLast = at + B >= tokens.length;
      const m: LogitsMode = mode === 'all' ? 'all' : mode === 'last' && isLast ? 'last' : 'none';
      const plan = this.model.plan(T, m, this.contextSize);
      const p0 = this.position;
      const pos = new Int32Array(T);
      for (let t = 0; t < T; t++) pos[t] = p0 + t;
      const out = await plan.run({ tokens: Int32Array.from(chunk), pos }, { state });
      for (const t of chunk) this.#history.push(t);
      if (m !== 'none') {
        const l = out.logits as Float32Array;
        for (let r = 0; r < l.length / V; r++) rows.push(l.slice(r * V, (r + 1) * V));
      }
    }
    return rows;
  }

  /**
   * @internal Decodes `token` and samples its successor on the device in the same run (the SAMPLE op at the end of
   * the decode plan; only the id comes back). `cfg` f32 {8} and `hist` i32 {N} (N = the penalty window,
   * runtime/generate.ts DEVICE_SAMPLE_WINDOW) are the
   * op's inputs, filled by Sampler.fillSampleRow. Returns the raw id (-1: a NaN logit; Sampler.checkDeviceSample).
   * Advances the session like evaluate([token]); CONTEXT_FULL / ABORTED / TOKEN_ID_OUT_OF_RANGE as evaluate.
   */
  decodeSample(token: number, cfg: Float32Array, hist: Int32Array, signal?: AbortSignal): Promise<number> {
    return this.#decodeSampleAs(token, cfg, hist, signal, undefined);
  }

  #decodeSampleAs(token: number, cfg: Float32Array, hist: Int32Array, signal: AbortSignal | undefined, lease: symbol | undefined): Promise<number> {
    try {
      this.#alive();
      this.#notBusy('decodeSample', lease);
    } catch (e) {
      return Promise.reject(e);
    }
    const c = cfg.slice();
    const h = hist.slice();
    return this.#serial(async () => {
      const state = this.#alive();
      this.#checkTokens([token]);
      if (signal?.aborted) throw new QwenHybridError('ABORTED', 'decode aborted before it ran', { done: 0, total: 1 });
      const plan = this.model.plan(1, 'last', this.contextSize, h.length);
      const out = await plan.run({ tokens: Int32Array.of(token), pos: Int32Array.of(this.position), sample_hist: h, sample_cfg: c }, { state });
      this.#history.push(token);
      return (out.token as Int32Array)[0]!;
    });
  }

  /**
   * Streams generated tokens after `prompt` (text, tokenized without special parsing unless `special`, or ids):
   * `for await (const { token, text } of session.generate(p, opts))`, then `await stream.stats`.
   */
  generate(prompt: string | readonly number[], opts: GenerateOptions = {}): GenerateStream {
    const tokens = this.#promptTokens(prompt, opts);
    return generate(this.#generationView('generate'), tokens, opts);
  }

  /**
   * `n` completions of one prompt (OpenAI's `n`): the prompt is evaluated once, then each choice continues from a
   * copy of that state (Session.fork) with seed `opts.seed + i` when a seed is given. Choice 0 runs on this session
   * (which ends in its state); the others on forks disposed when done. Choices run one after another until
   * continuous batching (issue 15) runs them in one step. Same errors as generate, at the call.
   */
  async generateMany(prompt: string | readonly number[], n: number, opts: GenerateOptions = {}): Promise<GenerateResult[]> {
    if (!Number.isSafeInteger(n) || n < 1) throw new QwenHybridError('INVALID_ARGUMENT', `generateMany: n must be a positive integer, got ${String(n)}`, { parameter: 'n', value: n });
    const tokens = this.#promptTokens(prompt, opts);
    // Validate the options once, at the call (generate checks them synchronously).
    generate(this.#generationView('generateMany'), tokens, opts);
    if (tokens.length > 1) await this.evaluate(tokens.slice(0, -1), { logits: 'none', ...(opts.signal ? { signal: opts.signal } : {}) });
    const last = tokens.slice(-1);
    const seedOf = (i: number): GenerateOptions => (opts.seed !== undefined ? { ...opts, seed: opts.seed + i } : opts);
    const forks: Session[] = [];
    try {
      for (let i = 1; i < n; i++) forks.push(await this.fork());
      const out: GenerateResult[] = [];
      for (let i = 0; i < n; i++) {
        const s = i === 0 ? this : forks[i - 1]!;
        const r = await s.generate(last, seedOf(i)).complete();
        out.push({ ...r, stats: { ...r.stats, promptTokens: r.stats.promptTokens + tokens.length - 1 } });
      }
      return out;
    } finally {
      for (const f of forks) f.dispose();
    }
  }

  /**
   * A new session of the same model and context size holding a copy of this one's state, position and history
   * (after pending calls finish): the two continue independently. The caller disposes it.
   */
  async fork(): Promise<Session> {
    const snap = await this.snapshot();
    const s = this.model.createSession({ contextSize: this.contextSize });
    try {
      await s.restore(snap);
      return s;
    } catch (e) {
      s.dispose();
      throw e;
    }
  }

  /** Renders `messages` with the model's chat template and streams reasoning / content / tool-call events. */
  chat(messages: readonly ChatMessage[], opts?: ChatOptions): ChatStream {
    this.#alive();
    this.#notBusy('chat');
    if (!Array.isArray(messages)) throw new QwenHybridError('INVALID_ARGUMENT', `chat: messages must be an array, got ${messages === null ? 'null' : typeof messages}`, { parameter: 'messages' });
    return chat(this.#generationView('chat'), messages, opts);
  }

  /**
   * Everything about a generation's prompt that can be known at the call, thrown there (not at the first
   * iteration, when a streaming server may have sent its headers): DISPOSED, SESSION_BUSY, INVALID_ARGUMENT for a
   * prompt that is neither text nor ids, TOKEN_ID_OUT_OF_RANGE, and CONTEXT_FULL when the prompt cannot fit after
   * the tokens already consumed (calls still queued may consume more; that is then reported by the stream).
   */
  #promptTokens(prompt: string | readonly number[], opts: GenerateOptions): number[] {
    this.#alive();
    this.#notBusy('generate');
    if (opts === null || typeof opts !== 'object') throw new QwenHybridError('INVALID_ARGUMENT', 'generate: options must be an object', { parameter: 'opts' });
    let toks: number[];
    if (typeof prompt === 'string') toks = this.model.tokenize(prompt, { special: opts.special ?? false });
    else if (Array.isArray(prompt) || ArrayBuffer.isView(prompt)) toks = this.#tokenArray(prompt);
    else throw new QwenHybridError('INVALID_ARGUMENT', `generate: the prompt must be a string or an array of token ids, got ${prompt === null ? 'null' : typeof prompt}`, { parameter: 'prompt' });
    if (toks.length === 0) throw new QwenHybridError('INVALID_ARGUMENT', 'generate: the prompt is empty (nothing to predict from)', { parameter: 'prompt' });
    if (this.position + toks.length > this.contextSize) {
      throw new QwenHybridError('CONTEXT_FULL', `context full: ${this.position} tokens + a prompt of ${toks.length} > context size ${this.contextSize}`, { position: this.position, tokens: toks.length, contextSize: this.contextSize });
    }
    return toks;
  }

  /**
   * The view a generation runs on: this session's model, position and history, with evaluate / decodeSample that
   * carry the generation's lease, and beginGeneration / the lease's release around its iteration. While it
   * iterates, other evaluate / generate / chat / decodeSample / restore calls on this session are SESSION_BUSY.
   */
  #generationView(what: string): GenerationSession & { readonly model: Model; readonly contextSize: number; readonly disposed: boolean } {
    const lease = Symbol(what);
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const self = this;
    return {
      model: this.model,
      contextSize: this.contextSize,
      get disposed() {
        return self.disposed;
      },
      get position() {
        return self.position;
      },
      get history() {
        return self.history;
      },
      evaluate: (tokens, o = {}) => this.#evaluateAs(tokens, o, lease),
      decodeSample: (token, cfg, hist, signal) => this.#decodeSampleAs(token, cfg, hist, signal, lease),
      beginGeneration: () => {
        this.#alive();
        this.#notBusy(what);
        this.#generation = lease;
        return () => {
          if (this.#generation === lease) this.#generation = null;
        };
      },
    };
  }

  /**
   * Evaluates `tokens` in ONE run (advancing the session like evaluate) and returns the named intermediates
   * (spec §7 names: `attn_norm-N`, `linear_attn_qkv_mixed-N`, `conv_output_silu-N`, `q_conv_predelta-N`, `gate-N`,
   * `attn_output-N`, `Qcur_normed-N`, `attn_gated-N`, `ffn_moe_out-N`, `l_out-N`, `result_norm`, …) plus
   * `logits` {V, T}; every array is ne0-fastest.
   */
  debugEvaluate(tokens: readonly number[]): Promise<Map<string, Float32Array>> {
    try {
      this.#alive();
      this.#notBusy('debugEvaluate');
    } catch (e) {
      return Promise.reject(e);
    }
    const toks = Array.from(tokens);
    return this.#serial(async () => {
      const state = this.#alive();
      this.#checkTokens(toks);
      if (toks.length === 0) return new Map();
      const plan = this.model.debugPlan(toks.length, this.contextSize);
      try {
        const p0 = this.position;
        const pos = Int32Array.from(toks, (_, t) => p0 + t);
        const out = await plan.run({ tokens: Int32Array.from(toks), pos }, { state });
        for (const t of toks) this.#history.push(t);
        const m = new Map<string, Float32Array>();
        for (const [k, v] of Object.entries(out)) if (v instanceof Float32Array) m.set(k, v);
        return m;
      } finally {
        plan.dispose();
      }
    });
  }

  /**
   * A copy of the whole state, position, history and the model identity (after pending calls finish). restore()
   * on any session of a model with the same identity and context size continues bit for bit.
   */
  snapshot(): Promise<SessionSnapshot> {
    return this.#serial(async () => {
      this.#alive();
      const { model } = await this.#snapshotTarget();
      const state = this.#alive();
      const tensors = new Map<string, TensorArray>();
      for (const n of stateTensorNames(this.model.config)) tensors.set(n, state.read(n));
      return { model, contextSize: this.contextSize, position: this.position, history: this.#history.slice(), tensors };
    });
  }

  /**
   * Replaces this session's state with `s`: INVALID_ARGUMENT (nothing changed) unless it is a snapshot of this
   * model (shapes, KV type, weights) at this context size.
   */
  restore(s: SessionSnapshot): Promise<void> {
    try {
      this.#notBusy('restore');
    } catch (e) {
      return Promise.reject(e);
    }
    return this.#serial(async () => {
      this.#alive();
      this.#notBusy('restore');
      const t = await this.#snapshotTarget();
      checkSnapshot(s, t);
      const state = this.#alive();
      for (const { name } of t.tensors) state.write(name, s.tensors.get(name) as TensorArray);
      this.#history = Array.from(s.history);
    });
  }

  /** What a snapshot must match here (snapshot.ts SnapshotTarget); the state specs come from the decode plan. */
  async #snapshotTarget(): Promise<SnapshotTarget> {
    const weights = await this.model.fingerprint();
    const c = this.model.config;
    const specs = new Map(this.model.plan(1, 'last', this.contextSize).info.states.map((st) => [st.name, st]));
    const tensors = stateTensorNames(c).map((name) => {
      const st = specs.get(name);
      if (!st) throw new QwenHybridError('INVALID_ARGUMENT', `snapshot: the decode plan has no state tensor '${name}'`, { tensor: name });
      const kind = snapshotKindOf(st.type);
      // forward.ts: blk.N.{k,v}_cache {d, Hkv, nCtx} hold one row per position.
      return { name, kind, length: st.bytes / SNAPSHOT_KIND_BYTES[kind], perPosition: /\.[kv]_cache$/.test(name) };
    });
    const model = { arch: c.arch, nEmbd: c.nEmbd, nTrunk: c.nTrunk, nVocab: this.model.vocabSize, kv: this.model.kvCacheType, layers: c.layerKinds.join(','), weights };
    return { model, contextSize: this.contextSize, tensors };
  }

  /** Writes snapshot() to `path` (snapshot.ts format; FILE_WRITE_ERROR naming the file). */
  async saveSnapshot(path: string): Promise<void> {
    const s = await this.snapshot();
    await writeSnapshotFile(path, s, await this.#snapshotTarget());
  }

  /**
   * Restores a file written by saveSnapshot: FILE_NOT_FOUND / FILE_READ_ERROR, SNAPSHOT_CORRUPT (checksum), or
   * INVALID_ARGUMENT when it is not a snapshot for this session; each names the file and leaves the session as it was.
   */
  async loadSnapshot(path: string): Promise<void> {
    this.#alive();
    this.#notBusy('loadSnapshot');
    const s = await readSnapshotFile(path, await this.#snapshotTarget());
    await this.restore(s);
  }

  /** Frees the state. Idempotent; later calls throw DISPOSED. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#state?.dispose();
    this.#state = null;
    this.#onDispose?.();
    this.#onDispose = null;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.dispose();
  }
}
