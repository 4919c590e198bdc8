/** `qwen-hybrid run --json-schema | --grammar | --regex` on the demo model: the printed text matches the constraint. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';

describe('run with a constraint', () => {
  it('--regex: the output matches the whole pattern', async () => {
    const r = await cli(['run', '-p', 'hi', '--regex', '[0-9]{3}-[a-z]{2}', '-n', '20', '--seed', '3', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const { text, timings } = JSON.parse(r.stdout) as { text: string; timings: { stopReason: string } };
    expect(timings.stopReason).toBe('eog');
    expect(text).toMatch(/^[0-9]{3}-[a-z]{2}$/);
  });

  it('--json-schema @file: the output is JSON of that shape', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qh-cli-constrained-'));
    const file = join(dir, 'schema.json');
    writeFileSync(file, JSON.stringify({ type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'], additionalProperties: false }));
    const r = await cli(['run', '-p', 'hi', '--json-schema', `@${file}`, '-n', '60', '--seed', '1', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const { text, timings } = JSON.parse(r.stdout) as { text: string; timings: { stopReason: string } };
    if (timings.stopReason === 'eog') expect(Object.keys(JSON.parse(text) as object)).toEqual(['ok']);
    else expect(timings.stopReason).toBe('max-tokens');
  });

  it('a bad grammar is error[INVALID_GRAMMAR] with the position; two constraints or bad JSON are usage errors', async () => {
    const bad = await cli(['run', '-p', 'hi', '--grammar', 'root ::= "a" |', '-n', '5']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/error\[INVALID_GRAMMAR\]: .*line 1, column \d+/);
    expect(bad.stdout).toBe('');
    const two = await cli(['run', '-p', 'hi', '--regex', 'a', '--grammar', 'root ::= "a"']);
    expect(two.code).toBe(2);
    const notJson = await cli(['run', '-p', 'hi', '--json-schema', '{nope']);
    expect(notJson.code).toBe(2);
    expect(notJson.stderr).toMatch(/--json-schema is not JSON/);
  });
});
