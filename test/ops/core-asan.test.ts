/**
 * Under `npm run test:asan` (QWEN_HYBRID_ADDON set by scripts/test-asan.mjs): the op tests really load the
 * sanitized addon, and the ASan/UBSan runtimes are in the process. Skipped in the normal suite.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

import { nativeAddonPath } from '../../src/native/index.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const override = process.env.QWEN_HYBRID_ADDON;

describe('sanitizer run', () => {
  it.skipIf(!override)('loads the addon QWEN_HYBRID_ADDON names, with libasan and libubsan mapped', () => {
    expect(nativeAddonPath()).toBe(path.resolve(ROOT, override ?? ''));
    const maps = readFileSync('/proc/self/maps', 'utf8');
    expect(maps).toMatch(/libasan\.so/);
    expect(maps).toMatch(/libubsan\.so/);
    expect(maps).toContain(path.resolve(ROOT, override ?? ''));
  });
});
