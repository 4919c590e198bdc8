/**
 * A Session: one sequence's state (KV caches of the attention layers, conv + recurrent state of the GDN layers)
 * and the tokens consumed so far. evaluate() appends tokens: prefill in micro-batches of model.batchSize (one
 * native run each), a single token is a decode step. Calls on one session run one at a time in call order.
 *
 * Snapshot file format (little endian): "QHSNAP01" | u32 header bytes | JSON header | tensor bytes in header order.
 * The header carries the model shape it belongs to, the context size, position, history and per-tensor
 * {name, kind, length} (kind f32 | u16: raw f16 halves | i32 | u8: raw q8_0 blocks of a q8_0 KV cache); the model
 * identity includes the KV cache type, so loadSnapshot refuses a snapshot of another shape or KV type (INVALID_ARGUMENT).
 */
import { open, readFile } from 'node:fs/promises';
import { QwenHybridError } from '../errors.js';
import type { SessionState } from '../runtime/backend.js';
import type { TensorArray } from '../native/types.js';
import { stateTensorNames, type LogitsMode } from './forward.js';
import type { Model } from './model.js';
import { chat, type ChatOptions, type ChatStream } from '../runtime/chat.js';
import { generate, type GenerateOptions, type GenerateStream } from '../runtime/generate.js';
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

export interface SessionSnapshot {
  readonly contextSize: number;
  readonly position: number;
  readonly history: readonly number[];
  /** State tensors by name (copies). */
  readonly tensors: ReadonlyMap<string, TensorArray>;
}

const MAGIC = 'QHSNAP01';

type TensorKind = 'f32' | 'u16' | 'i32' | 'u8';
const kindOf = (a: TensorArray): TensorKind => (a instanceof Float32Array ? 'f32' : a instanceof Uint16Array ? 'u16' : a instanceof Int32Array ? 'i32' : 'u8');
const KIND_BYTES: Readonly<Record<TensorKind, number>> = { f32: 4, u16: 2, i32: 4, u8: 1 };

export class Session {
  readonly model: Model;
  readonly contextSize: number;
  #state: SessionState | null;
  #history: number[] = [];
  #queue: Promise<unknown> = Promise.resolve();
  #onDispose: (() => void) | null;
  #disposed = false;

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
    try {
      this.#alive();
      const mode = opts.logits ?? 'last';
      if (mode !== 'none' && mode !== 'last' && mode !== 'all') throw new QwenHybridError('INVALID_ARGUMENT', `logits must be 'none', 'last' or 'all', got ${JSON.stringify(mode)}`);
    } catch (e) {
      return Promise.reject(e);
    }
    const toks = Array.from(tokens);
    return this.#serial(() => this.#evaluate(toks, opts.logits ?? 'last', opts.signal));
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
    try {
      this.#alive();
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
   * Evaluates `tokens` in ONE run (advancing the session like evaluate) and returns the named intermediates
   * (spec §7 names: `attn_norm-N`, `linear_attn_qkv_mixed-N`, `conv_output_silu-N`, `q_conv_predelta-N`, `gate-N`,
   * `attn_output-N`, `Qcur_normed-N`, `attn_gated-N`, `ffn_moe_out-N`, `l_out-N`, `result_norm`, …) plus
   * `logits` {V, T}; every array is ne0-fastest.
   */
  /**
   * Streams generated tokens after `prompt` (text, tokenized without special parsing unless `special`, or ids):
   * `for await (const { token, text } of session.generate(p, opts))`, then `await stream.stats`.
   */
  generate(prompt: string | readonly number[], opts?: GenerateOptions): GenerateStream {
    return generate(this, prompt, opts);
  }

  /** Renders `messages` with the model's chat template and streams reasoning / content / tool-call events. */
  chat(messages: readonly ChatMessage[], opts?: ChatOptions): ChatStream {
    return chat(this, messages, opts);
  }

  debugEvaluate(tokens: readonly number[]): Promise<Map<string, Float32Array>> {
    try {
      this.#alive();
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

  /** A copy of the whole state, position and history (after pending calls finish). */
  snapshot(): Promise<SessionSnapshot> {
    return this.#serial(async () => {
      const state = this.#alive();
      const tensors = new Map<string, TensorArray>();
      for (const n of stateTensorNames(this.model.config)) tensors.set(n, state.read(n));
      return { contextSize: this.contextSize, position: this.position, history: this.#history.slice(), tensors };
    });
  }

  /** Replaces this session's state with `s` (same model shape and context size, else INVALID_ARGUMENT). */
  restore(s: SessionSnapshot): Promise<void> {
    return this.#serial(async () => {
      const state = this.#alive();
      this.#checkSnapshot(s.contextSize, s.position, s.history, [...s.tensors.keys()]);
      for (const n of stateTensorNames(this.model.config)) state.write(n, s.tensors.get(n) as TensorArray);
      this.#history = s.history.slice();
    });
  }

  #checkSnapshot(contextSize: number, position: number, history: readonly number[], names: string[]): void {
    if (contextSize !== this.contextSize) {
      throw new QwenHybridError('INVALID_ARGUMENT', `snapshot has context size ${contextSize}, this session ${this.contextSize}`, { expected: this.contextSize, found: contextSize });
    }
    if (position !== history.length || position > this.contextSize) throw new QwenHybridError('INVALID_ARGUMENT', `snapshot position ${position} is inconsistent (history ${history.length})`);
    const want = stateTensorNames(this.model.config);
    const have = new Set(names);
    for (const n of want) if (!have.has(n)) throw new QwenHybridError('INVALID_ARGUMENT', `snapshot lacks state tensor '${n}' (another model?)`, { tensor: n });
  }

  #identity(): Record<string, unknown> {
    const c = this.model.config;
    return { arch: c.arch, nEmbd: c.nEmbd, nTrunk: c.nTrunk, nVocab: this.model.vocabSize, kv: this.model.kvCacheType, layers: c.layerKinds.join(',') };
  }

  /** Writes snapshot() to `path` (see the file format above). */
  async saveSnapshot(path: string): Promise<void> {
    const s = await this.snapshot();
    const entries = [...s.tensors].map(([name, a]) => ({ name, kind: kindOf(a), length: a.length }));
    const header = Buffer.from(JSON.stringify({ model: this.#identity(), contextSize: s.contextSize, position: s.position, history: s.history, tensors: entries }), 'utf8');
    const fh = await open(path, 'w');
    try {
      const pre = Buffer.alloc(12);
      pre.write(MAGIC, 0, 'latin1');
      pre.writeUInt32LE(header.length, 8);
      await fh.write(pre);
      await fh.write(header);
      for (const a of s.tensors.values()) await fh.write(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
    } finally {
      await fh.close();
    }
  }

  /** Restores a file written by saveSnapshot (INVALID_ARGUMENT naming the file if it is not one for this session). */
  async loadSnapshot(path: string): Promise<void> {
    const buf = await readFile(path);
    const bad = (why: string): never => {
      throw new QwenHybridError('INVALID_ARGUMENT', `${path}: not a snapshot of this session: ${why}`, { file: path });
    };
    if (buf.length < 12 || buf.toString('latin1', 0, 8) !== MAGIC) bad('bad magic');
    const hlen = buf.readUInt32LE(8);
    if (12 + hlen > buf.length) bad('truncated header');
    let h: { model: Record<string, unknown>; contextSize: number; position: number; history: number[]; tensors: { name: string; kind: TensorKind; length: number }[] };
    try {
      h = JSON.parse(buf.toString('utf8', 12, 12 + hlen)) as typeof h;
    } catch {
      return bad('header is not JSON');
    }
    const id = this.#identity();
    for (const [k, v] of Object.entries(id)) if (h.model?.[k] !== v) bad(`model ${k} is ${JSON.stringify(h.model?.[k])}, expected ${JSON.stringify(v)}`);
    let at = 12 + hlen;
    const tensors = new Map<string, TensorArray>();
    for (const e of h.tensors) {
      if (!Object.hasOwn(KIND_BYTES, e.kind)) bad(`tensor '${e.name}' has unknown kind ${JSON.stringify(e.kind)}`);
      const bytes = e.length * KIND_BYTES[e.kind];
      if (at + bytes > buf.length) bad(`tensor '${e.name}' is truncated (byte offset ${at})`);
      const copy = new Uint8Array(bytes);
      copy.set(buf.subarray(at, at + bytes));
      tensors.set(e.name, e.kind === 'f32' ? new Float32Array(copy.buffer) : e.kind === 'u16' ? new Uint16Array(copy.buffer) : e.kind === 'i32' ? new Int32Array(copy.buffer) : copy);
      at += bytes;
    }
    await this.restore({ contextSize: h.contextSize, position: h.position, history: h.history, tensors });
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
