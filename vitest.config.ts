import { defineConfig } from 'vitest/config';

// Default suite: unit, ops and model tiers (CI). GPU tier lives in vitest.gpu.config.ts.
export default defineConfig({
  test: {
    include: ['test/unit/**/*.test.ts', 'test/ops/**/*.test.ts', 'test/model/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    pool: 'forks',
    reporters: ['default'],
  },
});
