/**
 * `qwen-hybrid run`: generate text from a prompt (or token ids), streamed to stdout; `--json` prints exactly one
 * object. Also the model-loading helpers shared by run, chat, logits and perplexity.
 */
import { demoModelPath } from '../model/demo.js';
import type { KvCacheType } from '../model/forward.js';
import { loadModel, type LoadModelOptions, type LoadProgress, type Model } from '../model/index.js';
import { generate, type GenerateOptions, type GenerateStats } from '../runtime/generate.js';
import { resolveSampling, type SamplingOptions } from '../runtime/sampler.js';
import { isQwenHybridError } from '../errors.js';
import { resolveThreads } from '../runtime/threads.js';
import { outputClosedSignal, parseCommandArgs, processOutput, readTextFile, UsageError, type Output } from './io.js';

export const RUN_HELP = `Usage: qwen-hybrid run [-m <model.gguf>] (-p <text> | --tokens <id,id,…>) [options]

Generates a continuation of the prompt and streams it to stdout; speed goes to stderr. Without -m the built-in
demo model is used (RANDOM weights: its output is meaningless).

  -m, --model            GGUF file (first shard of a split model)
  -p, --prompt           prompt text (no chat template is applied)
  --tokens               prompt as token ids, comma-separated
  --special              parse control tokens such as <|im_start|> in the prompt text
  -n, --max-tokens       tokens to generate (default 128)
  --temp                 temperature, 0 = greedy (default 0.8)
  --top-k                top-k, 0 = off (default 40)
  --top-p                top-p in (0, 1], 1 = off (default 0.95)
  --min-p                min-p in [0, 1], 0 = off (default 0.05)
  --repeat-penalty       repetition penalty, 1 = off (default 1)
  --presence-penalty     presence penalty (default 0)
  --frequency-penalty    frequency penalty (default 0)
  --repeat-last-n        tokens the penalties look back over, -1 = all (default 64)
  --seed                 RNG seed (default: random)
  --stop                 stop string (repeatable)
  -c, --ctx              context size in tokens (default min(model context, 4096))
  -t, --threads          CPU threads (default: all)
  --batch-size           prefill micro-batch (default 256)
  --kv-cache             KV cache type: f16 (default), f32 or q8_0 (about half the memory of f16)
  --backend              auto, cpu or cuda (default auto: CUDA when a device can hold the model)
  --device               CUDA device index (default 0)
  --json-schema          constrain the output to a JSON schema (inline JSON, or @file.json)
  --grammar              constrain the output to an EBNF grammar (inline, or @file.ebnf; start rule root)
  --regex                constrain the output to a regular expression
  --json                 print exactly {"tokens":[…],"text":"…","timings":{…}} on stdout and nothing else
`;

// ---------------------------------------------------------------- shared helpers

export const MODEL_OPTIONS = {
  model: { type: 'string', short: 'm' },
  ctx: { type: 'string', short: 'c' },
  threads: { type: 'string', short: 't' },
  'batch-size': { type: 'string' },
  'kv-cache': { type: 'string' },
  backend: { type: 'string' },
  device: { type: 'string' },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

export const SAMPLING_OPTIONS = {
  temp: { type: 'string' },
  'top-k': { type: 'string' },
  'top-p': { type: 'string' },
  'min-p': { type: 'string' },
  'repeat-penalty': { type: 'string' },
  'presence-penalty': { type: 'string' },
  'frequency-penalty': { type: 'string' },
  'repeat-last-n': { type: 'string' },
  seed: { type: 'string' },
  stop: { type: 'string', multiple: true },
} as const;

/** A number flag; anything that is not a plain decimal number is a usage error naming the flag. */
export function numberFlag(command: string, flag: string, v: string | undefined, integer = false): number | undefined {
  if (v === undefined) return undefined;
  const n = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(v.trim()) ? Number(v) : NaN;
  if (!Number.isFinite(n) || (integer && !Number.isSafeInteger(n))) {
    throw new UsageError(`${command}: --${flag} expects ${integer ? 'an integer' : 'a number'}, got '${v}'`);
  }
  return n;
}

export function tokenList(command: string, v: string): number[] {
  const parts = v.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  if (parts.length === 0) throw new UsageError(`${command}: --tokens needs at least one token id`);
  return parts.map((s) => {
    if (!/^\d+$/.test(s) || !Number.isSafeInteger(Number(s))) throw new UsageError(`${command}: --tokens expects comma-separated token ids, got '${s}'`);
    return Number(s);
  });
}

const SAMPLING_FLAG_OF: Partial<Record<string, keyof typeof SAMPLING_OPTIONS>> = {
  temperature: 'temp', topK: 'top-k', topP: 'top-p', minP: 'min-p', repeatPenalty: 'repeat-penalty', presencePenalty: 'presence-penalty',
  frequencyPenalty: 'frequency-penalty', penaltyLastN: 'repeat-last-n', seed: 'seed',
};

export function samplingFromFlags(command: string, v: Partial<Record<keyof typeof SAMPLING_OPTIONS, string | string[] | undefined>>): SamplingOptions & { stop?: string[] } {
  const s = (k: keyof typeof SAMPLING_OPTIONS): string | undefined => v[k] as string | undefined;
  const o: SamplingOptions & { stop?: string[] } = {
    temperature: numberFlag(command, 'temp', s('temp')),
    topK: numberFlag(command, 'top-k', s('top-k'), true),
    topP: numberFlag(command, 'top-p', s('top-p')),
    minP: numberFlag(command, 'min-p', s('min-p')),
    repeatPenalty: numberFlag(command, 'repeat-penalty', s('repeat-penalty')),
    presencePenalty: numberFlag(command, 'presence-penalty', s('presence-penalty')),
    frequencyPenalty: numberFlag(command, 'frequency-penalty', s('frequency-penalty')),
    penaltyLastN: numberFlag(command, 'repeat-last-n', s('repeat-last-n'), true),
    seed: numberFlag(command, 'seed', s('seed'), true),
  };
  // Range checks now, before anything is printed or loaded; the error names the flag, not the option.
  try {
    resolveSampling(o);
  } catch (e) {
    const param = isQwenHybridError(e) ? e.details['parameter'] : undefined;
    const flag = typeof param === 'string' ? SAMPLING_FLAG_OF[param] : undefined;
    if (flag === undefined || !(e instanceof Error)) throw e;
    throw new UsageError(`${command}: --${flag} ${e.message.replace(/^sampling: \w+ /, '')}`);
  }
  const stop = v.stop as string[] | undefined;
  if (stop && stop.length > 0) o.stop = stop;
  return o;
}

/** The --kv-cache flag: f16, f32 or q8_0 (undefined when absent); anything else is a usage error. */
export function kvCacheFlag(command: string, v: string | undefined): KvCacheType | undefined {
  if (v === undefined) return undefined;
  if (v !== 'f16' && v !== 'f32' && v !== 'q8_0') throw new UsageError(`${command}: --kv-cache must be f16, f32 or q8_0, got '${v}'`);
  return v;
}

/** stderr is a terminal (only knowable for the real process). */
export function stderrIsTTY(io: Output): boolean {
  return io === processOutput && Boolean(process.stderr.isTTY);
}

type ModelFlags = { model?: string | undefined; ctx?: string | undefined; threads?: string | undefined; 'batch-size'?: string | undefined; 'kv-cache'?: string | undefined; backend?: string | undefined; device?: string | undefined };

/** The MODEL_OPTIONS flags checked (every value, before anything is printed or loaded) into loadModel options. */
export function modelFlags(command: string, v: ModelFlags, io: Output, kvCacheType?: KvCacheType): LoadModelOptions {
  const backend = v.backend;
  if (backend !== undefined && backend !== 'auto' && backend !== 'cpu' && backend !== 'cuda') {
    throw new UsageError(`${command}: --backend must be auto, cpu or cuda, got '${backend}'`);
  }
  const device = numberFlag(command, 'device', v.device, true);
  if (device !== undefined && device < 0) throw new UsageError(`${command}: --device must be ≥ 0, got ${device}`);
  if (device !== undefined && backend === 'cpu') throw new UsageError(`${command}: --device selects a CUDA device; it cannot be combined with --backend cpu`);
  const positive = (flag: string, value: string | undefined): number | undefined => {
    const n = numberFlag(command, flag, value, true);
    if (n !== undefined && n < 1) throw new UsageError(`${command}: --${flag} must be ≥ 1, got ${n}`);
    return n;
  };
  const contextSize = positive('ctx', v.ctx);
  const threads = resolveThreads(positive('threads', v.threads), { warn: (m) => io.err(`warning: ${m}\n`) });
  const batchSize = positive('batch-size', v['batch-size']);
  const kv = kvCacheType ?? kvCacheFlag(command, v['kv-cache']);
  return {
    ...(backend ? { backend } : {}),
    ...(device !== undefined ? { device } : {}),
    ...(contextSize !== undefined ? { contextSize } : {}),
    ...(threads !== undefined ? { threads } : {}),
    ...(batchSize !== undefined ? { batchSize } : {}),
    ...(kv ? { kvCacheType: kv } : {}),
  };
}

/**
 * Loads -m, or the demo model when -m is absent and `allowDemo`. Every flag is checked first, so a bad value is a
 * usage error before anything is printed or generated. Progress bar on stderr when it is a terminal.
 */
export async function openModel(command: string, v: ModelFlags, io: Output, opts: { allowDemo: boolean; kvCacheType?: KvCacheType; quiet?: boolean }): Promise<Model> {
  if (v.model === undefined && !opts.allowDemo) throw new UsageError(`${command}: -m <model.gguf> is required (see 'qwen-hybrid ${command} --help')`);
  const loadOpts = modelFlags(command, v, io, opts.kvCacheType);
  let path = v.model;
  if (path === undefined) {
    path = await demoModelPath();
    io.err(`note: no -m given: using the built-in demo model, whose weights are RANDOM (its output is meaningless): ${path}\n`);
  }
  const tty = stderrIsTTY(io) && !opts.quiet;
  const onProgress = tty
    ? (p: LoadProgress): void => {
        const frac = p.total > 0 ? Math.min(1, p.done / p.total) : 0;
        const w = 30;
        const fill = Math.round(frac * w);
        io.err(`\r\x1b[2Kloading [${'#'.repeat(fill)}${'.'.repeat(w - fill)}] ${p.stage}`);
      }
    : undefined;
  const model = await loadModel(path, { ...loadOpts, ...(onProgress ? { onProgress } : {}) });
  if (tty) io.err(`\r\x1b[2Kloaded ${path} (${model.backend}: ${model.backendReason})\n`);
  return model;
}

/**
 * For the real process: aborts generation on Ctrl-C (first press) or when stdout's reader goes away (`| head`).
 * Returns the signal and a cleanup.
 */
export function interruptSignal(io: Output): { signal: AbortSignal; done: () => void } {
  const ac = new AbortController();
  const closed = outputClosedSignal(io);
  if (!closed) return { signal: ac.signal, done: () => {} };
  const onInt = (): void => ac.abort();
  process.once('SIGINT', onInt);
  return { signal: AbortSignal.any([ac.signal, closed]), done: () => void process.off('SIGINT', onInt) };
}

export function formatStats(s: GenerateStats): string {
  return `${s.generatedTokens} tokens in ${(s.generateMs / 1000).toFixed(2)} s: ${s.tokensPerSecond.toFixed(1)} tokens/s ` +
    `(prompt ${s.promptTokens} tokens at ${s.promptTokensPerSecond.toFixed(1)} tokens/s; stop: ${s.stopReason})\n`;
}

// ---------------------------------------------------------------- run

/** --json-schema / --grammar / --regex (at most one; `@path` reads a file), checked before the model is opened. */
async function constraintFromFlags(v: { 'json-schema'?: string; grammar?: string; regex?: string }): Promise<Pick<GenerateOptions, 'jsonSchema' | 'grammar' | 'regex'>> {
  const given = (['json-schema', 'grammar', 'regex'] as const).filter((k) => v[k] !== undefined);
  if (given.length > 1) throw new UsageError(`run: give at most one of --json-schema, --grammar and --regex (got ${given.map((g) => `--${g}`).join(', ')})`);
  const text = async (k: 'json-schema' | 'grammar' | 'regex'): Promise<string> => {
    const raw = v[k]!;
    return raw.startsWith('@') ? readTextFile(raw.slice(1), `--${k}`) : raw;
  };
  if (v['json-schema'] !== undefined) {
    const t = await text('json-schema');
    try {
      return { jsonSchema: JSON.parse(t) as Record<string, unknown> };
    } catch (e) {
      throw new UsageError(`run: --json-schema is not JSON: ${(e as Error).message}`);
    }
  }
  if (v.grammar !== undefined) return { grammar: await text('grammar') };
  if (v.regex !== undefined) return { regex: await text('regex') };
  return {};
}

export async function runCommand(argv: string[], io: Output): Promise<number> {
  const { values } = parseCommandArgs('run', argv, {
    ...MODEL_OPTIONS,
    ...SAMPLING_OPTIONS,
    prompt: { type: 'string', short: 'p' },
    tokens: { type: 'string' },
    special: { type: 'boolean', default: false },
    'json-schema': { type: 'string' },
    grammar: { type: 'string' },
    regex: { type: 'string' },
    'max-tokens': { type: 'string', short: 'n' },
    json: { type: 'boolean', default: false },
  }, false);
  if (values.help) {
    io.out(RUN_HELP);
    return 0;
  }
  if ((values.prompt === undefined) === (values.tokens === undefined)) throw new UsageError("run: give exactly one of -p <text> and --tokens <ids> (see 'qwen-hybrid run --help')");
  const promptTokens = values.tokens !== undefined ? tokenList('run', values.tokens) : undefined;
  const maxTokens = numberFlag('run', 'max-tokens', values['max-tokens'], true) ?? 128;
  if (maxTokens < 0) throw new UsageError(`run: --max-tokens must be ≥ 0, got ${maxTokens}`);
  const sampling = samplingFromFlags('run', values);
  const constraint = await constraintFromFlags(values);

  const model = await openModel('run', values, io, { allowDemo: true, quiet: values.json });
  const { signal, done } = interruptSignal(io);
  try {
    const session = model.createSession();
    const opts: GenerateOptions = { ...sampling, ...constraint, maxTokens, signal, special: values.special };
    const stream = generate(session, promptTokens ?? values.prompt!, opts);
    const tokens: number[] = [];
    let text = '';
    for await (const chunk of stream) {
      tokens.push(chunk.token);
      text += chunk.text;
      if (!values.json && chunk.text.length > 0) io.out(chunk.text);
    }
    const stats = await stream.stats;
    session.dispose();
    if (outputClosedSignal(io)?.aborted) return 0; // stdout's reader went away: stop quietly
    if (values.json) {
      io.out(JSON.stringify({ tokens, text, timings: stats }) + '\n');
    } else {
      io.out('\n');
      io.err(formatStats(stats));
    }
    return 0;
  } finally {
    done();
    model.dispose();
  }
}
