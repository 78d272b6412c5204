import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // 2-core machine; integration tests start real redis/mariadb servers.
    fileParallelism: true,
    maxWorkers: 2,
  },
})
