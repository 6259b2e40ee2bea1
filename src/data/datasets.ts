/**
 * Seeded generators for the 2-D classification toys and the 1-D / 2-D regression toys.
 * Pure functions of their options (no DOM, no I/O): the same spec gives the same data
 * in the browser, in Node and in tests.
 *
 * A generated dataset is turned into explicit arrays before validation, so the rest of the
 * engine only ever sees `{x, y, x_test, y_test}`. Classification labels become integer labels
 * for cross_entropy, and for mse either one-hot targets (c > 1) or +-1 targets (c = 1, two classes).
 */
import { Rng } from '../util/rng';
import { SpecError } from '../experiment/errors';

export interface GeneratedData {
  x: number[][];
  x_test: number[][];
  /** Integer class labels (classification toys). */
  labels?: number[];
  labels_test?: number[];
  /** Real targets (regression toys). */
  targets?: number[][];
  targets_test?: number[][];
  classes: number;
  /** Per-example flag: the label was flipped by `label_noise` (a difficulty group). */
  flipped?: boolean[];
}

type Sampler = (rng: Rng, opts: ToyOptions) => { x: number[]; label: number; target?: number[] };

export interface ToyOptions {
  noise: number;
  classes: number;
}

const TWO_PI = 2 * Math.PI;

/** Points uniform in [-1, 1]^2; label 1 inside the disk of radius sqrt(2/pi) (balanced areas). */
const disk: Sampler = (rng, o) => {
  const x = [rng.range(-1, 1), rng.range(-1, 1)];
  const label = Math.hypot(x[0], x[1]) < DISK_RADIUS ? 1 : 0;
  return { x: jitter(x, rng, o.noise), label };
};

/** Yin-yang label of a point of the unit disk (Lazy vs Hasty's second 2-D toy). */
function yinyangRule(px: number, py: number): number {
  const rSmall = 0.5;
  const dTop = Math.hypot(px, py - rSmall);
  const dBot = Math.hypot(px, py + rSmall);
  if (dTop < 0.15) return 0;
  if (dBot < 0.15) return 1;
  if (dTop < rSmall) return 1;
  if (dBot < rSmall) return 0;
  return px > 0 ? 1 : 0;
}

/** Yin-yang in the unit disk (as in Lazy vs Hasty's 2-D toy). */
const yinyang: Sampler = (rng, o) => {
  let x: number[];
  do x = [rng.range(-1, 1), rng.range(-1, 1)];
  while (Math.hypot(x[0], x[1]) > 1);
  return { x: jitter(x, rng, o.noise), label: yinyangRule(x[0], x[1]) };
};

const moons: Sampler = (rng, o) => {
  const label = rng.int(2);
  const t = rng.range(0, Math.PI);
  const x = label === 0 ? [Math.cos(t), Math.sin(t)] : [1 - Math.cos(t), 0.5 - Math.sin(t)];
  return { x: jitter([(x[0] - 0.5) / 1.2, (x[1] - 0.25) / 1.2], rng, o.noise), label };
};

const spirals: Sampler = (rng, o) => {
  const k = Math.max(2, o.classes);
  const label = rng.int(k);
  const r = rng.uniform();
  const t = 1.75 * TWO_PI * r / 2 + (TWO_PI * label) / k;
  return { x: jitter([r * Math.cos(t), r * Math.sin(t)], rng, o.noise), label };
};

const xor: Sampler = (rng, o) => {
  const x = [rng.range(-1, 1), rng.range(-1, 1)];
  return { x: jitter(x, rng, o.noise), label: x[0] * x[1] > 0 ? 1 : 0 };
};

const circles: Sampler = (rng, o) => {
  const label = rng.int(2);
  const t = rng.range(0, TWO_PI);
  const r = label === 1 ? 0.35 : 0.85;
  return { x: jitter([r * Math.cos(t), r * Math.sin(t)], rng, o.noise), label };
};

const blobs: Sampler = (rng, o) => {
  const k = Math.max(2, o.classes);
  const label = rng.int(k);
  const angle = (TWO_PI * label) / k;
  const sd = 0.15 + o.noise;
  return { x: [0.6 * Math.cos(angle) + sd * rng.normal(), 0.6 * Math.sin(angle) + sd * rng.normal()], label };
};

/** 1-D regression: y = sin(3x) + noise on [-1, 1]. */
const sine1d: Sampler = (rng, o) => {
  const x = rng.range(-1, 1);
  return { x: [x], label: 0, target: [Math.sin(3 * x) + o.noise * rng.normal()] };
};

/** 2-D regression: y = sin(2 x0) cos(2 x1) + noise on [-1, 1]^2. */
const wave2d: Sampler = (rng, o) => {
  const x = [rng.range(-1, 1), rng.range(-1, 1)];
  return { x, label: 0, target: [Math.sin(2 * x[0]) * Math.cos(2 * x[1]) + o.noise * rng.normal()] };
};

function jitter(x: number[], rng: Rng, noise: number): number[] {
  return noise > 0 ? x.map((v) => v + noise * rng.normal()) : x;
}

interface DatasetInfo {
  sampler: Sampler;
  kind: 'classification' | 'regression';
  dims: number;
  /** Number of classes when fixed by the dataset; 0 = given by the `classes` option. */
  classes: number;
  title: string;
  /** The noise-free label of any point, when the dataset is defined by a rule (grid maps). */
  rule?: (x: number, y: number) => number;
  /** Distance to the noise-free decision boundary, when known (difficulty groups). */
  margin?: (x: number, y: number) => number;
}

const DISK_RADIUS = Math.sqrt(2 / Math.PI);

export const DATASETS: Record<string, DatasetInfo> = {
  disk: {
    sampler: disk,
    kind: 'classification',
    dims: 2,
    classes: 2,
    title: 'Disk (uniform square, disk of radius √(2/π))',
    rule: (x, y) => (Math.hypot(x, y) < DISK_RADIUS ? 1 : 0),
    margin: (x, y) => Math.abs(Math.hypot(x, y) - DISK_RADIUS),
  },
  yinyang: { sampler: yinyang, kind: 'classification', dims: 2, classes: 2, title: 'Yin-yang', rule: yinyangRule },
  moons: { sampler: moons, kind: 'classification', dims: 2, classes: 2, title: 'Two moons' },
  spirals: { sampler: spirals, kind: 'classification', dims: 2, classes: 0, title: 'Spirals' },
  xor: {
    sampler: xor,
    kind: 'classification',
    dims: 2,
    classes: 2,
    title: 'XOR',
    rule: (x, y) => (x * y > 0 ? 1 : 0),
    margin: (x, y) => Math.min(Math.abs(x), Math.abs(y)),
  },
  circles: {
    sampler: circles,
    kind: 'classification',
    dims: 2,
    classes: 2,
    title: 'Concentric circles',
    rule: (x, y) => (Math.hypot(x, y) < 0.6 ? 1 : 0),
    margin: (x, y) => Math.abs(Math.hypot(x, y) - 0.6),
  },
  blobs: { sampler: blobs, kind: 'classification', dims: 2, classes: 0, title: 'Gaussian blobs' },
  sine1d: { sampler: sine1d, kind: 'regression', dims: 1, classes: 0, title: '1-D regression: sin(3x)' },
  wave2d: { sampler: wave2d, kind: 'regression', dims: 2, classes: 0, title: '2-D regression: sin(2x)cos(2y)' },
};

function sample(info: DatasetInfo, rng: Rng, count: number, opts: ToyOptions) {
  const xs: number[][] = [];
  const labels: number[] = [];
  const targets: number[][] = [];
  for (let i = 0; i < count; i++) {
    const s = info.sampler(rng, opts);
    xs.push(s.x);
    labels.push(s.label);
    if (s.target) targets.push(s.target);
  }
  return { xs, labels, targets };
}

/**
 * Generate a dataset from `{dataset, n, n_test, seed, noise, label_noise, classes}`.
 * Train and test draw from independent streams of the same seed; label noise flips a
 * fraction of the *training* labels only (exactly round(label_noise * n) of them).
 */
export function generateToy(spec: Record<string, unknown>, field = 'data'): GeneratedData {
  const name = spec.dataset;
  const info = typeof name === 'string' ? DATASETS[name] : undefined;
  if (!info) throw new SpecError(`${field}.dataset`, `one of ${Object.keys(DATASETS).join(', ')}`, JSON.stringify(name));
  for (const k of Object.keys(spec)) {
    if (!['dataset', 'n', 'n_test', 'seed', 'noise', 'label_noise', 'classes'].includes(k)) {
      throw new SpecError(`${field}.${k}`, 'one of dataset, n, n_test, seed, noise, label_noise, classes', `an unknown key "${k}"`);
    }
  }
  const int = (key: string, def: number, min: number, max: number) => {
    const v = spec[key] ?? def;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      throw new SpecError(`${field}.${key}`, `an integer in ${min}..${max}`, JSON.stringify(v));
    }
    return v;
  };
  const real = (key: string, def: number, min: number, max: number) => {
    const v = spec[key] ?? def;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
      throw new SpecError(`${field}.${key}`, `a number in [${min}, ${max}]`, JSON.stringify(v));
    }
    return v;
  };
  const n = int('n', 100, 1, 100_000);
  const nTest = int('n_test', 0, 0, 100_000);
  const seed = int('seed', 0, 0, 0xffffffff);
  const noise = real('noise', 0, 0, 10);
  const labelNoise = real('label_noise', 0, 0, 1);
  const classes = info.classes || int('classes', 3, 2, 16);
  if (info.kind === 'regression' && labelNoise > 0) {
    throw new SpecError(`${field}.label_noise`, 'no label noise for a regression dataset', String(labelNoise));
  }
  const opts: ToyOptions = { noise, classes };
  const train = sample(info, new Rng(seed * 2 + 1), n, opts);
  const test = sample(info, new Rng(seed * 2 + 2), nTest, opts);
  if (info.kind === 'regression') {
    return { x: train.xs, x_test: test.xs, targets: train.targets, targets_test: test.targets, classes: 0 };
  }
  const flipped = new Array<boolean>(n).fill(false);
  const nFlip = Math.round(labelNoise * n);
  if (nFlip > 0) {
    const rng = new Rng(seed * 2 + 3);
    const order = Array.from({ length: n }, (_, i) => i);
    rng.shuffle(order);
    for (const i of order.slice(0, nFlip)) {
      train.labels[i] = (train.labels[i] + 1 + rng.int(classes - 1)) % classes;
      flipped[i] = true;
    }
  }
  return { x: train.xs, x_test: test.xs, labels: train.labels, labels_test: test.labels, classes, flipped };
}

/**
 * Resolve `spec.data` with a `dataset` key into explicit `{x, y, x_test, y_test}` for a model
 * with input shape `input` and, through `c`, the target encoding.
 */
export function generateDataset(
  spec: Record<string, unknown>,
  input: readonly number[],
  field = 'data',
  target: { loss: 'mse' | 'cross_entropy'; c: number } = { loss: 'cross_entropy', c: 2 },
): { x: number[][]; y: unknown; x_test: number[][]; y_test: unknown; flipped?: boolean[] } {
  const g = generateToy(spec, field);
  const dims = g.x[0]?.length ?? 0;
  if (input.length !== 1 || input[0] !== dims) {
    throw new SpecError('model.input', `[${dims}] for the ${String(spec.dataset)} dataset`, `[${input.join(', ')}]`);
  }
  if (g.targets) {
    return { x: g.x, y: g.targets, x_test: g.x_test, y_test: g.targets_test };
  }
  const labels = g.labels!;
  const labelsTest = g.labels_test!;
  if (target.loss === 'cross_entropy') return { x: g.x, y: labels, x_test: g.x_test, y_test: labelsTest, flipped: g.flipped };
  const encode = (l: number) => {
    if (target.c === 1) {
      if (g.classes !== 2) throw new SpecError('model.layers', `${g.classes} outputs (one-hot) for ${g.classes} classes`, '1 output');
      return [l === 1 ? 1 : -1];
    }
    const row = new Array<number>(target.c).fill(0);
    row[l] = 1;
    return row;
  };
  if (target.c !== 1 && target.c !== g.classes) {
    throw new SpecError('model.layers', `a last layer with ${g.classes} outputs (or 1 for +-1 targets)`, `${target.c} outputs`);
  }
  return { x: g.x, y: labels.map(encode), x_test: g.x_test, y_test: labelsTest.map(encode), flipped: g.flipped };
}
