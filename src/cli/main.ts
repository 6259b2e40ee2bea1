/**
 * The headless runner: `lab run <spec.json> --out <result.json>` and friends.
 *
 * Exit codes: 0 success, 1 bad input or failed computation (one-line reason on stderr),
 * 2 usage error. A result file is written only when everything succeeded (written to a
 * temporary name and renamed), so a failure never leaves a partial file.
 */
import { readFileSync, renameSync, writeFileSync, unlinkSync, existsSync } from 'node:fs';
import { GpuContext } from '../gpu/context';
import { createNodeGpu } from '../gpu/node';
import { parseSpecText, validateSpec as validateSpecOnly } from '../api/validate';
import { loadImageSetFromDisk } from '../data/image-files';
import { compareResults } from './compare';
import { cmdRace } from './race';
import { UsageError } from './usage';
import { runExperiment } from '../api/runner';
import { resultKeys, toFixtureJson } from '../experiment/result';
import { createSession } from '../api/session/session';
import { summarizeSession } from './summary';
import { difficultyGroups } from '../api/session/groups';
import { planModel, numel } from '../model/layout';
import type { ResolvedSpec } from '../experiment/types';
import { exportPytorch } from '../export/pytorch';
import { formatConvergence, runConvergence, validateConvergence } from '../experiments/infinite-convergence';

const USAGE = `usage:
  lab run <spec.json> [--out <result.json>] [--compute key1,key2]
      compute the result keys of a spec (default: every key that applies) and write JSON
      (to stdout without --out)
  lab session <spec.json> [--out <events.json>] [--every k] [--kernel-every e] [--grid-every g]
      train the actual and linearized models of a spec (train section required) as the lab does,
      print a summary and write every metric event as JSON
  lab convergence <file.json> [--out <result.json>] [--widths w1,w2,..] [--seeds k]
      the empirical NTK's relative distance to the analytic infinite-width NTK against width, at
      initialization (examples/infinite-width-convergence.json); prints a markdown table
  lab compare <result.json> <fixture.json>
      check a result against a fixture's "expected" with the fixture README's tolerances
  lab race <race.json> [--out <result.json>] [--quiet]
      the optimizer race (SGD, momentum, KFAC, EKFAC on the same data and init; README "Curvature")
  lab info
      print the WebGPU adapter and the limits the engine uses
  lab validate <spec.json>
      check a spec and print what it resolves to
  lab export pytorch <spec.json> [--out <script.py>]
      write a standalone PyTorch script (torch >= 1.13, numpy) that computes the same result keys
      (to stdout without --out); run it with: python3 script.py --out result.json [--device cuda]
  (benchmarks: npm run bench)`;

function arg(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  if (i < 0) return undefined;
  const v = args[i + 1];
  if (v === undefined || v.startsWith('--')) throw new UsageError(`${name} needs a value`);
  args.splice(i, 2);
  return v;
}


function readText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new Error(`cannot read ${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

async function openGpu(): Promise<GpuContext> {
  const ctx = await GpuContext.create(await createNodeGpu());
  process.stderr.write(`adapter: ${ctx.adapter.summary}\n`);
  return ctx;
}

/**
 * A fixture file ({name, description, spec, expected}) may be given where a spec is expected:
 * its `spec` is used, so `lab run fixture.json` reproduces the fixture directly.
 */
function unwrapFixture(raw: Record<string, unknown>, path: string): Record<string, unknown> {
  if (raw && typeof raw === 'object' && !Array.isArray(raw) && 'spec' in raw && !('model' in raw)) {
    process.stderr.write(`note: ${path} is a fixture file; running its "spec"\n`);
    const spec = raw.spec as Record<string, unknown>;
    if (spec && typeof spec === 'object' && typeof raw.name === 'string' && spec.name === undefined) spec.name = raw.name;
    return spec;
  }
  return raw;
}

function writeAtomically(path: string, text: string): void {
  const tmp = `${path}.partial-${process.pid}`;
  try {
    writeFileSync(tmp, text);
    renameSync(tmp, path);
  } catch (e) {
    if (existsSync(tmp)) unlinkSync(tmp);
    throw new Error(`cannot write ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

async function cmdRun(args: string[]): Promise<number> {
  const out = arg(args, '--out');
  const computeArg = arg(args, '--compute');
  if (args.length !== 1) throw new UsageError('run takes one spec file');
  let raw = parseSpecText(readText(args[0], 'spec'), args[0]) as Record<string, unknown>;
  raw = unwrapFixture(raw, args[0]);
  if (computeArg !== undefined && raw && typeof raw === 'object') raw.compute = computeArg.split(',').map((s) => s.trim()).filter(Boolean);
  const spec = validateSpec(raw);
  const ctx = await openGpu();
  try {
    const t0 = Date.now();
    const result = await runExperiment(ctx, spec, { onNote: (m) => process.stderr.write(`note: ${m}\n`) });
    const text = JSON.stringify(toFixtureJson(result));
    if (out) writeAtomically(out, text + '\n');
    else process.stdout.write(text + '\n');
    process.stderr.write(`done in ${((Date.now() - t0) / 1000).toFixed(2)} s: ${resultKeys(result).join(', ')}\n`);
  } finally {
    ctx.destroy();
  }
  return 0;
}

function cmdCompare(args: string[]): number {
  if (args.length !== 2) throw new UsageError('compare takes a result file and a fixture file');
  const result = parseSpecText(readText(args[0], 'result'), args[0]);
  const fixture = parseSpecText(readText(args[1], 'fixture'), args[1]) as { expected?: unknown; spec?: unknown };
  if (!fixture || typeof fixture !== 'object' || !('expected' in fixture)) throw new Error(`${args[1]}: no "expected" key (not a fixture)`);
  const spec = validateSpec(fixture.spec);
  const reluUnits = reluUnitCount(spec);
  // The infinite_* fixtures store only `infinite` (README section 13): a default run's other keys are not compared.
  const expectedKeys = Object.keys(fixture.expected as object);
  const skip =
    expectedKeys.length === 1 && expectedKeys[0] === 'infinite' && result && typeof result === 'object' ? Object.keys(result).filter((k) => k !== 'infinite') : [];
  const cmp = compareResults(result, fixture.expected, { f64Norms: true, n: spec.data.n, reluUnits, skip });
  for (const c of cmp.checks) process.stdout.write(`${c.error <= c.tolerance ? 'ok  ' : 'FAIL'} ${c.path}: ${c.error.toExponential(2)} (tol ${c.tolerance.toExponential(0)}, ${c.metric})\n`);
  for (const f of cmp.failures) process.stdout.write(`FAIL ${f.path}: ${f.problem}\n`);
  process.stdout.write(`${cmp.failures.length === 0 ? 'PASS' : 'FAIL'}: ${cmp.checks.length} arrays checked, ${cmp.failures.length} problems\n`);
  return cmp.failures.length === 0 ? 0 : 1;
}

/** Spec validation with the image sets read from public/datasets. */
const validateSpec = (raw: unknown) => validateSpecOnly(raw, { imageSet: loadImageSetFromDisk });

function reluUnitCount(spec: ResolvedSpec): number {
  return planModel(spec.model).paramLayers.filter((l) => l.activation === 'relu').reduce((s, l) => s + numel(l.outShape), 0);
}

async function cmdSession(args: string[]): Promise<number> {
  const out = arg(args, '--out');
  const every = Number(arg(args, '--every') ?? 10);
  const kernelEvery = Number(arg(args, '--kernel-every') ?? 5);
  const gridEvery = Number(arg(args, '--grid-every') ?? 0);
  if (args.length !== 1) throw new UsageError('session takes one spec file');
  const spec = validateSpec(unwrapFixture(parseSpecText(readText(args[0], 'spec'), args[0]) as Record<string, unknown>, args[0]));
  if (!spec.train) throw new Error('train: session needs a train section in the spec');
  const ctx = await openGpu();
  try {
    const session = await createSession(ctx, spec, { metricsEvery: every, kernelEvery, gridEvery, perExampleLoss: false });
    try {
      const events = await session.advance(spec.train.steps);
      const groups = difficultyGroups(spec, planModel(spec.model).inputSize);
      process.stdout.write(summarizeSession(session.info, events, { times: session.learningTimes(), groupIndex: groups?.index ?? null }) + '\n');
      if (out) writeAtomically(out, JSON.stringify({ spec: spec.name, info: session.info, events }, jsonTypedArrays) + '\n');
    } finally {
      session.dispose();
    }
  } finally {
    ctx.destroy();
  }
  return 0;
}

/** JSON.stringify replacer: typed arrays as plain arrays. */
function jsonTypedArrays(_key: string, value: unknown): unknown {
  return ArrayBuffer.isView(value) && !(value instanceof DataView) ? Array.from(value as Float32Array) : value;
}

async function cmdConvergence(args: string[]): Promise<number> {
  const out = arg(args, '--out');
  const widths = arg(args, '--widths');
  const seeds = arg(args, '--seeds');
  if (args.length !== 1) throw new UsageError('convergence takes one file');
  const raw = parseSpecText(readText(args[0], 'file'), args[0]) as Record<string, any>;
  if (raw && typeof raw === 'object' && raw.convergence && typeof raw.convergence === 'object') {
    if (widths !== undefined) raw.convergence.widths = widths.split(',').map((w) => Number(w.trim()));
    if (seeds !== undefined) raw.convergence.seeds = Number(seeds);
  }
  const file = validateConvergence(raw);
  const ctx = await openGpu();
  try {
    const t0 = Date.now();
    const res = await runConvergence(ctx, file, {
      imageSet: loadImageSetFromDisk,
      onRow: (r) => process.stderr.write(`width ${r.width}: ${r.mean.toFixed(4)} +- ${r.std.toFixed(4)} (${r.distances.length} seeds, ${((Date.now() - t0) / 1000).toFixed(1)} s)\n`),
    });
    process.stdout.write(formatConvergence(res) + '\n');
    if (out) writeAtomically(out, JSON.stringify(res, null, 1) + '\n');
  } finally {
    ctx.destroy();
  }
  return 0;
}

async function cmdInfo(): Promise<number> {
  const ctx = await openGpu();
  process.stdout.write(JSON.stringify({ adapter: ctx.adapter, limits: ctx.limits }, null, 2) + '\n');
  ctx.destroy();
  return 0;
}

function cmdValidate(args: string[]): number {
  if (args.length !== 1) throw new UsageError('validate takes one spec file');
  const spec = validateSpec(unwrapFixture(parseSpecText(readText(args[0], 'spec'), args[0]) as Record<string, unknown>, args[0]));
  const plan = planModel(spec.model);
  process.stdout.write(
    JSON.stringify({ name: spec.name, P: plan.P, outputs: plan.c, n: spec.data.n, n_test: spec.data.nTest, loss: spec.loss, train: spec.train, compute: spec.compute }, null, 2) +
      '\n',
  );
  return 0;
}

/** `lab export pytorch <spec.json> [--out <script.py>]`: no GPU needed, the script is pure text. */
function cmdExport(args: string[]): number {
  const out = arg(args, '--out');
  const format = args.shift();
  if (format !== 'pytorch') throw new UsageError(format === undefined ? 'export needs a format: pytorch' : `unknown export format "${format}" (only pytorch)`);
  if (args.length !== 1) throw new UsageError('export pytorch takes one spec file');
  const spec = validateSpec(unwrapFixture(parseSpecText(readText(args[0], 'spec'), args[0]) as Record<string, unknown>, args[0]));
  const exported = exportPytorch(spec);
  for (const note of exported.notes) process.stderr.write(`note: ${note}\n`);
  if (out) writeAtomically(out, exported.script);
  else process.stdout.write(exported.script);
  process.stderr.write(`${out ? `wrote ${out}` : 'script written to stdout'}: computes ${exported.keys.join(', ')}\n`);
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  const args = argv.slice();
  const cmd = args.shift();
  try {
    switch (cmd) {
      case 'run':
        return await cmdRun(args);
      case 'compare':
        return cmdCompare(args);
      case 'session':
        return await cmdSession(args);
      case 'race':
        return await cmdRace(args);
      case 'convergence':
        return await cmdConvergence(args);
      case 'info':
        return await cmdInfo();
      case 'validate':
        return cmdValidate(args);
      case 'export':
        return cmdExport(args);
      case undefined:
      case '--help':
      case '-h':
      case 'help':
        process.stdout.write(USAGE + '\n');
        return cmd === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command "${cmd}"`);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`error: ${e.message}\n${USAGE}\n`);
      return 2;
    }
    process.stderr.write(`error: ${(e as Error).message.split('\n')[0]}\n`);
    return 1;
  }
}
