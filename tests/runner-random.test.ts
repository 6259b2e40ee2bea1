/**
 * Fixtures that are not in the repository: the GPU runner against the independent float64
 * reference on random specs in the fixture format (other depths, widths, n, c, activations,
 * strides, paddings, channel counts, pooling, alpha values, c = 1, cross-entropy training),
 * compared with the same float32 tolerances as the public fixtures.
 */
import { describe, expect, it } from 'vitest';
import { gpuContext } from './helpers/gpu';
import { reluUnits } from './helpers/fixtures';
import { validateSpec } from '../src/api/validate';
import { runExperiment } from '../src/api/runner';
import { toFixtureJson } from '../src/experiment/result';
import { computeReferenceResults } from '../src/reference/results';
import { compareResults } from '../src/cli/compare';
import { Rng } from '../src/util/rng';

type Layer = Record<string, unknown>;

function randomData(rng: Rng, shape: number[], n: number): number[] {
  const size = shape.reduce((a, b) => a * b, 1);
  const flat = Array.from({ length: size }, () => rng.normal());
  if (shape.length === 1) return flat;
  const [C, H, W] = shape;
  return Array.from({ length: C }, (_, c) => Array.from({ length: H }, (_, y) => flat.slice((c * H + y) * W, (c * H + y + 1) * W))) as unknown as number[];
}

function spec(seed: number, input: number[], layers: Layer[], loss: 'mse' | 'cross_entropy', n: number, nTest: number, c: number, train?: Record<string, unknown>) {
  const rng = new Rng(seed);
  const x = Array.from({ length: n }, () => randomData(rng, input, n));
  const xt = Array.from({ length: nTest }, () => randomData(rng, input, nTest));
  const y = loss === 'mse' ? x.map(() => Array.from({ length: c }, () => rng.normal())) : x.map((_, i) => i % c);
  const yt = loss === 'mse' ? xt.map(() => Array.from({ length: c }, () => rng.normal())) : xt.map((_, i) => (i * 7) % c);
  return validateSpec({
    model: { input, layers },
    init: { seed, scheme: 'standard', gain: 1.5 },
    loss,
    data: { x, y, x_test: xt, y_test: yt },
    ...(train ? { train } : {}),
  });
}

const CASES: [string, () => ReturnType<typeof spec>][] = [
  [
    // A sigmoid conv into the last dense layer: its inputs share a large common part, where
    // centering the kernel (H K H) in float32 lost the centered alignments (6e-5 relative);
    // the runner centers the Jacobian instead.
    'CNN with a sigmoid conv into the dense output (centered alignments), cross-entropy with training',
    () =>
      spec(
        31,
        [2, 6, 6],
        [
          { type: 'conv2d', filters: 3, kernel: 3, stride: 1, padding: 1, activation: 'relu' },
          { type: 'avgpool2d', size: 2 },
          { type: 'conv2d', filters: 2, kernel: 2, stride: 2, padding: 1, activation: 'sigmoid' },
          { type: 'flatten' },
          { type: 'dense', units: 4, activation: 'linear' },
        ],
        'cross_entropy',
        8,
        3,
        4,
        { optimizer: 'gd', lr: 0.4, steps: 6, checkpoints: [0, 3, 6] },
      ),
  ],
  [
    'deep tanh/sigmoid/relu MLP, mse, c = 1, alpha 3 training',
    () =>
      spec(
        1,
        [5],
        [
          { type: 'dense', units: 7, activation: 'tanh' },
          { type: 'dense', units: 9, activation: 'sigmoid' },
          { type: 'dense', units: 6, activation: 'relu' },
          { type: 'dense', units: 1, activation: 'linear' },
        ],
        'mse',
        11,
        5,
        1,
        { optimizer: 'gd', lr: 0.05, steps: 12, alpha: 3, checkpoints: [0, 1, 5, 12] },
      ),
  ],
  [
    'CNN: two convs (stride 2, padding 2, 2 channels in), pooling with a dropped row, cross-entropy training alpha 1',
    () =>
      spec(
        2,
        [2, 7, 6],
        [
          { type: 'conv2d', filters: 3, kernel: 3, stride: 2, padding: 2, activation: 'relu' },
          { type: 'conv2d', filters: 2, kernel: 2, stride: 1, padding: 0, activation: 'tanh' },
          { type: 'avgpool2d', size: 2 },
          { type: 'flatten' },
          { type: 'dense', units: 4, activation: 'linear' },
        ],
        'cross_entropy',
        9,
        4,
        4,
        { optimizer: 'gd', lr: 0.3, steps: 8, alpha: 1, checkpoints: [0, 3, 8] },
      ),
  ],
  [
    'wide MLP, 5 classes, cross-entropy training at alpha 50',
    () =>
      spec(
        3,
        [3],
        [
          { type: 'dense', units: 24, activation: 'relu' },
          { type: 'dense', units: 5, activation: 'linear' },
        ],
        'cross_entropy',
        14,
        6,
        5,
        { optimizer: 'gd', lr: 0.4, steps: 10, alpha: 50, checkpoints: [0, 2, 10] },
      ),
  ],
  [
    'conv straight into dense (no flatten), 1x1 kernel, mse with 3 outputs, no training',
    () =>
      spec(
        4,
        [1, 5, 5],
        [
          { type: 'conv2d', filters: 4, kernel: 1, stride: 1, padding: 0, activation: 'sigmoid' },
          { type: 'conv2d', filters: 2, kernel: 5, stride: 1, padding: 1, activation: 'linear' },
          { type: 'dense', units: 3, activation: 'linear' },
        ],
        'mse',
        6,
        3,
        3,
      ),
  ],
];

describe('runner = f64 reference on random specs in the fixture format', () => {
  for (const [name, make] of CASES) {
    it(name, async () => {
      const ctx = await gpuContext();
      const s = make();
      const ref = toFixtureJson(computeReferenceResults(s));
      const got = toFixtureJson(await runExperiment(ctx, s));
      const cmp = compareResults(got, ref, { f64Norms: true, n: s.data.n, reluUnits: reluUnits(s) });
      expect(cmp.failures).toEqual([]);
      expect(cmp.checks.length).toBeGreaterThan(30);
      expect(ctx.liveTensors).toBe(0);
    });
  }
});
