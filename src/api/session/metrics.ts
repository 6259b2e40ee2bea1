/**
 * The pieces of a metric event computed from a backend's raw results (src/dynamics/backend.ts):
 * a model's losses, accuracy and group losses, the closed form's losses, the function-space gap,
 * and the kernel metrics of a probe (alignment, movement, traced kernel, spectrum). Pure
 * functions; the training math comes from src/math/training.ts.
 */
import type { LossKind } from '../../experiment/types';
import { accuracy, mean, perExampleLosses, stableLearningRate, type Targets } from '../../math/training';
import { spectrumStats } from '../../math/spectrum';
import { ntkTrace } from '../../reference/geometry';
import type { Evaluation, ProbeWithSpectrum } from '../../dynamics/backend';
import type { MetricEvent, ModelMetrics } from '../session-types';
import { groupMeans, type DifficultyGroups } from './groups';
import type { InfiniteNetwork } from './infinite';

/** What the metrics of a split need to know about its data. */
export interface SplitFacts {
  classes: Int32Array | null;
  targets: Targets;
  n: number;
}

export function modelMetrics(
  train: Evaluation,
  test: Evaluation | null,
  paramDistance: number | null,
  facts: { c: number; train: SplitFacts; test: SplitFacts; groups: DifficultyGroups | null },
): ModelMetrics {
  return {
    loss: train.loss,
    lossTest: test ? test.loss : null,
    accuracy: accuracy(train.outputs, facts.train.classes, facts.c),
    accuracyTest: test ? accuracy(test.outputs, facts.test.classes, facts.c) : null,
    paramDistance,
    groupLoss: facts.groups ? groupMeans(train.perExample, facts.groups) : null,
  };
}

/** An evaluation from outputs computed elsewhere (the closed form), in f64. */
export function evaluationOf(loss: LossKind, h: Float64Array, split: SplitFacts, c: number): Evaluation {
  const perExample = perExampleLosses(loss, h, split.targets, split.n, c);
  return { outputs: h, perExample, loss: mean(perExample) };
}

/** Root mean square of `a - b` over every example and output. */
export function rmsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2;
  return Math.sqrt(s / Math.max(1, a.length));
}

/**
 * The kernel metrics of a probe of the actual model. `hProbe` are the model's current outputs on
 * the probe examples: the spectrum's stability bound weights the kernel by the loss metric there.
 */
export function kernelMetrics(
  pr: ProbeWithSpectrum,
  hProbe: ArrayLike<number>,
  loss: LossKind,
  c: number,
  topEigenvalues: number,
  infinite: InfiniteNetwork | null,
): Pick<MetricEvent, 'alignment' | 'movement' | 'kernel' | 'spectrum'> {
  const kernel = pr.kernel ? { n: pr.n, traced: Float32Array.from(ntkTrace(pr.kernel, pr.n, c)) } : null;
  let spectrum: MetricEvent['spectrum'] = null;
  if (pr.eigenvalues) {
    const stats = spectrumStats(pr.eigenvalues);
    spectrum = {
      eigenvalues: stats.eigenvalues.slice(0, topEigenvalues),
      effectiveRank: stats.effective_rank,
      traceRatio: stats.trace_ratio,
      stableLr: pr.kernel ? stableLearningRate(pr.kernel, hProbe, pr.n, c, loss) : NaN,
    };
  }
  return {
    alignment: pr.probe.alignment,
    movement: {
      ntkSimilarityToInit: pr.probe.ntkSimilarityToInit,
      ntkSimilarityToInitCentered: pr.probe.ntkSimilarityToInitCentered,
      reluSignSimilarity: pr.probe.reluSignSimilarity,
      ntkDistanceToInfinite: infinite && pr.kernel ? infinite.distance(pr.kernel, pr.n) : null,
    },
    kernel,
    spectrum,
  };
}
