/**
 * The contract between the training engine (src/dynamics, a `Session`) and its consumers
 * (the browser lab through a Web Worker, the Node runner, the tests). Plain data only: every
 * event can be posted to a worker, serialized to JSON (Float32Arrays become arrays) and plotted.
 */

import type { AlignmentMetrics } from '../geometry/alignment';

export type { AlignmentMetrics };

/** Loss / accuracy of one model (actual, linearized or closed form) at one step. */
export interface ModelMetrics {
  /** Mean training loss L(h) (not divided by alpha^2). */
  loss: number;
  lossTest: number | null;
  /** Classification accuracy (argmax for cross_entropy; sign for one-output mse with +-1 targets). */
  accuracy: number | null;
  accuracyTest: number | null;
  /** ||theta_t - theta_0||_2 (null for the closed form, which has no parameters). */
  paramDistance: number | null;
  /** Mean training loss of each difficulty group (same order as `SessionInfo.groups`). */
  groupLoss: number[] | null;
}

export interface SpectrumMetrics {
  /** Eigenvalues of the full NTK (nc x nc), descending (at most `topEigenvalues` of them). */
  eigenvalues: number[];
  effectiveRank: number;
  traceRatio: { '1': number; '5': number; '10': number };
  /** 2n / lambda_max of the (metric-weighted) kernel: the largest stable GD learning rate. */
  stableLr: number;
}

/** Kernel-movement probes of Lazy vs Hasty (fixture README section 11). */
export interface MovementMetrics {
  ntkSimilarityToInit: number;
  ntkSimilarityToInitCentered: number;
  /** Null when the model has no relu layer. */
  reluSignSimilarity: number | null;
  /**
   * Relative distance of the current empirical NTK to the analytic infinite-width one on the probe
   * examples, ||K - Theta (x) I_c||_F / ||Theta (x) I_c||_F (null without an infinite-width model).
   */
  ntkDistanceToInfinite: number | null;
}

/** Model outputs on a regular grid over a 2-D input box (decision maps, Delta-loss maps). */
export interface GridMetrics {
  /** Points per side; the grid is row-major over y then x. */
  size: number;
  extent: { xMin: number; xMax: number; yMin: number; yMax: number };
  /** Per grid point: P(class 1) / the output for one output, or the argmax class otherwise. */
  actual: Float32Array;
  linearized: Float32Array | null;
  /** The infinite-width predictor's map (null without an infinite-width model). */
  infinite: Float32Array | null;
  /**
   * Per-point loss of actual minus linearized against the true labels, both taken when their
   * mean training loss first reached `milestone` (matched training loss, as in Lazy vs Hasty);
   * null until both models have reached one, or for regression.
   */
  deltaLoss: Float32Array | null;
  milestone: number | null;
}

/** One metric snapshot, emitted every `metricsEvery` steps and at every checkpoint. */
export interface MetricEvent {
  step: number;
  /** Seconds of engine time since the session started (excludes pauses). */
  wallTime: number;
  actual: ModelMetrics;
  linearized: ModelMetrics | null;
  /** Closed-form lazy prediction (mse only). */
  closedForm: ModelMetrics | null;
  /** Function-space gap: RMS over examples and outputs of h - h_lin (train, test). */
  gap: { train: number; test: number | null } | null;
  /**
   * The infinite-width network (NTK-parameterized models with an infinite-width limit, fixture
   * README section 13): the mean predictor of the infinite-width limit trained in function space
   * with the session's learning rate, batches and momentum, from h = 0.
   */
  infinite: ModelMetrics | null;
  /** Function-space gaps to the infinite-width predictor: RMS of h - h_inf for the actual and linearized models. */
  gapToInfinite: { actual: { train: number; test: number | null }; linearized: { train: number; test: number | null } | null } | null;
  /** Alignment of the actual model's current tangent kernel (the linearized one's is constant). */
  alignment: AlignmentMetrics | null;
  spectrum: SpectrumMetrics | null;
  movement: MovementMetrics | null;
  grid: GridMetrics | null;
  /**
   * The actual model's current output-traced NTK on the probe examples (the first `n` training
   * examples, n x n, row-major), when kernel probes ran in this event.
   */
  kernel: { n: number; traced: Float32Array } | null;
  /** Per-example training losses (actual, linearized), when requested. */
  perExampleLoss: { actual: Float32Array; linearized: Float32Array | null } | null;
  /**
   * Only on the event at which the infinite-width network diverged (its bound, Theta's, can lie
   * below the finite networks'): why. From this event on `infinite` is null, and so is
   * `SessionInfo.infinite`, with this reason in `infiniteReason`.
   */
  infiniteStopped?: string;
}

/** Static facts about a session, sent once after creation. */
export interface SessionInfo {
  adapter: string;
  P: number;
  n: number;
  nTest: number;
  c: number;
  layers: { index: number; type: string; paramSize: number }[];
  /** Difficulty groups (e.g. "clean", "noisy labels"; or distance-to-boundary quantiles). */
  groups: { name: string; size: number }[];
  /** Stability bound of GD at theta_0, 2n / lambda_max. */
  stableLr: number;
  /**
   * The infinite-width network, when the model has one (null otherwise, `reason` says why):
   * the eigenvalues (descending) of Theta (x) I_c on the probe examples, for the spectrum plot.
   */
  infinite: { spectrum: number[] } | null;
  /** Why there is no infinite-width network (null when there is one). */
  infiniteReason: string | null;
  /**
   * Which implementation trains the models and why (GPU sessions: the fused MLP kernels or the
   * general path, src/dynamics/trainer.ts); absent on the CPU engine.
   */
  trainingPath?: { kind: 'fused' | 'general'; reason: string };
  /** The training inputs and labels for scatter plots (2-D data only). */
  points2d: { x: Float32Array; y: Float32Array; label: Int32Array; testX: Float32Array; testY: Float32Array; testLabel: Int32Array } | null;
}

/** Per-layer curvature comparison at the current parameters (KFAC / EKFAC vs exact Fisher). */
export interface CurvatureReport {
  step: number;
  layers: {
    index: number;
    frobExact: number;
    frobErrKfac: number;
    frobErrEkfac: number;
    /** Eigenvalues (descending) of the exact block, KFAC and EKFAC approximations. */
    spectra: { exact: number[]; kfac: number[]; ekfac: number[] } | null;
  }[];
}

/** What the session should compute besides losses, and how often. */
export interface SessionOptions {
  /** Emit a MetricEvent every this many steps (and at checkpoints). Default 10. */
  metricsEvery?: number;
  /** Alignment, spectrum and movement every this many events (they need the NTK). Default 1. */
  kernelEvery?: number;
  /** Grid maps every this many events (2-D inputs only; 0 = never). Default 5. */
  gridEvery?: number;
  gridSize?: number;
  /** Number of leading eigenvalues reported in `spectrum`. Default 50. */
  topEigenvalues?: number;
  /** Also train the linearized model (default true) and, for mse, the closed form (default true). */
  linearized?: boolean;
  closedForm?: boolean;
  perExampleLoss?: boolean;
  /** Training examples used by the kernel probes (alignment, spectrum, movement). Default 100. */
  probeExamples?: number;
  /** Also train the infinite-width network when the model has an infinite-width limit (default true). */
  infinite?: boolean;
  /** GPU sessions: `auto` (default: the fused MLP kernels where they apply) or `general`. */
  trainingPath?: 'auto' | 'general';
}

export { DivergenceError } from '../experiment/errors';

/**
 * A training session: the actual model and its linearization trained side by side from the
 * same theta_0 on the same batches (src/dynamics). Deterministic for a given spec (seeded).
 * Created with `createSession(ctx, spec, options)` from src/api/session/session.ts.
 */
export interface Session {
  readonly info: SessionInfo;
  /** Steps taken so far. */
  readonly step: number;
  /** Advance up to `k` steps (stops at train.steps); resolves with the events emitted. */
  advance(k: number, signal?: AbortSignal): Promise<MetricEvent[]>;
  /** A metric event for the current state (without stepping). */
  snapshot(): Promise<MetricEvent>;
  /**
   * Per-example learning time of each model: the first recorded step from which the example has
   * stayed learned (correctly classified; for regression, loss at most half its initial value);
   * NaN when not learned at the last event.
   */
  learningTimes(): { actual: Float64Array; linearized: Float64Array | null };
  /** KFAC / EKFAC vs exact per-layer Fisher blocks at the current parameters. */
  curvature(): Promise<CurvatureReport>;
  /** Free every GPU buffer of the session. */
  dispose(): void;
}
