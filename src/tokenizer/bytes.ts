/**
 * GPT-2 byte-level mapping: every byte 0..255 is shown as one printable code point, so a BPE token is a
 * string of these code points. Printable Latin-1 bytes ('!'..'~', '¡'..'¬', '®'..'ÿ') map to themselves;
 * the other 68 bytes map, in increasing byte order, to U+0100, U+0101, … (space 0x20 → 'Ġ' U+0120,
 * '\n' 0x0A → 'Ċ' U+010A).
 */

function isPrintableByte(b: number): boolean {
  return (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
}

/** byte → code point of its byte-level character. */
export const BYTE_TO_CODEPOINT: Uint16Array = (() => {
  const t = new Uint16Array(256);
  let n = 0;
  for (let b = 0; b < 256; b++) t[b] = isPrintableByte(b) ? b : 256 + n++;
  return t;
})();

/** byte → its byte-level character, as a one-code-unit string. */
export const BYTE_TO_CHAR: readonly string[] = Array.from(BYTE_TO_CODEPOINT, (cp) => String.fromCharCode(cp));

/** code point (< 0x144) → byte, or -1 when the code point is not a byte-level character. */
export const CODEPOINT_TO_BYTE: Int16Array = (() => {
  const t = new Int16Array(0x144).fill(-1);
  for (let b = 0; b < 256; b++) t[BYTE_TO_CODEPOINT[b]!] = b;
  return t;
})();

/** UTF-8 bytes → byte-level string (one code unit per byte). */
export function bytesToByteLevel(bytes: Uint8Array, start = 0, end = bytes.length): string {
  let s = '';
  for (let i = start; i < end; i++) s += BYTE_TO_CHAR[bytes[i]!]!;
  return s;
}
