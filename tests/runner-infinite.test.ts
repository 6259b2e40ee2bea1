/**
 * The runner's `infinite` key (README section 13) beyond the two public fixtures: random
 * NTK-parameterized specs in the fixture format (other depths, activations, strides, paddings,
 * channel counts, losses, with and without test data and training) through `runExperiment`, against
 * the float64 reference with the README's tolerances; minibatch SGD with momentum against the
 * float64 predictor on the same batch schedule; which keys are computed by default; refusals.
 */
import { describe, expect, it } from 'vitest';
import { gpuContext } from './helpers/gpu';
import { validateSpec } from '../src/api/validate';
import { runExperiment } from '../src/api/runner';
import { requestedKeys } from '../src/experiment/keys';
import { planOf } from '../src/model/layout';
import { infiniteProblem } from '../src/model/infinite-plan';
import type { ResolvedSpec } from '../src/experiment/types';
import { computeReferenceResults } from '../src/reference/results';
import { infiniteReference } from '../src/reference/infinite-result';
import { compareResults } from '../src/cli/compare';
import { BatchSchedule } from '../src/math/training';
import { Rng } from '../src/util/rng';

type Layer = Record<string, unknown>;

function reshape(flat: number[], shape: number[]): unknown {
  if (shape.length === 1) return flat;
  const [C, H, W] = shape;
  return Array.from({ length: C }, (_, c) => Array.from({ length: H }, (_, y) => flat.slice((c * H + y) * W, (c * H + y + 1) * W)));
}

function ntkSpec(seed: number, input: number[], layers: Layer[], loss: 'mse' | 'cross_entropy', n: number, nTest: number, c: number, sigma: [number, number], train?: Record<string, unknown>) {
  const rng = new Rng(seed);
  const size = input.reduce((a, b) => a * b, 1);
  const x = Array.from({ length: n }, () => reshape(Array.from({ length: size }, () => rng.normal()), input));
  const xt = Array.from({ length: nTest }, () => reshape(Array.from({ length: size }, () => rng.normal()), input));
  const y = loss === 'mse' ? x.map(() => Array.from({ length: c }, () => rng.normal())) : x.map((_, i) => i % c);
  const yt = loss === 'mse' ? xt.map(() => Array.from({ length: c }, () => rng.normal())) : xt.map((_, i) => (i * 5) % c);
  return {
    model: { input, layers, parameterization: 'ntk', sigma_w: sigma[0], sigma_b: sigma[1] },
    init: { seed, scheme: 'ntk' },
    loss,
    data: nTest > 0 ? { x, y, x_test: xt, y_test: yt } : { x, y },
    ...(train ? { train } : {}),
  };
}

const CASES: [string, () => ReturnType<typeof ntkSpec>][] = [
  [
    'tanh MLP depth 3, mse with 2 outputs, training',
    () =>
      ntkSpec(
        1,
        [3],
        [
          { type: 'dense', units: 16, activation: 'tanh' },
          { type: 'dense', units: 16, activation: 'tanh' },
          { type: 'dense', units: 2, activation: 'linear' },
        ],
        'mse',
        12,
        5,
        2,
        [1.5, 0.2],
        { optimizer: 'gd', lr: 0.5, steps: 30, checkpoints: [0, 1, 10, 30] },
      ),
  ],
  [
    'sigmoid MLP, cross-entropy with 4 classes, training, no test data',
    () =>
      ntkSpec(
        2,
        [5],
        [
          { type: 'dense', units: 8, activation: 'sigmoid' },
          { type: 'dense', units: 4, activation: 'linear' },
        ],
        'cross_entropy',
        10,
        0,
        4,
        [2, 0.5],
        { optimizer: 'gd', lr: 2, steps: 25, checkpoints: [0, 5, 25] },
      ),
  ],
  [
    'CNN: conv stride 2 pad 2 (2 channels) tanh, conv relu, avgpool, flatten, dense; cross-entropy training',
    () =>
      ntkSpec(
        3,
        [2, 7, 6],
        [
          { type: 'conv2d', filters: 3, kernel: 3, stride: 2, padding: 2, activation: 'tanh' },
          { type: 'conv2d', filters: 3, kernel: 2, stride: 1, padding: 0, activation: 'relu' },
          { type: 'avgpool2d', size: 2 },
          { type: 'flatten' },
          { type: 'dense', units: 3, activation: 'linear' },
        ],
        'cross_entropy',
        6,
        3,
        3,
        [1.4, 0.1],
        { optimizer: 'gd', lr: 3, steps: 12, checkpoints: [0, 4, 12] },
      ),
  ],
  [
    'CNN relu, padding 1, no pooling, dense relu head, mse, kernels only',
    () =>
      ntkSpec(
        4,
        [1, 5, 5],
        [
          { type: 'conv2d', filters: 4, kernel: 3, stride: 1, padding: 1, activation: 'relu' },
          { type: 'flatten' },
          { type: 'dense', units: 6, activation: 'relu' },
          { type: 'dense', units: 1, activation: 'linear' },
        ],
        'mse',
        7,
        4,
        1,
        [1.2, 0.3],
      ),
  ],
];

describe('runner infinite key = float64 reference on random NTK specs', () => {
  for (const [name, make] of CASES) {
    it(name, async () => {
      const ctx = await gpuContext();
      const spec = validateSpec({ ...make(), compute: ['infinite'] });
      const ref = computeReferenceResults(spec);
      const got = await runExperiment(ctx, spec);
      expect(Object.keys(got)).toEqual(['infinite']);
      const cmp = compareResults(got, ref);
      if (process.env.TANGENT_VERBOSE) console.log(name, Math.max(...cmp.checks.map((c) => c.error)));
      expect(cmp.failures).toEqual([]);
      expect(cmp.checks.length).toBeGreaterThanOrEqual((spec.train ? 2 : 1) * (spec.data.nTest > 0 ? 4 : 2));
      expect(ctx.liveTensors).toBe(0);
    });
  }

  it('minibatch SGD with momentum follows the actual/linearized batch schedule', async () => {
    const ctx = await gpuContext();
    const raw = CASES[0][1]();
    const spec = validateSpec({ ...raw, train: { optimizer: 'sgd', lr: 0.3, momentum: 0.8, batch_size: 5, seed: 9, steps: 20, checkpoints: [0, 3, 20] }, compute: ['infinite'] });
    const got = (await runExperiment(ctx, spec)).infinite!;
    const schedule = new BatchSchedule(spec.data.n, 5, 9);
    const ref = infiniteReference(spec, () => schedule.next());
    const cmp = compareResults({ infinite: got }, { infinite: ref });
    expect(cmp.failures).toEqual([]);
    // The float64 engine's own `infinite` key (no schedule passed) draws the same batches.
    expect(compareResults({ infinite: got }, computeReferenceResults(spec, ['infinite'])).failures).toEqual([]);
    // And it differs from full-batch GD (the batches matter).
    const gd = infiniteReference(validateSpec({ ...raw, train: { optimizer: 'gd', lr: 0.3, momentum: 0.8, steps: 20, checkpoints: [0, 3, 20] } }));
    expect(compareResults({ infinite: got }, { infinite: gd }).failures.length).toBeGreaterThan(0);
  });
});

/** The runner's default keys of a spec. */
const keysOf = (spec: ResolvedSpec) => requestedKeys(spec, planOf(spec).P, infiniteProblem(spec) === null).keys;

describe('which keys the runner computes', () => {
  it('infinite by default for an NTK spec with a linear output, not for a standard one', () => {
    const ntk = validateSpec(CASES[0][1]());
    expect(keysOf(ntk)).toContain('infinite');
    const standard = validateSpec({ ...CASES[0][1](), model: { ...CASES[0][1]().model, parameterization: 'standard' }, init: { seed: 1, scheme: 'standard' } });
    expect(keysOf(standard)).not.toContain('infinite');
    const tanhOut = CASES[0][1]();
    (tanhOut.model.layers[2] as Layer).activation = 'tanh';
    expect(keysOf(validateSpec(tanhOut))).not.toContain('infinite');
  });

  it('a default run of an NTK spec holds infinite next to the other keys', async () => {
    const ctx = await gpuContext();
    const spec = validateSpec(CASES[3][1]());
    const notes: string[] = [];
    const got = await runExperiment(ctx, spec, { onNote: (m) => notes.push(m) });
    expect(Object.keys(got)).toContain('ntk');
    expect(Object.keys(got)).toContain('infinite');
    expect(Object.keys(got).at(-1)).toBe('infinite');
  });

  it('refuses infinite when asked for and impossible, before any work, naming the field', async () => {
    const ctx = await gpuContext();
    const bad = CASES[0][1]();
    (bad.model.layers[2] as Layer).activation = 'relu';
    await expect(runExperiment(ctx, validateSpec({ ...bad, compute: ['ntk', 'infinite'] }))).rejects.toThrow(
      /^model\.layers\[2\]\.activation: expected "linear" in the last dense\/conv2d layer for the infinite-width kernels \(key "infinite"\), found "relu"$/,
    );
    const standard = { ...CASES[0][1](), compute: ['infinite'] } as Record<string, any>;
    standard.model.parameterization = 'standard';
    standard.init.scheme = 'standard';
    await expect(runExperiment(ctx, validateSpec(standard))).rejects.toThrow(/^model\.parameterization: expected "ntk"/);
    const diverging = { ...CASES[0][1](), compute: ['infinite'] } as Record<string, any>;
    diverging.train.lr = 1e6;
    await expect(runExperiment(ctx, validateSpec(diverging))).rejects.toThrow(/^infinite\.train: learning rate 1000000 diverged by step \d+ .*try a smaller train\.lr$/);
    expect(ctx.liveTensors).toBe(0);
  });
});
