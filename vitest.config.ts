import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // End-to-end tests build real packages: give them room, and let the two cores share the work.
    testTimeout: 20 * 60_000,
    hookTimeout: 20 * 60_000,
    globalSetup: ['test/helpers/global-setup.ts'],
    setupFiles: ['test/helpers/temp-cleanup.ts'],
    pool: 'forks',
  },
});
