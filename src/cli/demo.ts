import { templateFromMetadata } from '../chat/index.js';
import { readGGUFModel } from '../gguf/split.js';
import { ensureDemoModel } from '../model/demo.js';
import { inspectModel } from '../model/inspect.js';
import { nativeInfo } from '../native/index.js';
import { Tokenizer } from '../tokenizer/index.js';
import { formatNativeInfo } from './info.js';
import { formatReport } from './inspect.js';
import { parseCommandArgs, type Output } from './io.js';

export const DEMO_HELP = `Usage: qwen-hybrid demo [--text <s>]

Runs the main job on the built-in demo model: a tiny qwen35 GGUF with RANDOM weights, generated on first use and
cached (no download). Shows the native addon and devices, inspects the model, tokenizes text with its vocabulary
and renders a chat prompt with its template. (Generation arrives with the model runtime.)
`;

const SAMPLE = 'Hello, world! 你好，世界。 Qwen3.6 says: 12345 🚀';

export async function demoCommand(argv: string[], io: Output): Promise<number> {
  const { values } = parseCommandArgs('demo', argv, {
    text: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  }, false);
  if (values.help) {
    io.out(DEMO_HELP);
    return 0;
  }
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
  return 0;
}
