/**
 * Example difficulty (Lazy vs Hasty, section 5 of the thesis): which training examples are
 * "hard". Groups are fixed before training so that per-group losses can be followed live:
 *
 * - label noise: examples whose label was flipped by `label_noise` vs clean ones (noisy
 *   examples are hard);
 * - distance to the decision boundary (2-D classification): quartiles of the exact distance to
 *   the noise-free boundary when the dataset is defined by a rule (disk, XOR, circles), else of the
 *   distance to the nearest training point of another class (a margin proxy that works for any
 *   data, CSV uploads included). Near the boundary = hard.
 *
 * Every group returned is non-empty: groups that would be empty are not formed (label noise
 * flipping every label falls back to the boundary groups; fewer than 8 examples give none).
 *
 * Per-example learning time (the step at which an example's loss first drops below a threshold)
 * is a third notion; it is only known after training, so it is reported per example by
 * `learningTimes`, not used as a live group.
 */
import { DATASETS } from '../../data/datasets';
import type { ResolvedSpec } from '../../experiment/types';
import { splitClasses } from '../../math/training';

export interface DifficultyGroups {
  names: string[];
  /** Group index of every training example. */
  index: Int32Array;
  sizes: number[];
}

export function difficultyGroups(spec: ResolvedSpec, inputSize: number): DifficultyGroups | null {
  const d = spec.data;
  const n = d.n;
  // Label-noise groups need both clean and flipped examples (label_noise = 1 flips them all:
  // then there is no clean group to compare with, and the boundary groups below are used).
  if (d.meta.flipped && d.meta.flipped.some((f) => f === 1) && d.meta.flipped.some((f) => f === 0)) {
    const index = Int32Array.from(d.meta.flipped, (f) => (f ? 1 : 0));
    return withSizes(['clean labels', 'flipped labels'], index);
  }
  const labels = classLabels(spec);
  if (inputSize !== 2 || !labels || n < 8) return null;
  const info = d.meta.dataset ? DATASETS[d.meta.dataset] : undefined;
  const margin = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const x = d.x[2 * i];
    const y = d.x[2 * i + 1];
    if (info?.margin) {
      margin[i] = info.margin(x, y);
      continue;
    }
    let best = Infinity;
    for (let j = 0; j < n; j++) {
      if (labels[j] === labels[i]) continue;
      best = Math.min(best, Math.hypot(d.x[2 * j] - x, d.x[2 * j + 1] - y));
    }
    margin[i] = best;
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => margin[a] - margin[b]);
  const index = new Int32Array(n);
  order.forEach((i, rank) => (index[i] = Math.min(3, Math.floor((4 * rank) / n))));
  const what = info?.margin ? 'distance to boundary' : 'distance to other class';
  return withSizes([`${what}: nearest 25%`, `${what}: 25-50%`, `${what}: 50-75%`, `${what}: farthest 25%`], index);
}

function withSizes(names: string[], index: Int32Array): DifficultyGroups {
  const sizes = names.map(() => 0);
  for (const g of index) sizes[g]++;
  return { names, index, sizes };
}

/**
 * Integer classes of the training set: cross-entropy labels, +-1 targets of a one-output mse
 * model, or one-hot mse targets; null for regression targets (src/math/training.ts decides).
 */
export function classLabels(spec: ResolvedSpec): Int32Array | null {
  const d = spec.data;
  return splitClasses(d.labels, d.y, d.n, d.c);
}

/** The same for the test set (null without test data or for regression). */
export function testClassLabels(spec: ResolvedSpec): Int32Array | null {
  const d = spec.data;
  return splitClasses(d.labelsTest, d.yTest, d.nTest, d.c);
}

/** Mean of per-example values within each group. */
export function groupMeans(values: ArrayLike<number>, groups: DifficultyGroups): number[] {
  const sums = groups.names.map(() => 0);
  for (let i = 0; i < groups.index.length; i++) sums[groups.index[i]] += values[i];
  return sums.map((s, g) => (groups.sizes[g] > 0 ? s / groups.sizes[g] : NaN));
}
