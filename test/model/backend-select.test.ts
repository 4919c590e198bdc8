/**
 * Backend selection in loadModel and the CLI (runs everywhere; the CUDA side of the model is test/gpu/model.test.ts):
 * backend 'cuda' without a usable device → NO_CUDA_DEVICE with the addon's reason, before the file is read;
 * 'auto' → the CPU with a backendReason saying why; a bad device index → INVALID_ARGUMENT whatever the backend;
 * CLI --backend / --device parsing (usage errors exit 2, a missing device exits 1). And generate's device-sampling
 * path (decode plans ending in the SAMPLE op, what CUDA generation uses) driven on the CPU backend's SAMPLE op: the
 * same token streams as host sampling for greedy, seeded and penalised settings, including a penalty window longer
 * than DEVICE_SAMPLE_WINDOW (those steps fall back to the host with the same draw).
 * On a machine with a usable CUDA device the no-device expectations flip to "CUDA was chosen" (auto) and are
 * checked there instead.
 */
import { deviceSamplingView } from '../helpers/device-sampling.js';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { QwenHybridError } from '../../src/errors.js';
import { loadModel, type Session } from '../../src/model/index.js';
import { DEVICE_SAMPLE_WINDOW, generate, type GenerateOptions, type GenerationSession } from '../../src/runtime/generate.js';
import { loadNativeAddon } from '../../src/native/addon.js';
import { getTinyModel } from '../helpers/model-cache.js';
import { cli } from '../helpers/cli.js';

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

describe('device-sampling generation path (on the CPU SAMPLE op)', () => {
  const counter = { steps: 0 };
  const onDevice = (s: Session): GenerationSession => deviceSamplingView(s, counter);
  const tokens = async (s: GenerationSession, prompt: number[], o: GenerateOptions) => {
    const out: number[] = [];
    const st = generate(s, prompt, o);
    for await (const c of st) out.push(c.token);
    return { out, stats: await st.stats };
  };

  it('gives the host path\'s tokens for a seed (greedy, sampled, penalties, a window longer than the device one)', async () => {
    const m = await loadModel(path, { backend: 'cpu', threads: 1, contextSize: 400 });
    try {
      expect(m.deviceSampling).toBe(false);
      const prompt = [10, 300, 42, 77, 5];
      const cases: GenerateOptions[] = [
        { temperature: 0, maxTokens: 24 },
        { temperature: 0.9, seed: 7, maxTokens: 24 },
        { temperature: 1.1, topK: 0, topP: 0.9, minP: 0, repeatPenalty: 1.3, presencePenalty: 0.3, frequencyPenalty: 0.2, seed: 3, maxTokens: 24 },
        { temperature: 0.7, repeatPenalty: 1.2, penaltyLastN: -1, seed: 11, maxTokens: DEVICE_SAMPLE_WINDOW + 10 - prompt.length },
      ];
      for (const o of cases) {
        const host = await tokens(m.createSession(), prompt, o);
        const s = m.createSession();
        counter.steps = 0;
        const dev = await tokens(onDevice(s), prompt, o);
        // Every decode step samples on the device, except (whole-history window) those whose window outgrew it.
        const steps = dev.out.length - 1;
        if (o.penaltyLastN === -1) expect(counter.steps).toBe(DEVICE_SAMPLE_WINDOW - prompt.length);
        else expect(counter.steps).toBe(steps);
        expect(dev.out, JSON.stringify(o)).toEqual(host.out);
        expect(dev.stats.stopReason).toBe(host.stats.stopReason);
        expect(s.history).toEqual([...prompt, ...dev.out.slice(0, -1)]);
      }
      // The context running out mid-generation ends the stream the same way.
      const small = { temperature: 0.8, seed: 5 };
      const a = await tokens(m.createSession({ contextSize: 12 }), prompt, small);
      const b = await tokens(onDevice(m.createSession({ contextSize: 12 })), prompt, small);
      expect(b.out).toEqual(a.out);
      expect(b.stats.stopReason).toBe('context-full');
    } finally {
      m.dispose();
    }
  });
});
