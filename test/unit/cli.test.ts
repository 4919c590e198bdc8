/**
 * The CLI contract: `inspect` and `tokenize` output checked against independent references (node-llama-cpp's
 * own GGUF reader and llama.cpp's tokenizer), `error[CODE]: message` on stderr with exit 1 (bad input) or 2
 * (bad usage) and no stack trace, and the real `bin/qwen-hybrid.js` process end to end.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { readGgufFileInfo } from 'node-llama-cpp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModelReport } from '../../src/model/inspect.js';
import { disposeOracleLlama, getOracleLlama } from '../helpers/llama-oracle.js';
import { getTinyModel } from '../helpers/model-cache.js';
import { cli } from '../helpers/cli.js';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '../..');

let dense: { path: string; config: { nEmbd: number } };
let moe: { path: string };
let dir: string;

beforeAll(async () => {
  dense = await getTinyModel('dense-r3-tied-mtp');
  moe = await getTinyModel('moe-r2');
  dir = await mkdtemp(join(tmpdir(), 'qh-cli-'));
});

describe('inspect', () => {
  it('reports what node-llama-cpp reads from the same file', async () => {
    for (const path of [dense.path, moe.path]) {
      const r = await cli(['inspect', path, '--json']);
      expect(r.code).toBe(0);
      expect(r.stderr).toBe('');
      const report = JSON.parse(r.stdout) as ModelReport;
      const ref = await readGgufFileInfo(path, { readTensorInfo: true, logWarnings: false });
      const refTensors = ref.fullTensorInfo ?? [];
      expect(report.tensorCount).toBe(refTensors.length);
      const refParams = refTensors.reduce((s, t) => s + t.dimensions.reduce((p: number, d) => p * Number(d), 1), 0);
      expect(report.parameters.total).toBe(refParams);
      expect(report.architecture).toBe(ref.metadata.general.architecture);
      const arch = report.architecture as string;
      const md = ref.metadata as unknown as Record<string, Record<string, unknown>>;
      expect(report.config?.nEmbd).toBe(md[arch]!['embedding_length']);
      expect(report.config?.nBlock).toBe(md[arch]!['block_count']);
      expect(report.fileSize).toBe((await readFile(path)).length);
      // The type histogram covers every tensor exactly once.
      expect(report.types.reduce((s, t) => s + t.tensors, 0)).toBe(refTensors.length);
    }
  });

  it('derives trunk layers, layer kinds and memory per context from the spec formulas', async () => {
    const r = JSON.parse((await cli(['inspect', dense.path, '--json', '--ctx', '1000,2000'])).stdout) as ModelReport;
    const c = r.config!;
    // dense-r3-tied-mtp: 8 trunk layers + 1 MTP block; full attention where (i+1) % 4 == 0.
    expect(c.nTrunk).toBe(8);
    expect(c.nNextn).toBe(1);
    expect(c.layerKinds).toEqual(['gdn', 'gdn', 'gdn', 'attention', 'gdn', 'gdn', 'gdn', 'attention']);
    expect(r.parameters.mtp).toBeGreaterThan(0);
    // KV cache: 2 attention layers × ctx × n_kv 2 × (k 64 + v 64) × 2 bytes (f16).
    expect(r.memory.map((m) => m.kvCacheBytes)).toEqual([1000, 2000].map((n) => 2 * n * 2 * 128 * 2));
    // GDN: 6 layers × (nv 6 × 64 × 64 × 4 B state + 3 × (2·2·64 + 6·64) channels × 4 B conv state).
    expect(r.memory[0]!.recurrentStateBytes).toBe(6 * (6 * 64 * 64 * 4 + 3 * (2 * 2 * 64 + 6 * 64) * 4));
  });

  it('prints a human-readable report', async () => {
    const r = await cli(['inspect', moe.path]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/architecture\s+qwen35moe/);
    expect(r.stdout).toMatch(/MoE 8 experts, 2 used/);
    expect(r.stdout).toContain('tensor types');
    expect(r.stdout).toContain('memory per sequence');
  });

  it('bad input: typed error on stderr, exit 1, no stack trace', async () => {
    const truncated = join(dir, 'truncated.gguf');
    await writeFile(truncated, (await readFile(dense.path)).subarray(0, 300));
    const garbage = join(dir, 'garbage.gguf');
    await writeFile(garbage, Buffer.from('this is not a gguf file at all, not even close'));
    const cases: Array<[string, string]> = [
      [join(dir, 'missing.gguf'), 'FILE_NOT_FOUND'],
      [truncated, 'GGUF_TRUNCATED'],
      [garbage, 'GGUF_BAD_MAGIC'],
    ];
    for (const [path, code] of cases) {
      const r = await cli(['inspect', path]);
      expect(r.code, path).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(new RegExp(`^error\\[${code}\\]: .*${path.split('/').pop()!.replace('.', '\\.')}`));
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
  });

  it('bad usage: exit 2', async () => {
    for (const args of [['inspect'], ['inspect', 'a.gguf', 'b.gguf'], ['inspect', dense.path, '--bogus'], ['inspect', dense.path, '--ctx', 'x'], ['nosuchcommand']]) {
      const r = await cli(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/^error\[USAGE\]: /);
    }
  });
});

describe('tokenize', () => {
  afterAll(disposeOracleLlama);

  it('--json prints exactly {"tokens":[...]}, equal to llama.cpp', async () => {
    const model = await (await getOracleLlama()).loadModel({ modelPath: dense.path, vocabOnly: true });
    try {
      for (const [text, special] of [
        ['Hello, world! 你好 123', false],
        ['<|im_start|>user\nhi<think>x</think><|im_end|>', true],
        ['<|im_start|>user\nhi<think>x</think><|im_end|>', false],
      ] as const) {
        const r = await cli(['tokenize', '-m', dense.path, '--text', text, '--json', ...(special ? ['--special'] : [])]);
        expect(r.code).toBe(0);
        expect(r.stdout).toMatch(/^\{"tokens":\[[0-9,]*\]\}\n$/);
        const ids = (JSON.parse(r.stdout) as { tokens: number[] }).tokens;
        expect(ids).toEqual([...model.tokenize(text, special)]);
      }
    } finally {
      await model.dispose();
    }
  });

  it('usage errors', async () => {
    expect((await cli(['tokenize', '--text', 'x'])).code).toBe(2);
    expect((await cli(['tokenize', '-m', dense.path])).code).toBe(2);
    expect((await cli(['tokenize', '-m', dense.path, '--text', 'a', '--file', 'b'])).code).toBe(2);
    const r = await cli(['tokenize', '-m', join(dir, 'nope.gguf'), '--text', 'x']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error\[FILE_NOT_FOUND\]/);
  });
});

describe('template', () => {
  it('renders the built-in Qwen3.5 prompt for a file without a chat template', async () => {
    const r = await cli(['template', '-m', dense.path, '--system', 'S', '--user', 'U', '--no-think']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n');
  });
});

describe('the installed command (bin/qwen-hybrid.js → dist)', () => {
  beforeAll(async () => {
    if (!existsSync(join(root, 'dist', 'cli', 'main.js'))) {
      await run(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], { cwd: root });
    }
  }, 180_000);

  const bin = (args: string[]) =>
    run(process.execPath, [join(root, 'bin', 'qwen-hybrid.js'), ...args], { cwd: root }).then(
      (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
      (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
    );

  it('tokenize --json and exit codes from a real process', async () => {
    const ok = await bin(['tokenize', '-m', dense.path, '--text', 'abc', '--json']);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/^\{"tokens":\[[0-9,]+\]\}\n$/);
    const bad = await bin(['inspect', join(dir, 'missing.gguf')]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^error\[FILE_NOT_FOUND\]: /);
    const usage = await bin(['inspect']);
    expect(usage.code).toBe(2);
    expect((await bin(['--help'])).stdout).toContain('inspect');
  });
});
