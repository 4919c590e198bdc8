/**
 * Byte-level BPE over one pre-tokenized word, with llama.cpp's merge order: repeatedly merge the adjacent
 * pair of lowest rank, ties to the leftmost pair; a pair merges iff "left right" is in the merge list
 * (first occurrence gives the rank). Symbols are ids: real token ids [0, nTokens) and, for merge strings
 * that are not tokens (inconsistent vocabularies), extra ids ≥ nTokens; such a symbol left over at the end
 * falls back, as in llama.cpp, to the tokens of its single ASCII bytes.
 */
import { BYTE_TO_CHAR } from './bytes.js';

/** Symbol ids and ranks stay below 2^21, so (left, right) packs into one exact double key. */
const SHIFT = 2 ** 21;
/** Words longer than this (in bytes) use the heap; shorter ones the O(n²) scan (faster when small). */
const HEAP_MIN = 48;

export class BPEModel {
  readonly nTokens: number;
  /** Text of every symbol id (tokens first). */
  private readonly symbolText: string[];
  /** (left * SHIFT + right) → rank * SHIFT + merged symbol id. */
  private readonly merges = new Map<number, number>();
  /** byte → symbol id of its byte-level character (or -1 if the vocabulary lacks it: byte dropped). */
  readonly byteSymbol = new Int32Array(256);
  /** ASCII code → token id of that one-character token, or -1 (fallback for non-token symbols). */
  private readonly asciiToken = new Int32Array(128).fill(-1);

  // scratch for mergeWord (grown on demand)
  private sym = new Int32Array(64);
  private nxt = new Int32Array(64);
  private prv = new Int32Array(64);
  private heapRank = new Float64Array(192);
  private heapLeft = new Int32Array(192);
  private heapRight = new Int32Array(192);
  private heapL = new Int32Array(192);
  private heapR = new Int32Array(192);

  /**
   * @param tokenToId text → id of every token (ids dense in [0, nTokens))
   * @param merges "left right" strings; rank = index
   */
  constructor(tokens: readonly string[], tokenToId: ReadonlyMap<string, number>, merges: readonly string[]) {
    this.nTokens = tokens.length;
    this.symbolText = tokens.slice();
    const extra = new Map<string, number>();
    const symbolOf = (text: string): number => {
      const id = tokenToId.get(text) ?? extra.get(text);
      if (id !== undefined) return id;
      const nid = this.symbolText.length;
      this.symbolText.push(text);
      extra.set(text, nid);
      return nid;
    };
    for (let b = 0; b < 256; b++) this.byteSymbol[b] = symbolOf(BYTE_TO_CHAR[b]!);
    for (let c = 0; c < 128; c++) this.asciiToken[c] = tokenToId.get(String.fromCharCode(c)) ?? -1;
    for (let rank = 0; rank < merges.length; rank++) {
      const m = merges[rank]!;
      // llama.cpp splits at the first space after the first byte; no space → never matches
      const sp = m.indexOf(' ', 1);
      if (sp < 0) continue;
      const a = m.slice(0, sp);
      const b = m.slice(sp + 1);
      if (a === '' || b === '') continue;
      const key = symbolOf(a) * SHIFT + symbolOf(b);
      if (!this.merges.has(key)) this.merges.set(key, rank * SHIFT + symbolOf(a + b));
    }
    if (this.symbolText.length >= SHIFT || merges.length >= SHIFT) {
      throw new RangeError(`BPE vocabulary too large (${this.symbolText.length} symbols, ${merges.length} merges)`);
    }
  }

  private grow(n: number): void {
    if (this.sym.length >= n) return;
    let size = this.sym.length;
    while (size < n) size *= 2;
    this.sym = new Int32Array(size);
    this.nxt = new Int32Array(size);
    this.prv = new Int32Array(size);
    // heap capacity: m - 1 initial pairs + at most 2 per merge (≤ m - 1 merges) < 3m
    this.heapRank = new Float64Array(size * 3);
    this.heapLeft = new Int32Array(size * 3);
    this.heapRight = new Int32Array(size * 3);
    this.heapL = new Int32Array(size * 3);
    this.heapR = new Int32Array(size * 3);
  }

  /**
   * BPE of one word given as UTF-8 bytes; appends token ids to `out`.
   * `bytes[0..n)` are the word's bytes.
   */
  encodeBytes(bytes: Uint8Array, n: number, out: number[]): void {
    this.grow(n);
    const sym = this.sym;
    let m = 0;
    for (let i = 0; i < n; i++) {
      const s = this.byteSymbol[bytes[i]!]!;
      sym[m++] = s;
    }
    if (m > 1) m = m < HEAP_MIN ? this.mergeScan(m) : this.mergeHeap(m);
    for (let i = 0; i < m; i++) this.emit(sym[i]!, out);
  }

  private emit(s: number, out: number[]): void {
    if (s < this.nTokens) {
      out.push(s);
      return;
    }
    const text = this.symbolText[s]!;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      const t = c < 128 ? this.asciiToken[c]! : -1;
      if (t >= 0) out.push(t);
    }
  }

  /** O(m²): each round finds the lowest-rank pair (leftmost on ties) and merges it in place. */
  private mergeScan(m: number): number {
    const sym = this.sym;
    const merges = this.merges;
    for (;;) {
      let best = Infinity;
      let at = -1;
      for (let i = 0; i + 1 < m; i++) {
        const v = merges.get(sym[i]! * SHIFT + sym[i + 1]!);
        if (v !== undefined && v < best) {
          best = v;
          at = i;
        }
      }
      if (at < 0) return m;
      sym[at] = best % SHIFT;
      sym.copyWithin(at + 1, at + 2, m);
      m--;
    }
  }

  /** Linked list + binary heap on (rank, left position) with lazy invalidation, for long words. */
  private mergeHeap(m: number): number {
    const { sym, nxt, prv, merges } = this;
    const hRank = this.heapRank;
    const hLeft = this.heapLeft;
    const hRight = this.heapRight;
    const hL = this.heapL;
    const hR = this.heapR;
    let size = 0;
    // entry order: rank, then left position
    const less = (i: number, j: number): boolean =>
      hRank[i]! < hRank[j]! || (hRank[i] === hRank[j] && hLeft[i]! < hLeft[j]!);
    const swap = (i: number, j: number): void => {
      let t = hRank[i]!; hRank[i] = hRank[j]!; hRank[j] = t;
      t = hLeft[i]!; hLeft[i] = hLeft[j]!; hLeft[j] = t;
      t = hRight[i]!; hRight[i] = hRight[j]!; hRight[j] = t;
      t = hL[i]!; hL[i] = hL[j]!; hL[j] = t;
      t = hR[i]!; hR[i] = hR[j]!; hR[j] = t;
    };
    const push = (left: number, right: number): void => {
      if (left < 0 || right < 0) return;
      const v = merges.get(sym[left]! * SHIFT + sym[right]!);
      if (v === undefined) return;
      let i = size++;
      hRank[i] = Math.floor(v / SHIFT);
      hLeft[i] = left;
      hRight[i] = right;
      hL[i] = sym[left]!;
      hR[i] = sym[right]!;
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (!less(i, p)) break;
        swap(i, p);
        i = p;
      }
    };
    for (let i = 0; i < m; i++) {
      nxt[i] = i + 1 < m ? i + 1 : -1;
      prv[i] = i - 1;
    }
    for (let i = 0; i + 1 < m; i++) push(i, i + 1);
    while (size > 0) {
      const left = hLeft[0]!;
      const right = hRight[0]!;
      const expectL = hL[0]!;
      const expectR = hR[0]!;
      // pop
      size--;
      if (size > 0) {
        swap(0, size);
        let i = 0;
        for (;;) {
          const l = 2 * i + 1;
          const r = l + 1;
          let s = i;
          if (l < size && less(l, s)) s = l;
          if (r < size && less(r, s)) s = r;
          if (s === i) break;
          swap(i, s);
          i = s;
        }
      }
      // stale: either side merged away or changed since the entry was pushed
      if (sym[left] !== expectL || sym[right] !== expectR || nxt[left] !== right || sym[right]! < 0) continue;
      const v = merges.get(expectL * SHIFT + expectR)!;
      sym[left] = v % SHIFT;
      sym[right] = -1;
      const after = nxt[right]!;
      nxt[left] = after;
      if (after >= 0) prv[after] = left;
      push(prv[left]!, left);
      push(left, after);
    }
    let k = 0;
    for (let i = 0; i >= 0; i = nxt[i]!) sym[k++] = sym[i]!;
    return k;
  }
}
