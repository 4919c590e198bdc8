// src/tokenizer/unicode-data.ts must be exactly what scripts/gen-unicode-data.ts makes from the llama.cpp source
// our oracle binary was built from: a drift check for the Unicode tables the pre-tokenizer relies on.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateUnicodeData } from '../../scripts/gen-unicode-data.js';
import { ensureLlamaSource } from '../helpers/llama-src.js';

const src = ensureLlamaSource();
const root = resolve(import.meta.dirname, '../..');

describe.skipIf(!src)(`unicode-data.ts vs llama.cpp's src/unicode-data.cpp (${src ?? 'skipped: llama.cpp source unavailable'})`, () => {
  it('regenerates byte for byte', () => {
    const commit = execFileSync('git', ['-C', src!, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).trim();
    const origin = `llama.cpp src/unicode-data.cpp @ ${commit}`;
    const fresh = generateUnicodeData(readFileSync(join(src!, 'src', 'unicode-data.cpp'), 'utf8'), origin);
    expect(fresh).toBe(readFileSync(join(root, 'src', 'tokenizer', 'unicode-data.ts'), 'utf8'));
  });
});
