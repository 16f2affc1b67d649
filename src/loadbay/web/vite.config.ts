import { defineConfig } from 'vitest/config'

// The page is served by loadbay at / with its hashed files under /assets/ (src/loadbay/web/serve.py).
export default defineConfig({
  base: '/',
  build: {
    outDir: 'dist',
    assetsDir: 'assets',
    emptyOutDir: true,
    sourcemap: false,
    chunkSizeWarningLimit: 2000,
  },
  server: {
    // `npm run dev` next to `make run`: the API stays on its own port.
    proxy: { '/api': 'http://127.0.0.1:8000' },
  },
  test: {
    environment: 'node',
    include: ['src/**/*.test.ts'],
  },
})
