/**
 * The qwen2 / qwen35 pre-tokenizer splits, as llama.cpp computes them (its hand-written matcher in
 * unicode.cpp, not a regex engine), over code points classified by llama.cpp's own Unicode tables.
 *
 *   qwen2:  (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 *   qwen35: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 *
 * Where llama.cpp's matcher and the regex could disagree, the matcher wins: e.g. `(?i:…)` only folds ASCII,
 * and the "no alternative matched" fallback emits one code point.
 */
import { RANGE_FLAGS, RANGE_START_DELTAS, WHITESPACE_CODEPOINTS } from './unicode-data.js';

export type PreTokenizerKind = 'qwen2' | 'qwen35';

/** Our per-code-point class bits (a re-encoding of llama.cpp's unicode_cpt_flags). */
export const CP_NUMBER = 1; // \p{N}
export const CP_LETTER = 2; // \p{L}
export const CP_MARK = 4; // \p{M}
export const CP_SPACE = 8; // \s (llama.cpp's whitespace set)
export const CP_VALID = 16; // every code point < 0x110000 has a category; 0 = "outside the fragment"

let classTable: Uint8Array | undefined;

/** [0x110000] u8 class bits, built once from the generated llama.cpp ranges (~1 MiB, a few ms). */
export function codepointClasses(): Uint8Array {
  if (classTable) return classTable;
  const t = new Uint8Array(0x110000);
  let start = 0;
  for (let k = 0; k < RANGE_FLAGS.length; k++) {
    start += RANGE_START_DELTAS[k]!;
    const end = k + 1 < RANGE_FLAGS.length ? start + RANGE_START_DELTAS[k + 1]! : 0x110000;
    const f = RANGE_FLAGS[k]!;
    const bits = CP_VALID | (f & 0x02 ? CP_NUMBER : 0) | (f & 0x04 ? CP_LETTER : 0) | (f & 0x10 ? CP_MARK : 0);
    t.fill(bits, start, end);
  }
  for (const cp of WHITESPACE_CODEPOINTS) t[cp]! |= CP_SPACE;
  classTable = t;
  return t;
}

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const APOS = 0x27;

/** ASCII-only lowercase: the only code points llama.cpp's tolower maps onto s t m d r e v l. */
function lowerAscii(cp: number): number {
  return cp >= 0x41 && cp <= 0x5a ? cp + 32 : cp;
}

/**
 * Splits code points cps[start, end) into words; pushes each word's END offset (exclusive, in code points)
 * onto `ends`. `cps` holds code points (lone surrogates already replaced by U+FFFD).
 */
export function splitWords(cps: Int32Array, start: number, end: number, kind: PreTokenizerKind, ends: number[]): void {
  const cls = codepointClasses();
  // "word" class: letters (qwen2) or letters+marks (qwen35); "punct run" excludes word, number, space.
  const wordBits = kind === 'qwen35' ? CP_LETTER | CP_MARK : CP_LETTER;
  const nonPunct = CP_SPACE | CP_NUMBER | wordBits;
  const at = (i: number): number => (i < end ? cls[cps[i]!]! : 0);
  let pos = start;
  while (pos < end) {
    const cp = cps[pos]!;
    const c = cls[cp]!;

    // '(?i:s|t|re|ve|m|ll|d)
    if (cp === APOS && pos + 1 < end) {
      const n1 = lowerAscii(cps[pos + 1]!);
      if (n1 === 0x73 || n1 === 0x74 || n1 === 0x6d || n1 === 0x64) {
        pos += 2;
        ends.push(pos);
        continue;
      }
      if (pos + 2 < end) {
        const n2 = lowerAscii(cps[pos + 2]!);
        if ((n2 === 0x65 && (n1 === 0x72 || n1 === 0x76)) || (n1 === 0x6c && n2 === 0x6c)) {
          pos += 3;
          ends.push(pos);
          continue;
        }
      }
    }

    // [^\r\n\p{L}\p{N}]?\p{L}+   (qwen35: [^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+)
    if (cp !== CR && cp !== LF && !(c & CP_NUMBER) && (c & wordBits || at(pos + 1) & wordBits)) {
      pos++;
      while (at(pos) & wordBits) pos++;
      ends.push(pos);
      continue;
    }

    // \p{N}  (one digit per word)
    if (c & CP_NUMBER) {
      ends.push(++pos);
      continue;
    }

    // ' ?[^\s\p{L}\p{N}]+[\r\n]*'  (qwen35 also excludes \p{M})
    let c2 = cp === SP ? at(pos + 1) : c;
    if (!(c2 & nonPunct) && c !== 0) {
      if (cp === SP) pos++;
      while (!(c2 & nonPunct) && c2 !== 0) c2 = at(++pos);
      while (pos < end && (cps[pos] === CR || cps[pos] === LF)) pos++;
      ends.push(pos);
      continue;
    }

    // whitespace run [pos, pos + nSpace); lastNl = end of its last \r or \n (0 = none)
    let nSpace = 0;
    let lastNl = 0;
    while (at(pos + nSpace) & CP_SPACE) {
      const w = cps[pos + nSpace];
      if (w === CR || w === LF) lastNl = pos + nSpace + 1;
      nSpace++;
    }
    if (lastNl > 0) {
      // \s*[\r\n]+
      pos = lastNl;
    } else if (nSpace > 1 && pos + nSpace < end) {
      // \s+(?!\S): leave the last space to prefix the next word
      pos += nSpace - 1;
    } else if (nSpace > 0) {
      // \s+
      pos += nSpace;
    } else {
      // nothing matched: one code point
      pos++;
    }
    ends.push(pos);
  }
}

/** Code points of a JS string; lone surrogates → U+FFFD (what llama.cpp receives through N-API's UTF-8). */
export function toCodepoints(text: string): Int32Array {
  const out = new Int32Array(text.length);
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    let c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdfff) {
      const d = i + 1 < text.length ? text.charCodeAt(i + 1) : 0;
      if (c <= 0xdbff && d >= 0xdc00 && d <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
      } else {
        c = 0xfffd;
      }
    }
    out[n++] = c;
  }
  return n === out.length ? out : out.subarray(0, n);
}

/** The words `text` splits into (for tests and inspection). */
export function preTokenize(text: string, kind: PreTokenizerKind): string[] {
  const cps = toCodepoints(text);
  const ends: number[] = [];
  splitWords(cps, 0, cps.length, kind, ends);
  const words: string[] = [];
  let s = 0;
  for (const e of ends) {
    words.push(String.fromCodePoint(...cps.subarray(s, e)));
    s = e;
  }
  return words;
}
