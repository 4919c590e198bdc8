/**
 * scripts/test-gpu-sanitize.mjs (npm run test:gpu:sanitize), without a GPU: argument errors and a missing
 * compute-sanitizer are usage errors (exit 2) naming the problem; with a stand-in sanitizer (a shell script that
 * records its arguments and exits as told) the script runs each requested tool over vitest's GPU config with the
 * default or named test files, and maps the sanitizer's error exit code to exit 1. The real sanitizer needs a GPU.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SCRIPT = path.join(ROOT, 'scripts', 'test-gpu-sanitize.mjs');
const dir = mkdtempSync(path.join(tmpdir(), 'qh-sanitize-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A fake compute-sanitizer: appends its argument list (one line per call) to `log`, exits with `code`. */
function stub(code: number): { exe: string; log: string } {
  const exe = path.join(dir, `compute-sanitizer-${code}`);
  const log = path.join(dir, `calls-${code}.txt`);
  writeFileSync(exe, `#!/bin/sh\necho "$@" >> ${JSON.stringify(log)}\nexit ${code}\n`);
  chmodSync(exe, 0o755);
  writeFileSync(log, '');
  return { exe, log };
}

function run(args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, [SCRIPT, ...args], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, ...env } });
}

describe('test-gpu-sanitize script', () => {
  it('an unknown tool, option or test file exits 2 naming it', () => {
    const t = run(['--tool', 'leakcheck']);
    expect(t.status).toBe(2);
    expect(t.stderr).toContain("unknown tool 'leakcheck'");
    const o = run(['--fast']);
    expect(o.status).toBe(2);
    expect(o.stderr).toContain("unknown option '--fast'");
    const f = run(['test/gpu/nope.test.ts']);
    expect(f.status).toBe(2);
    expect(f.stderr).toContain('no such test file: test/gpu/nope.test.ts');
  });

  it('COMPUTE_SANITIZER pointing nowhere exits 2 saying so', () => {
    const r = run([], { COMPUTE_SANITIZER: '/nonexistent/compute-sanitizer' });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('COMPUTE_SANITIZER=/nonexistent/compute-sanitizer does not exist');
  });

  it('runs every tool of --tool all over the GPU config, default files = the per-op GPU tests', () => {
    const s = stub(0);
    const r = run(['--tool', 'all'], { COMPUTE_SANITIZER: s.exe });
    expect(r.status, r.stderr).toBe(0);
    const calls = readFileSync(s.log, 'utf8').trim().split('\n');
    expect(calls.map((c) => c.split(' ')[1])).toEqual(['memcheck', 'racecheck', 'synccheck', 'initcheck']);
    for (const c of calls) {
      expect(c).toContain('--target-processes all');
      expect(c).toContain('run --config vitest.gpu.config.ts');
      expect(c).toContain('test/gpu/ops-attention.test.ts');
      expect(c).toContain('test/gpu/ops-gdn.test.ts');
      expect(c).toContain('test/gpu/sample.test.ts');
      expect(c).not.toContain('test/gpu/model.test.ts');
    }
    expect(r.stderr).toContain('initcheck: clean');
  });

  it('named files only; the sanitizer reporting errors → exit 1', () => {
    const s = stub(86);
    const r = run(['test/gpu/model.test.ts'], { COMPUTE_SANITIZER: s.exe });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('memcheck: errors reported');
    const [call] = readFileSync(s.log, 'utf8').trim().split('\n');
    expect(call!.split(' ')[1]).toBe('memcheck');
    expect(call!.endsWith('test/gpu/model.test.ts')).toBe(true);
  });
});
