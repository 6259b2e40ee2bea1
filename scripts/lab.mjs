#!/usr/bin/env node
// Entry point of the headless runner (`npm run --silent lab -- <command> ...`).
// The engine is TypeScript that imports WGSL through Vite's `import.meta.glob`; Vite's module
// runner loads it here exactly as Vitest does in the tests and Vite does in the browser, so
// there is no separate build step and no second way of finding shaders.
import { runnerImport } from 'vite';
import { fileURLToPath } from 'node:url';
import { dirname, resolve } from 'node:path';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
let code = 1;
try {
  // `lab bench ...` runs the benchmark suite (bench/), everything else the runner (src/cli).
  const args = process.argv.slice(2);
  const entry = args[0] === 'bench' ? 'bench/main.ts' : 'src/cli/main.ts';
  if (args[0] === 'bench') args.shift();
  const { module } = await runnerImport(resolve(root, entry), {
    root,
    configFile: false,
    logLevel: 'silent',
  });
  code = await module.main(args);
} catch (e) {
  process.stderr.write(`error: ${e && e.message ? e.message : String(e)}\n`);
  code = 1;
}
// Dawn keeps the event loop alive while a device exists; exit explicitly.
process.exit(code);
