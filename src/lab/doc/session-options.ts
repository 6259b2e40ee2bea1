import type { ResolvedSpec } from '../../experiment/types';
import type { LabSessionOptions } from '../protocol';
import { LAB_LIMITS, type LabMetrics } from './document';

/**
 * What each session measures, scaled to the experiment's size: ~150 points per curve, and
 * kernel probes (alignment, spectrum, movement) on at most ~400 kernel rows (n_probe * c), so
 * their f64 eigendecomposition stays interactive. A document's `metrics` (presets) overrides
 * these.
 */
export function sessionOptionsFor(spec: ResolvedSpec, metrics: LabMetrics = {}): LabSessionOptions {
  const steps = spec.train?.steps ?? 0;
  const c = spec.data.c;
  const probeExamples = Math.min(spec.data.n, metrics.probeExamples ?? Math.min(100, Math.max(16, Math.floor(LAB_LIMITS.kernelRows / c))));
  const metricsEvery = Math.max(1, Math.ceil(steps / (metrics.events ?? 150)));
  return {
    metricsEvery,
    probeExamples,
    kernelEvery: metrics.kernelEvery ?? (probeExamples * c > LAB_LIMITS.kernelRows ? 2 : 1),
    gridEvery: spec.model.input.length === 1 && spec.model.input[0] === 2 ? (metrics.gridEvery ?? 3) : 0,
    gridSize: 32,
    topEigenvalues: 60,
    linearized: true,
    closedForm: spec.loss === 'mse',
    perExampleLoss: false,
    // The infinite-width network (issue 11): on wherever the spec has an infinite-width limit
    // and its kernels fit the session's work budget; otherwise SessionInfo.infiniteReason says why.
    infinite: true,
  };
}
