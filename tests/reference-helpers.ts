/**
 * Shared builders for the reference tests: small random specs (seeded init, explicit data)
 * run through `validateSpec`, so the tests exercise the same path as fixture specs.
 */
import { Rng } from '../src/util/rng';
import { validateSpec } from '../src/api/validate';
import type { ResolvedSpec } from '../src/experiment/types';

export interface RandomSpecOptions {
  input: number[];
  layers: unknown[];
  loss: 'mse' | 'cross_entropy';
  n: number;
  nTest?: number;
  seed?: number;
  scheme?: 'standard' | 'ntk';
  gain?: number;
  sigma_w?: number;
  sigma_b?: number;
  train?: Record<string, unknown>;
  options?: Record<string, unknown>;
}

function randomTensor(shape: number[], rng: Rng): unknown {
  if (shape.length === 0) return rng.normal();
  return Array.from({ length: shape[0] }, () => randomTensor(shape.slice(1), rng));
}

/** Number of outputs of the last layer (the spec's c). */
function outputsOf(layers: unknown[]): number {
  const last = layers[layers.length - 1] as { units?: number };
  if (!last.units) throw new Error('test specs end with a dense layer');
  return last.units;
}

export function randomSpec(o: RandomSpecOptions): ResolvedSpec {
  const rng = new Rng(o.seed ?? 1);
  const c = outputsOf(o.layers);
  const targets = (count: number) =>
    o.loss === 'mse' ? randomTensor([count, c], rng) : Array.from({ length: count }, () => rng.int(c));
  const nTest = o.nTest ?? 0;
  const data: Record<string, unknown> = { x: randomTensor([o.n, ...o.input], rng), y: targets(o.n) };
  if (nTest > 0) {
    data.x_test = randomTensor([nTest, ...o.input], rng);
    data.y_test = targets(nTest);
  }
  const model: Record<string, unknown> = { input: o.input, layers: o.layers };
  if (o.sigma_w !== undefined) model.sigma_w = o.sigma_w;
  if (o.sigma_b !== undefined) model.sigma_b = o.sigma_b;
  const raw: Record<string, unknown> = {
    model,
    init: { seed: o.seed ?? 1, scheme: o.scheme ?? 'standard', gain: o.gain ?? 1 },
    loss: o.loss,
    data,
  };
  if (o.train) raw.train = o.train;
  if (o.options) raw.options = o.options;
  return validateSpec(raw);
}

/** max |a - b| / max |b| (the README's normalized max error). */
export function normErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let e = 0;
  let m = 0;
  for (let i = 0; i < b.length; i++) {
    e = Math.max(e, Math.abs(a[i] - b[i]));
    m = Math.max(m, Math.abs(b[i]));
  }
  return m > 0 ? e / m : e;
}

/** A conv net with stride 2 and padding 2 (7x7 -> 5x5), a second conv (5x5), an avgpool 2 that drops a row and a column (2x2), a dense head. */
export const CONV_STRIDED = {
  input: [2, 7, 7],
  layers: [
    { type: 'conv2d', filters: 3, kernel: 3, stride: 2, padding: 2, activation: 'tanh' },
    { type: 'conv2d', filters: 4, kernel: 3, stride: 1, padding: 1, activation: 'relu' },
    { type: 'avgpool2d', size: 2 },
    { type: 'flatten' },
    { type: 'dense', units: 3, activation: 'linear' },
  ],
};

/** A conv layer feeding a dense layer directly (dense flattens its [C, H, W] input in C-order). */
export const CONV_NO_FLATTEN = {
  input: [1, 5, 5],
  layers: [
    { type: 'conv2d', filters: 2, kernel: 2, stride: 1, padding: 0, activation: 'sigmoid' },
    { type: 'dense', units: 2, activation: 'linear' },
  ],
};

/** An MLP with sigmoid hidden layers. */
export const MLP_SIGMOID = {
  input: [3],
  layers: [
    { type: 'dense', units: 6, activation: 'sigmoid' },
    { type: 'dense', units: 5, activation: 'sigmoid' },
    { type: 'dense', units: 2, activation: 'linear' },
  ],
};
