/**
 * Tokenizer parity with llama.cpp (through node-llama-cpp, vocab-only loads of the same GGUF files):
 * ids of `encode(text, { special })` must equal `model.tokenize(text, special)` exactly, and
 * `decode(ids, { special })` must equal `model.detokenize(ids, special)`, for the whole corpus, for the tiny
 * vocab (qwen35 and qwen2 splits) and Qwen3's real 151,936-entry vocab (qwen2 and qwen35 splits).
 * Our side reads the GGUF with our own reader (parseGGUF), so the files' round trip is covered too.
 */
import { readFileSync } from 'node:fs';
import { getLlama, type Llama, type LlamaModel, type Token } from 'node-llama-cpp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseGGUF } from '../../src/gguf/reader.js';
import { Tokenizer } from '../../src/tokenizer/tokenizer.js';
import { tokenizerCorpus } from '../helpers/tokenizer-corpus.js';
import { qwen3VocabGGUF, tinyVocabGGUF } from '../helpers/vocab-gguf.js';

const CORPUS = tokenizerCorpus(300);

const VOCABS: ReadonlyArray<{ name: string; path: () => string }> = [
  { name: 'tiny/qwen35', path: () => tinyVocabGGUF('qwen35') },
  { name: 'tiny/qwen2', path: () => tinyVocabGGUF('qwen2') },
  { name: 'qwen3/qwen2', path: () => qwen3VocabGGUF('qwen2') },
  { name: 'qwen3/qwen35', path: () => qwen3VocabGGUF('qwen35') },
];

let llama: Llama;
const counts: string[] = [];

beforeAll(async () => {
  llama = await getLlama({
    gpu: false,
    build: 'never',
    logLevel: 'error' as never,
    // node-llama-cpp's memory estimator first tries a full load of the vocab-only file; that failure is expected
    logger: (level, message) => {
      if (/key not found in model|failed to load model|missing tensor/.test(message)) return;
      console.error(`[llama.cpp ${level}] ${message}`);
    },
  });
});

afterAll(async () => {
  console.log(counts.join('\n'));
  await llama?.dispose();
});

/** xorshift32 for random id sequences. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 32;
  };
}

function firstMismatches<T>(items: T[], max = 5): T[] {
  return items.slice(0, max);
}

describe.each(VOCABS)('tokenizer parity with llama.cpp: $name', ({ name, path }) => {
  let model: LlamaModel;
  let tok: Tokenizer;

  beforeAll(async () => {
    const p = path();
    model = await llama.loadModel({ modelPath: p, vocabOnly: true });
    tok = Tokenizer.fromGGUF(parseGGUF(new Uint8Array(readFileSync(p))));
  });

  afterAll(async () => {
    await model?.dispose();
  });

  for (const special of [false, true]) {
    it(`encode matches llama_tokenize (special=${special}) and decode matches llama_detokenize`, () => {
      const encMismatch: unknown[] = [];
      const decMismatch: unknown[] = [];
      let nTokens = 0;
      for (const text of CORPUS) {
        const ref = model.tokenize(text, special) as number[];
        const ours = tok.encode(text, { special });
        nTokens += ref.length;
        if (ref.length !== ours.length || ref.some((t, i) => t !== ours[i])) encMismatch.push({ text, ref, ours });
        const refText = model.detokenize(ref as Token[], special);
        const ourText = tok.decode(ref, { special });
        if (refText !== ourText) decMismatch.push({ ids: ref, refText, ourText });
      }
      counts.push(`[${name}] special=${special}: ${CORPUS.length} strings, ${nTokens} tokens; encode mismatches ${encMismatch.length}, decode mismatches ${decMismatch.length}`);
      expect(firstMismatches(encMismatch)).toEqual([]);
      expect(firstMismatches(decMismatch)).toEqual([]);
      expect(nTokens).toBeGreaterThan(10_000);
    });
  }

  it('decodes random id sequences (split UTF-8, control, user-defined, unused tokens) like llama_detokenize', () => {
    const r = rng(0xdec0de);
    const n = tok.vocabSize;
    // ids concentrated on the byte tokens and the tail (added + pad tokens) as well as uniform
    const pick = (): number => {
      const u = r();
      if (u < 0.4) return Math.floor(r() * 256);
      if (u < 0.6) return n - 1 - Math.floor(r() * Math.min(n, 400));
      return Math.floor(r() * n);
    };
    const mismatches: unknown[] = [];
    let total = 0;
    for (let k = 0; k < 400; k++) {
      const ids = Array.from({ length: 1 + Math.floor(r() * 12) }, pick);
      for (const special of [false, true]) {
        total++;
        const refText = model.detokenize(ids as Token[], special);
        const ourText = tok.decode(ids, { special });
        if (refText !== ourText) mismatches.push({ ids, special, refText, ourText });
      }
    }
    counts.push(`[${name}] random decode: ${total} sequences, mismatches ${mismatches.length}`);
    expect(firstMismatches(mismatches)).toEqual([]);
  });

  it('special ids, EOG set and control/user-defined attributes match llama.cpp', () => {
    expect(tok.bosId).toBe(model.tokens.bos);
    expect(tok.eosId).toBe(model.tokens.eos);
    const eog: number[] = [];
    const typeMismatch: unknown[] = [];
    for (let id = 0; id < tok.vocabSize; id++) {
      if (model.isEogToken(id as Token)) eog.push(id);
      // sample the attribute check: every token from 'added' region and every 97th elsewhere
      if (id % 97 === 0 || id >= tok.vocabSize - 400) {
        const a = model.getTokenAttributes(id as Token);
        const t = tok.tokenType(id);
        if (a.control !== (t === 3) || a.userDefined !== (t === 4) || a.unused !== (t === 5)) {
          typeMismatch.push({ id, text: tok.tokenText(id), ours: t, control: a.control, userDefined: a.userDefined, unused: a.unused });
        }
      }
    }
    expect([...tok.eogIds].sort((a, b) => a - b)).toEqual(eog);
    expect(firstMismatches(typeMismatch)).toEqual([]);
  });
});
