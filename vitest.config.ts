import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    // Starting real directory servers (and provisioning Samba once) happens in hooks.
    hookTimeout: 180_000,
    teardownTimeout: 30_000,
    // Separate processes, so each file's exit hooks and watchdogs own its own daemons.
    pool: 'forks',
  },
});
