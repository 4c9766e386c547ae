import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { defineConfig } from 'vite';
import { svelte } from '@sveltejs/vite-plugin-svelte';

const HERE = import.meta.dirname;
const INPUTS = ['index.html', 'package.json', 'package-lock.json', 'vite.config.js', 'src'];

// sha256 over the app's sources, written next to the build so that a test can tell when
// the committed static files are older than the Svelte source (same rule in Python:
// tests/telemetry/test_dashboard_build.py).
function sourceHash() {
  const files = [];
  const walk = (p) => (statSync(p).isDirectory() ? readdirSync(p).forEach((n) => walk(join(p, n))) : files.push(p));
  INPUTS.forEach((p) => walk(join(HERE, p)));
  const hash = createHash('sha256');
  for (const f of files.map((f) => relative(HERE, f).split('\\').join('/')).sort()) {
    hash.update(`${f}\0`);
    hash.update(readFileSync(join(HERE, f)));
    hash.update('\0');
  }
  return hash.digest('hex');
}

export default defineConfig({
  plugins: [
    svelte(),
    {
      name: 'source-hash',
      generateBundle() {
        this.emitFile({ type: 'asset', fileName: 'source-hash.txt', source: `${sourceHash()}\n` });
      },
    },
  ],
  base: './',
  build: { outDir: '../static', emptyOutDir: true, chunkSizeWarningLimit: 1000 },
  // `npm run dev` proxies the data endpoints to a running `pyengine dashboard --demo`.
  server: {
    proxy: {
      '/ws': { target: 'ws://127.0.0.1:8765', ws: true },
      '/api': 'http://127.0.0.1:8765',
      '/metrics': 'http://127.0.0.1:8765',
    },
  },
});
