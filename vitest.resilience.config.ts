import { defineConfig } from 'vitest/config';

/**
 * The resilience suites (`npm run test:resilience`): they stop databases, kill servers and load them,
 * so they run one file at a time and are not part of `npm test`.
 */
export default defineConfig({
  test: {
    include: ['test/resilience/**/*.resilience.ts'],
    testTimeout: 180_000,
    hookTimeout: 120_000,
    pool: 'forks',
    fileParallelism: false,
  },
});
