/**
 * The contract between the training engine (src/dynamics, a `Session`) and its consumers
 * (the browser lab through a Web Worker, the Node runner, the tests). Plain data only: every
 * event can be posted to a worker, serialized to JSON (Float32Arrays become arrays) and plotted.
 */

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

export interface AlignmentMetrics {
  uncentered: number;
  centered: number;
  ntk_uncentered: number;
  ntk_centered: number;
  per_layer_uncentered: number[];
  per_layer_centered: number[];
  per_layer_ntk_uncentered: number[];
  per_layer_ntk_centered: number[];
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
}

/** Model outputs on a regular grid over a 2-D input box (decision maps, Delta-loss maps). */
export interface GridMetrics {
  /** Points per side; the grid is row-major over y then x. */
  size: number;
  extent: { xMin: number; xMax: number; yMin: number; yMax: number };
  /** Per grid point: P(class 1) / the output for one output, or the argmax class otherwise. */
  actual: Float32Array;
  linearized: Float32Array | null;
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
  /** GPU sessions: `auto` (default: the fused MLP kernels where they apply) or `general`. */
  trainingPath?: 'auto' | 'general';
}

/** Raised when training diverges; names the step and suggests the stability bound. */
export class DivergenceError extends Error {
  constructor(
    readonly step: number,
    readonly model: 'actual' | 'linearized',
    readonly stableLr: number,
    lr: number,
  ) {
    super(
      `learning rate ${lr} diverged at step ${step}: the ${model} model's loss or parameters became non-finite; ` +
        `try a learning rate below ${stableLr.toPrecision(3)} (the NTK's stability bound 2n/lambda_max)`,
    );
    this.name = 'DivergenceError';
  }
}

/**
 * A training session: the actual model and its linearization trained side by side from the
 * same theta_0 on the same batches (src/dynamics). Deterministic for a given spec (seeded).
 * Created with `createSession(ctx, spec, options)` from src/dynamics/session.ts.
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
