/**
 * Every README code block marked `<!-- readme-example -->` runs, unmodified, as a plain ESM file on this Node (CI's
 * version): no TypeScript, no loader, so syntax this Node lacks (`await using` on Node 20) fails here as it would
 * for a user. The file is written inside the package (.cache/, git-ignored) so that `import … from 'qwen-hybrid'`
 * resolves through the package's own `exports` to dist/, which beforeAll rebuilds from src (`npm run build:ts`)
 * so the examples run against this commit. Examples take no model argument: they use the built-in demo model.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const DIR = path.join(ROOT, '.cache', 'readme-examples');

function examples(): { line: number; code: string }[] {
  const lines = readFileSync(path.join(ROOT, 'README.md'), 'utf8').split('\n');
  const out: { line: number; code: string }[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.trim() !== '<!-- readme-example -->') continue;
    expect(lines[i + 1], `README.md:${i + 2}: a readme-example marker must be followed by a \`\`\`js fence`).toBe('```js');
    const end = lines.indexOf('```', i + 2);
    expect(end, `README.md:${i + 2}: unterminated fence`).toBeGreaterThan(i);
    out.push({ line: i + 2, code: lines.slice(i + 2, end).join('\n') + '\n' });
    i = end;
  }
  return out;
}

const found = examples();

beforeAll(() => {
  const tsc = spawnSync(process.execPath, [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], { cwd: ROOT, encoding: 'utf8' });
  expect(tsc.status, `npm run build:ts failed:\n${tsc.stdout}${tsc.stderr}`).toBe(0);
  rmSync(DIR, { recursive: true, force: true });
  mkdirSync(DIR, { recursive: true });
}, 180_000);

describe(`README examples run on Node ${process.version}`, () => {
  it('the README has runnable examples for the library, chat, snapshots and the low-level backend', () => {
    expect(found.length).toBeGreaterThanOrEqual(4);
    const all = found.map((e) => e.code).join('\n');
    for (const api of ['loadModel', 'generate', 'complete()', 'ChatConversation', 'saveSnapshot', 'AbortController', 'createCpuBackend']) expect(all).toContain(api);
  });

  it.each(found.map((e) => [e.line, e] as const))('README.md:%i runs and exits 0', (line, e) => {
    const file = path.join(DIR, `example-${line}.mjs`);
    writeFileSync(file, e.code);
    const r = spawnSync(process.execPath, [file], { cwd: ROOT, encoding: 'utf8', timeout: 110_000 });
    expect(r.error, String(r.error)).toBeUndefined();
    expect(r.status, `README.md:${line} exited ${r.status} (signal ${r.signal})\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`).toBe(0);
    expect(r.stderr).not.toMatch(/Error|error\[/);
  });

  it('no README code uses syntax this Node lacks outside the sentence that explains it', () => {
    const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const code = [...readme.matchAll(/```(?:js|ts)\n([\s\S]*?)```/g)].map((m) => m[1]).join('\n');
    const nodeMajor = Number(process.versions.node.split('.')[0]);
    if (nodeMajor < 24) expect(code).not.toMatch(/\bawait using\b/);
  });
});
