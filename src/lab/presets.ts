/**
 * One-click experiments. Each preset is a full lab document (validated by the tests), sized to
 * run interactively in a browser on a software adapter within a minute or so.
 */
import type { LabDoc } from './doc/document';

export interface Preset {
  id: string;
  title: string;
  /** What to look at, one or two sentences. */
  blurb: string;
  doc: LabDoc;
}

const relu = (units: number) => ({ type: 'dense' as const, units, activation: 'relu' as const });
const out = (units: number) => ({ type: 'dense' as const, units, activation: 'linear' as const });

export const PRESETS: Preset[] = [
  {
    id: 'lazy-vs-hasty',
    title: 'Lazy vs Hasty',
    blurb:
      'The disk toy (100 points, MLP 2-60-60-60-2, cross-entropy, full-batch GD) trained at α = 1 (feature learning) and α = 100 (lazy), each beside its linearization at θ₀. α = 1 ends far below its linearization; α = 100 stays on its linearization while its loss falls. Per-group plot (α = 1): at equal mean training loss the network has a lower loss than its linearization on the farthest (easiest) quarter of the points and a higher one on the nearest (hardest): it learns the easy points first.',
    doc: {
      v: 1,
      spec: {
        name: 'Lazy vs Hasty: disk, alpha 1 vs 100',
        model: { input: [2], layers: [relu(60), relu(60), relu(60), out(2)], parameterization: 'standard' },
        init: { seed: 0, scheme: 'standard', gain: 1 },
        loss: 'cross_entropy',
        data: { dataset: 'disk', n: 100, n_test: 200, seed: 0, noise: 0, label_noise: 0 },
        train: { optimizer: 'gd', lr: 0.5, steps: 1000, alpha: 1, seed: 0 },
      },
      compare: { param: 'alpha', values: [1, 100] },
      view: { alignment: 'ntk_centered' },
      // Dense early events: the groups are compared where the mean loss first falls to 0.7 of its start (step ~50 at α = 1).
      metrics: { events: 200, kernelEvery: 4, gridEvery: 5 },
    },
  },
  {
    id: 'ntk-alignment',
    title: 'NTK alignment',
    blurb:
      'An MLP (64-64-64-10) on 100 8×8 digits trained by SGD with momentum, with clean labels and with 50 % random labels. The clean run’s tangent kernel aligns with its labels early in training: its centered alignment rises well above its value at θ₀ within the first hundred steps. With random labels the kernel aligns less, throughout.',
    doc: {
      v: 1,
      spec: {
        name: 'NTK alignment: digits, clean vs random labels',
        model: { input: [1, 8, 8], layers: [{ type: 'flatten' }, relu(64), relu(64), out(10)], parameterization: 'standard' },
        init: { seed: 0, scheme: 'standard', gain: 1 },
        loss: 'cross_entropy',
        data: { dataset: 'digits', n: 100, n_test: 100, seed: 0, label_noise: 0 },
        train: { optimizer: 'sgd', lr: 0.1, steps: 300, alpha: 1, batch_size: 25, momentum: 0.9, seed: 0 },
      },
      compare: { param: 'label_noise', values: [0, 0.5] },
      view: { alignment: 'ntk_centered' },
      metrics: { events: 100, kernelEvery: 2, probeExamples: 40 },
    },
  },
  {
    id: 'ekfac-vs-kfac',
    title: 'EKFAC vs KFAC',
    blurb:
      'Spirals (3 classes, 90 points), MLP 2-16-16-3 tanh, trained by SGD, KFAC and EKFAC at the same learning rate (damping λ = 0.01, Kronecker factors eigendecomposed every 20 steps). EKFAC keeps KFAC’s eigenbasis but re-measures its eigenvalues, the gradients’ second moments in that basis, at every step; KFAC keeps the products λ_G·λ_A of its last decomposition, so its steps are scaled by stale curvature and it converges more slowly than EKFAC. In this run EKFAC’s loss is below SGD’s and KFAC’s at every step. The curvature plots (measured at the last step) compare each layer’s KFAC and EKFAC blocks with the exact Fisher: EKFAC’s error is never the larger.',
    doc: {
      v: 1,
      spec: {
        name: 'EKFAC vs KFAC: spirals',
        model: { input: [2], layers: [{ type: 'dense', units: 16, activation: 'tanh' }, { type: 'dense', units: 16, activation: 'tanh' }, out(3)], parameterization: 'standard' },
        init: { seed: 0, scheme: 'standard', gain: 1 },
        loss: 'cross_entropy',
        data: { dataset: 'spirals', n: 90, n_test: 90, seed: 0, noise: 0.02, classes: 3, label_noise: 0 },
        train: { optimizer: 'ekfac', lr: 0.05, steps: 400, alpha: 1, damping: 0.01, eig_every: 20, seed: 0 },
      },
      compare: { param: 'optimizer', values: ['sgd', 'kfac', 'ekfac'] },
      view: { alignment: 'ntk_centered' },
      metrics: { events: 100, kernelEvery: 4, gridEvery: 5 },
    },
  },
  {
    id: 'wider-is-lazier',
    title: 'Wider is lazier',
    blurb:
      'The same one-hidden-layer relu network (NTK parameterization, moons, full-batch GD) at widths 16, 256 and 4096, beside its infinite-width limit. The wider the network, the less its tangent kernel moves from θ₀ (kernel movement), the closer it stays to its linearization (function-space gap), and the less its parameters move relative to their initial norm ‖θ − θ₀‖ / ‖θ₀‖. At θ₀ the wider network’s tangent kernel is the closer to the analytic infinite-width NTK Θ: its relative distance falls with a log-log slope of about −0.36 over these three widths (one seed each; the dotted line is 1/√width). At the last step the widest network’s training loss is the closest to the infinite-width network’s (the grey line in the loss plot).',
    doc: {
      v: 1,
      spec: {
        name: 'Wider is lazier: moons, widths 16 / 256 / 4096',
        model: { input: [2], layers: [relu(64), out(1)], parameterization: 'ntk' },
        init: { seed: 0, scheme: 'ntk', gain: 1 },
        loss: 'mse',
        data: { dataset: 'moons', n: 80, n_test: 200, seed: 0, noise: 0.05, label_noise: 0 },
        train: { optimizer: 'gd', lr: 0.5, steps: 300, alpha: 1, seed: 0 },
      },
      compare: { param: 'width', values: [16, 256, 4096] },
      view: { alignment: 'ntk_centered' },
      metrics: { events: 75, kernelEvery: 2, gridEvery: 5 },
    },
  },
];
