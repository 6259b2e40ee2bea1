/**
 * What a training session needs from an engine: the GPU one (gpu-backend.ts, WGSL through
 * WebGPU) or the float64 CPU one (cpu-backend.ts, the reference, for browsers without WebGPU).
 * The session logic (events, groups, grids, milestones) is written once against this interface.
 */
import type { ProbeResult } from './probes';
import type { InfiniteKernels, InputSet } from '../model/infinite-plan';

export type ModelKind = 'actual' | 'linearized';

export interface Evaluation {
  /** Outputs h (rows x c, example-major). */
  outputs: ArrayLike<number>;
  perExample: ArrayLike<number>;
  loss: number;
}

export interface ProbeWithSpectrum {
  probe: ProbeResult;
  /** All eigenvalues of the current full NTK on the probe examples (any order), when asked. */
  eigenvalues: Float64Array | null;
  /** The current full NTK on the probe examples (nc x nc), when the spectrum was asked for. */
  kernel: Float64Array | null;
  /** Examples the probe uses (the kernel is nc x nc over them). */
  n: number;
}

/** One model's evaluations on both splits and its parameter distance ||theta - theta0||_2. */
export interface ModelSnapshot {
  train: Evaluation;
  /** Null without test data. */
  test: Evaluation | null;
  paramDistance: number;
}

/** Per-event quantities of both models, gathered in one go (one GPU sync). */
export interface BackendSnapshot {
  actual: ModelSnapshot;
  /** Null when the session trains no linearized model. */
  linearized: ModelSnapshot | null;
  /** The first step at which a model's parameters became non-finite, if any. */
  divergence: { step: number; model: ModelKind } | null;
}

export interface DynamicsBackend {
  readonly adapter: string;
  readonly step: number;
  readonly hasLinearized: boolean;
  /** Advance both models by k steps on the shared batch schedule. */
  advance(k: number): Promise<void>;
  /** Evaluations on every split, parameter distances and the divergence watch, at once. */
  snapshot(): Promise<BackendSnapshot>;
  /** Current parameter vector of a model (theta0 + displacement), in the fixture layout. */
  parameters(kind: ModelKind): Promise<Float64Array>;
  /** Outputs h of a model at arbitrary inputs (rows x inputSize); used for 2-D grid maps. */
  outputsAt(kind: ModelKind, points: Float32Array, rows: number): Promise<Float32Array>;
  /** Kernel probes of the actual model at its current parameters. */
  probe(withSpectrum: boolean): Promise<ProbeWithSpectrum>;
  readonly initialProbe: ProbeResult;
  /** 2n / lambda_max at theta0 (metric-weighted kernel). */
  stableLr(): Promise<number>;
  /**
   * The analytic infinite-width NNGP / NTK of the spec's model (fixture README section 13) on
   * the training inputs and, against them, on each extra input set (test points, a grid).
   * Throws the spec's `infiniteProblem` when the model has no infinite-width limit.
   */
  infiniteKernels(extras: InputSet[]): Promise<InfiniteKernels>;
  /** Closed-form lazy outputs after t steps (mse only; null otherwise). */
  closedForm(t: number): Promise<{ train: Float64Array; test: Float64Array | null } | null>;
  dispose(): void;
}
