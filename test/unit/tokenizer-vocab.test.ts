/**
 * The tiny vocab, special-token handling, EOG set, decoding (one-shot and streaming) and errors.
 * References: the Qwen3.5 added-token table (spec §5.2), llama.cpp's EOG naming rule, WHATWG UTF-8 decoding
 * (maximal subpart → one U+FFFD), and the GGUF key names llama.cpp reads.
 */
import { describe, expect, it } from 'vitest';
import { QwenHybridError } from '../../src/errors.js';
import { parseGGUF } from '../../src/gguf/reader.js';
import { GGUFValueType, type GGUFMetadataValue } from '../../src/gguf/types.js';
import { encodeGGUF } from '../../src/gguf/writer.js';
import { BYTE_TO_CHAR } from '../../src/tokenizer/bytes.js';
import { buildTinyVocab, QWEN_ADDED_TOKENS, TokenType, vocabMetadata } from '../../src/tokenizer/tiny-vocab.js';
import { Tokenizer } from '../../src/tokenizer/tokenizer.js';

const v = buildTinyVocab();
const tok = Tokenizer.fromVocab(v);
const id = (t: string): number => {
  const i = v.tokens.indexOf(t);
  if (i < 0) throw new Error(`no token ${t}`);
  return i;
};

function gguf(md: Array<[string, GGUFMetadataValue]>): ReturnType<typeof parseGGUF> {
  return parseGGUF(encodeGGUF({ metadata: md, tensors: [] }));
}

function code(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    if (e instanceof QwenHybridError) return e.code;
    throw e;
  }
  return undefined;
}

describe('tiny vocab', () => {
  it('is deterministic and laid out as documented', () => {
    const again = buildTinyVocab();
    expect(again).toEqual(v);
    expect(v.tokens.slice(0, 256)).toEqual(BYTE_TO_CHAR);
    expect(v.tokens.length % 64).toBe(0);
    expect(v.tokens.length).toBeGreaterThanOrEqual(1000);
    expect(v.tokens.length).toBeLessThanOrEqual(2048);
    expect(new Set(v.tokens).size).toBe(v.tokens.length);
    const first = v.tokens.indexOf('<|endoftext|>');
    expect(v.tokens.slice(first, first + QWEN_ADDED_TOKENS.length)).toEqual(QWEN_ADDED_TOKENS);
    expect(v.bosId).toBe(first);
    expect(v.padId).toBe(first);
    expect(v.tokens[v.eosId]).toBe('<|im_end|>');
    expect(v.addBos).toBe(false);
    // every merge's parts are tokens and so is its result
    const set = new Set(v.tokens);
    for (const m of v.merges) {
      const [a, b] = m.split(' ');
      expect(set.has(a!) && set.has(b!) && set.has(a! + b!)).toBe(true);
    }
  });

  it('types: control for <|…|>, user-defined for tool/think tags, unused pads', () => {
    expect(v.types[id('<|im_start|>')]).toBe(TokenType.CONTROL);
    expect(v.types[id('<|fim_pad|>')]).toBe(TokenType.CONTROL);
    for (const t of ['<tool_call>', '</tool_call>', '<tool_response>', '</tool_response>', '<think>', '</think>']) {
      expect(v.types[id(t)]).toBe(TokenType.USER_DEFINED);
    }
    const last = v.tokens.length - 1;
    expect(v.tokens[last]).toBe(`[PAD${last}]`);
    expect(v.types[last]).toBe(TokenType.UNUSED);
    expect(v.types[300]).toBe(TokenType.NORMAL);
  });

  it('vocabMetadata writes the tokenizer.ggml keys, and fromGGUF reads them back', () => {
    const md = vocabMetadata(v);
    expect(md.map(([k]) => k)).toEqual([
      'tokenizer.ggml.model', 'tokenizer.ggml.pre', 'tokenizer.ggml.tokens', 'tokenizer.ggml.token_type',
      'tokenizer.ggml.merges', 'tokenizer.ggml.bos_token_id', 'tokenizer.ggml.eos_token_id',
      'tokenizer.ggml.padding_token_id', 'tokenizer.ggml.add_bos_token',
    ]);
    const t2 = Tokenizer.fromGGUF(gguf(md));
    const text = '<|im_start|>user\nhé 你好<think>x</think><|im_end|>';
    expect(t2.encode(text, { special: true })).toEqual(tok.encode(text, { special: true }));
    expect(t2.vocabSize).toBe(v.tokens.length);
    expect(t2.pre).toBe('qwen35');
  });
});

describe('special tokens', () => {
  it('CONTROL tokens only with special parsing; USER_DEFINED always', () => {
    const text = '<|im_start|>user<|im_end|>';
    const on = tok.encode(text, { special: true });
    expect(on[0]).toBe(id('<|im_start|>'));
    expect(on.at(-1)).toBe(id('<|im_end|>'));
    const off = tok.encode(text);
    expect(off).not.toContain(id('<|im_start|>'));
    expect(tok.decode(off)).toBe(text);
    const think = tok.encode('<think>a</think>');
    expect(think[0]).toBe(id('<think>'));
    expect(think.at(-1)).toBe(id('</think>'));
  });

  it('decode drops CONTROL pieces unless special; UNUSED pieces are empty', () => {
    const ids = [id('<|im_start|>'), ...tok.encode('hi'), id('<think>'), id('<|im_end|>'), v.tokens.length - 1];
    expect(tok.decode(ids)).toBe('hi<think>');
    expect(tok.decode(ids, { special: true })).toBe('<|im_start|>hi<think><|im_end|>');
  });

  it('addBos prepends the BOS id; the default follows add_bos_token (false)', () => {
    expect(tok.encode('a')).toEqual([byteIdOf('a')]);
    expect(tok.encode('a', { addBos: true })).toEqual([v.bosId, byteIdOf('a')]);
    expect(tok.encode('', { addBos: true })).toEqual([v.bosId]);
    expect(tok.encode('')).toEqual([]);
  });

  it("EOG ids follow llama.cpp's rule: eos + tokens named <|endoftext|>, <|im_end|>, fim pad/repo/file_sep", () => {
    const expected = ['<|endoftext|>', '<|im_end|>', '<|fim_pad|>', '<|repo_name|>', '<|file_sep|>'].map(id);
    expect([...tok.eogIds].sort((a, b) => a - b)).toEqual(expected.sort((a, b) => a - b));
    expect(tok.bosId).toBe(id('<|endoftext|>'));
    expect(tok.eosId).toBe(id('<|im_end|>'));
  });
});

function byteIdOf(ch: string): number {
  return v.tokens.indexOf(BYTE_TO_CHAR[ch.charCodeAt(0)]!);
}

/** Token ids of the single-byte tokens for the UTF-8 bytes of `s`. */
function byteTokens(s: string): number[] {
  return Array.from(new TextEncoder().encode(s), (b) => v.tokens.indexOf(BYTE_TO_CHAR[b]!));
}

describe('decoding', () => {
  it('round-trips the text of encode', () => {
    for (const s of ['', 'Hello, world!', '你好，世界 👨‍👩‍👧‍👦 e\u0301', '  \n\t x \r\n']) {
      expect(tok.decode(tok.encode(s))).toBe(s);
    }
  });

  it('streaming decoder never emits half a character, at every split of multi-byte characters', () => {
    const text = 'aé你😀👨‍👩‍👧b\u0301';
    const ids = byteTokens(text); // one token per byte: every character is split
    const dec = tok.createStreamingDecoder();
    let out = '';
    for (const i of ids) {
      const piece = dec.push(i);
      // a complete prefix of the text, never a replacement character
      expect(piece).not.toContain('\ufffd');
      out += piece;
      expect(text.startsWith(out)).toBe(true);
    }
    out += dec.flush();
    expect(out).toBe(text);
  });

  it('streaming over real tokens equals one-shot decode', () => {
    const text = '<|im_start|>assistant\n<think>\n思考中…\n</think>\n\nDone ✅ 🇺🇸';
    const ids = tok.encode(text, { special: true });
    for (const special of [false, true]) {
      const dec = tok.createStreamingDecoder({ special });
      const s = ids.map((i) => dec.push(i)).join('') + dec.flush();
      expect(s).toBe(tok.decode(ids, { special }));
    }
  });

  it('invalid UTF-8 becomes U+FFFD (maximal subpart), a dangling prefix at flush too', () => {
    // E4 BD is a truncated 3-byte sequence: one U+FFFD, then 'a'
    const trunc = [...byteTokens('你').slice(0, 2), byteIdOf('a')];
    expect(tok.decode(trunc)).toBe('\ufffda');
    const dec = tok.createStreamingDecoder();
    expect(trunc.map((i) => dec.push(i)).join('')).toBe('\ufffda');
    // a lone continuation byte 0x80 is one U+FFFD
    const cont = v.tokens.indexOf(BYTE_TO_CHAR[0x80]!);
    expect(tok.decode([cont, cont])).toBe('\ufffd\ufffd');
    const d2 = tok.createStreamingDecoder();
    expect(d2.push(byteTokens('😀')[0]!)).toBe('');
    expect(d2.flush()).toBe('\ufffd');
    // flush resets: the decoder is reusable
    expect(d2.push(byteIdOf('z'))).toBe('z');
  });

  it('tokenToPiece renders special tokens by default and byte-level text as bytes', () => {
    expect(tok.tokenToPiece(id('<|im_end|>'))).toBe('<|im_end|>');
    expect(tok.tokenToPiece(id('<|im_end|>'), { special: false })).toBe('');
    expect(tok.tokenToPiece(byteIdOf(' '))).toBe(' ');
    expect(tok.tokenText(byteIdOf(' '))).toBe('Ġ');
  });
});

describe('errors', () => {
  it('out-of-range ids → TOKEN_ID_OUT_OF_RANGE', () => {
    expect(code(() => tok.decode([0, v.tokens.length]))).toBe('TOKEN_ID_OUT_OF_RANGE');
    expect(code(() => tok.decode([-1]))).toBe('TOKEN_ID_OUT_OF_RANGE');
    expect(code(() => tok.decode([1.5]))).toBe('TOKEN_ID_OUT_OF_RANGE');
    expect(code(() => tok.tokenToPiece(1e9))).toBe('TOKEN_ID_OUT_OF_RANGE');
    expect(code(() => tok.createStreamingDecoder().push(v.tokens.length))).toBe('TOKEN_ID_OUT_OF_RANGE');
    expect(code(() => tok.tokenType(v.tokens.length))).toBe('TOKEN_ID_OUT_OF_RANGE');
  });

  const md = vocabMetadata(v);
  const replace = (key: string, value: GGUFMetadataValue | undefined): Array<[string, GGUFMetadataValue]> =>
    md.flatMap(([k, x]): Array<[string, GGUFMetadataValue]> => (k !== key ? [[k, x]] : value ? [[k, value]] : []));

  it('unsupported model or pre-tokenizer → TOKENIZER_UNSUPPORTED naming it', () => {
    const f1 = gguf(replace('tokenizer.ggml.model', { type: GGUFValueType.STRING, value: 'llama' }));
    expect(() => Tokenizer.fromGGUF(f1)).toThrow(/tokenizer\.ggml\.model = "llama"/);
    expect(code(() => Tokenizer.fromGGUF(f1))).toBe('TOKENIZER_UNSUPPORTED');
    const f2 = gguf(replace('tokenizer.ggml.pre', { type: GGUFValueType.STRING, value: 'llama-bpe' }));
    expect(() => Tokenizer.fromGGUF(f2)).toThrow(/tokenizer\.ggml\.pre = "llama-bpe"/);
    expect(code(() => Tokenizer.fromGGUF(f2))).toBe('TOKENIZER_UNSUPPORTED');
    expect(code(() => Tokenizer.fromGGUF(gguf(replace('tokenizer.ggml.pre', undefined))))).toBe('TOKENIZER_UNSUPPORTED');
    expect(code(() => Tokenizer.fromVocab({ ...v, pre: 'gpt2' as never }))).toBe('TOKENIZER_UNSUPPORTED');
  });

  it('missing or mistyped keys and duplicate tokens → typed errors naming the key', () => {
    expect(code(() => Tokenizer.fromGGUF(gguf(replace('tokenizer.ggml.tokens', undefined))))).toBe('MISSING_METADATA');
    expect(() => Tokenizer.fromGGUF(gguf(replace('tokenizer.ggml.merges', undefined)))).toThrow(/tokenizer\.ggml\.merges/);
    const badTypes = gguf(replace('tokenizer.ggml.token_type', { type: GGUFValueType.ARRAY, arrayType: GGUFValueType.UINT8, value: v.types }));
    expect(code(() => Tokenizer.fromGGUF(badTypes))).toBe('TOKENIZER_BAD_VOCAB');
    expect(() => Tokenizer.fromGGUF(badTypes)).toThrow(/tokenizer\.ggml\.token_type/);
    const short = gguf(replace('tokenizer.ggml.token_type', { type: GGUFValueType.ARRAY, arrayType: GGUFValueType.INT32, value: v.types.slice(1) }));
    expect(code(() => Tokenizer.fromGGUF(short))).toBe('TOKENIZER_BAD_VOCAB');
    const dup = [...v.tokens];
    dup[300] = dup[301]!;
    expect(code(() => Tokenizer.fromVocab({ ...v, tokens: dup }))).toBe('TOKENIZER_BAD_VOCAB');
    const badId = gguf(replace('tokenizer.ggml.eos_token_id', { type: GGUFValueType.STRING, value: '5' }));
    expect(code(() => Tokenizer.fromGGUF(badId))).toBe('TOKENIZER_BAD_VOCAB');
  });
});
