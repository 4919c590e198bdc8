import { templateFromMetadata } from '../chat/index.js';
import { readGGUFModel } from '../gguf/split.js';
import { ensureDemoModel } from '../model/demo.js';
import { loadModel } from '../model/model.js';
import { generate } from '../runtime/generate.js';
import { inspectModel } from '../model/inspect.js';
import { nativeInfo } from '../native/index.js';
import { Tokenizer } from '../tokenizer/index.js';
import { formatNativeInfo } from './info.js';
import { formatReport } from './inspect.js';
import { outputClosedSignal, parseCommandArgs, UsageError, type Output } from './io.js';
import { interruptSignal } from './run.js';

export const DEMO_HELP = `Usage: qwen-hybrid demo [--text <s>]

Runs the main job on the built-in demo model: a tiny qwen35 GGUF with RANDOM weights, generated on first use and
cached (no download). Shows the native addon and devices, inspects the model, tokenizes text with its vocabulary,
renders a chat prompt with its template, and generates from it on the CPU backend, streaming the text and reporting
tokens/s. The generated text is noise: the weights are random.

  --text <s>    the user message (default: a multilingual sample)
  -n <N>        tokens to generate (default 32)
`;

const SAMPLE = 'Hello, world! 你好，世界。 Qwen3.6 says: 12345 🚀';

export async function demoCommand(argv: string[], io: Output): Promise<number> {
  const { values } = parseCommandArgs('demo', argv, {
    text: { type: 'string' },
    n: { type: 'string', short: 'n' },
    help: { type: 'boolean', short: 'h', default: false },
  }, false);
  if (values.help) {
    io.out(DEMO_HELP);
    return 0;
  }
  const maxTokens = values.n === undefined ? 32 : /^\s*\+?\d+\s*$/.test(values.n) ? Number(values.n) : NaN;
  if (!Number.isSafeInteger(maxTokens) || maxTokens < 1) throw new UsageError(`demo: -n expects a positive integer, got '${values.n}'`);
  io.out('qwen-hybrid demo: the built-in tiny qwen35 model has RANDOM weights; its outputs mean nothing.\n\n');

  io.out('== native addon\n');
  io.out(formatNativeInfo(nativeInfo()));

  const demo = await ensureDemoModel();
  io.out(`\n== model (${demo.generated ? 'generated now' : 'cached'}: ${demo.path})\n`);
  io.out(formatReport(await inspectModel(demo.path)));

  const model = await readGGUFModel(demo.path);
  const tokenizer = Tokenizer.fromGGUF(model.shards[0]!);
  const text = values.text ?? SAMPLE;
  const ids = tokenizer.encode(text);
  io.out(`\n== tokenizer\n${JSON.stringify(text)}\n→ ${ids.length} tokens: ${JSON.stringify(ids)}\n`);
  io.out(`→ pieces: ${ids.map((id) => JSON.stringify(tokenizer.tokenToPiece(id))).join(' ')}\n`);
  io.out(`→ decoded back: ${JSON.stringify(tokenizer.decode(ids))}\n`);

  const prompt = templateFromMetadata(model.metadata).render(
    [
      { role: 'system', content: 'You are a helpful assistant.' },
      { role: 'user', content: text },
    ],
    { addGenerationPrompt: true, enableThinking: true },
  );
  const promptIds = tokenizer.encode(prompt, { special: true });
  io.out(`\n== chat prompt (${promptIds.length} tokens with special parsing)\n${prompt}\n`);

  await using loaded = await loadModel(demo.path, { backend: 'auto' });
  await using session = loaded.createSession();
  io.out(`\n== generation (${loaded.backend}: ${loaded.backendReason}; greedy, ${maxTokens} tokens; random weights → noise)\n`);
  const { signal, done } = interruptSignal(io);
  try {
    const stream = generate(session, promptIds, { temperature: 0, maxTokens, signal });
    for await (const chunk of stream) io.out(chunk.text);
    const stats = await stream.stats;
    if (outputClosedSignal(io)?.aborted) return 0; // stdout's reader went away: stop quietly
    io.out(`\n\nprompt ${stats.promptTokens} tokens at ${stats.promptTokensPerSecond.toFixed(1)} tok/s, generated ${stats.generatedTokens} tokens at ${stats.tokensPerSecond.toFixed(1)} tok/s (stop: ${stats.stopReason})\n`);
  } finally {
    done();
  }
  return 0;
}
