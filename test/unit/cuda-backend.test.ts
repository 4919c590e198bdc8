/**
 * The CUDA backend's parts that need no GPU: createCudaBackend's typed failure where no device is usable (or the
 * addon has no CUDA), argument checks before any device call, CPU/CUDA handle separation in the native exports,
 * and the device-memory estimate (hand-computed byte counts from the GGUF block sizes, spec §4.1).
 * Where a device IS usable the same tests assert the success path instead, so none passes vacuously.
 */
import { afterAll, describe, expect, it } from 'vitest';

import { QwenHybridError } from '../../src/errors.js';
import { GGMLType } from '../../src/gguf/types.js';
import { loadNativeAddon } from '../../src/native/index.js';
import { createCpuBackend } from '../../src/runtime/backend.js';
import { assertCudaMemoryFits, createCudaBackend, CUDA_ALLOC_GRANULE, CUDA_RESERVE_BYTES, estimateCudaMemory } from '../../src/runtime/cuda.js';

const addon = loadNativeAddon();
const devices = addon.cudaDevices();
const cpu = createCpuBackend({ threads: 1 });
afterAll(() => cpu.dispose());

function codeOf(f: () => unknown): { code: unknown; message: string } {
  try {
    f();
  } catch (e) {
    return { code: (e as { code?: unknown }).code, message: (e as Error).message };
  }
  return { code: null, message: '' };
}

describe('createCudaBackend', () => {
  it(devices.available ? 'creates a backend on device 0' : 'throws QwenHybridError NO_CUDA_DEVICE naming the reason', () => {
    if (devices.available) {
      const be = createCudaBackend({ device: 0 });
      expect(be.kind).toBe('cuda');
      expect(be.info().name).toBe(devices.devices[0]!.name);
      be.dispose();
      return;
    }
    let err: unknown;
    try {
      createCudaBackend();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(QwenHybridError);
    expect((err as QwenHybridError).code).toBe('NO_CUDA_DEVICE');
    expect((err as Error).message).toContain(devices.reason);
  });

  it('rejects a bad device index, an unknown op and a bad variant before touching the device', () => {
    expect(codeOf(() => createCudaBackend({ device: -1 })).code).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => createCudaBackend({ device: 1.5 })).code).toBe('INVALID_ARGUMENT');
    const unknown = codeOf(() => createCudaBackend({ variants: { NOT_AN_OP: 1 } }));
    expect(unknown.code).toBe('INVALID_ARGUMENT');
    expect(unknown.message).toContain("'NOT_AN_OP'");
    expect(codeOf(() => createCudaBackend({ variants: { MATMUL: -2 } })).code).toBe('INVALID_ARGUMENT');
  });

  it('the native CUDA exports refuse a CPU backend handle, and the benches need a device', async () => {
    const h = (cpu as unknown as { handle(): Parameters<typeof addon.cudaBackendInfo>[0] }).handle();
    const info = codeOf(() => addon.cudaBackendInfo(h));
    expect(info.code).toBe('INVALID_ARGUMENT');
    expect(info.message).toContain('CPU backend');
    expect(codeOf(() => addon.cudaReleaseWeights(h, [])).code).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => addon.cudaUploadWeights(h, [], null)).code).toBe('INVALID_ARGUMENT');
    if (!devices.available) {
      expect(codeOf(() => addon.cudaBenchCopy(0, 1024, 1)).code).toBe('NO_CUDA_DEVICE');
      expect(codeOf(() => addon.cudaBenchGemmF16(0, 128, 128, 32, 1)).code).toBe('NO_CUDA_DEVICE');
    }
    // Shapes are checked before the device: m must be a multiple of 128.
    const bad = codeOf(() => addon.cudaBenchGemmF16(0, 100, 128, 32, 1));
    expect(bad.code).toBe('INVALID_ARGUMENT');
    expect(bad.message).toContain('m=100');
  });
});

describe('estimateCudaMemory / assertCudaMemoryFits', () => {
  it('rounds every allocation up to 512 bytes and adds the reserve (hand-computed)', () => {
    expect(CUDA_ALLOC_GRANULE).toBe(512);
    expect(CUDA_RESERVE_BYTES).toBe(256 * 1024 * 1024);
    const est = estimateCudaMemory({
      weights: [
        { type: GGMLType.Q4_K, shape: [256, 2] }, // 2 blocks × 144 B = 288 → 512
        { type: GGMLType.F32, shape: [5120] }, // 20480 = 40 × 512
        { type: GGMLType.Q8_0, shape: [64, 3] }, // 6 blocks × 34 B = 204 → 512
        1, // → 512
      ],
      plans: [
        { arenaBytes: 1000, scratchBytes: 0 }, // 1024 + 0
        { arenaBytes: 512, scratchBytes: 513 }, // 512 + 1024
      ],
      stateBytes: [100, 513], // 512 + 1024 per session
      sessions: 2,
    });
    expect(est).toEqual({
      weightBytes: 512 + 20480 + 512 + 512,
      planBytes: 1024 + 512 + 1024,
      stateBytes: 2 * (512 + 1024),
      reserveBytes: 268435456,
      totalBytes: 22016 + 2560 + 3072 + 268435456,
    });
  });

  it('Qwen3.6-27B FFN weights at their real shapes', () => {
    // Q4_K {5120, 17408}: 20 blocks/row × 144 B × 17408 rows = 50135040; Q6_K {17408, 5120}: 68 × 210 × 5120 = 73113600.
    // Both are multiples of 512 already; reserve 0 here.
    const est = estimateCudaMemory({
      weights: [
        { type: GGMLType.Q4_K, shape: [5120, 17408] },
        { type: GGMLType.Q4_K, shape: [5120, 17408] },
        { type: GGMLType.Q6_K, shape: [17408, 5120] },
      ],
      reserveBytes: 0,
    });
    expect(est.weightBytes).toBe(2 * 50135040 + 73113600);
    expect(est.totalBytes).toBe(est.weightBytes);
  });

  it('throws OUT_OF_MEMORY with the numbers when it does not fit, and nothing when it does', () => {
    const est = estimateCudaMemory({ weights: [3 * 1024 ** 3], reserveBytes: 1024 ** 3 });
    expect(() => assertCudaMemoryFits(est, est.totalBytes, 'device 0')).not.toThrow();
    let err: unknown;
    try {
      assertCudaMemoryFits(est, est.totalBytes - 1, 'device 0 (test)');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(QwenHybridError);
    const q = err as QwenHybridError;
    expect(q.code).toBe('OUT_OF_MEMORY');
    expect(q.message).toContain('device 0 (test) has 4.00 GiB free but the model needs 4.00 GiB');
    expect(q.message).toContain('weights 3.00 GiB');
    expect(q.details).toMatchObject({ weightBytes: 3 * 1024 ** 3, totalBytes: 4 * 1024 ** 3, freeBytes: 4 * 1024 ** 3 - 1 });
  });

  it('rejects a bad session count', () => {
    expect(() => estimateCudaMemory({ weights: [], sessions: -1 })).toThrow(QwenHybridError);
  });
});
