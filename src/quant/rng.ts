/**
 * Seeded deterministic PRNG: xoshiro128** (32-bit state words, Math.imul only), so the same seed gives the
 * same stream on every platform and Node version. Seeds are expanded with splitmix32.
 * Not cryptographic; for test data and random tensors only.
 */
import { QwenHybridError } from '../errors.js';

const TWO_POW_M32 = 2 ** -32;
const TWO_POW_M53 = 2 ** -53;

/** splitmix32 step on a 32-bit state: returns [next state, output]. */
function splitmix32(state: number): [number, number] {
  const s = (state + 0x9e3779b9) | 0;
  let z = s;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  z ^= z >>> 16;
  return [s, z >>> 0];
}

/** FNV-1a over the UTF-16 code units of a label. */
function hashLabel(label: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < label.length; i++) {
    h ^= label.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export class Rng {
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;
  /** Second Box–Muller output, or NaN when none is pending. */
  private spare = NaN;

  /**
   * @param seed a non-negative safe integer or bigint (low 64 bits used). Two seeds that differ in their
   *   low 64 bits give unrelated streams.
   */
  constructor(seed: number | bigint) {
    let big: bigint;
    if (typeof seed === 'bigint') big = seed;
    else {
      if (!Number.isSafeInteger(seed)) {
        throw new QwenHybridError('INVALID_ARGUMENT', `Rng: seed must be a safe integer or bigint, got ${seed}`, { parameter: 'seed', value: seed });
      }
      big = BigInt(seed);
    }
    big = BigInt.asUintN(64, big);
    this.seedWords(Number(big & 0xffffffffn), Number(big >> 32n));
  }

  /**
   * Generator with the raw xoshiro128** state (s0..s3, not all zero): for checks against the reference
   * implementation's published outputs.
   */
  static fromState(state: readonly [number, number, number, number]): Rng {
    if (state.every((w) => (w | 0) === 0)) {
      throw new QwenHybridError('INVALID_ARGUMENT', 'Rng.fromState: the all-zero state is not allowed', { parameter: 'state' });
    }
    const r = Object.create(Rng.prototype) as Rng;
    [r.s0, r.s1, r.s2, r.s3] = state.map((w) => w | 0) as [number, number, number, number];
    r.spare = NaN;
    return r;
  }

  private seedWords(lo: number, hi: number): void {
    let st = lo ^ Math.imul(hi ^ 0x6a09e667, 0x9e3779b1);
    let out: number;
    [st, out] = splitmix32(st); this.s0 = out;
    [st, out] = splitmix32(st ^ hi); this.s1 = out;
    [st, out] = splitmix32(st); this.s2 = out;
    [st, out] = splitmix32(st ^ lo); this.s3 = out;
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1; // all-zero state is a fixed point
    this.spare = NaN;
  }

  /** Uniform 32-bit unsigned integer. */
  nextU32(): number {
    const s1 = this.s1;
    const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9);
    const t = s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result >>> 0;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  float(): number {
    const a = this.nextU32() >>> 5; // 27 bits
    const b = this.nextU32() >>> 6; // 26 bits
    return (a * 67108864 + b) * TWO_POW_M53;
  }

  /** Standard normal N(0, 1) (Marsaglia polar method; pairs are cached). */
  normal(): number {
    const spare = this.spare;
    if (spare === spare) {
      this.spare = NaN;
      return spare;
    }
    // (u, v) uniform in the unit disc (32-bit resolution each), s = u² + v² ∈ (0, 1).
    let u: number, v: number, s: number;
    do {
      u = (this.nextU32() + 0.5) * TWO_POW_M32 * 2 - 1;
      v = (this.nextU32() + 0.5) * TWO_POW_M32 * 2 - 1;
      s = u * u + v * v;
    } while (s >= 1);
    const f = Math.sqrt((-2 * Math.log(s)) / s);
    this.spare = v * f;
    return u * f;
  }

  /** Uniform integer in [0, n), unbiased (rejection). n: integer in [1, 2^32]. */
  int(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > 4294967296) {
      throw new QwenHybridError('INVALID_ARGUMENT', `Rng.int: n must be an integer in [1, 2^32], got ${n}`, { parameter: 'n', value: n });
    }
    const limit = 4294967296 - (4294967296 % n); // largest multiple of n ≤ 2^32
    for (;;) {
      const x = this.nextU32();
      if (x < limit) return x % n;
    }
  }

  /**
   * Independent child stream named by `label`, derived from this generator's current state without
   * advancing it: the same parent state and label always give the same child.
   */
  fork(label: string): Rng {
    const child = Object.create(Rng.prototype) as Rng;
    const h = hashLabel(label);
    child.seedWords((this.s0 ^ Math.imul(this.s2, 0x27d4eb2d) ^ h) >>> 0, (this.s1 ^ rotl(this.s3, 16) ^ Math.imul(h, 0x165667b1)) >>> 0);
    return child;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
