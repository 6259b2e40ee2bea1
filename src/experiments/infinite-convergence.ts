/**
 * "Wider is lazier" at initialization: the empirical NTK of finite NTK-parameterized networks
 * against the analytic infinite-width NTK, as the hidden width grows (Jacot et al. 2018). For
 * every width and seed, the relative distance
 *
 *   ||K_emp - Theta (x) I_c||_F / ||Theta (x) I_c||_F       (src/math/kernel-distance.ts)
 *
 * with K_emp the runner's `ntk` key (GPU) of the network initialized with W, b ~ N(0, 1) and Theta
 * the analytic NTK (src/geometry/infinite-kernels.ts, GPU). It falls like 1/sqrt(width); the
 * fitted log-log slope is reported. Example: examples/infinite-width-convergence.json, run with
 * `npm run --silent lab -- convergence examples/infinite-width-convergence.json`.
 *
 * File format: {name, description, convergence: {widths: [..], seeds: k}, spec: an experiment
 * spec with model.parameterization "ntk" and init (the widths replace every hidden dense `units`
 * and conv `filters`; the last parametrized layer keeps its c outputs)}.
 */
import type { GpuContext } from '../gpu/context';
import { SpecError } from '../experiment/errors';
import { isObject } from '../util/guards';
import { planModel } from '../model/layout';
import { validateSpec, type ValidateOptions } from '../api/validate';
import { runExperiment } from '../api/runner';
import { infinitePlan } from '../model/infinite-plan';
import { infiniteKernels } from '../geometry/infinite-kernels';
import { ntkRelativeDistance } from '../math/kernel-distance';
import { logLogSlope } from '../math/fit';

export interface ConvergenceFile {
  name: string;
  description: string;
  convergence: { widths: number[]; seeds: number };
  spec: Record<string, unknown>;
}

export interface ConvergenceRow {
  width: number;
  /** Parameters of the network at this width. */
  params: number;
  /** One distance per seed (seeds spec.init.seed, +1, ...). */
  distances: number[];
  mean: number;
  /** Sample standard deviation over seeds (0 for one seed). */
  std: number;
}

export interface ConvergenceResult {
  name: string;
  n: number;
  c: number;
  rows: ConvergenceRow[];
  /** Least-squares slope of log(mean distance) against log(width) (-0.5 expected). */
  slope: number;
}

/** Check a convergence file; errors name the field. */
export function validateConvergence(raw: unknown): ConvergenceFile {
  if (!isObject(raw)) throw new SpecError('file', 'an object {convergence, spec}', typeof raw);
  const conv = raw.convergence;
  if (!isObject(conv)) throw new SpecError('convergence', 'an object {widths, seeds}', String(conv));
  const widths = conv.widths;
  if (!Array.isArray(widths) || widths.length === 0) throw new SpecError('convergence.widths', 'a non-empty array of widths', String(widths));
  widths.forEach((w, i) => {
    if (typeof w !== 'number' || !Number.isInteger(w) || w < 1 || w > 65536) throw new SpecError(`convergence.widths[${i}]`, 'an integer width in 1..65536', String(w));
  });
  const seeds = conv.seeds ?? 1;
  if (typeof seeds !== 'number' || !Number.isInteger(seeds) || seeds < 1 || seeds > 100) throw new SpecError('convergence.seeds', 'an integer in 1..100', String(seeds));
  const spec = raw.spec;
  if (!isObject(spec)) throw new SpecError('spec', 'an experiment spec', String(spec));
  if (spec.params !== undefined) throw new SpecError('spec.params', 'no explicit params (the widths vary: give spec.init)', 'params');
  const init = spec.init;
  if (!isObject(init) || init.scheme !== 'ntk') throw new SpecError('spec.init.scheme', '"ntk" (W, b ~ N(0, 1))', isObject(init) ? String(init.scheme) : 'no init');
  return {
    name: typeof raw.name === 'string' ? raw.name : 'convergence',
    description: typeof raw.description === 'string' ? raw.description : '',
    convergence: { widths: widths as number[], seeds },
    spec,
  };
}

/** The spec at one width and seed: every hidden dense/conv layer gets `width` units/filters. */
export function specAtWidth(spec: Record<string, unknown>, width: number, seed: number): Record<string, unknown> {
  const s = JSON.parse(JSON.stringify(spec)) as Record<string, any>;
  const layers = s.model.layers as Record<string, unknown>[];
  let last = -1;
  layers.forEach((l, i) => {
    if (l.type === 'dense' || l.type === 'conv2d') last = i;
  });
  layers.forEach((l, i) => {
    if (i === last) return;
    if (l.type === 'dense') l.units = width;
    if (l.type === 'conv2d') l.filters = width;
  });
  s.init = { ...s.init, seed };
  s.compute = ['ntk'];
  delete s.train;
  return s;
}

export interface ConvergenceOptions {
  /** Image-set loader for `data.dataset` image sets (Node: loadImageSetFromDisk). */
  imageSet?: ValidateOptions['imageSet'];
  /** Called after every width (for progress lines). */
  onRow?: (row: ConvergenceRow) => void;
}

export async function runConvergence(ctx: GpuContext, file: ConvergenceFile, opts: ConvergenceOptions = {}): Promise<ConvergenceResult> {
  const base = validateSpec(specAtWidth(file.spec, file.convergence.widths[0], 0), { imageSet: opts.imageSet });
  const { n, c } = base.data;
  const theta = (await infiniteKernels(ctx, infinitePlan(base.model), { x: base.data.x, n })).ntk;
  const seed0 = Number((file.spec.init as Record<string, unknown>).seed ?? 0);
  const rows: ConvergenceRow[] = [];
  for (const width of file.convergence.widths) {
    const distances: number[] = [];
    let params = 0;
    for (let s = 0; s < file.convergence.seeds; s++) {
      const spec = validateSpec(specAtWidth(file.spec, width, seed0 + s), { imageSet: opts.imageSet });
      params = planModel(spec.model).P;
      const K = (await runExperiment(ctx, spec)).ntk!.data;
      distances.push(ntkRelativeDistance(K, theta, n, c));
    }
    const mean = distances.reduce((a, b) => a + b, 0) / distances.length;
    const std = distances.length > 1 ? Math.sqrt(distances.reduce((a, d) => a + (d - mean) ** 2, 0) / (distances.length - 1)) : 0;
    const row = { width, params, distances, mean, std };
    rows.push(row);
    opts.onRow?.(row);
  }
  return { name: file.name, n, c, rows, slope: logLogSlope(rows.map((r) => r.width), rows.map((r) => r.mean)) ?? NaN };
}

/** A markdown table of the result (as in the README). */
export function formatConvergence(res: ConvergenceResult): string {
  const lines = [
    `${res.name}: n = ${res.n}, c = ${res.c}; ||K_emp - Theta (x) I||_F / ||Theta (x) I||_F at initialization, mean +- sd over seeds`,
    '',
    '| width | parameters | relative distance | x sqrt(width) |',
    '|---|---|---|---|',
    ...res.rows.map((r) => `| ${r.width} | ${r.params} | ${r.mean.toFixed(4)} +- ${r.std.toFixed(4)} | ${(r.mean * Math.sqrt(r.width)).toFixed(3)} |`),
    '',
    `log-log slope: ${res.slope.toFixed(3)} (1/sqrt(width): -0.5)`,
  ];
  return lines.join('\n');
}
