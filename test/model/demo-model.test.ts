/**
 * The built-in demo model from the library (src/index.ts): generated once into the cache directory, reused after,
 * loadable, and no temp file or directory left in the cache, on success or on error.
 */
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { demoModelPath, ensureDemoModel, loadModel } from '../../src/index.js';

let dir: string;
const prev = process.env.QWEN_HYBRID_CACHE;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'qh-demo-model-'));
});
afterEach(() => {
  if (prev === undefined) delete process.env.QWEN_HYBRID_CACHE;
  else process.env.QWEN_HYBRID_CACHE = prev;
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('demoModelPath', () => {
  it('generates the model once into the cache, loads, and is reused', async () => {
    const cache = join(dir, 'fresh', 'nested'); // created on demand
    process.env.QWEN_HYBRID_CACHE = cache;
    const path = await demoModelPath();
    expect(path).toBe(join(cache, 'demo-dense-r2-v1.gguf'));
    expect(await readdir(cache)).toEqual(['demo-dense-r2-v1.gguf']); // no .tmp-* file or directory beside it
    const first = await stat(path);
    expect(first.isFile()).toBe(true);

    const model = await loadModel(path);
    try {
      expect(model.config.arch).toBe('qwen35');
      const session = model.createSession();
      const [row] = await session.evaluate(model.tokenize('Hello'));
      expect(row!.length).toBeGreaterThanOrEqual(model.tokenizer.vocabSize); // one logit per vocabulary row
      expect(row!.every(Number.isFinite)).toBe(true);
      session.dispose();
    } finally {
      model.dispose();
    }

    const again = await ensureDemoModel();
    expect(again).toEqual({ path, generated: false });
    expect((await stat(path)).mtimeMs).toBe(first.mtimeMs);
    expect(await readdir(cache)).toEqual(['demo-dense-r2-v1.gguf']);
  });

  it('concurrent first calls generate one file', async () => {
    const cache = join(dir, 'concurrent');
    process.env.QWEN_HYBRID_CACHE = cache;
    const paths = await Promise.all([demoModelPath(), demoModelPath(), ensureDemoModel().then((r) => r.path)]);
    expect(new Set(paths).size).toBe(1);
    expect(await readdir(cache)).toEqual(['demo-dense-r2-v1.gguf']);
  });

  it('an error leaves no temp file behind', async () => {
    // The model's path is taken by a non-empty directory: the rename fails after the temp file was written.
    const cache = join(dir, 'blocked');
    await mkdir(join(cache, 'demo-dense-r2-v1.gguf'), { recursive: true });
    await writeFile(join(cache, 'demo-dense-r2-v1.gguf', 'x'), 'x');
    process.env.QWEN_HYBRID_CACHE = cache;
    await expect(demoModelPath()).rejects.toMatchObject({ code: 'FILE_WRITE_ERROR' });
    expect(await readdir(cache)).toEqual(['demo-dense-r2-v1.gguf']);
    // A cache path below a regular file cannot even be created.
    const file = join(dir, 'a-file');
    await writeFile(file, '');
    process.env.QWEN_HYBRID_CACHE = join(file, 'cache');
    await expect(demoModelPath()).rejects.toMatchObject({ code: 'FILE_WRITE_ERROR', message: expect.stringMatching(/ENOTDIR|EEXIST/) });
  });
});
