/**
 * Byte-level BPE on hand-made mini vocabularies: merge order by rank, leftmost tie-break, the heap path for
 * long words, merges whose result is not a token (llama.cpp's single-byte fallback), GPT-2 byte mapping.
 * Expected ids are derived by hand from the merge lists.
 */
import { describe, expect, it } from 'vitest';
import { BYTE_TO_CHAR, BYTE_TO_CODEPOINT, CODEPOINT_TO_BYTE } from '../../src/tokenizer/bytes.js';
import { TokenType, type VocabData } from '../../src/tokenizer/tiny-vocab.js';
import { Tokenizer } from '../../src/tokenizer/tokenizer.js';

/** 256 byte tokens, then `extra` tokens (ids 256, 257, …), with `merges`. */
function mini(extra: string[], merges: string[]): { tok: Tokenizer; id: (t: string) => number } {
  const tokens = [...BYTE_TO_CHAR, ...extra];
  const v: VocabData = {
    tokens, types: tokens.map(() => TokenType.NORMAL), merges, pre: 'qwen35', bosId: 0, eosId: 0, padId: 0, addBos: false,
  };
  const tok = Tokenizer.fromVocab(v);
  return {
    tok,
    id: (t: string) => {
      const i = tokens.indexOf(t);
      if (i < 0) throw new Error(`no token ${t}`);
      return i;
    },
  };
}

const byteId = (ch: string): number => ch.charCodeAt(0); // ASCII printable bytes map to themselves

describe('GPT-2 byte mapping', () => {
  it('maps printable bytes to themselves and the rest to U+0100…', () => {
    expect(BYTE_TO_CHAR[0x41]).toBe('A');
    expect(BYTE_TO_CHAR[0x20]).toBe('Ġ'); // U+0120
    expect(BYTE_TO_CHAR[0x0a]).toBe('Ċ'); // U+010A
    expect(BYTE_TO_CHAR[0x00]).toBe('\u0100');
    expect(BYTE_TO_CHAR[0xad]).toBe('\u0143'); // soft hyphen: the 68th (last) non-printable byte
    expect(new Set(BYTE_TO_CODEPOINT).size).toBe(256);
    for (let b = 0; b < 256; b++) expect(CODEPOINT_TO_BYTE[BYTE_TO_CODEPOINT[b]!]).toBe(b);
  });
});

describe('BPE merge order', () => {
  it('merges lowest rank first', () => {
    // ranks: a b (0), ab c (1), b c (2): "abc" → ab, c → abc
    const m1 = mini(['ab', 'abc', 'bc'], ['a b', 'ab c', 'b c']);
    expect(m1.tok.encode('abc')).toEqual([m1.id('abc')]);
    // ranks: b c (0), a b (1), ab c (2): "abc" → a, bc; (a, bc) has no merge
    const m2 = mini(['bc', 'ab', 'abc'], ['b c', 'a b', 'ab c']);
    expect(m2.tok.encode('abc')).toEqual([byteId('a'), m2.id('bc')]);
  });

  it('breaks ties leftmost', () => {
    const m = mini(['aa'], ['a a']);
    expect(m.tok.encode('aaa')).toEqual([m.id('aa'), byteId('a')]);
    expect(m.tok.encode('aaaa')).toEqual([m.id('aa'), m.id('aa')]);
  });

  it('long words (heap path) merge exactly like short ones', () => {
    const m = mini(['aa', 'aaaa', 'a8'.replace('a8', 'a'.repeat(8))], ['a a', 'aa aa', 'aaaa aaaa']);
    const a8 = m.id('a'.repeat(8));
    const a4 = m.id('aaaa');
    // 20 a: 10×aa → 5×aaaa → 2×a8 + aaaa (leftmost pairs first)
    expect(m.tok.encode('a'.repeat(20))).toEqual([a8, a8, a4]);
    // 100 a (≥ 48 bytes: heap): 50×aa → 25×aaaa → 12×a8 + aaaa
    expect(m.tok.encode('a'.repeat(100))).toEqual([...Array<number>(12).fill(a8), a4]);
    // 103 a: 51×aa + a → 25×aaaa + aa + a → 12×a8 + aaaa + aa + a
    expect(m.tok.encode('a'.repeat(103))).toEqual([...Array<number>(12).fill(a8), a4, m.id('aa'), byteId('a')]);
  });

  it('uses the byte-level form: the space is Ġ and joins the next word', () => {
    const m = mini(['Ġa', 'Ġab'], ['Ġ a', 'Ġa b']);
    expect(m.tok.encode(' ab')).toEqual([m.id('Ġab')]);
    expect(m.tok.encode('b ab')).toEqual([byteId('b'), m.id('Ġab')]);
    // multi-byte: é = C3 A9 → 'Ã' (0xC3) '©' (0xA9), no merge → two byte tokens
    expect(m.tok.encode('é')).toEqual([0xc3, 0xa9]);
  });

  it('a merge whose result is not a token falls back to single-character ASCII tokens', () => {
    // "x y" merges, but "xy" is not in the vocabulary: llama.cpp emits the tokens of its single bytes
    const m = mini([], ['x y']);
    expect(m.tok.encode('xy')).toEqual([byteId('x'), byteId('y')]);
  });

  it('the first occurrence of a duplicated merge sets its rank', () => {
    // 'b c' appears at rank 0 and rank 3; with rank 0 "abc" → a, bc
    const m = mini(['bc', 'ab', 'abc'], ['b c', 'a b', 'ab c', 'b c']);
    expect(m.tok.encode('abc')).toEqual([byteId('a'), m.id('bc')]);
  });
});
