/**
 * Backend selection in loadModel and the CLI (runs everywhere; the CUDA side of the model is test/gpu/model.test.ts):
 * backend 'cuda' without a usable device → NO_CUDA_DEVICE with the addon's reason, before the file is read;
 * 'auto' → the CPU with a backendReason saying why; a bad device index → INVALID_ARGUMENT whatever the backend;
 * CLI --backend / --device parsing (usage errors exit 2, a missing device exits 1).
 * On a machine with a usable CUDA device the no-device expectations flip to "CUDA was chosen" (auto) and are
 * checked there instead.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Output } from '../../src/cli/io.js';
import { runCli } from '../../src/cli/main.js';
import { QwenHybridError } from '../../src/errors.js';
import { loadModel } from '../../src/model/index.js';
import { loadNativeAddon } from '../../src/native/addon.js';
import { getTinyModel } from '../helpers/model-cache.js';

const devices = loadNativeAddon().cudaDevices();
const README = fileURLToPath(new URL('../../README.md', import.meta.url));

async function errorOf(p: Promise<unknown>): Promise<QwenHybridError> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(QwenHybridError);
  return e as QwenHybridError;
}

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io: Output = { out: (t) => void (stdout += t), err: (t) => void (stderr += t), isTTY: false };
  const code = await runCli(args, io);
  return { code, stdout, stderr };
}

let path: string;
beforeAll(async () => {
  path = (await getTinyModel('dense-r2')).path;
});

describe('loadModel backend selection', () => {
  it.skipIf(devices.available)("backend 'cuda' without a device → NO_CUDA_DEVICE naming the file and the reason, before reading", async () => {
    const missing = join('/nonexistent', 'model.gguf');
    const e = await errorOf(loadModel(missing, { backend: 'cuda' }));
    expect(e.code).toBe('NO_CUDA_DEVICE');
    expect(e.message).toContain(missing);
    expect(e.message).toContain(devices.reason);
    // Same with an explicit device index.
    expect((await errorOf(loadModel(path, { backend: 'cuda', device: 3 }))).code).toBe('NO_CUDA_DEVICE');
  });

  it.skipIf(devices.available)("'auto' (the default) → CPU, backendReason says why CUDA was not used", async () => {
    for (const opts of [{}, { backend: 'auto' as const }, { backend: 'auto' as const, device: 2 }]) {
      const m = await loadModel(path, { ...opts, threads: 1 });
      try {
        expect(m.backend).toBe('cpu');
        expect(m.device).toBeNull();
        expect(m.cudaInfo()).toBeNull();
        expect(m.backendReason).toMatch(/^auto: /);
        expect(m.backendReason).toContain(devices.reason);
        expect(m.backendReason).toMatch(/using the CPU backend$/);
        // The model works on the backend it picked.
        const s = m.createSession();
        expect((await s.evaluate([1, 2, 3]))[0]!.length).toBe(m.vocabSize);
      } finally {
        m.dispose();
      }
    }
  });

  it.runIf(devices.available)("'auto' with a usable device picks CUDA and says so", async () => {
    const m = await loadModel(path, { backend: 'auto' });
    try {
      expect(m.backend).toBe('cuda');
      expect(m.device).toBe(0);
      expect(m.backendReason).toMatch(/^auto: CUDA device 0 .* fits/);
    } finally {
      m.dispose();
    }
  });

  it("'cpu' → CPU, reason 'CPU backend requested'", async () => {
    const m = await loadModel(path, { backend: 'cpu', threads: 1 });
    expect(m.backend).toBe('cpu');
    expect(m.backendReason).toBe('CPU backend requested');
    expect(m.threads).toBe(1);
    m.dispose();
  });

  it('a bad device index or backend name → INVALID_ARGUMENT on every backend, before anything is read', async () => {
    for (const backend of ['cuda', 'auto', 'cpu'] as const) {
      for (const device of [-1, 1.5, Number.NaN]) {
        const e = await errorOf(loadModel('/nonexistent.gguf', { backend, device }));
        expect(e.code).toBe('INVALID_ARGUMENT');
        expect(e.message).toMatch(/device must be a non-negative integer/);
      }
    }
    const e = await errorOf(loadModel('/nonexistent.gguf', { backend: 'gpu' as never }));
    expect(e.code).toBe('INVALID_ARGUMENT');
    expect(e.message).toMatch(/backend must be 'auto', 'cpu' or 'cuda'/);
  });
});

describe('CLI --backend / --device', () => {
  it('bad values are usage errors (exit 2) naming the flag', async () => {
    for (const [args, msg] of [
      [['--backend', 'gpu'], /--backend must be auto, cpu or cuda, got 'gpu'/],
      [['--device', 'x'], /--device expects an integer, got 'x'/],
      [['--device=-1'], /--device must be ≥ 0/],
      [['--device', '0', '--backend', 'cpu'], /--device selects a CUDA device/],
    ] as const) {
      for (const cmd of ['run', 'logits']) {
        const r = await cli([cmd, '-m', path, '--tokens', '1,2', ...args]);
        expect(r.code).toBe(2);
        expect(r.stderr).toMatch(/^error\[USAGE\]/);
        expect(r.stderr).toMatch(msg);
        expect(r.stdout).toBe('');
      }
    }
  });

  it.skipIf(devices.available)('--backend cuda without a device → error[NO_CUDA_DEVICE], exit 1; --backend cpu runs', async () => {
    for (const cmd of [['run', '--tokens', '1,2', '-n', '2', '--json'], ['logits', '--tokens', '1,2', '--json'], ['perplexity', '-f', README]]) {
      const r = await cli([cmd[0]!, '-m', path, ...cmd.slice(1), '--backend', 'cuda', '--device', '1']);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^error\[NO_CUDA_DEVICE\]: backend 'cuda' requested for /);
    }
    const ok = await cli(['run', '-m', path, '--tokens', '1,2', '-n', '2', '--temp', '0', '--json', '--backend', 'cpu', '-t', '1']);
    expect(ok.code).toBe(0);
    expect((JSON.parse(ok.stdout) as { tokens: number[] }).tokens.length).toBeLessThanOrEqual(2);
  });

  it('--help of run, chat, logits and perplexity documents --backend and --device', async () => {
    for (const cmd of ['run', 'chat', 'logits', 'perplexity']) {
      const r = await cli([cmd, '--help']);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/--backend/);
      expect(r.stdout).toMatch(/--device/);
    }
  });
});
