/**
 * The exported PyTorch script (float64, Debian's python3-torch) against the runner's own result
 * (runExperiment on WebGPU through Dawn, float32) on random specs the fixtures do not cover:
 * MLP and CNN, mse and cross-entropy, the NTK parameterization, and training with minibatch SGD,
 * momentum, weight decay, a short last batch and alpha != 1 (the runner's seeded batch order),
 * compared with the fixture README's float32 tolerances. Also: an explicitly requested Fisher
 * above the size limit is refused with the runner's exact message.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gpuContext } from './helpers/gpu';
import { reluUnits } from './helpers/fixtures';
import { requireTorch, runScripts, type ScriptRun } from './helpers/python';
import { validateSpec } from '../src/api/validate';
import { runExperiment } from '../src/api/runner';
import { toFixtureJson } from '../src/experiment/result';
import { compareResults } from '../src/cli/compare';
import { computeReferenceResults } from '../src/reference/results';
import type { ResultKey } from '../src/experiment/keys';
import { exportPytorch } from '../src/export/pytorch';
import { Rng } from '../src/util/rng';
import type { ResolvedSpec } from '../src/experiment/types';

type Layer = Record<string, unknown>;

function example(rng: Rng, shape: number[]): unknown {
  if (shape.length === 1) return Array.from({ length: shape[0] }, () => rng.normal());
  const [C, H, W] = shape;
  return Array.from({ length: C }, () => Array.from({ length: H }, () => Array.from({ length: W }, () => rng.normal())));
}

function randomSpec(o: {
  seed: number;
  input: number[];
  layers: Layer[];
  loss: 'mse' | 'cross_entropy';
  n: number;
  nTest: number;
  c: number;
  init?: Record<string, unknown>;
  model?: Record<string, unknown>;
  train?: Record<string, unknown>;
  compute?: string[];
}): ResolvedSpec {
  const rng = new Rng(o.seed);
  const x = Array.from({ length: o.n }, () => example(rng, o.input));
  const xt = Array.from({ length: o.nTest }, () => example(rng, o.input));
  const target = (i: number) => (o.loss === 'mse' ? Array.from({ length: o.c }, () => rng.normal()) : (i * 5 + 1) % o.c);
  return validateSpec({
    name: `random ${o.seed}`,
    model: { input: o.input, layers: o.layers, ...o.model },
    init: o.init ?? { seed: o.seed, scheme: 'standard', gain: 1.3 },
    loss: o.loss,
    data: { x, y: x.map((_, i) => target(i)), x_test: xt, y_test: xt.map((_, i) => target(i + 3)) },
    ...(o.train ? { train: o.train } : {}),
    ...(o.compute ? { compute: o.compute } : {}),
  });
}

const CASES: [string, () => ResolvedSpec][] = [
  [
    'MLP tanh/relu, mse with 3 outputs, SGD batches of 4 (short last batch), momentum 0.9, weight decay, alpha 4',
    () =>
      randomSpec({
        seed: 21,
        input: [5],
        layers: [
          { type: 'dense', units: 7, activation: 'tanh' },
          { type: 'dense', units: 6, activation: 'relu' },
          { type: 'dense', units: 3, activation: 'linear' },
        ],
        loss: 'mse',
        n: 10,
        nTest: 4,
        c: 3,
        train: { optimizer: 'sgd', lr: 0.05, steps: 12, batch_size: 4, momentum: 0.9, weight_decay: 0.001, alpha: 4, seed: 7, checkpoints: [0, 5, 12] },
      }),
  ],
  [
    'CNN (padding, pooling, a strided conv), cross-entropy with 4 classes, SGD batches of 3 with momentum, alpha 0.5',
    () =>
      randomSpec({
        seed: 26,
        input: [2, 6, 6],
        layers: [
          { type: 'conv2d', filters: 3, kernel: 3, stride: 1, padding: 1, activation: 'relu' },
          { type: 'avgpool2d', size: 2 },
          { type: 'conv2d', filters: 2, kernel: 2, stride: 2, padding: 1, activation: 'sigmoid' },
          { type: 'flatten' },
          { type: 'dense', units: 4, activation: 'linear' },
        ],
        loss: 'cross_entropy',
        n: 8,
        nTest: 3,
        c: 4,
        train: { optimizer: 'sgd', lr: 0.4, steps: 9, batch_size: 3, momentum: 0.5, alpha: 0.5, seed: 3, checkpoints: [0, 4, 9] },
      }),
  ],
  [
    'NTK-parameterized MLP (sigma_w 1.4, sigma_b 0.3), cross-entropy with 2 classes, full-batch GD alpha 1, a compute list',
    () =>
      randomSpec({
        seed: 23,
        input: [3],
        layers: [
          { type: 'dense', units: 12, activation: 'relu' },
          { type: 'dense', units: 2, activation: 'linear' },
        ],
        model: { parameterization: 'ntk', sigma_w: 1.4, sigma_b: 0.3 },
        init: { seed: 5, scheme: 'ntk' },
        loss: 'cross_entropy',
        n: 9,
        nTest: 4,
        c: 2,
        train: { optimizer: 'gd', lr: 1, steps: 10, checkpoints: [3, 10] },
        compute: ['loss', 'loss_grad', 'ntk', 'alignment', 'ntk_spectrum', 'fisher', 'kfac', 'train'],
      }),
  ],
  [
    'conv straight into dense (no flatten), mse with one output, GD with alpha 10 and the closed form',
    () =>
      randomSpec({
        seed: 24,
        input: [1, 5, 5],
        layers: [
          { type: 'conv2d', filters: 3, kernel: 3, stride: 1, padding: 0, activation: 'tanh' },
          { type: 'dense', units: 1, activation: 'linear' },
        ],
        loss: 'mse',
        n: 7,
        nTest: 3,
        c: 1,
        train: { optimizer: 'gd', lr: 0.1, steps: 8, alpha: 10, checkpoints: [0, 2, 8] },
      }),
  ],
];

describe('exported script = the runner on random specs', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tangent-export-runner-'));
  const specs = CASES.map(([, make]) => make());
  let runs: Promise<ScriptRun[]>;
  beforeAll(() => {
    requireTorch();
    runs = runScripts(
      specs.map((spec, i) => {
        const script = join(dir, `case${i}.py`);
        writeFileSync(script, exportPytorch(spec).script);
        return { script, args: ['--out', join(dir, `case${i}.json`)] };
      }),
    );
    runs.catch(() => {});
  });

  CASES.forEach(([name], i) => {
    it(name, { timeout: 600_000 }, async () => {
      const ctx = await gpuContext();
      const spec = specs[i];
      const runner = toFixtureJson(await runExperiment(ctx, spec));
      const run = (await runs)[i];
      expect(run.code, run.stderr).toBe(0);
      const script = JSON.parse(readFileSync(join(dir, `case${i}.json`), 'utf8'));
      expect(Object.keys(script)).toEqual(Object.keys(runner));
      const cmp = compareResults(script, runner, { f64Norms: true, n: spec.data.n, reluUnits: reluUnits(spec) });
      expect(cmp.failures).toEqual([]);
      expect(cmp.checks.length).toBeGreaterThan(20);
      // And exactly the float64 reference (which trains with full-batch GD only).
      const keys = Object.keys(script).filter((k) => k !== 'train' || spec.train!.batchSize === spec.data.n);
      const ref = toFixtureJson(computeReferenceResults(spec, keys as ResultKey[]));
      const exact = compareResults(script, ref, { n: spec.data.n, reluUnits: reluUnits(spec), uniform: 1e-9, skip: Object.keys(script).filter((k) => !keys.includes(k)) });
      expect(exact.failures).toEqual([]);
      expect(ctx.liveTensors).toBe(0);
    });
  });

  it('refuses an explicitly requested Fisher above options.fisher_max_params with the runner\'s message', async () => {
    const ctx = await gpuContext();
    const spec = { ...specs[0], options: { ...specs[0].options, fisher_max_params: 10 }, compute: ['fisher'] };
    const runner = await runExperiment(ctx, spec).then(
      () => null,
      (e: Error) => e.message,
    );
    expect(runner).toMatch(/^fisher: P = \d+ parameters exceeds options\.fisher_max_params = 10/);
    expect(() => exportPytorch(spec)).toThrow(runner!);
  });
});
