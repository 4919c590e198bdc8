/**
 * CLI run / logits / perplexity / chat: output shapes and values against independent computations (greedy argmax
 * and float64 log-softmax over session.evaluate logits), `error[CODE]` with exit 1 (bad input) or 2 (usage).
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadNativeAddon } from '../../src/native/addon.js';
import { chatCommand } from '../../src/cli/chat.js';
import type { Output } from '../../src/cli/io.js';
import { runCli } from '../../src/cli/main.js';
import { loadModel, type Model } from '../../src/model/index.js';
import { argmax, logSoftmax } from '../../src/reference/sampling.js';
import { getTinyModel } from '../helpers/model-cache.js';

function capture(): { io: Output; out: () => string; err: () => string } {
  let stdout = '';
  let stderr = '';
  return { io: { out: (t) => void (stdout += t), err: (t) => void (stderr += t), isTTY: false }, out: () => stdout, err: () => stderr };
}
async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const c = capture();
  const code = await runCli(args, c.io);
  return { code, stdout: c.out(), stderr: c.err() };
}

let path: string;
let model: Model;
let dir: string;
const PROMPT = [10, 300, 42, 77, 5];

beforeAll(async () => {
  path = (await getTinyModel('dense-r2')).path;
  model = await loadModel(path);
  dir = await mkdtemp(join(tmpdir(), 'qh-cli-run-'));
});
afterAll(() => model?.dispose());

describe('run', () => {
  it('--json prints exactly one object: the greedy tokens, their text, timings', async () => {
    const r = await cli(['run', '-m', path, '--tokens', PROMPT.join(','), '-n', '6', '--temp', '0', '--json']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout.endsWith('\n')).toBe(true);
    const o = JSON.parse(r.stdout) as { tokens: number[]; text: string; timings: Record<string, unknown> };
    expect(Object.keys(o)).toEqual(['tokens', 'text', 'timings']);
    // Independent greedy loop over session.evaluate: argmax (float64 reference), fed back one token at a time.
    const s = model.createSession();
    let row = (await s.evaluate(PROMPT))[0]!;
    const want: number[] = [];
    for (let i = 0; i < 6; i++) {
      const t = argmax(row, row.length)[0]!;
      if (model.tokenizer.isEog(t)) break;
      want.push(t);
      row = (await s.evaluate([t]))[0]!;
    }
    s.dispose();
    expect(o.tokens).toEqual(want);
    expect(o.text).toBe(model.tokenizer.decode(want));
    expect(o.timings['generatedTokens']).toBe(want.length);
    expect(o.timings['promptTokens']).toBe(PROMPT.length);
    expect(typeof o.timings['tokensPerSecond']).toBe('number');
    expect(o.timings['stopReason']).toBe(want.length === 6 ? 'max-tokens' : 'eog');
  });

  it('streams text to stdout and tokens/s to stderr', async () => {
    const r = await cli(['run', '-m', path, '-p', 'Hello there', '-n', '4', '--seed', '1']);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/tokens\/s/);
    const j = JSON.parse((await cli(['run', '-m', path, '-p', 'Hello there', '-n', '4', '--seed', '1', '--json'])).stdout) as { text: string };
    expect(r.stdout).toBe(j.text + '\n'); // same seed → same text
  });

  it('without -m uses the demo model and says its weights are random', async () => {
    const prev = process.env.QWEN_HYBRID_CACHE;
    process.env.QWEN_HYBRID_CACHE = join(dir, 'cache');
    try {
      const r = await cli(['run', '--tokens', '1,2,3', '-n', '2', '--temp', '0', '--json']);
      expect(r.code).toBe(0);
      expect(r.stderr).toMatch(/demo model.*RANDOM/);
      expect((JSON.parse(r.stdout) as { tokens: number[] }).tokens.length).toBeLessThanOrEqual(2);
    } finally {
      if (prev === undefined) delete process.env.QWEN_HYBRID_CACHE;
      else process.env.QWEN_HYBRID_CACHE = prev;
    }
  });

  it.each([
    [['run', '-m', 'x.gguf'], /exactly one of -p/],
    [['run', '-m', 'x.gguf', '-p', 'a', '--tokens', '1'], /exactly one of -p/],
    [['run', '-m', 'x.gguf', '-p', 'a', '--temp', 'hot'], /--temp expects a number/],
    [['run', '-m', 'x.gguf', '--tokens', '1,x'], /--tokens expects/],
    [['run', '-m', 'x.gguf', '-p', 'a', '--bogus'], /bogus/],
    // Range checks name the flag and come before the model is opened (x.gguf does not exist).
    [['run', '-m', 'x.gguf', '-p', 'a', '--top-p', '1.5'], /--top-p must be in \(0, 1\], got 1\.5/],
    [['run', '-m', 'x.gguf', '-p', 'a', '--temp=-1'], /--temp must be ≥ 0/],
    [['logits', '--tokens', '1'], /-m <model.gguf> is required/],
    [['logits', '-m', 'x.gguf', '--tokens', '1', '--top', '0'], /--top must be/],
    [['perplexity', '-m', 'x.gguf'], /-f <text file> is required/],
    [['run', '-m', 'x.gguf', '-p', 'a', '--backend', 'tpu'], /--backend/],
  ])('usage error %j → exit 2', async (args, msg) => {
    const r = await cli(args.map((a) => (a === '$PATH' ? path : a)));
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^error\[(USAGE|INVALID_ARGUMENT)\]: /);
    expect(r.stderr).toMatch(msg);
    expect(r.stderr.split('\n').length).toBe(2); // one line, no stack
  });

  it('missing files and bad token ids are bad input → exit 1', async () => {
    const missing = join(dir, 'nope.gguf');
    const r = await cli(['run', '-m', missing, '-p', 'a']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error\[FILE_NOT_FOUND\]: .*nope\.gguf/);
    const p = await cli(['perplexity', '-m', path, '-f', join(dir, 'nope.txt')]);
    expect(p.code).toBe(1);
    expect(p.stderr).toMatch(/^error\[FILE_NOT_FOUND\]: .*nope\.txt/);
    const t = await cli(['run', '-m', path, '--tokens', `1,${model.vocabSize}`, '--json']);
    expect(t.code).toBe(1);
    expect(t.stderr).toMatch(/^error\[TOKEN_ID_OUT_OF_RANGE\]/);
    expect(t.stdout).toBe('');
    const c = await cli(['run', '-m', path, '--tokens', PROMPT.join(','), '--ctx', '3', '--json']);
    expect(c.code).toBe(1);
    expect(c.stderr).toMatch(/^error\[CONTEXT_FULL\]/);
    if (!loadNativeAddon().cudaDevices().available) {
      // No CUDA device (CI): --backend cuda is a clear error (with a device it runs: test/gpu/model.test.ts).
      const cuda = await cli(['logits', '-m', path, '--tokens', '1', '--backend', 'cuda', '--json']);
      expect(cuda.code).toBe(1);
      expect(cuda.stderr).toMatch(/^error\[(NO_CUDA_DEVICE|BACKEND_UNAVAILABLE)\]/);
    }
  });
});

describe('logits', () => {
  it('--json: one entry per position, top K of float64 log-softmax over the full vocab, best first', async () => {
    const K = 7;
    const r = await cli(['logits', '-m', path, '--tokens', PROMPT.join(','), '--top', String(K), '--json']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const o = JSON.parse(r.stdout) as { positions: { top: [number, number][] }[] };
    expect(Object.keys(o)).toEqual(['positions']);
    expect(o.positions.length).toBe(PROMPT.length);
    const s = model.createSession();
    const rows = await s.evaluate(PROMPT, { logits: 'all' });
    s.dispose();
    o.positions.forEach((p, i) => {
      const V = rows[i]!.length;
      const ls = logSoftmax(rows[i]!, V);
      const order = Array.from({ length: V }, (_, j) => j).sort((a, b) => ls[b]! - ls[a]! || a - b).slice(0, K);
      expect(p.top.map(([id]) => id)).toEqual(order);
      p.top.forEach(([id, lp]) => expect(Math.abs(lp - ls[id]!)).toBeLessThan(1e-12));
    });
  });

  it('default K is 20; text output lists positions', async () => {
    const o = JSON.parse((await cli(['logits', '-m', path, '--tokens', '1,2', '--json'])).stdout) as { positions: { top: unknown[] }[] };
    expect(o.positions.map((p) => p.top.length)).toEqual([20, 20]);
    const t = await cli(['logits', '-m', path, '--tokens', '1,2']);
    expect(t.code).toBe(0);
    expect(t.stdout.trim().split('\n').length).toBe(2);
  });
});

describe('perplexity', () => {
  it('equals exp of the mean float64 NLL of each next token', async () => {
    const text = 'The cat sat on the mat. 你好，世界！';
    const f = join(dir, 'ppl.txt');
    await writeFile(f, text);
    const r = await cli(['perplexity', '-m', path, '-f', f, '--json', '--chunk', '8']);
    expect(r.code).toBe(0);
    const o = JSON.parse(r.stdout) as { perplexity: number; tokens: number; chunks: number };
    const ids = model.tokenize(text);
    let nll = 0;
    let n = 0;
    for (let s0 = 0; s0 < ids.length; s0 += 8) {
      const part = ids.slice(s0, s0 + 8);
      if (part.length < 2) break;
      const s = model.createSession();
      const rows = await s.evaluate(part, { logits: 'all' });
      s.dispose();
      for (let i = 0; i + 1 < part.length; i++) {
        nll -= logSoftmax(rows[i]!, rows[i]!.length)[part[i + 1]!]!;
        n++;
      }
    }
    expect(o.tokens).toBe(n);
    expect(o.chunks).toBe(Math.ceil(ids.length / 8) - (ids.length % 8 === 1 ? 1 : 0));
    expect(Math.abs(o.perplexity - Math.exp(nll / n)) / o.perplexity).toBeLessThan(1e-9);
  });
});

describe('chat', () => {
  it('answers each input line, reasoning wrapped in <think> when not a terminal; --no-think has none', async () => {
    const c = capture();
    const code = await chatCommand(['-m', path, '-n', '8', '--seed', '3'], c.io, Readable.from(['hello\n', 'and again\n']));
    expect(code).toBe(0);
    expect(c.out().startsWith('<think>\n')).toBe(true);
    expect(c.err().match(/tokens\/s \(prompt/g)?.length).toBe(2);
    const d = capture();
    expect(await chatCommand(['-m', path, '-n', '8', '--seed', '3', '--no-think'], d.io, Readable.from(['hello\n']))).toBe(0);
    expect(d.out()).not.toContain('<think>');
  });

  it('on a terminal: a prompt, and reasoning dimmed with ANSI instead of tags', async () => {
    let out = '';
    const io: Output = { out: (t) => void (out += t), err: () => {}, isTTY: true };
    expect(await chatCommand(['-m', path, '-n', '6', '--seed', '3'], io, Readable.from(['hi\n']))).toBe(0);
    expect(out.startsWith('> \x1b[2m')).toBe(true);
    expect(out).toContain('\x1b[0m');
    expect(out).not.toContain('<think>');
  });
});
