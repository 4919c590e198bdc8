import { templateFromMetadata, type ChatMessage, type ToolDefinition } from '../chat/index.js';
import { QwenHybridError } from '../errors.js';
import { readGGUFModel } from '../gguf/split.js';
import { parseCommandArgs, readTextFile, UsageError, type Output } from './io.js';

export const TEMPLATE_HELP = `Usage: qwen-hybrid template -m <model.gguf> (--user <text> | --messages <file.json>) [options]

Renders a chat prompt with the model's tokenizer.chat_template (or the built-in Qwen3.5/3.6 template when the
file has none) and prints it.

  --system <text>      system prompt (with --user)
  --user <text>        one user message
  --messages <file>    a JSON array of {role, content, reasoning_content?, tool_calls?} messages
  --tools <file>       a JSON array of tool definitions ({type:"function", function:{name, description, parameters}})
  --no-think           render the non-thinking generation prompt (enable_thinking = false)
  --no-generation-prompt  do not append the assistant prefix
  --json               print {"prompt": "..."} instead of the raw text
`;

async function readJson(path: string, what: string): Promise<unknown> {
  const text = await readTextFile(path, what);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new QwenHybridError('INVALID_ARGUMENT', `${what} file '${path}' is not valid JSON: ${(e as Error).message}`, { file: path });
  }
}

export async function templateCommand(argv: string[], io: Output): Promise<number> {
  const { values } = parseCommandArgs('template', argv, {
    model: { type: 'string', short: 'm' },
    system: { type: 'string' },
    user: { type: 'string' },
    messages: { type: 'string' },
    tools: { type: 'string' },
    'no-think': { type: 'boolean', default: false },
    'no-generation-prompt': { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  }, false);
  if (values.help) {
    io.out(TEMPLATE_HELP);
    return 0;
  }
  if (values.model === undefined) throw new UsageError("template: -m <model.gguf> is required (see 'qwen-hybrid template --help')");
  if ((values.user === undefined) === (values.messages === undefined)) throw new UsageError('template: give exactly one of --user and --messages');
  let messages: ChatMessage[];
  if (values.messages !== undefined) {
    const m = await readJson(values.messages, 'messages');
    if (!Array.isArray(m)) throw new QwenHybridError('INVALID_ARGUMENT', `messages file '${values.messages}' must hold a JSON array`, { file: values.messages });
    messages = m as ChatMessage[];
  } else {
    messages = [...(values.system !== undefined ? [{ role: 'system' as const, content: values.system }] : []), { role: 'user' as const, content: values.user! }];
  }
  let tools: ToolDefinition[] | undefined;
  if (values.tools !== undefined) {
    const t = await readJson(values.tools, 'tools');
    if (!Array.isArray(t)) throw new QwenHybridError('INVALID_ARGUMENT', `tools file '${values.tools}' must hold a JSON array`, { file: values.tools });
    tools = t as ToolDefinition[];
  }
  const model = await readGGUFModel(values.model);
  const template = templateFromMetadata(model.metadata);
  const prompt = template.render(messages, {
    addGenerationPrompt: !values['no-generation-prompt'],
    enableThinking: !values['no-think'],
    ...(tools ? { tools } : {}),
  });
  io.out(values.json ? JSON.stringify({ prompt }) + '\n' : prompt + (prompt.endsWith('\n') ? '' : '\n'));
  return 0;
}
