import { defineConfig } from 'vite';

// The built files are embedded into the Go binary (frontend/embed.go) and
// served by the Wails asset server or by `madoguchi serve`.
export default defineConfig({
  base: './',
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022', assetsInlineLimit: 0 },
});
