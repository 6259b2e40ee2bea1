/**
 * `lab race <race.json> [--out result.json] [--quiet]`: the optimizer race experiment
 * (src/experiments/optimizer-race.ts).
 * Prints one line per epoch and contestant to stderr, then the markdown summary to stdout; with
 * --out also writes the full curves (loss / test loss / accuracy vs epoch and vs time) as JSON.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GpuContext } from '../gpu/context';
import { UsageError } from './usage';
import { createNodeGpu } from '../gpu/node';
import { formatRace, resolveRaceSpec, runRace, type RaceFile } from '../experiments/optimizer-race';

export async function cmdRace(argv: string[]): Promise<number> {
  const args = argv.slice();
  const outIdx = args.indexOf('--out');
  const out = outIdx >= 0 ? args.splice(outIdx, 2)[1] : undefined;
  const quietIdx = args.indexOf('--quiet');
  const quiet = quietIdx >= 0 && args.splice(quietIdx, 1).length > 0;
  if (args.length !== 1) throw new UsageError('race takes one race file');
  const root = fileURLToPath(new URL('../..', import.meta.url));
  const file = JSON.parse(readFileSync(args[0], 'utf8')) as RaceFile;
  file.spec = resolveRaceSpec(file.spec, (name) => new Uint8Array(readFileSync(resolve(root, 'public/datasets', name))));
  const ctx = await GpuContext.create(await createNodeGpu());
  process.stderr.write(`adapter: ${ctx.adapter.summary}\n`);
  try {
    const res = await runRace(ctx, file, (p) => {
      if (!quiet) {
        const r = p.record;
        process.stderr.write(
          `${p.contestant.padEnd(16)} epoch ${String(r.epoch).padStart(3)}  ${r.time_s.toFixed(2).padStart(7)} s  loss ${r.loss.toFixed(4)}` +
            (r.loss_test !== null ? `  test ${r.loss_test.toFixed(4)}` : '') +
            (r.accuracy_test !== null ? `  test acc ${r.accuracy_test.toFixed(3)}` : '') +
            '\n',
        );
      }
    });
    process.stdout.write(formatRace(res) + '\n');
    if (out) writeFileSync(out, JSON.stringify(res, null, 1) + '\n');
  } finally {
    ctx.destroy();
  }
  return 0;
}
