import { defineConfig } from 'vitest/config';

// The fault suite (`npm run test:faults`): each file starts a PostgreSQL, maybe a Redis, and
// several TaskFlow processes of its own, so files run one at a time; every scenario has a hard
// timeout, and their sum keeps the whole suite under 20 minutes.
export default defineConfig({
  test: {
    include: ['test/faults/*.fault.test.ts'],
    fileParallelism: false,
    maxWorkers: 1,
    testTimeout: 180_000,
    hookTimeout: 120_000,
  },
});
