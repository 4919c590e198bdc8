/**
 * The GPU suite's gate: `npm run test:gpu` FAILS on a machine where no CUDA device is usable (or
 * the addon was built without CUDA), instead of passing vacuously. Where a device is usable it
 * runs the addon's self-test kernel on device 0.
 */
import { describe, expect, it } from 'vitest';

import { cudaSelfTest, loadNativeAddon } from '../../src/native/index.js';

describe('GPU required', () => {
  it('the addon has the CUDA backend and sees a usable CUDA device', () => {
    const addon = loadNativeAddon();
    const build = addon.buildInfo();
    expect(build.cuda, 'addon built without CUDA: install the CUDA toolkit (nvcc >= 12.8) and run npm run build:native').toBe(true);
    const d = addon.cudaDevices();
    expect(d.available, `no usable CUDA device: ${d.reason}`).toBe(true);
    expect(d.devices.length).toBeGreaterThan(0);
    const dev0 = d.devices[0]!;
    const [major, minor] = dev0.computeCapability.split('.').map(Number);
    const sm = (major ?? 0) * 10 + (minor ?? 0);
    // SASS for this sm, or the compute_120 PTX we ship, which the driver JITs for any sm >= 120.
    const runnable = build.cudaArchs.includes(sm) || build.cudaArchs.some((a) => a === 120 && sm > 120);
    expect(runnable, `device 0 (${dev0.name}, sm_${sm}) has no code in this build (archs ${build.cudaArchs.join(',')})`).toBe(true);
    expect(dev0.totalMemoryBytes).toBeGreaterThan(0);
    expect(dev0.multiProcessorCount).toBeGreaterThan(0);
  });

  it('cudaSelfTest(0) runs its kernel and verifies every element', () => {
    const r = cudaSelfTest(0);
    expect(r.ok, r.detail).toBe(true);
    expect(r.detail).toMatch(/^device 0 \(.+\): fill \+ axpb over \d+ f32 verified bit-exact$/);
  });
});
