/**
 * llama.cpp-exact GPT-2 byte-level BPE tokenizer for `tokenizer.ggml.model = "gpt2"` with the `qwen2` and
 * `qwen35` pre-tokenizers. Pipeline of encode (llama_vocab::tokenize with add_special = addBos):
 *   1. special-token partition: special tokens (CONTROL, USER_DEFINED, UNKNOWN; CONTROL/UNKNOWN only when
 *      `special`) are cut out of the text, longest (UTF-8 bytes) first, leftmost non-overlapping matches
 *   2. each remaining text fragment: pre-tokenizer split (./pretokenizer.ts), no NFC normalisation
 *   3. each word: UTF-8 bytes → byte-level symbols → BPE by merge rank (./bpe.ts), cached per word
 * decode = concatenation of token pieces (byte-level chars mapped back to bytes; CONTROL/UNKNOWN pieces only
 * when `special`; UNUSED pieces empty), then UTF-8 → string with U+FFFD for invalid sequences.
 */
import { TokenizerError, type ErrorCode } from '../errors.js';
import { GGUFValueType, type GGUFFile, type GGUFMetadataValue } from '../gguf/types.js';
import { BPEModel } from './bpe.js';
import { CODEPOINT_TO_BYTE } from './bytes.js';
import { splitWords, type PreTokenizerKind } from './pretokenizer.js';
import { TokenType, type VocabData } from './tiny-vocab.js';

export interface EncodeOptions {
  /** Match CONTROL tokens (`<|im_start|>` …) in the text. USER_DEFINED ones always match. Default false. */
  special?: boolean;
  /** Prepend the BOS token. Default: the vocabulary's `add_bos_token` (false for Qwen). */
  addBos?: boolean;
}

export interface DecodeOptions {
  /** Render CONTROL tokens as their text (otherwise they decode to ""). Default false. */
  special?: boolean;
}

export interface StreamingDecoder {
  /** Text completed by this token; bytes of an unfinished UTF-8 character wait for the next push. */
  push(id: number): string;
  /** The rest: an unfinished character at the end becomes U+FFFD. Resets the decoder. */
  flush(): string;
}

/** llama.cpp token attributes (bit set). */
const ATTR_UNDEFINED = 0;
const ATTR_UNKNOWN = 1 << 0;
const ATTR_UNUSED = 1 << 1;
const ATTR_NORMAL = 1 << 2;
const ATTR_CONTROL = 1 << 3;
const ATTR_USER_DEFINED = 1 << 4;
const ATTR_BYTE = 1 << 5;

function attrFromType(t: number): number {
  switch (t) {
    case TokenType.UNKNOWN: return ATTR_UNKNOWN;
    case TokenType.UNUSED: return ATTR_UNUSED;
    case TokenType.NORMAL: return ATTR_NORMAL;
    case TokenType.CONTROL: return ATTR_CONTROL;
    case TokenType.USER_DEFINED: return ATTR_USER_DEFINED;
    case TokenType.BYTE: return ATTR_BYTE;
    default: return ATTR_UNDEFINED;
  }
}

// Token texts llama.cpp recognises by name (llama_vocab::impl::load), when the id is not given by a key.
const EOT_NAMES = ['<|eot_id|>', '<|im_end|>', '<|end|>', '<end_of_turn>', '<|endoftext|>', '<|end_of_text|>', '<EOT>', '_<EOT>', '[EOT]', '<｜end▁of▁sentence｜>', '<end_of_utterance>'];
const EOM_NAMES = ['<|eom_id|>'];
const FIM_PRE_NAMES = ['<|fim_prefix|>', '<fim-prefix>', '<fim_prefix>', '<｜fim▁begin｜>', '<PRE>', '▁<PRE>', '<|code_prefix|>', '<|prefix|>'];
const FIM_SUF_NAMES = ['<|fim_suffix|>', '<fim-suffix>', '<fim_suffix>', '<｜fim▁hole｜>', '<SUF>', '▁<SUF>', '<|code_suffix|>', '<|suffix|>'];
const FIM_MID_NAMES = ['<|fim_middle|>', '<fim-middle>', '<fim_middle>', '<｜fim▁end｜>', '<MID>', '▁<MID>', '<|code_middle|>', '<|middle|>'];
const FIM_PAD_NAMES = ['<|fim_pad|>', '<fim-pad>', '<fim_pad>', '<PAD>', '[PAD]'];
const FIM_REP_NAMES = ['<|fim_repo|>', '<|repo_name|>', '<fim-repo>', '<REPO>', '<reponame>'];
const FIM_SEP_NAMES = ['<|file_sep|>'];
/** End-of-generation by text (llama.cpp issue 9606 workaround). */
const EOG_NAMES = new Set(['<|eot_id|>', '<|im_end|>', '<|end|>', '<|return|>', '<|call|>', '<|flush|>', '<|calls|>', '<end_of_turn>', '<|endoftext|>', '</s>', '<|eom_id|>', '<EOT>', '_<EOT>', '[EOT]', '[EOS]', '<|end_of_text|>', '<end_of_utterance>', '<eos>', '<turn|>', '<|tool_response>', '<｜end▁of▁sentence｜>', '[e~[']);
/** gpt-oss: always rendered (llama.cpp forces USER_DEFINED). */
const FORCE_USER_DEFINED = new Set(['<|channel|>', '<|message|>', '<|start|>', '<|constrain|>']);

/** Pre-tokenizer names llama.cpp maps onto the two splits we implement. */
const PRE_KINDS: Readonly<Record<string, PreTokenizerKind>> = {
  qwen2: 'qwen2',
  'deepseek-r1-qwen': 'qwen2',
  qwen35: 'qwen35',
};

/** Normalised vocabulary description the tokenizer is built from. */
export interface TokenizerConfig {
  tokens: readonly string[];
  /** GGUF token types; absent → all NORMAL. */
  types?: readonly number[] | undefined;
  merges: readonly string[];
  pre: string;
  /** Special ids from metadata keys (undefined = key absent). */
  ids?: Partial<Record<SpecialKey, number>>;
  addBos?: boolean | undefined;
  addEos?: boolean | undefined;
  /** For error messages: the GGUF path, or a description. */
  source?: string;
}

type SpecialKey = 'bos' | 'eos' | 'eot' | 'eom' | 'unk' | 'sep' | 'pad' | 'mask' | 'fimPre' | 'fimSuf' | 'fimMid' | 'fimPad' | 'fimRep' | 'fimSep';

/** GGUF key for each special id (llama.cpp LLM_KV_TOKENIZER_*; later entries are deprecated aliases). */
const SPECIAL_KEYS: ReadonlyArray<[SpecialKey, string]> = [
  ['bos', 'tokenizer.ggml.bos_token_id'],
  ['eos', 'tokenizer.ggml.eos_token_id'],
  ['eot', 'tokenizer.ggml.eot_token_id'],
  ['eom', 'tokenizer.ggml.eom_token_id'],
  ['unk', 'tokenizer.ggml.unknown_token_id'],
  ['sep', 'tokenizer.ggml.seperator_token_id'],
  ['pad', 'tokenizer.ggml.padding_token_id'],
  ['mask', 'tokenizer.ggml.mask_token_id'],
  ['fimPre', 'tokenizer.ggml.fim_pre_token_id'],
  ['fimSuf', 'tokenizer.ggml.fim_suf_token_id'],
  ['fimMid', 'tokenizer.ggml.fim_mid_token_id'],
  ['fimPad', 'tokenizer.ggml.fim_pad_token_id'],
  ['fimRep', 'tokenizer.ggml.fim_rep_token_id'],
  ['fimSep', 'tokenizer.ggml.fim_sep_token_id'],
  ['fimPre', 'tokenizer.ggml.prefix_token_id'],
  ['fimSuf', 'tokenizer.ggml.suffix_token_id'],
  ['fimMid', 'tokenizer.ggml.middle_token_id'],
];

const utf8Encoder = new TextEncoder();

function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

/** Word cache limit (entries); the cache is dropped when full. Words longer than MAX_CACHED_WORD skip it. */
const CACHE_LIMIT = 1 << 16;
const MAX_CACHED_WORD = 64;

export class Tokenizer {
  readonly vocabSize: number;
  readonly pre: PreTokenizerKind;
  /** -1 when the vocabulary has none. */
  readonly bosId: number;
  readonly eosId: number;
  readonly padId: number;
  readonly addBos: boolean;
  readonly addEos: boolean;
  /** End-of-generation ids by llama.cpp's rule: eos, eot, eom, fim pad/rep/sep and tokens named like EOG. */
  readonly eogIds: ReadonlySet<number>;

  private readonly tokens: readonly string[];
  private readonly attrs: Uint8Array;
  private readonly tokenToId: Map<string, number>;
  private readonly bpe: BPEModel;
  /** Special-token cache: ids sorted by UTF-8 length, longest first (ties by id). */
  private readonly specials: readonly number[];
  private readonly pieces: (Uint8Array | undefined)[];
  private cache = new Map<string, readonly number[]>();
  private cps = new Int32Array(256);
  private u16 = new Int32Array(257);
  private bytes = new Uint8Array(1024);
  private readonly ends: number[] = [];

  /** Build from GGUF metadata (`tokenizer.ggml.*`). */
  static fromGGUF(file: GGUFFile): Tokenizer {
    const md = file.metadata;
    const src = file.path;
    const model = getString(md, 'tokenizer.ggml.model', src, true)!;
    if (model !== 'gpt2') {
      throw new TokenizerError('TOKENIZER_UNSUPPORTED', `${src}: tokenizer.ggml.model = "${model}" is not supported (only "gpt2", byte-level BPE)`, { file: src, key: 'tokenizer.ggml.model', value: model });
    }
    const pre = getString(md, 'tokenizer.ggml.pre', src, false) ?? '';
    const tokens = getStringArray(md, 'tokenizer.ggml.tokens', src, true)!;
    const merges = getStringArray(md, 'tokenizer.ggml.merges', src, true)!;
    const typesV = md.get('tokenizer.ggml.token_type');
    let types: number[] | undefined;
    if (typesV !== undefined) {
      if (typesV.type !== GGUFValueType.ARRAY || typesV.arrayType !== GGUFValueType.INT32) {
        throw bad(src, 'tokenizer.ggml.token_type', 'must be an array of int32');
      }
      types = typesV.value as number[];
      if (types.length < tokens.length) {
        throw bad(src, 'tokenizer.ggml.token_type', `has ${types.length} entries for ${tokens.length} tokens`);
      }
    }
    const ids: Partial<Record<SpecialKey, number>> = {};
    for (const [name, key] of SPECIAL_KEYS) {
      const v = getInt(md, key, src);
      if (v !== undefined) ids[name] = v;
    }
    return new Tokenizer({
      tokens, types, merges, pre, ids,
      addBos: getBool(md, 'tokenizer.ggml.add_bos_token', src),
      addEos: getBool(md, 'tokenizer.ggml.add_eos_token', src),
      source: src,
    });
  }

  /** Build from an in-memory vocabulary (e.g. `buildTinyVocab()`). */
  static fromVocab(v: VocabData): Tokenizer {
    return new Tokenizer({
      tokens: v.tokens, types: v.types, merges: v.merges, pre: v.pre,
      ids: { bos: v.bosId, eos: v.eosId, pad: v.padId }, addBos: v.addBos, addEos: false, source: 'vocab',
    });
  }

  constructor(cfg: TokenizerConfig) {
    const src = cfg.source ?? 'vocab';
    const kind = PRE_KINDS[cfg.pre];
    if (!kind) {
      throw new TokenizerError('TOKENIZER_UNSUPPORTED', `${src}: tokenizer.ggml.pre = "${cfg.pre}" is not supported (supported: ${Object.keys(PRE_KINDS).join(', ')})`, { file: src, key: 'tokenizer.ggml.pre', value: cfg.pre });
    }
    this.pre = kind;
    const n = cfg.tokens.length;
    if (n === 0) throw bad(src, 'tokenizer.ggml.tokens', 'is empty');
    this.vocabSize = n;

    // texts (llama.cpp renames empty tokens) and the text → id map (texts must be unique)
    const tokens = cfg.tokens.map((t, i) => (t === '' ? `[EMPTY_${i}]` : t));
    const tokenToId = new Map<string, number>();
    for (let i = 0; i < n; i++) {
      const t = tokens[i]!;
      if (tokenToId.has(t)) throw bad(src, 'tokenizer.ggml.tokens', `token ${i} duplicates token ${tokenToId.get(t)} (${JSON.stringify(t)})`);
      tokenToId.set(t, i);
    }
    this.tokens = tokens;
    this.tokenToId = tokenToId;

    const attrs = new Uint8Array(n);
    for (let i = 0; i < n; i++) attrs[i] = cfg.types ? attrFromType(cfg.types[i]!) : ATTR_NORMAL;

    // special ids: gpt2 defaults bos = eos = 11, a key value out of range keeps the default
    const inRange = (id: number | undefined): id is number => id !== undefined && id >= 0 && id < n;
    const pick = (key: SpecialKey, def: number): number => {
      const v = cfg.ids?.[key];
      return inRange(v) ? v : inRange(def) ? def : -1;
    };
    const id: Record<SpecialKey, number> = {
      bos: pick('bos', 11), eos: pick('eos', 11), eot: pick('eot', -1), eom: pick('eom', -1), unk: pick('unk', -1),
      sep: pick('sep', -1), pad: pick('pad', -1), mask: pick('mask', -1), fimPre: pick('fimPre', -1),
      fimSuf: pick('fimSuf', -1), fimMid: pick('fimMid', -1), fimPad: pick('fimPad', -1), fimRep: pick('fimRep', -1),
      fimSep: pick('fimSep', -1),
    };
    // name-detected ids, when no key gave one; the detected token becomes CONTROL
    const detect = (key: SpecialKey, names: readonly string[]): void => {
      if (id[key] >= 0) return;
      let found = -1;
      for (const name of names) {
        const t = tokenToId.get(name);
        if (t !== undefined && (found < 0 || t < found)) found = t;
      }
      if (found >= 0) {
        id[key] = found;
        attrs[found]! |= ATTR_CONTROL;
      }
    };
    detect('eot', EOT_NAMES);
    detect('eom', EOM_NAMES);
    detect('fimPre', FIM_PRE_NAMES);
    detect('fimSuf', FIM_SUF_NAMES);
    detect('fimMid', FIM_MID_NAMES);
    detect('fimPad', FIM_PAD_NAMES);
    detect('fimRep', FIM_REP_NAMES);
    detect('fimSep', FIM_SEP_NAMES);
    for (let i = 0; i < n; i++) {
      if (attrs[i]! & ATTR_CONTROL && tokens[i]!.includes('unused')) attrs[i]! |= ATTR_UNUSED;
    }
    const eog = new Set<number>();
    for (const k of ['fimPad', 'fimRep', 'fimSep'] as const) if (id[k] >= 0) eog.add(id[k]);
    for (const name of EOG_NAMES) {
      const t = tokenToId.get(name);
      if (t !== undefined) {
        eog.add(t);
        attrs[t]! |= ATTR_CONTROL;
      }
    }
    for (const name of FORCE_USER_DEFINED) {
      const t = tokenToId.get(name);
      if (t !== undefined) attrs[t] = ATTR_USER_DEFINED;
    }
    for (const k of ['eos', 'eot', 'eom'] as const) if (id[k] >= 0) eog.add(id[k]);
    // o200k_harmony / solar-open: <|end|> is not EOG when <|return|>+<|call|> or <|calls|>+<|flush|> exist
    const has = (t: string): boolean => { const x = tokenToId.get(t); return x !== undefined && eog.has(x); };
    const endId = tokenToId.get('<|end|>');
    if (endId !== undefined && eog.has(endId) && ((has('<|return|>') && (has('<|call|>') || has('<|calls|>'))) || ((has('<|call|>') || has('<|calls|>')) && has('<|flush|>')))) {
      eog.delete(endId);
      attrs[endId] = ATTR_USER_DEFINED;
    }
    // gemma4 / paddleocr: </s> is not EOG when <|tool_response> is
    const sId = tokenToId.get('</s>');
    if (sId !== undefined && eog.has(sId) && has('<|tool_response>')) {
      eog.delete(sId);
      attrs[sId] = ATTR_NORMAL;
    }
    this.attrs = attrs;
    this.eogIds = eog;
    this.bosId = id.bos;
    this.eosId = id.eos;
    this.padId = id.pad;
    this.addBos = cfg.addBos ?? false;
    this.addEos = cfg.addEos ?? false;

    const specials: { id: number; len: number }[] = [];
    for (let i = 0; i < n; i++) {
      if (attrs[i]! & (ATTR_CONTROL | ATTR_USER_DEFINED | ATTR_UNKNOWN)) specials.push({ id: i, len: utf8Length(tokens[i]!) });
    }
    specials.sort((a, b) => b.len - a.len || a.id - b.id);
    this.specials = specials.map((s) => s.id);

    this.bpe = new BPEModel(tokens, tokenToId, cfg.merges);
    this.pieces = new Array<Uint8Array | undefined>(n);
  }

  // ---------------------------------------------------------------- encode

  encode(text: string, opts: EncodeOptions = {}): number[] {
    const out: number[] = [];
    if ((opts.addBos ?? this.addBos) && this.bosId >= 0) out.push(this.bosId);
    if (text.length > 0) {
      // lone surrogates → U+FFFD, as N-API's UTF-8 conversion does for llama.cpp
      const w = text as unknown as WellFormed;
      const t = w.isWellFormed() ? text : w.toWellFormed();
      const special = opts.special ?? false;
      let frags: (string | number)[] | undefined;
      for (const sid of this.specials) {
        if (!special && this.attrs[sid]! & (ATTR_CONTROL | ATTR_UNKNOWN)) continue;
        const st = this.tokens[sid]!;
        if (!t.includes(st)) continue;
        frags = partition(frags ?? [t], st, sid);
      }
      if (frags === undefined) this.encodeText(t, out);
      else for (const f of frags) typeof f === 'number' ? out.push(f) : this.encodeText(f, out);
    }
    if ((opts.addBos ?? this.addBos) && this.addEos && this.eosId >= 0) out.push(this.eosId);
    return out;
  }

  /** Pre-tokenize one special-free fragment and BPE each word. */
  private encodeText(text: string, out: number[]): void {
    const len = text.length;
    if (this.cps.length < len) {
      this.cps = new Int32Array(len * 2);
      this.u16 = new Int32Array(len * 2 + 1);
    }
    const cps = this.cps;
    const u16 = this.u16;
    let m = 0;
    for (let i = 0; i < len; i++) {
      u16[m] = i;
      let c = text.charCodeAt(i);
      if (c >= 0xd800 && c <= 0xdbff) {
        // well-formed: a high surrogate is always followed by a low one
        c = 0x10000 + ((c - 0xd800) << 10) + (text.charCodeAt(i + 1) - 0xdc00);
        i++;
      }
      cps[m++] = c;
    }
    u16[m] = len;
    const ends = this.ends;
    ends.length = 0;
    splitWords(cps, 0, m, this.pre, ends);
    let s = 0;
    const cache = this.cache;
    for (let k = 0; k < ends.length; k++) {
      const e = ends[k]!;
      const a = u16[s]!;
      const b = u16[e]!;
      if (b - a <= MAX_CACHED_WORD) {
        const word = text.slice(a, b);
        let ids = cache.get(word);
        if (ids === undefined) {
          const tmp: number[] = [];
          this.encodeWord(s, e, tmp);
          if (cache.size >= CACHE_LIMIT) cache.clear();
          cache.set(word, tmp);
          ids = tmp;
        }
        for (let j = 0; j < ids.length; j++) out.push(ids[j]!);
      } else {
        this.encodeWord(s, e, out);
      }
      s = e;
    }
  }

  /** UTF-8 of code points [s, e) → BPE. */
  private encodeWord(s: number, e: number, out: number[]): void {
    if (this.bytes.length < (e - s) * 4) this.bytes = new Uint8Array((e - s) * 8);
    const bytes = this.bytes;
    const cps = this.cps;
    let n = 0;
    for (let i = s; i < e; i++) {
      const c = cps[i]!;
      if (c < 0x80) bytes[n++] = c;
      else if (c < 0x800) {
        bytes[n++] = 0xc0 | (c >> 6);
        bytes[n++] = 0x80 | (c & 0x3f);
      } else if (c < 0x10000) {
        bytes[n++] = 0xe0 | (c >> 12);
        bytes[n++] = 0x80 | ((c >> 6) & 0x3f);
        bytes[n++] = 0x80 | (c & 0x3f);
      } else {
        bytes[n++] = 0xf0 | (c >> 18);
        bytes[n++] = 0x80 | ((c >> 12) & 0x3f);
        bytes[n++] = 0x80 | ((c >> 6) & 0x3f);
        bytes[n++] = 0x80 | (c & 0x3f);
      }
    }
    this.bpe.encodeBytes(bytes, n, out);
  }

  // ---------------------------------------------------------------- decode

  private check(id: number): void {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
      throw new TokenizerError('TOKEN_ID_OUT_OF_RANGE', `token id ${id} is out of range [0, ${this.vocabSize})`, { id, vocabSize: this.vocabSize });
    }
  }

  /** UTF-8 bytes of one token's piece (llama_token_to_piece, lstrip 0). */
  tokenToBytes(id: number, opts: DecodeOptions = {}): Uint8Array {
    this.check(id);
    const attr = this.attrs[id]!;
    if (!opts.special && attr & (ATTR_CONTROL | ATTR_UNKNOWN)) return EMPTY;
    let p = this.pieces[id];
    if (p === undefined) {
      p = this.computePiece(id, attr);
      this.pieces[id] = p;
    }
    return p;
  }

  private computePiece(id: number, attr: number): Uint8Array {
    const text = this.tokens[id]!;
    if (attr & (ATTR_CONTROL | ATTR_UNKNOWN | ATTR_USER_DEFINED)) return utf8Encoder.encode(text);
    if (attr & ATTR_NORMAL) {
      // byte-level chars → bytes; a char outside the byte map becomes "[UNK_BYTE_0x<its utf8 hex><token>]"
      const out: number[] = [];
      for (const ch of text) {
        const cp = ch.codePointAt(0)!;
        const b = cp < CODEPOINT_TO_BYTE.length ? CODEPOINT_TO_BYTE[cp]! : -1;
        if (b >= 0) out.push(b);
        else {
          const hex = Array.from(utf8Encoder.encode(ch), (x) => x.toString(16).padStart(2, '0')).join('');
          out.push(...utf8Encoder.encode(`[UNK_BYTE_0x${hex}${text}]`));
        }
      }
      return Uint8Array.from(out);
    }
    if (attr & ATTR_BYTE) {
      // llama.cpp reads BPE byte tokens as "<0xXX>"
      const v = parseInt(text.slice(3, 5), 16);
      return Uint8Array.of(Number.isNaN(v) ? 0 : v & 0xff);
    }
    return EMPTY; // UNUSED, UNDEFINED
  }

  /** One token's piece as a string (a partial UTF-8 character shows as U+FFFD). Default special: true. */
  tokenToPiece(id: number, opts: DecodeOptions = { special: true }): string {
    return new TextDecoder().decode(this.tokenToBytes(id, opts));
  }

  /** Concatenated piece bytes (llama_detokenize with remove_special = false; no space cleanup for qwen). */
  decodeBytes(ids: readonly number[], opts: DecodeOptions = {}): Uint8Array {
    const parts: Uint8Array[] = new Array<Uint8Array>(ids.length);
    let total = 0;
    for (let i = 0; i < ids.length; i++) {
      const p = this.tokenToBytes(ids[i]!, opts);
      parts[i] = p;
      total += p.length;
    }
    const out = new Uint8Array(total);
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }

  decode(ids: readonly number[], opts: DecodeOptions = {}): string {
    return new TextDecoder().decode(this.decodeBytes(ids, opts));
  }

  createStreamingDecoder(opts: DecodeOptions = {}): StreamingDecoder {
    let dec = new TextDecoder();
    return {
      push: (id: number): string => dec.decode(this.tokenToBytes(id, opts), { stream: true }),
      flush: (): string => {
        const s = dec.decode();
        dec = new TextDecoder();
        return s;
      },
    };
  }

  // ---------------------------------------------------------------- vocabulary

  /** Effective token type (llama.cpp may promote tokens to CONTROL by name): 1 normal, 3 control, 4 user-defined, 5 unused, … */
  tokenType(id: number): number {
    this.check(id);
    const a = this.attrs[id]!;
    if (a & ATTR_CONTROL) return TokenType.CONTROL;
    if (a & ATTR_USER_DEFINED) return TokenType.USER_DEFINED;
    if (a & ATTR_UNUSED) return TokenType.UNUSED;
    if (a & ATTR_NORMAL) return TokenType.NORMAL;
    if (a & ATTR_UNKNOWN) return TokenType.UNKNOWN;
    if (a & ATTR_BYTE) return TokenType.BYTE;
    return TokenType.UNDEFINED;
  }

  /** The token's vocabulary text (byte-level form for normal tokens). */
  tokenText(id: number): string {
    this.check(id);
    return this.tokens[id]!;
  }

  /** Id of the token whose vocabulary text is `text`, or undefined. */
  tokenId(text: string): number | undefined {
    return this.tokenToId.get(text);
  }

  /** Drops the per-word BPE cache (benchmarks measure the cold path with it). */
  clearCache(): void {
    this.cache = new Map();
  }

  isEog(id: number): boolean {
    return this.eogIds.has(id);
  }
}

const EMPTY = new Uint8Array(0);

interface WellFormed {
  isWellFormed(): boolean;
  toWellFormed(): string;
}

/** Split every text fragment at the leftmost non-overlapping occurrences of `st` (→ token `sid`). */
function partition(frags: (string | number)[], st: string, sid: number): (string | number)[] {
  const out: (string | number)[] = [];
  for (const f of frags) {
    if (typeof f === 'number') {
      out.push(f);
      continue;
    }
    let from = 0;
    for (;;) {
      const at = f.indexOf(st, from);
      if (at < 0) break;
      if (at > from) out.push(f.slice(from, at));
      out.push(sid);
      from = at + st.length;
    }
    if (from === 0) out.push(f);
    else if (from < f.length) out.push(f.slice(from));
  }
  return out;
}

// ---------------------------------------------------------------- GGUF metadata access

function bad(file: string, key: string, what: string, code: ErrorCode = 'TOKENIZER_BAD_VOCAB'): TokenizerError {
  return new TokenizerError(code, `${file}: ${key} ${what}`, { file, key });
}

function getString(md: ReadonlyMap<string, GGUFMetadataValue>, key: string, file: string, required: boolean): string | undefined {
  const v = md.get(key);
  if (v === undefined) {
    if (required) throw bad(file, key, 'is missing', 'MISSING_METADATA');
    return undefined;
  }
  if (v.type !== GGUFValueType.STRING) throw bad(file, key, 'must be a string');
  return v.value as string;
}

function getStringArray(md: ReadonlyMap<string, GGUFMetadataValue>, key: string, file: string, required: boolean): string[] | undefined {
  const v = md.get(key);
  if (v === undefined) {
    if (required) throw bad(file, key, 'is missing', 'MISSING_METADATA');
    return undefined;
  }
  if (v.type !== GGUFValueType.ARRAY || v.arrayType !== GGUFValueType.STRING) throw bad(file, key, 'must be an array of strings');
  return v.value as string[];
}

const INT_TYPES = new Set<GGUFValueType>([
  GGUFValueType.UINT8, GGUFValueType.INT8, GGUFValueType.UINT16, GGUFValueType.INT16, GGUFValueType.UINT32,
  GGUFValueType.INT32, GGUFValueType.UINT64, GGUFValueType.INT64,
]);

function getInt(md: ReadonlyMap<string, GGUFMetadataValue>, key: string, file: string): number | undefined {
  const v = md.get(key);
  if (v === undefined) return undefined;
  if (v.type === GGUFValueType.ARRAY || !INT_TYPES.has(v.type)) throw bad(file, key, 'must be an integer');
  return Number(v.value);
}

function getBool(md: ReadonlyMap<string, GGUFMetadataValue>, key: string, file: string): boolean | undefined {
  const v = md.get(key);
  if (v === undefined) return undefined;
  if (v.type !== GGUFValueType.BOOL) throw bad(file, key, 'must be a bool');
  return v.value as boolean;
}
