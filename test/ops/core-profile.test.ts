/**
 * QWEN_HYBRID_PROFILE=1: the CPU backend sums each kernel call's wall time per (op, input dtype) and prints the table
 * on stderr at exit. Checked in a child process (the table is written by an atexit handler): the ops that ran appear
 * with their exact call counts, ops that did not run do not, and without the variable nothing is printed.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

// Two RMS_NORMs and one SCALE per run, three runs.
const CHILD = `
import { createCpuBackend } from ${JSON.stringify(path.join(ROOT, 'src/runtime/backend.ts'))};
import { GraphBuilder, OpKind } from ${JSON.stringify(path.join(ROOT, 'src/model/graph/index.ts'))};
const be = createCpuBackend({ threads: 1 });
const g = new GraphBuilder();
const x = g.input('x', 'f32', [64, 3]);
const [a] = g.op(OpKind.RMS_NORM, [x], [{ dtype: 'f32', shape: [64, 3] }], { f: [1e-6] });
const [b] = g.op(OpKind.RMS_NORM, [a], [{ dtype: 'f32', shape: [64, 3] }], { f: [1e-6] });
const [c] = g.op(OpKind.SCALE, [b], [{ dtype: 'f32', shape: [64, 3] }], { f: [2, 0] });
g.output('y', c);
const plan = be.compile(g.build());
for (let i = 0; i < 3; i++) await plan.run({ x: new Float32Array(192).fill(1) });
plan.dispose();
be.dispose();
`;

function runChild(env: Record<string, string | undefined>) {
  return spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', CHILD], {
    encoding: 'utf8',
    cwd: ROOT,
    env: { ...process.env, ...env },
  });
}

describe('QWEN_HYBRID_PROFILE', () => {
  it('prints per-op times and exact call counts at exit', () => {
    const r = runChild({ QWEN_HYBRID_PROFILE: '1' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain('qwen-hybrid profile (CPU backend');
    const line = (op: string) => r.stderr.split('\n').find((l) => l.trim().startsWith(op + ' '));
    expect(line('RMS_NORM'), r.stderr).toMatch(/\bF32\b.*\b6 calls\b/);
    expect(line('SCALE'), r.stderr).toMatch(/\bF32\b.*\b3 calls\b/);
    expect(line('MATMUL')).toBeUndefined();
  });

  it('prints nothing without the variable, or with 0', () => {
    for (const v of [undefined, '0']) {
      const r = runChild({ QWEN_HYBRID_PROFILE: v });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stderr).not.toContain('qwen-hybrid profile');
    }
  });
});
