/**
 * Text generation over a Session: prompt prefill, then sample → stream → decode one token per step.
 *
 * Per step: sample t from the last logits row; t an EOG token → stop 'eog' (t is not yielded and not fed);
 * otherwise yield {token t, text} where text is what the streaming detokenizer completes (never half a UTF-8
 * character) minus anything a stop string may still claim; a completed stop string → stop 'stop-string'
 * (the stop string and any text after it are never emitted); maxTokens reached → 'max-tokens'; else t is
 * evaluated (decode) for the next row. The last yielded token is not fed to the session (as in llama.cpp's
 * loop: a token is evaluated only when its successor is needed). A decode that would overflow the context
 * ends with 'context-full'; a prompt that does not fit throws CONTEXT_FULL before anything runs.
 * An AbortSignal is checked between steps (and passed to evaluate): the stream ends with 'aborted'. Breaking
 * out of the iteration also ends it with 'aborted'.
 * Chunks are yielded one token late, so that text held back until the end (an unfinished character → U+FFFD,
 * a stop-string prefix that never completed) lands in the last real chunk. `stats` resolves when the
 * iteration ends (and never if it is not iterated).
 *
 * Device sampling (model.deviceSampling, i.e. CUDA with the SAMPLE kernel): the first token is sampled on the host
 * from the prompt's last logits row; after that each decode step runs the plan that ends in the SAMPLE op, fed the
 * Sampler's cfg row and penalty window (Sampler.fillSampleRow), so only the next token id comes back. The uniform u
 * is drawn from the same seeded stream at the same point as on the host (one per non-greedy step), so a seed gives
 * the same tokens on both paths. A step whose penalty window does not fit DEVICE_SAMPLE_WINDOW (penaltyLastN = -1
 * with a long history) is sampled on the host with the same u.
 */
import { QwenHybridError, isQwenHybridError } from '../errors.js';
import type { Tokenizer } from '../tokenizer/index.js';
import { SAMPLE_CFG_WIDTH, Sampler, type SamplingOptions } from './sampler.js';
import { StopMatcher } from './stop.js';

export type { SamplingOptions } from './sampler.js';

/** Penalty-window rows (the SAMPLE op's hist input) of the device-sampling decode plan. */
export const DEVICE_SAMPLE_WINDOW = 256;

export interface GenerateOptions extends SamplingOptions {
  /** Default: until EOG or the context is full. */
  maxTokens?: number;
  stop?: string[];
  signal?: AbortSignal;
  /** Parse special tokens (<|im_start|> …) in a text prompt. Default false. */
  special?: boolean;
}

export interface GenerateChunk {
  token: number;
  text: string;
}

export type StopReason = 'eog' | 'stop-string' | 'max-tokens' | 'aborted' | 'context-full';

export interface GenerateStats {
  promptTokens: number;
  generatedTokens: number;
  promptMs: number;
  generateMs: number;
  promptTokensPerSecond: number;
  tokensPerSecond: number;
  stopReason: StopReason;
}

export type GenerateStream = AsyncIterable<GenerateChunk> & { readonly stats: Promise<GenerateStats> };

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
  evaluate(tokens: readonly number[], opts?: { logits?: 'none' | 'last' | 'all'; signal?: AbortSignal }): Promise<Float32Array[]>;
  /** Decodes `token` and returns the id the SAMPLE op drew for the next position (Session.decodeSample). */
  decodeSample?(token: number, cfg: Float32Array, hist: Int32Array, signal?: AbortSignal): Promise<number>;
}

function checkMaxTokens(n: number | undefined): void {
  if (n !== undefined && !(Number.isSafeInteger(n) && n >= 0)) {
    throw new QwenHybridError('INVALID_ARGUMENT', `maxTokens must be a non-negative integer, got ${n}`, { parameter: 'maxTokens', value: n });
  }
}

export function generate(session: GenerationSession, prompt: string | readonly number[], opts: GenerateOptions = {}): GenerateStream {
  const { maxTokens, stop, signal, special, ...sampling } = opts;
  // Validate synchronously so bad options throw at the call, not at the first next().
  checkMaxTokens(maxTokens);
  const sampler = new Sampler({ ...sampling, vocabSize: session.model.vocabSize });
  const stopper = new StopMatcher(stop ?? []);
  const tokens = typeof prompt === 'string' ? session.model.tokenize(prompt, { special: special ?? false }) : [...prompt];
  if (tokens.length === 0) throw new QwenHybridError('INVALID_ARGUMENT', 'generate: the prompt is empty (nothing to predict from)', { parameter: 'prompt' });

  let resolveStats!: (s: GenerateStats) => void;
  let rejectStats!: (e: unknown) => void;
  const stats = new Promise<GenerateStats>((res, rej) => {
    resolveStats = res;
    rejectStats = rej;
  });
  stats.catch(() => {}); // the iterator rethrows; an unobserved stats promise must not crash the process

  async function* run(): AsyncGenerator<GenerateChunk> {
    const tok = session.model.tokenizer;
    const decoder = tok.createStreamingDecoder();
    let reason: StopReason | undefined;
    let generated = 0;
    let promptMs = 0;
    const t0 = performance.now();
    let t1 = t0;
    const finish = (): GenerateStats => {
      const generateMs = performance.now() - t1;
      return {
        promptTokens: tokens.length,
        generatedTokens: generated,
        promptMs,
        generateMs,
        promptTokensPerSecond: promptMs > 0 ? (tokens.length * 1000) / promptMs : 0,
        tokensPerSecond: generateMs > 0 ? (generated * 1000) / generateMs : 0,
        stopReason: reason ?? 'aborted',
      };
    };
    const isAbort = (e: unknown): boolean => isQwenHybridError(e) && e.code === 'ABORTED';
    const onDevice = session.model.deviceSampling === true && session.decodeSample !== undefined;
    const cfg = new Float32Array(SAMPLE_CFG_WIDTH);
    const hist = new Int32Array(DEVICE_SAMPLE_WINDOW);
    try {
      let logits: Float32Array | undefined;
      /** The next token when the device already sampled it. */
      let next: number | undefined;
      if (signal?.aborted) reason = 'aborted';
      else {
        try {
          logits = (await session.evaluate(tokens, { logits: 'last', signal }))[0];
        } catch (e) {
          if (!isAbort(e)) throw e;
          reason = 'aborted';
        }
      }
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
        const t = next ?? sampler.sample(logits!, history);
        next = undefined;
        if (tok.isEog(t)) {
          reason = 'eog';
          break;
        }
        generated++;
        history.push(t);
        const r = stopper.push(decoder.push(t));
        if (pending) yield pending;
        pending = { token: t, text: r.text };
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
            logits = (await session.evaluate([t], { logits: 'last', signal }))[0];
            if (onDevice) next = sampler.sampleWith(logits!, history, u);
          }
        } catch (e) {
          if (isAbort(e)) reason = 'aborted';
          else if (isQwenHybridError(e) && e.code === 'CONTEXT_FULL') reason = 'context-full';
          else throw e;
        }
      }
      if (reason !== 'stop-string') {
        const rest = stopper.push(decoder.flush());
        const tail = rest.text + (rest.stopped ? '' : stopper.flush());
        if (rest.stopped) reason = 'stop-string';
        if (pending) pending.text += tail;
      }
      if (pending) yield pending;
      resolveStats(finish());
    } catch (e) {
      rejectStats(e);
      throw e;
    } finally {
      // Early return() by the consumer: stats still resolve (reason 'aborted').
      resolveStats(finish());
    }
  }

  const iterable = { [Symbol.asyncIterator]: () => run(), stats } as GenerateStream;
  return iterable;
}
