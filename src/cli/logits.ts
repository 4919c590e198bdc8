/**
 * `qwen-hybrid logits`: teacher-forced next-token distributions at every input position. logprob = log-softmax
 * over the full vocabulary in float64 (x − max − ln Σ e^(x − max)); the top K per position, best first, ties by
 * lower id.
 */
import { tokenLogprobs } from '../runtime/sampler.js';
import { parseCommandArgs, UsageError, type Output } from './io.js';
import { MODEL_OPTIONS, numberFlag, openModel, tokenList } from './run.js';

export const LOGITS_HELP = `Usage: qwen-hybrid logits -m <model.gguf> (--tokens <id,id,…> | -p <text>) [--top K] [--backend auto|cpu|cuda] [--device N] [--json]

Evaluates the tokens in one pass and prints, for every input position, the K most likely next tokens with their
log-probabilities (log-softmax over the full vocabulary, float64), best first.

  -m, --model     GGUF file
  --tokens        input token ids, comma-separated
  -p, --prompt    input text instead (tokenized with the model's vocabulary; --special parses control tokens)
  --top           K (default 20)
  --backend       auto, cpu or cuda (default auto)
  --device        CUDA device index (default 0)
  --kv-cache      KV cache type: f16 (default), f32 or q8_0
  --kv-f32        F32 KV cache instead of F16 (as the llama.cpp oracle runs; same as --kv-cache f32)
  -c, --ctx       context size (default: the number of tokens, at least the model default)
  --json          print exactly {"positions":[{"top":[[id,logprob],…]},…]} on stdout
`;

/** Top-K (id, logprob) of one logits row, float64 log-softmax over the whole row (runtime/sampler.ts tokenLogprobs). */
export function topLogprobs(row: ArrayLike<number>, k: number): [number, number][] {
  return tokenLogprobs(row, 0, Math.min(k, row.length)).topLogprobs.map((t) => [t.token, t.logprob]);
}

export async function logitsCommand(argv: string[], io: Output): Promise<number> {
  const { values } = parseCommandArgs('logits', argv, {
    ...MODEL_OPTIONS,
    tokens: { type: 'string' },
    prompt: { type: 'string', short: 'p' },
    special: { type: 'boolean', default: false },
    top: { type: 'string' },
    'kv-f32': { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  }, false);
  if (values.help) {
    io.out(LOGITS_HELP);
    return 0;
  }
  if (values.model === undefined) throw new UsageError("logits: -m <model.gguf> is required (see 'qwen-hybrid logits --help')");
  if ((values.prompt === undefined) === (values.tokens === undefined)) throw new UsageError('logits: give exactly one of --tokens <ids> and -p <text>');
  const k = numberFlag('logits', 'top', values.top, true) ?? 20;
  if (k < 1) throw new UsageError(`logits: --top must be ≥ 1, got ${k}`);
  let ids = values.tokens !== undefined ? tokenList('logits', values.tokens) : undefined;
  if (values['kv-f32'] && values['kv-cache'] !== undefined && values['kv-cache'] !== 'f32') throw new UsageError(`logits: --kv-f32 contradicts --kv-cache ${values['kv-cache']}`);
  const model = await openModel('logits', values, io, { allowDemo: false, quiet: values.json, kvCacheType: values['kv-f32'] ? 'f32' : undefined });
  try {
    ids ??= model.tokenize(values.prompt!, { special: values.special });
    if (ids.length === 0) throw new UsageError('logits: the prompt tokenizes to nothing');
    const ctx = values.ctx !== undefined ? undefined : Math.max(ids.length, model.contextSize);
    const session = model.createSession(ctx !== undefined ? { contextSize: ctx } : {});
    const rows = await session.evaluate(ids, { logits: 'all' });
    session.dispose();
    const positions = rows.map((r) => ({ top: topLogprobs(r, k) }));
    if (values.json) {
      io.out(JSON.stringify({ positions }) + '\n');
    } else {
      positions.forEach((p, i) => {
        const shown = p.top.slice(0, Math.min(k, 5)).map(([id, lp]) => `${JSON.stringify(model.tokenizer.tokenToPiece(id))}(${id}) ${lp.toFixed(3)}`);
        io.out(`${String(i).padStart(4)} ${JSON.stringify(model.tokenizer.tokenToPiece(ids![i]!))} → ${shown.join('  ')}\n`);
      });
    }
    return 0;
  } finally {
    model.dispose();
  }
}
