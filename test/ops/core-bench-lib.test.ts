/**
 * bench/lib: the memcpy bandwidth probe returns a plausible figure (checked against a JS-side timing of the same
 * copies, not against a constant), and the JSON report carries the environment and the results.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus } from 'node:os';
import os from 'node:os';
import path from 'node:path';
import { Bench } from 'tinybench';
import { describe, expect, it } from 'vitest';

import { measureMemcpyBandwidth, tinybenchRows, writeBenchReport } from '../../bench/lib/index.js';
import { loadNativeAddon } from '../../src/native/index.js';

describe('bench/lib', () => {
  it('measureMemcpyBandwidth: native seconds agree with the wall clock around the call; GB/s = 2 bytes iters / s', () => {
    const bytes = 32 * 2 ** 20;
    const t0 = performance.now();
    const s = loadNativeAddon().benchMemcpy(bytes, 3, 2);
    const wall = (performance.now() - t0) / 1000;
    expect(s).toBeGreaterThan(0);
    // The native timer covers the 3 timed copies only; the wall clock adds allocation, page faults, a warm-up.
    expect(s).toBeLessThanOrEqual(wall);
    const m = measureMemcpyBandwidth({ bytes, iters: 2, repeats: 3, threads: 2 });
    expect(m.samples.length).toBe(3);
    expect(m.gbPerSec).toBeCloseTo((2 * bytes * 2) / Math.min(...m.samples) / 1e9, 6);
    expect(m.copyGBPerSec).toBeCloseTo(m.gbPerSec / 2, 6);
    // Anything real moves between 0.1 GB/s and 10 TB/s.
    expect(m.gbPerSec).toBeGreaterThan(0.1);
    expect(m.gbPerSec).toBeLessThan(1e4);
    let err: unknown;
    try {
      loadNativeAddon().benchMemcpy(0, 1, 1);
    } catch (e) {
      err = e;
    }
    expect((err as { code?: string }).code).toBe('INVALID_ARGUMENT');
  });

  it('writeBenchReport writes the environment, the results and tinybench rows', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'qh-bench-'));
    try {
      const bench = new Bench({ iterations: 5, time: 0, warmup: false });
      bench.add('noop', () => {});
      await bench.run();
      const rows = tinybenchRows(bench);
      expect(rows[0]?.name).toBe('noop');
      expect(rows[0]?.samples).toBeGreaterThanOrEqual(5);
      const file = writeBenchReport('unit-test', { rows, extra: 42 }, dir);
      const r = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
      expect(r.bench).toBe('unit-test');
      expect(r.device).toBe(cpus()[0]?.model.trim());
      expect(r.node).toBe(process.version);
      expect(typeof r.commit).toBe('string');
      expect(r.extra).toBe(42);
      expect((r.addon as { version: string }).version).toBe(loadNativeAddon().buildInfo().version);
      expect(() => writeBenchReport('../escape', {}, dir)).toThrow(/must be/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
