#!/usr/bin/env node
// The optimizer race (GD vs KFAC vs EKFAC, src/experiments/optimizer-race.ts):
//   node scripts/optimizer-race.mjs examples/optimizer-race.json [--out result.json] [--quiet]
// Loads the TypeScript engine through Vite's module runner, like scripts/lab.mjs.
import { runnerImport } from 'vite';
import { fileURLToPath } from 'node:url';
import { dirname, resolve } from 'node:path';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
let code = 1;
try {
  const { module } = await runnerImport(resolve(root, 'src/experiments/optimizer-race-cli.ts'), { root, configFile: false, logLevel: 'silent' });
  code = await module.main(process.argv.slice(2));
} catch (e) {
  process.stderr.write(`error: ${e && e.message ? e.message : String(e)}\n`);
  code = 1;
}
process.exit(code);
