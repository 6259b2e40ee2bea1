import { defineConfig } from 'vitest/config';

// One config for the lab (vite), the tests (vitest) and the Node runner
// (scripts/lab.mjs loads TypeScript through Vite's module runner), so that
// `shaders/*.wgsl` reach every consumer through the same `import.meta.glob`.
export default defineConfig({
  root: '.',
  publicDir: 'public',
  worker: { format: 'es' },
  server: { host: '127.0.0.1', port: 5173, strictPort: true },
  build: { target: 'es2022', outDir: 'dist', chunkSizeWarningLimit: 6000 },
  test: {
    include: ['tests/**/*.test.ts'],
    environment: 'node',
    // GPU tests share one Dawn device per worker; lavapipe uses every core, so
    // running test files in parallel only makes each slower.
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    reporters: ['default'],
  },
});
