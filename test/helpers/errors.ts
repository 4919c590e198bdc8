/** The `code` of the QwenHybridError `f` throws synchronously (failing the test on any other error), or undefined. */
import { expect } from 'vitest';
import { QwenHybridError } from '../../src/errors.js';

export function thrownCode(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(QwenHybridError);
    return (e as QwenHybridError).code;
  }
  return undefined;
}
