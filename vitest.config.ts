import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Fails the run if any server or child process a test started is still running at the end.
    globalSetup: ['harness/leftovers.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // 2-core machine; integration tests start real redis/mariadb servers.
    fileParallelism: true,
    maxWorkers: 2,
  },
})
