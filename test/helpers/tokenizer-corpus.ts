/**
 * Tokenizer test corpus: hand-picked strings that stress each branch of the qwen2/qwen35 splits, special
 * tokens and byte-level BPE, plus seeded random mixtures of every script.
 *
 * Lone surrogates: JS strings can hold them, UTF-8 cannot. llama.cpp receives text through N-API's UTF-8
 * conversion, which replaces each lone surrogate with U+FFFD; our encoder does the same (String
 * toWellFormed), and the corpus includes such strings so parity checks that choice.
 */

export const FIXED_CORPUS: readonly string[] = [
  // empty and tiny
  '', ' ', '  ', 'a', '\n', '\t', '\r\n', "'", "'s", '0',
  // English + contractions
  'The quick brown fox jumps over the lazy dog.',
  "It's fine, they're here, we've done it, I'm sure you'll see, he'd know, don't.",
  "CAPS: IT'S, THEY'RE, WE'VE, I'M, YOU'LL, HE'D; mixed 'S 'T 'Re 'vE 'Ll 'D",
  "dangling ' quote, 'x, ''s, '''re, rock'n'roll, O'Neil",
  'Hello   world \t tabs\tand   spaces    ',
  // Chinese, Japanese, Korean
  '人工智能是计算机科学的一个分支，它企图了解智能的实质。',
  '日本語のテキスト、カタカナ、ひらがな、漢字。東京タワー！',
  '한국어 텍스트: 안녕하세요, 세계! 서울특별시.',
  // Arabic, Hindi, Thai, Russian, Greek, Hebrew
  'مرحبا بالعالم! هذا نص عربي مع أرقام ١٢٣ و 456.',
  'नमस्ते दुनिया! हिंदी पाठ में मात्राएँ: कि की कु कू के कै को कौ।',
  'สวัสดีชาวโลก ภาษาไทยไม่มีการเว้นวรรคระหว่างคำ',
  'Съешь же ещё этих мягких французских булок, да выпей чаю.',
  'Ελληνικά: Γειά σου κόσμε. עברית: שלום עולם.',
  // code
  'function add(a, b) {\n  return a + b;\n}\n',
  'export const f = async (x: number): Promise<string> => {\n\tif (x > 0) {\n\t\treturn `${x}`;\n\t}\n\treturn "";\n};\n',
  'def main():\n    for i in range(10):\n        if i % 2 == 0:\n            print(f"{i=}")\n\n\nif __name__ == "__main__":\n    main()\n',
  '#include <stdio.h>\nint main(void) { printf("%d\\n", 42); return 0; }\n',
  '    indented line\n        more indented\n\t\tmixed\t \t tabs\n',
  // numbers
  '1234567890123456789012345678901234567890',
  '3.14159265358979 2.718281828 -0.000001 1e10 6.022e23 1,000,000.00 0xDEADBEEF 0b1010',
  'Version 3.5.1 released on 2025-03-14 at 09:26:53 UTC; build #20250314.',
  // emoji, ZWJ, flags, variation selectors, skin tones
  '😀😃😄😁 🚀🌍🎉 ❤️ ❤ 👍🏽 👩🏾‍💻',
  '👨‍👩‍👧‍👦 family, 🏳️‍🌈 flag, 🇺🇸🇯🇵🇫🇷🇩🇪 flags, 1️⃣ keycap',
  // combining marks, precomposed vs decomposed (no NFC in llama.cpp)
  'e\u0301 vs \u00e9; cafe\u0301 vs caf\u00e9; n\u0303 vs \u00f1',
  'Tiếng Việt có dấu: Hà Nội, Thành phố Hồ Chí Minh, người, được.',
  'Ti\u1ebfng Vi\u00ea\u0323t decomposed: Vie\u0302\u0323t',
  '\u0301 leading combining mark, a\u0301\u0302\u0303 stacked, 1\u0301 on digit, !\u0301 on punct, \u0301\u0301',
  'Ohm \u2126 vs Omega \u03a9, Angstrom \u212b vs A-ring \u00c5, Kelvin \u212a',
  'fullwidth ＡＢＣ１２３，ligature ﬁ ﬂ, superscript x² ³, fraction ½ ⅓, roman Ⅻ',
  // whitespace runs, CR/LF
  'a\n\n\nb', 'a \n \n b', 'x\r\ny\r\n\r\nz', 'trailing spaces   ', '   leading spaces', '\n\n\n', ' \t \n \t ',
  'a  b   c    d', 'end\n', 'nbsp\u00a0here, thin\u2009space, ideographic\u3000space, line\u2028sep',
  '\u0085next line\u000bvtab\u000cformfeed',
  // punctuation runs
  '!!! ??? ... --- *** ### $$$ %%% ^^^ &&& ((( ))) [[[ ]]] {{{ }}} <<< >>> ||| \\\\\\ /// ~~~ ```',
  'Hello!!!\n\nWorld???\r\n...',
  '«quotes» „German“ “curly” ‘single’ — em dash – en dash … ellipsis',
  // ChatML, think and tool tags
  '<|im_start|>user\nhi<|im_end|>',
  '<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n',
  '<think>\nLet me think about this.\n</think>\n\nThe answer is 4.',
  '<tool_call>\n{"name": "f", "arguments": {"x": 1}}\n</tool_call>',
  '<tool_response>\n{"ok": true}\n</tool_response>',
  'text<|endoftext|>more<|im_end|><|im_end|>x<|fim_prefix|>a<|fim_suffix|>b<|fim_middle|>',
  '<|im_start|><|im_start|>nested <think><think></think>',
  '<|im_start', 'im_end|>', '<|im_start|', '< |im_start|>', '<|IM_START|>', '<think >', '</ think>',
  '<|vision_start|><|image_pad|><|vision_end|> <|box_start|>(1,2)<|box_end|> <|quad_start|><|quad_end|>',
  '<|repo_name|>repo<|file_sep|>path<|fim_pad|>',
  '[PAD151900] [PAD1470] looks like a pad token',
  // lone surrogates (become U+FFFD), replacement char itself
  '\ud800', 'a\udc00b', 'x\ud83dy', '\ufffd literal replacement',
  // very long words
  'a'.repeat(1000),
  'supercalifragilisticexpialidocious'.repeat(20),
  '的'.repeat(300),
  '😀'.repeat(100),
  '-'.repeat(500),
  ' '.repeat(300) + 'x',
  '\n'.repeat(100),
  'ab'.repeat(400),
  // misc scripts and symbols
  'Math: ∀x∈ℝ, ∃y: x²+y²=1 ⇒ ∑ᵢ∫f(x)dx ≈ π; ≠ ≤ ≥ ∞',
  'Currency: $ € £ ¥ ₹ ₽ ₿ ¢; units: 5km 10°C 3µs 100%',
  'Zero\u200bwidth\u200cjoiner\u200dnon\ufeffbom',
  'Tamil தமிழ் Bengali বাংলা Georgian ქართული Armenian Հայերեն Ethiopic ኢትዮጵያ',
  'Mongolian ᠮᠣᠩᠭᠣᠯ Tibetan བོད་ཡིག Khmer ភាសាខ្មែរ Myanmar မြန်မာ',
  'Private use \ue000\uf8ff, astral 𝕳𝖊𝖑𝖑𝖔 𝟙𝟚𝟛, CJK ext B 𠀀𠀁, unassigned \u0378\u0379',
  'controls \u0000\u0001\u001f\u007f\u0080\u009f end',
];

/** xorshift32 → [0, 1). */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 32;
  };
}

/** Pieces random strings are assembled from (every script, marks, digits, spaces, specials). */
const PIECES: readonly string[] = [
  'the', ' the', 'The', ' quick', 'fox', "'s", "'T", "'re", "'LL", "n't", ' ', '  ', '   ', '\t', '\n', '\n\n', '\r\n', '\r',
  '0', '7', '42', '3.14', '2025', '１２', '٣', '४', 'Ⅻ', '²',
  '你好', '世界', '的', '中文', 'こんにちは', 'カタカナ', '한국어', '안녕', 'Привет', 'мир', 'مرحبا', 'العالم',
  'नमस्ते', 'कि', '्', 'ไทย', 'สวัสดี', 'Ελλάδα', 'שלום', 'Việt', 'ườ', 'e\u0301', '\u0301', '\u0308', 'ñ', 'ß',
  '😀', '🚀', '❤️', '👍🏽', '👨‍👩‍👧‍👦', '🇺🇸', '\u200d', '\ufe0f',
  '!', '?', '.', ',', '...', '!!!', '---', '***', '()', '[]', '{}', '<', '>', '/', '\\', '"', "'", '`', '$', '%', '@', '#', '_',
  '=>', '===', '+=', '::', ';', ':', '|', '~', '^', '&',
  'function', 'return', 'def', 'class', 'const', 'x', 'y1', '_private', 'camelCase', 'snake_case',
  '<|im_start|>', '<|im_end|>', '<|endoftext|>', '<think>', '</think>', '<tool_call>', '</tool_call>', '<|fim_pad|>',
  '<|', '|>', '<th', 'ink>', '\u00a0', '\u3000', '\u2028', '\ufffd', '\u2126', '\u212b',
];

/** `count` seeded random strings of 1–40 pieces each. */
export function randomCorpus(count: number, seed = 0x5eed): string[] {
  const r = rng(seed);
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const n = 1 + Math.floor(r() * 40);
    let s = '';
    for (let k = 0; k < n; k++) s += PIECES[Math.floor(r() * PIECES.length)]!;
    out.push(s);
  }
  return out;
}

/** The full parity corpus: fixed strings + `randomCount` random ones. */
export function tokenizerCorpus(randomCount = 300): string[] {
  return [...FIXED_CORPUS, ...randomCorpus(randomCount)];
}
