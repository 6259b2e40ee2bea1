/**
 * The lab document: the experiment spec (the single source of truth every control edits) plus
 * the few lab-only settings that a shared link must also carry (a comparison of several runs,
 * the alignment definition shown), and the lab's interactive limits. Pure data: no DOM, no
 * worker, no GPU. The other modules of src/lab/doc/ are pure functions of it: data-facts.ts
 * (what the data asks of the model), architecture.ts (the MLP / CNN the panels edit),
 * optimizer.ts, compare.ts (comparison runs), session-options.ts, check.ts (validation).
 */
import type { ExperimentSpec } from '../../experiment/types';

export type AlignmentDef = 'ntk_centered' | 'ntk_uncentered' | 'centered' | 'uncentered';
export const ALIGNMENT_DEFS: readonly AlignmentDef[] = ['ntk_centered', 'ntk_uncentered', 'centered', 'uncentered'];

export type CompareParam = 'alpha' | 'optimizer' | 'width' | 'label_noise' | 'lr';
export const COMPARE_PARAMS: readonly CompareParam[] = ['alpha', 'optimizer', 'width', 'label_noise', 'lr'];

/** Several runs that differ in one parameter, trained side by side. */
export interface Compare {
  param: CompareParam;
  values: (number | string)[];
}

export interface LabView {
  alignment: AlignmentDef;
}

/**
 * How often the runs are measured, when a document (a preset) sets it: `events` metric events per
 * run (default 150), kernel probes every `kernelEvery` events, decision maps every `gridEvery`
 * events, probes on `probeExamples` training examples. Absent: derived from the experiment's size
 * (session-options.ts).
 */
export interface LabMetrics {
  events?: number;
  kernelEvery?: number;
  gridEvery?: number;
  probeExamples?: number;
}
export const METRIC_KEYS = ['events', 'kernelEvery', 'gridEvery', 'probeExamples'] as const;

export interface LabDoc {
  v: 1;
  spec: ExperimentSpec;
  compare: Compare | null;
  view: LabView;
  metrics?: LabMetrics;
}

/** What the lab accepts interactively (the headless runner has no such limits). */
export const LAB_LIMITS = {
  n: 2000,
  nTest: 2000,
  params: 2_000_000,
  steps: 200_000,
  compareRuns: 6,
  /** Above this n*c the per-event NTK metrics are computed less often (their cost is (nc)^2 P + (nc)^3). */
  kernelRows: 400,
  /** The CPU (float64) fallback: at most this many parameters times examples. */
  cpuWork: 3_000_000,
};

export type UiOptimizer = 'gd' | 'sgd' | 'momentum' | 'kfac' | 'ekfac';
export const UI_OPTIMIZERS: readonly UiOptimizer[] = ['gd', 'sgd', 'momentum', 'kfac', 'ekfac'];

export const DEFAULT_SPEC: ExperimentSpec = {
  name: 'Lazy vs actual training on the disk',
  model: {
    input: [2],
    layers: [
      { type: 'dense', units: 32, activation: 'relu' },
      { type: 'dense', units: 32, activation: 'relu' },
      { type: 'dense', units: 1, activation: 'linear' },
    ],
    parameterization: 'standard',
  },
  init: { seed: 0, scheme: 'standard', gain: 1 },
  loss: 'mse',
  data: { dataset: 'disk', n: 100, n_test: 200, seed: 0, noise: 0, label_noise: 0 },
  train: { optimizer: 'gd', lr: 0.2, steps: 600, alpha: 1, seed: 0 },
};

export const DEFAULT_DOC: LabDoc = { v: 1, spec: DEFAULT_SPEC, compare: null, view: { alignment: 'ntk_centered' } };

