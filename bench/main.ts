/**
 * Benchmark runner (`npm run bench`, through scripts/lab.mjs): benchmarks, not timed tests.
 *
 *   npm run bench                      every suite, in registry order (infinite: npm run bench -- infinite)
 *   npm run bench -- matmul ntk        some suites
 *   npm run bench -- ntk --quick       options are passed to every selected suite
 *
 * Prints the adapter first, then each suite's lines (each suite ends with a summary line).
 * Exits 1 if a suite fails (the others still run).
 */
import { GpuContext } from '../src/gpu/context';
import { benchMatmul } from './matmul';
import { benchNtk } from './ntk';
import { benchEigh } from './eigh';
import { benchKfac } from './kfac';
import { benchTraining } from './training';
import { benchInfinite } from './infinite';
import { benchGpu, fmtMs } from './util';

type Suite = (ctx: GpuContext, args: string[]) => Promise<string[]>;

/** Every suite: name, what it compares, entry point. */
const SUITES: Record<string, { what: string; run: Suite }> = {
  matmul: { what: 'f32 matmul vs TF.js WebGPU (512^2, 1024^2, engine shapes)', run: benchMatmul },
  ntk: { what: 'empirical NTK of an MLP 64-256-256-10 vs TF.js per-output gradients and the f64 reference', run: benchNtk },
  eigh: { what: 'batched Jacobi eigensolver vs the f64 reference', run: benchEigh },
  kfac: { what: 'KFAC / EKFAC factors, eigenbases and natural-gradient steps', run: benchKfac },
  training: { what: 'Lazy vs Hasty training throughput vs the f64 CPU engine', run: benchTraining },
  infinite: { what: 'infinite-width NNGP / NTK / CNTK on the GPU vs the f64 CPU twin (CNN and tanh MLP on digits)', run: benchInfinite },
};

function usage(): string {
  const names = Object.entries(SUITES).map(([k, s]) => `  ${k.padEnd(9)} ${s.what}`);
  return ['usage: npm run bench [-- [suite ...] [--quick] [suite options]]', 'suites:', ...names].join('\n');
}

/** Split argv into suite names and the options passed through to every suite. */
function parseArgs(argv: string[]): { suites: string[]; options: string[] } {
  const suites: string[] = [];
  const options: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a in SUITES) {
      suites.push(a);
    } else if (a.startsWith('--')) {
      options.push(a);
      // `--name value`: a following word that is neither an option nor a suite is the value.
      const next = argv[i + 1];
      if (!a.includes('=') && next !== undefined && !next.startsWith('--') && !(next in SUITES)) options.push(argv[++i]);
    } else {
      throw new Error(`unknown suite "${a}"\n${usage()}`);
    }
  }
  return { suites: suites.length ? suites : Object.keys(SUITES), options };
}

export async function main(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(usage() + '\n');
    return 0;
  }
  const { suites, options } = parseArgs(argv);
  const ctx = await GpuContext.create(await benchGpu());
  const out = (s: string) => process.stdout.write(s + '\n');
  out(`adapter: ${ctx.adapter.summary} [${ctx.adapter.device || ctx.adapter.architecture}]`);
  let code = 0;
  try {
    for (const name of suites) {
      out(`\n== ${name}: ${SUITES[name].what}`);
      const t0 = performance.now();
      try {
        for (const line of await SUITES[name].run(ctx, options)) out(line);
        out(`(${name}: ${fmtMs(performance.now() - t0)})`);
      } catch (e) {
        code = 1;
        out(`${name} FAILED: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
      }
    }
  } finally {
    ctx.destroy();
  }
  return code;
}
