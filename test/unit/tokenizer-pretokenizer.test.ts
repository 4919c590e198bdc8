/**
 * qwen2 / qwen35 pre-tokenizer splits. Expected word lists are derived by hand from the split regexes
 * (spec §5.1) and llama.cpp's matcher rules; the random check compares with V8's regex engine running the
 * exact tokenizer.json pattern on text whose code points both Unicode tables classify alike.
 */
import { describe, expect, it } from 'vitest';
import { codepointClasses, CP_LETTER, CP_MARK, CP_NUMBER, CP_SPACE, preTokenize } from '../../src/tokenizer/pretokenizer.js';
import { randomCorpus } from '../helpers/tokenizer-corpus.js';

const both = ['qwen2', 'qwen35'] as const;

describe('pre-tokenizer: branches of the split regex', () => {
  it.each(both)('%s: words, leading space joins the word', (kind) => {
    expect(preTokenize('Hello world', kind)).toEqual(['Hello', ' world']);
    expect(preTokenize('Hello, world!', kind)).toEqual(['Hello', ',', ' world', '!']);
  });

  it.each(both)('%s: contractions are case-insensitive (ASCII) and split off', (kind) => {
    expect(preTokenize("It's", kind)).toEqual(['It', "'s"]);
    expect(preTokenize("IT'S THEY'RE WE'VE I'M YOU'LL HE'D", kind)).toEqual(
      ['IT', "'S", ' THEY', "'RE", ' WE', "'VE", ' I', "'M", ' YOU', "'LL", ' HE', "'D"],
    );
    // not a contraction: the apostrophe prefixes the letters ([^\r\n\p{L}\p{N}]?\p{L}+)
    expect(preTokenize("'x", kind)).toEqual(["'x"]);
    expect(preTokenize("'", kind)).toEqual(["'"]);
    // "'l" alone is not 'll: the apostrophe joins the letter run
    expect(preTokenize("'l", kind)).toEqual(["'l"]);
  });

  it.each(both)('%s: digits one per word, punctuation runs take trailing newlines', (kind) => {
    expect(preTokenize('12345', kind)).toEqual(['1', '2', '3', '4', '5']);
    expect(preTokenize('3.14', kind)).toEqual(['3', '.', '1', '4']);
    expect(preTokenize('x ١٢', kind)).toEqual(['x', ' ', '١', '٢']);
    expect(preTokenize('Hello!!!\n\nWorld', kind)).toEqual(['Hello', '!!!\n\n', 'World']);
    expect(preTokenize(' !!', kind)).toEqual([' !!']);
    expect(preTokenize('<|im_start|>', kind)).toEqual(['<|', 'im', '_start', '|>']);
  });

  it.each(both)('%s: whitespace runs', (kind) => {
    // \s+(?!\S): the last space of a run before a word goes with the word
    expect(preTokenize('a   b', kind)).toEqual(['a', '  ', ' b']);
    expect(preTokenize('  x', kind)).toEqual([' ', ' x']);
    // at the end of the text the whole run is one word
    expect(preTokenize('x   ', kind)).toEqual(['x', '   ']);
    expect(preTokenize('x ', kind)).toEqual(['x', ' ']);
    // \s*[\r\n]+: up to and including the last newline of the run
    expect(preTokenize('a\n\n\nb', kind)).toEqual(['a', '\n\n\n', 'b']);
    expect(preTokenize('a \n \n b', kind)).toEqual(['a', ' \n \n', ' b']);
    expect(preTokenize('x\r\ny', kind)).toEqual(['x', '\r\n', 'y']);
    expect(preTokenize('\t\tx', kind)).toEqual(['\t', '\tx']);
    expect(preTokenize('', kind)).toEqual([]);
  });
});

describe('pre-tokenizer: qwen35 keeps combining marks in words, qwen2 does not', () => {
  it('e + U+0301', () => {
    expect(preTokenize('e\u0301', 'qwen35')).toEqual(['e\u0301']);
    // qwen2: the mark is not \p{L}, so it is a punctuation run of its own
    expect(preTokenize('e\u0301', 'qwen2')).toEqual(['e', '\u0301']);
    // qwen2: a mark before letters is the optional one-char prefix of the letter run
    expect(preTokenize('a\u0301b', 'qwen2')).toEqual(['a', '\u0301b']);
    expect(preTokenize('a\u0301b', 'qwen35')).toEqual(['a\u0301b']);
  });

  it('Devanagari virama and matras', () => {
    // न म स ् त े : ् (U+094D) and े (U+0947) are marks
    expect(preTokenize('नमस्ते', 'qwen2')).toEqual(['नमस', '्त', 'े']);
    expect(preTokenize('नमस्ते', 'qwen35')).toEqual(['नमस्ते']);
    expect(preTokenize(' नमस्ते दुनिया', 'qwen35')).toEqual([' नमस्ते', ' दुनिया']);
  });

  it('a mark after a digit or space', () => {
    // qwen35: the mark starts a [\p{L}\p{M}]+ run; qwen2: it is punctuation
    expect(preTokenize('1\u0301', 'qwen35')).toEqual(['1', '\u0301']);
    expect(preTokenize('1\u0301', 'qwen2')).toEqual(['1', '\u0301']);
    expect(preTokenize(' \u0301x', 'qwen35')).toEqual([' \u0301x']);
    expect(preTokenize(' \u0301!', 'qwen2')).toEqual([' \u0301!']);
  });
});

describe('pre-tokenizer: code point classes come from llama.cpp tables', () => {
  it('classifies known code points', () => {
    const c = codepointClasses();
    expect(c[0x41]! & CP_LETTER).toBeTruthy();
    expect(c[0x2126]! & CP_LETTER).toBeTruthy(); // OHM SIGN is Lu
    expect(c[0x0301]! & CP_MARK).toBeTruthy();
    expect(c[0x0663]! & CP_NUMBER).toBeTruthy(); // ARABIC-INDIC DIGIT THREE
    expect(c[0x00bd]! & CP_NUMBER).toBeTruthy(); // ½ is No
    for (const ws of [0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x20, 0x85, 0xa0, 0x3000, 0x2028]) expect(c[ws]! & CP_SPACE).toBeTruthy();
    // U+FEFF (BOM) is \s for V8 but not for llama.cpp
    expect(c[0xfeff]! & CP_SPACE).toBeFalsy();
    expect(c[0x200b]! & CP_SPACE).toBeFalsy();
  });

  it('agrees with V8 running the tokenizer.json regex on ordinary text', () => {
    const RE = {
      qwen2: /'(?:[sS]|[tT]|[rR][eE]|[vV][eE]|[mM]|[lL][lL]|[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+/gu,
      qwen35: /'(?:[sS]|[tT]|[rR][eE]|[vV][eE]|[mM]|[lL][lL]|[dD])|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+/gu,
    };
    // drop the few pieces whose class could differ between V8's Unicode tables and llama.cpp's
    const texts = randomCorpus(300, 7).map((t) => t.replace(/[\u2028\u3000\u00a0\u2126\u212b\u200d\ufe0f]/g, ''));
    let words = 0;
    for (const kind of both) {
      for (const t of texts) {
        const ref = [...t.matchAll(RE[kind])].map((m) => m[0]);
        expect(preTokenize(t, kind), JSON.stringify(t)).toEqual(ref);
        words += ref.length;
      }
    }
    expect(words).toBeGreaterThan(5000);
  });
});
