import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['test/setup-fast-check.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // vitest's default is one worker less than the cores: a single worker on a 2-core machine,
    // where most files wait on child processes, fsync and timers. Two workers there (and the
    // default on larger machines) keep both cores busy: `vitest run` 450 s -> 250 s on 2 cores.
    maxWorkers: Math.max(2, availableParallelism() - 1),
  },
});
