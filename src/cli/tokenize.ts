import { readGGUFModel } from '../gguf/split.js';
import { Tokenizer } from '../tokenizer/index.js';
import { parseCommandArgs, readTextFile, table, UsageError, type Output } from './io.js';

export const TOKENIZE_HELP = `Usage: qwen-hybrid tokenize -m <model.gguf> (--text <s> | --file <path>) [--special] [--json]

Tokenizes text with the model's own vocabulary exactly as llama.cpp does (no BOS is added unless the model asks).

  -m, --model   GGUF file (only its header is read)
  --text        the text
  --file        read the text from a UTF-8 file instead
  --special     parse control tokens such as <|im_start|> (user-defined tokens like <think> always match)
  --json        print exactly {"tokens":[...]} on stdout
`;

export async function tokenizeCommand(argv: string[], io: Output): Promise<number> {
  const { values } = parseCommandArgs('tokenize', argv, {
    model: { type: 'string', short: 'm' },
    text: { type: 'string', short: 't' },
    file: { type: 'string', short: 'f' },
    special: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  }, false);
  if (values.help) {
    io.out(TOKENIZE_HELP);
    return 0;
  }
  if (values.model === undefined) throw new UsageError("tokenize: -m <model.gguf> is required (see 'qwen-hybrid tokenize --help')");
  if ((values.text === undefined) === (values.file === undefined)) throw new UsageError('tokenize: give exactly one of --text and --file');
  const text = values.text ?? (await readTextFile(values.file!, 'text'));
  const model = await readGGUFModel(values.model);
  const tokenizer = Tokenizer.fromGGUF(model.shards[0]!);
  const ids = tokenizer.encode(text, { special: values.special });
  if (values.json) {
    io.out(JSON.stringify({ tokens: ids }) + '\n');
  } else {
    io.out(table([['index', 'id', 'piece'], ...ids.map((id, i) => [String(i), String(id), JSON.stringify(tokenizer.tokenToPiece(id))])], ''));
    io.out(`${ids.length} tokens\n`);
  }
  return 0;
}
