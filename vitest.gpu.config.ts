import { defineConfig } from 'vitest/config';

// `npm run test:gpu`: every CUDA op and the whole model against the CPU backend.
// On a machine without a usable CUDA device this suite FAILS (test/gpu/require-gpu.test.ts).
export default defineConfig({
  test: {
    include: ['test/gpu/**/*.test.ts'],
    testTimeout: 600_000,
    hookTimeout: 600_000,
    pool: 'forks',
  },
});
