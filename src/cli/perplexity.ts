/**
 * `qwen-hybrid perplexity`: ppl = exp(−mean ln p(t_i | t_<i)) over a text file. The tokens are cut into chunks of
 * --ctx tokens, each evaluated from an empty state; every token but each chunk's first is scored (float64
 * log-softmax over the full vocabulary).
 */
import { parseCommandArgs, readTextFile, UsageError, type Output } from './io.js';
import { MODEL_OPTIONS, numberFlag, openModel, stderrIsTTY } from './run.js';

export const PERPLEXITY_HELP = `Usage: qwen-hybrid perplexity -m <model.gguf> -f <text file> [--chunk N] [--json]

Perplexity of the model on a UTF-8 text file: the tokens are cut into chunks of N tokens (default 512), each
evaluated from an empty state; every token except a chunk's first is scored.

  -m, --model   GGUF file
  -f, --file    text file
  --chunk       tokens per chunk (default 512)
  --max-chunks  stop after this many chunks
  --kv-cache    KV cache type: f16 (default), f32 or q8_0
  --backend     auto, cpu or cuda (default auto);  --device  CUDA device index (default 0)
  --json        print exactly {"perplexity":…,"nll":…,"tokens":…,"chunks":…,"tokensPerSecond":…} on stdout
`;

export async function perplexityCommand(argv: string[], io: Output): Promise<number> {
  const { values } = parseCommandArgs('perplexity', argv, {
    ...MODEL_OPTIONS,
    file: { type: 'string', short: 'f' },
    chunk: { type: 'string' },
    'max-chunks': { type: 'string' },
    json: { type: 'boolean', default: false },
  }, false);
  if (values.help) {
    io.out(PERPLEXITY_HELP);
    return 0;
  }
  if (values.model === undefined) throw new UsageError("perplexity: -m <model.gguf> is required (see 'qwen-hybrid perplexity --help')");
  if (values.file === undefined) throw new UsageError('perplexity: -f <text file> is required');
  const chunk = numberFlag('perplexity', 'chunk', values.chunk, true) ?? 512;
  if (chunk < 2) throw new UsageError(`perplexity: --chunk must be ≥ 2, got ${chunk}`);
  const maxChunks = numberFlag('perplexity', 'max-chunks', values['max-chunks'], true) ?? Infinity;
  if (maxChunks < 1) throw new UsageError(`perplexity: --max-chunks must be ≥ 1, got ${maxChunks}`);
  // A `\r` progress line only redraws on a terminal; in a log or pipe it would be one garbled line.
  const progress = !values.json && stderrIsTTY(io);
  const text = await readTextFile(values.file, 'text');
  const model = await openModel('perplexity', values, io, { allowDemo: false, quiet: values.json });
  try {
    const ids = model.tokenize(text);
    if (ids.length < 2) throw new UsageError(`perplexity: '${values.file}' has ${ids.length} token(s); at least 2 are needed`);
    let nll = 0;
    let scored = 0;
    let chunks = 0;
    const t0 = performance.now();
    for (let s = 0; s + 1 < ids.length && chunks < maxChunks; s += chunk) {
      const part = ids.slice(s, s + chunk);
      if (part.length < 2) break;
      const session = model.createSession({ contextSize: Math.max(part.length, 2) });
      const rows = await session.evaluate(part, { logits: 'all' });
      session.dispose();
      for (let i = 0; i + 1 < part.length; i++) {
        const r = rows[i]!;
        let max = -Infinity;
        for (let j = 0; j < r.length; j++) if (r[j]! > max) max = r[j]!;
        let sum = 0;
        for (let j = 0; j < r.length; j++) sum += Math.exp(r[j]! - max);
        nll -= r[part[i + 1]!]! - max - Math.log(sum);
        scored++;
      }
      chunks++;
      if (progress) io.err(`\r\x1b[2Kchunk ${chunks}: ppl so far ${Math.exp(nll / scored).toFixed(4)}`);
    }
    const seconds = (performance.now() - t0) / 1000;
    const evaluated = scored + chunks;
    const result = { perplexity: Math.exp(nll / scored), nll: nll / scored, tokens: scored, chunks, tokensPerSecond: evaluated / seconds };
    if (values.json) io.out(JSON.stringify(result) + '\n');
    else {
      if (progress) io.err('\n');
      io.out(`perplexity: ${result.perplexity.toFixed(4)} (${scored} tokens scored in ${chunks} chunk(s) of ≤ ${chunk})\n`);
      io.err(`${result.tokensPerSecond.toFixed(1)} tokens/s\n`);
    }
    return 0;
  } finally {
    model.dispose();
  }
}
