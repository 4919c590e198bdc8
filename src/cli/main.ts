/**
 * `qwen-hybrid <command>`: inspect, tokenize, template, info, demo, run, chat, logits, perplexity, bench. Later
 * issues add serve. Each command returns its exit code; nothing here calls process.exit, so the CLI
 * can also be driven in-process (tests, embedding).
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchCommand, BENCH_HELP } from './bench.js';
import { demoCommand, DEMO_HELP } from './demo.js';
import { infoCommand, INFO_HELP } from './info.js';
import { inspectCommand, INSPECT_HELP } from './inspect.js';
import { isQwenHybridError } from '../errors.js';
import { EXIT_OK, outputClosedSignal, processOutput, reportError, UsageError, type Output } from './io.js';
import { templateCommand, TEMPLATE_HELP } from './template.js';
import { runCommand, RUN_HELP } from './run.js';
import { chatCommand, CHAT_HELP } from './chat.js';
import { logitsCommand, LOGITS_HELP } from './logits.js';
import { perplexityCommand, PERPLEXITY_HELP } from './perplexity.js';
import { tokenizeCommand, TOKENIZE_HELP } from './tokenize.js';

type Command = (argv: string[], io: Output) => Promise<number>;

const COMMANDS: Record<string, { run: Command; help: string; summary: string }> = {
  demo: { run: demoCommand, help: DEMO_HELP, summary: 'the main job on the built-in demo model (random weights; no download)' },
  inspect: { run: inspectCommand, help: INSPECT_HELP, summary: 'architecture, hyperparameters, tensor types, memory per context length' },
  tokenize: { run: tokenizeCommand, help: TOKENIZE_HELP, summary: "tokenize text with a model's vocabulary, exactly as llama.cpp" },
  template: { run: templateCommand, help: TEMPLATE_HELP, summary: "render a chat prompt with the model's chat template" },
  info: { run: infoCommand, help: INFO_HELP, summary: 'how the native addon was built and which CUDA devices it sees' },
  run: { run: runCommand, help: RUN_HELP, summary: 'generate text from a prompt (streamed; --json for one object)' },
  chat: { run: (argv, io) => chatCommand(argv, io), help: CHAT_HELP, summary: 'interactive chat with the chat template (reasoning dimmed; --no-think)' },
  logits: { run: logitsCommand, help: LOGITS_HELP, summary: 'top-K next-token log-probabilities at every input position' },
  perplexity: { run: perplexityCommand, help: PERPLEXITY_HELP, summary: 'perplexity of the model on a text file' },
  bench: { run: benchCommand, help: BENCH_HELP, summary: 'kernel and whole-model benchmarks vs measured floors and llama.cpp' },
};

export function packageVersion(): string {
  const pkg = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'package.json');
  return (JSON.parse(readFileSync(pkg, 'utf8')) as { version: string }).version;
}

export function mainHelp(): string {
  const names = Object.keys(COMMANDS);
  const width = Math.max(...names.map((n) => n.length));
  return [
    `qwen-hybrid ${packageVersion()} — Qwen3.5/3.6 hybrid GGUF models on CUDA and CPU`,
    '',
    'Usage: qwen-hybrid <command> [options]     (qwen-hybrid <command> --help for details)',
    '',
    'Commands:',
    ...names.map((n) => `  ${n.padEnd(width)}  ${COMMANDS[n]!.summary}`),
    '',
    'Errors print `error[CODE]: message` on stderr; exit code 1 = bad input, 2 = bad usage.',
    '',
  ].join('\n');
}

export async function runCli(argv: string[], io: Output = processOutput): Promise<number> {
  try {
    const [name, ...rest] = argv;
    if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
      const topic = name === 'help' ? rest[0] : undefined;
      io.out(topic && COMMANDS[topic] ? COMMANDS[topic].help : mainHelp());
      return 0;
    }
    if (name === '--version' || name === '-v') {
      io.out(packageVersion() + '\n');
      return 0;
    }
    const cmd = COMMANDS[name];
    if (!cmd) throw new UsageError(`unknown command '${name}' (commands: ${Object.keys(COMMANDS).join(', ')})`);
    return await cmd.run(rest, io);
  } catch (e) {
    // Work stopped because stdout's reader went away (`| head`): the quiet end of a pipeline, not an error.
    if (outputClosedSignal(io)?.aborted && isQwenHybridError(e) && e.code === 'ABORTED') return EXIT_OK;
    return reportError(e, io);
  }
}
