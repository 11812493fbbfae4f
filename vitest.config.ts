import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Generous: the accuracy tests simulate hundreds of images, and CI machines may be slower than this one.
    testTimeout: 180_000,
    pool: 'forks',
  },
});
