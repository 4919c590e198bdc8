/**
 * A tiny, deterministic GPT-2-style BPE vocabulary for tests: the 256 byte tokens, merges learned by a
 * simple BPE trainer on an embedded multilingual corpus, then the Qwen3.5 added tokens in Qwen3.5 order,
 * then `[PADn]` UNUSED entries up to a multiple of 64. Layout (ids):
 *   [0, 256)                 byte tokens, in byte order (byte b → BYTE_TO_CHAR[b])
 *   [256, 256 + nMerges)     one token per merge, in merge (rank) order
 *   next 26                  added tokens (<|endoftext|> … </think>)
 *   rest                     [PADn] (type UNUSED), n = id
 */
import { GGUFValueType, type GGUFMetadataValue } from '../gguf/types.js';
import { BYTE_TO_CHAR, bytesToByteLevel } from './bytes.js';

/** GGUF `tokenizer.ggml.token_type` values (llama.cpp `llama_token_type`). */
export const TokenType = {
  UNDEFINED: 0,
  NORMAL: 1,
  UNKNOWN: 2,
  CONTROL: 3,
  USER_DEFINED: 4,
  UNUSED: 5,
  BYTE: 6,
} as const;
export type TokenType = (typeof TokenType)[keyof typeof TokenType];

export interface VocabData {
  tokens: string[];
  /** 1 normal, 3 control, 4 user-defined, 5 unused. */
  types: number[];
  /** "A B" (byte-level strings), rank = index. */
  merges: string[];
  pre: 'qwen2' | 'qwen35';
  bosId: number;
  eosId: number;
  padId: number;
  addBos: boolean;
}

/** Qwen3.5 added tokens, in id order (Qwen3 has the same 26 at the same offsets). */
export const QWEN_ADDED_TOKENS: readonly string[] = [
  '<|endoftext|>', '<|im_start|>', '<|im_end|>', '<|object_ref_start|>', '<|object_ref_end|>', '<|box_start|>',
  '<|box_end|>', '<|quad_start|>', '<|quad_end|>', '<|vision_start|>', '<|vision_end|>', '<|vision_pad|>',
  '<|image_pad|>', '<|video_pad|>', '<tool_call>', '</tool_call>', '<|fim_prefix|>', '<|fim_middle|>',
  '<|fim_suffix|>', '<|fim_pad|>', '<|repo_name|>', '<|file_sep|>', '<tool_response>', '</tool_response>',
  '<think>', '</think>',
];

/**
 * Type given by llama.cpp's converter (convert_hf_to_gguf `get_vocab_base`): HF special=true, or text that
 * "looks special" (`<|…|>`), → CONTROL; other added tokens → USER_DEFINED. Qwen3 marks only the first 14 as
 * special, but the fim/repo/file_sep tokens look special, so 20 CONTROL + 6 USER_DEFINED (tool/think tags).
 */
export function addedTokenType(text: string, hfSpecial: boolean): number {
  const looksSpecial =
    (text.startsWith('<|') && text.endsWith('|>')) ||
    (text.startsWith('<｜') && text.endsWith('｜>')) ||
    (text.startsWith('<unused') && text.endsWith('>')) ||
    text === '<pad>' || text === '<mask>' || text === '<2mass>' || text === '[@BOS@]';
  return hfSpecial || looksSpecial ? TokenType.CONTROL : TokenType.USER_DEFINED;
}

/** Training corpus: English, code, CJK, Cyrillic, Arabic, Devanagari, Thai, emoji, digits, whitespace. */
const CORPUS = [
  'The quick brown fox jumps over the lazy dog. The dog sleeps; the fox runs away into the forest.',
  "It's a small model, but it's ours. We're testing the tokenizer, and they've said it'll work. I'm sure you'd agree.",
  'Hello world! Hello, World? HELLO WORLD... hello there, general. This is the end of the sentence.',
  'Language models predict the next token. A token is a piece of a word; tokens are learned from text.',
  'In the beginning there was the byte, and the byte was merged with another byte, and they became a token.',
  'function add(a, b) {\n  return a + b;\n}\nconst result = add(1, 2);\nconsole.log(`result: ${result}`);\n',
  'export async function main(): Promise<void> {\n\tconst items = [1, 2, 3].map((x) => x * 2);\n\tfor (const item of items) {\n\t\tif (item > 2) break;\n\t}\n}\n',
  'def fibonacci(n):\n    if n < 2:\n        return n\n    return fibonacci(n - 1) + fibonacci(n - 2)\n\nprint([fibonacci(i) for i in range(10)])\n',
  'class Tokenizer:\n    def __init__(self, vocab, merges):\n        self.vocab = vocab\n        self.merges = merges\n\n    def encode(self, text):\n        return [self.vocab[t] for t in text.split()]\n',
  'import numpy as np\nx = np.zeros((3, 4), dtype=np.float32)\ny = x @ x.T  # matrix product\nassert y.shape == (3, 3)\n',
  '<div class="container"><p>Hello</p></div>\n{"name": "qwen", "version": "3.5", "layers": [1, 2, 3]}\n',
  'SELECT id, name FROM users WHERE age >= 18 ORDER BY name;\n',
  '人工智能是计算机科学的一个分支。我们正在测试分词器，中文文本应该被正确地切分。今天天气很好，我们去公园散步吧。',
  '机器学习模型需要大量的数据进行训练。语言模型可以生成文本，也可以回答问题。你好，世界！',
  '日本語のテキストです。これはトークナイザーのテストです。東京は日本の首都です。ひらがなとカタカナと漢字を使います。',
  'こんにちは、世界！今日はいい天気ですね。私は学生です。',
  '한국어 텍스트입니다. 이것은 토크나이저 테스트입니다. 서울은 한국의 수도입니다. 안녕하세요, 세계!',
  'Привет, мир! Это тестовый текст на русском языке. Москва — столица России. Мы проверяем токенизатор.',
  'Съешь же ещё этих мягких французских булок, да выпей чаю. Быстрая коричневая лиса прыгает через ленивую собаку.',
  'مرحبا بالعالم! هذا نص تجريبي باللغة العربية. القاهرة هي عاصمة مصر. نحن نختبر المحلل اللغوي.',
  'नमस्ते दुनिया! यह हिंदी में एक परीक्षण पाठ है। दिल्ली भारत की राजधानी है। हम टोकनाइज़र का परीक्षण कर रहे हैं।',
  'สวัสดีชาวโลก! นี่คือข้อความทดสอบภาษาไทย กรุงเทพมหานครเป็นเมืองหลวงของประเทศไทย',
  'Xin chào thế giới! Đây là văn bản thử nghiệm tiếng Việt. Hà Nội là thủ đô của Việt Nam.',
  'Ελληνικά: Γειά σου κόσμε! Αυτό είναι ένα δοκιμαστικό κείμενο. Héllo café naïve résumé über Straße façade.',
  'Emoji: 😀 😃 😄 😁 🚀 🌍 🎉 ❤️ 👍 👨‍👩‍👧‍👦 🇺🇸 🇯🇵 🇫🇷 ✨ 🔥 💯 🤖 🧠',
  'Numbers: 0 1 2 3 4 5 6 7 8 9 10 42 100 2024 3.14159 2.71828 1,000,000 -273.15 1e-6 0x1F 123456789012345678901234567890',
  'Dates and times: 2025-01-31 12:34:56, version 3.5.1, phone +1 (555) 123-4567, price $19.99 or €5,00.',
  'Whitespace:    four spaces,\ttab,\t\ttwo tabs,\n\nblank line,\r\nCRLF line,   trailing   \n\n\n',
  'Punctuation runs: !!! ??? ... --- *** ### @@@ %%% &&& ((( ))) [[[ ]]] {{{ }}} <<< >>> === +++ ;;; ::: ,,, """',
  "Contractions: 's 't 're 've 'm 'll 'd 'S 'T 'RE 'VE 'M 'LL 'D don't can't won't shouldn't",
  '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nWhat is 2 + 2?<|im_end|>\n<|im_start|>assistant\n<think>\nSimple arithmetic.\n</think>\n\n2 + 2 = 4.<|im_end|>\n',
  '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>\n<tool_response>\n{"temp": 21}\n</tool_response>\n',
].join('\n');

/** Training pre-split (only the training needs it; close to the qwen35 split, exactness irrelevant here). */
const TRAIN_SPLIT =
  /'(?:[sS]|[tT]|[rR][eE]|[vV][eE]|[mM]|[lL][lL]|[dD])|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+/gu;

/** Merges to learn (≈500 pairs occur twice in CORPUS; the rest merge pairs seen once, still deterministic). */
const TARGET_MERGES = 1150;

/**
 * Classic BPE training: words (with counts) as symbol lists; repeatedly merge the most frequent adjacent
 * pair, ties broken by the pair's strings (left, then right) in code-unit order → deterministic.
 */
function trainMerges(corpus: string, nMerges: number): string[] {
  const enc = new TextEncoder();
  const wordCounts = new Map<string, number>();
  for (const m of corpus.matchAll(TRAIN_SPLIT)) {
    const w = bytesToByteLevel(enc.encode(m[0]));
    wordCounts.set(w, (wordCounts.get(w) ?? 0) + 1);
  }
  const words: { syms: string[]; count: number }[] = [];
  for (const [w, count] of wordCounts) words.push({ syms: Array.from(w), count });

  const merges: string[] = [];
  for (let k = 0; k < nMerges; k++) {
    const pairCounts = new Map<string, number>();
    for (const { syms, count } of words) {
      for (let i = 0; i + 1 < syms.length; i++) {
        const key = syms[i] + ' ' + syms[i + 1];
        pairCounts.set(key, (pairCounts.get(key) ?? 0) + count);
      }
    }
    let best = '';
    let bestCount = 0;
    for (const [key, c] of pairCounts) {
      if (c > bestCount || (c === bestCount && best !== '' && key < best)) {
        best = key;
        bestCount = c;
      }
    }
    if (best === '') break; // every word is a single symbol
    merges.push(best);
    const sp = best.indexOf(' ');
    const a = best.slice(0, sp);
    const b = best.slice(sp + 1);
    const ab = a + b;
    for (const w of words) {
      const s = w.syms;
      if (s.length < 2) continue;
      const out: string[] = [];
      for (let i = 0; i < s.length; i++) {
        if (i + 1 < s.length && s[i] === a && s[i + 1] === b) {
          out.push(ab);
          i++;
        } else {
          out.push(s[i]!);
        }
      }
      w.syms = out;
    }
  }
  return merges;
}

let cached: VocabData | undefined;

/** Deterministic tiny vocab (pre `qwen35`). Returns a fresh copy each call. */
export function buildTinyVocab(): VocabData {
  if (!cached) {
    const merges = trainMerges(CORPUS, TARGET_MERGES);
    const tokens: string[] = [...BYTE_TO_CHAR];
    const types: number[] = tokens.map(() => TokenType.NORMAL);
    const seen = new Set<string>([...tokens, ...QWEN_ADDED_TOKENS]);
    for (const m of merges) {
      // Two merges may yield the same string ("a bc", "ab c"): one token (llama.cpp requires unique texts).
      const t = m.replace(' ', '');
      if (seen.has(t)) continue;
      seen.add(t);
      tokens.push(t);
      types.push(TokenType.NORMAL);
    }
    const firstAdded = tokens.length;
    for (const t of QWEN_ADDED_TOKENS) {
      tokens.push(t);
      types.push(addedTokenType(t, false));
    }
    while (tokens.length % 64 !== 0) {
      tokens.push(`[PAD${tokens.length}]`);
      types.push(TokenType.UNUSED);
    }
    cached = {
      tokens,
      types,
      merges,
      pre: 'qwen35',
      bosId: firstAdded, // <|endoftext|>
      eosId: firstAdded + 2, // <|im_end|>
      padId: firstAdded, // <|endoftext|>
      addBos: false,
    };
  }
  return { ...cached, tokens: [...cached.tokens], types: [...cached.types], merges: [...cached.merges] };
}

/** The `tokenizer.ggml.*` metadata keys llama.cpp reads for a gpt2 (byte-level BPE) vocabulary. */
export function vocabMetadata(v: VocabData): Array<[string, GGUFMetadataValue]> {
  return [
    ['tokenizer.ggml.model', { type: GGUFValueType.STRING, value: 'gpt2' }],
    ['tokenizer.ggml.pre', { type: GGUFValueType.STRING, value: v.pre }],
    ['tokenizer.ggml.tokens', { type: GGUFValueType.ARRAY, arrayType: GGUFValueType.STRING, value: v.tokens }],
    ['tokenizer.ggml.token_type', { type: GGUFValueType.ARRAY, arrayType: GGUFValueType.INT32, value: v.types }],
    ['tokenizer.ggml.merges', { type: GGUFValueType.ARRAY, arrayType: GGUFValueType.STRING, value: v.merges }],
    ['tokenizer.ggml.bos_token_id', { type: GGUFValueType.UINT32, value: v.bosId }],
    ['tokenizer.ggml.eos_token_id', { type: GGUFValueType.UINT32, value: v.eosId }],
    ['tokenizer.ggml.padding_token_id', { type: GGUFValueType.UINT32, value: v.padId }],
    ['tokenizer.ggml.add_bos_token', { type: GGUFValueType.BOOL, value: v.addBos }],
  ];
}
