/** Shared helpers of the test/ops/core-*.test.ts files (plumbing tests of the execution core). */
import { expect } from 'vitest';

import { QwenHybridError } from '../../src/errors.js';
import { Rng } from '../../src/quant/index.js';

export function randomF32(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const rng = new Rng(seed);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = lo + (hi - lo) * rng.float();
  return a;
}

/** The QwenHybridError a sync function throws (fails the test if it does not). */
export function thrown(f: () => unknown): QwenHybridError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(QwenHybridError);
    return e as QwenHybridError;
  }
  throw new Error('expected a QwenHybridError, nothing was thrown');
}

/** The QwenHybridError a promise rejects with. */
export async function rejected(p: Promise<unknown>): Promise<QwenHybridError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(QwenHybridError);
    return e as QwenHybridError;
  }
  throw new Error('expected a rejection, the promise resolved');
}

/** max |a - b| / max(1, |b|) */
export function maxRelErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)) / Math.max(1, Math.abs(b[i] as number)));
  return m;
}
