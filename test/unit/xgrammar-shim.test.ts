/**
 * The XGrammar WASM bundle (src/grammar/xgrammar.ts): it loads under vitest and plain Node (the README examples run
 * it unloaded by vitest), once per process, with the API the constraint engine uses; the pinned package is
 * Apache-2.0 (compatible with our MIT licence, attribution kept in node_modules).
 */
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { loadXGrammar } from '../../src/grammar/xgrammar.js';

describe('XGrammar shim', () => {
  it('evaluates the UMD bundle as CommonJS once and exposes the engine classes', async () => {
    const xg = loadXGrammar();
    expect(loadXGrammar()).toBe(xg);
    for (const k of ['TokenizerInfo', 'GrammarCompiler', 'GrammarMatcher', 'Grammar'] as const) expect(typeof xg[k]).toBe('function');
    // A grammar over a 4-token byte-level vocabulary: only "a" then "b", then the stop token.
    const info = await xg.TokenizerInfo.createTokenizerInfo(['a', 'b', 'c', '<|end|>'], 'byte_level', false, 4, [3]);
    const compiler = await xg.GrammarCompiler.createGrammarCompiler(info, false);
    const m = await xg.GrammarMatcher.createGrammarMatcher(await compiler.compileGrammar('root ::= "a" "b"'));
    const mask = await m.getNextTokenBitmask();
    expect(mask[0]! & 0b1111).toBe(0b0001);
    expect(m.acceptToken(2)).toBe(false);
    expect(m.acceptToken(0)).toBe(true);
    expect(m.acceptToken(1)).toBe(true);
    expect((await m.getNextTokenBitmask())[0]! & 0b1111).toBe(0b1000);
    expect(m.acceptToken(3)).toBe(true);
    expect(m.isTerminated()).toBe(true);
  });

  it('the pinned package and its licence', () => {
    const pkg = createRequire(import.meta.url)('@mlc-ai/web-xgrammar/package.json') as { version: string; license: string };
    expect(pkg.license).toBe('Apache-2.0');
    const ours = createRequire(import.meta.url)('../../package.json') as { dependencies: Record<string, string> };
    expect(ours.dependencies['@mlc-ai/web-xgrammar']).toBe(pkg.version); // pinned exactly: the shim patches its text
  });
});
