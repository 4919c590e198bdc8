/**
 * `qwen-hybrid chat`: interactive chat on stdin/stdout. Each input line is a user turn; the reply streams as it
 * is generated (reasoning dimmed on a terminal, wrapped in <think>…</think> otherwise), speed on stderr.
 * The session is reused while the rendered conversation extends its history, else restarted from the full
 * conversation (the template drops earlier turns' reasoning).
 */
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import type { ChatMessage } from '../chat/types.js';
import type { Session } from '../model/index.js';
import { chat, renderChatPrompt } from '../runtime/chat.js';
import { outputClosedSignal, parseCommandArgs, processOutput, UsageError, type Output } from './io.js';
import { formatStats, interruptSignal, MODEL_OPTIONS, numberFlag, openModel, SAMPLING_OPTIONS, samplingFromFlags } from './run.js';

export const CHAT_HELP = `Usage: qwen-hybrid chat [-m <model.gguf>] [--no-think] [--system <text>] [options]

Interactive chat with the model's chat template: type a message and press Enter; an empty line or Ctrl-D quits,
Ctrl-C stops the current reply. Without -m the built-in demo model is used (RANDOM weights: meaningless output).

  -m, --model         GGUF file
  --no-think          disable thinking (the template's empty think block)
  --system            system prompt
  -n, --max-tokens    tokens per reply (default 2048)
  sampling:           --temp --top-k --top-p --min-p --repeat-penalty --presence-penalty --frequency-penalty
                      --repeat-last-n --seed --stop (as in 'qwen-hybrid run')
  -c, --ctx           context size;  -t, --threads  CPU threads
  --kv-cache          KV cache type: f16 (default), f32 or q8_0 (about half the memory of f16)
  --backend           auto, cpu or cuda (default auto);  --device  CUDA device index (default 0)
`;

const DIM = '\x1b[2m';
const RESET = '\x1b[0m';

export async function chatCommand(argv: string[], io: Output, input: Readable = process.stdin): Promise<number> {
  const { values } = parseCommandArgs('chat', argv, {
    ...MODEL_OPTIONS,
    ...SAMPLING_OPTIONS,
    'no-think': { type: 'boolean', default: false },
    system: { type: 'string' },
    'max-tokens': { type: 'string', short: 'n' },
  }, false);
  if (values.help) {
    io.out(CHAT_HELP);
    return 0;
  }
  const maxTokens = numberFlag('chat', 'max-tokens', values['max-tokens'], true) ?? 2048;
  if (maxTokens < 0) throw new UsageError(`chat: --max-tokens must be ≥ 0, got ${maxTokens}`);
  const sampling = samplingFromFlags('chat', values);
  const thinking = !values['no-think'];
  const model = await openModel('chat', values, io, { allowDemo: true });
  const tty = io.isTTY;
  const messages: ChatMessage[] = values.system !== undefined ? [{ role: 'system', content: values.system }] : [];
  let session: Session = model.createSession();
  const rl = createInterface({ input, terminal: false });
  const closed = outputClosedSignal(io);
  const onClosed = (): void => rl.close(); // also ends a wait for the next line
  closed?.addEventListener('abort', onClosed, { once: true });
  try {
    if (tty) io.out('> ');
    for await (const line of rl) {
      if (line.trim().length === 0) break;
      messages.push({ role: 'user', content: line });
      const { tokens } = renderChatPrompt(session, messages, { thinking });
      const h = session.history;
      if (!(h.length < tokens.length && h.every((t, i) => t === tokens[i]))) {
        session.dispose();
        session = model.createSession();
      }
      const { signal, done } = interruptSignal(io);
      let inReasoning = false;
      try {
        const stream = chat(session, messages, { ...sampling, maxTokens, signal, thinking });
        for await (const ev of stream) {
          if (ev.type === 'reasoning') {
            if (!inReasoning) io.out(tty ? DIM : '<think>\n');
            inReasoning = true;
            io.out(ev.text);
            continue;
          }
          if (inReasoning) io.out(tty ? `${RESET}\n` : '\n</think>\n');
          inReasoning = false;
          if (ev.type === 'content') io.out(ev.text);
          else io.out(`\n[tool call] ${ev.call.name}(${JSON.stringify(ev.call.arguments)})\n`);
        }
        if (inReasoning) io.out(tty ? RESET : '\n</think>');
        const r = await stream.result;
        if (closed?.aborted) break; // stdout's reader went away: stop quietly
        io.out('\n');
        io.err(formatStats(r.stats));
        messages.push({ role: 'assistant', content: r.content, ...(r.reasoning ? { reasoning_content: r.reasoning } : {}) });
      } finally {
        done();
      }
      if (tty) io.out('> ');
    }
    return 0;
  } finally {
    closed?.removeEventListener('abort', onClosed);
    rl.close();
    session.dispose();
    model.dispose();
    if (io === processOutput && input === process.stdin) process.stdin.pause();
  }
}
