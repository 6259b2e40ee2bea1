/**
 * The typed message protocol between the lab's main thread (React + store) and the engine
 * worker (GpuContext + sessions). Plain data only: specs travel as JSON values (the worker
 * validates them again), results as the session contract's plain objects.
 */
import type { CurvatureReport, MetricEvent, SessionInfo, SessionOptions } from '../api/session-types';
import type { ExperimentSpec } from '../experiment/types';
import type { ErrorCode } from '../experiment/errors';

/** Session options plus the number of training examples the kernel probes use. */
export type LabSessionOptions = SessionOptions & { probeExamples?: number };

/** One training run the worker should create: a spec plus what to measure. */
export interface RunRequest {
  id: string;
  label: string;
  spec: ExperimentSpec;
  options: LabSessionOptions;
}

/** Static analysis at theta0 for the current spec (drives the panels before any training). */
export interface StaticAnalysis {
  /** n x n output-traced NTK (row-major) when n is small enough to draw, with the labels used to sort it. */
  ntkTrace: { n: number; values: Float32Array; labels: Int32Array | null } | null;
  eigenvalues: number[];
  effectiveRank: number;
  alignment: Record<string, number> & { per_layer_centered?: number[] };
  perLayer: Record<string, number[]>;
  /** 2n / lambda_max of the output-space kernel GD sees (mse: K; cross_entropy: bound with the softmax metric <= 1/2). */
  stableLr: number;
  n: number;
  P: number;
  c: number;
  seconds: number;
}

export type BackendKind = 'webgpu' | 'cpu';

export type ToWorker =
  | { type: 'init'; forceCpu: boolean; baseUrl: string }
  | { type: 'load'; runs: RunRequest[]; autoplay: boolean; loadKey: string }
  | { type: 'analyze'; requestId: number; spec: ExperimentSpec }
  | { type: 'play' }
  | { type: 'pause' }
  | { type: 'step'; steps: number }
  | { type: 'speed'; stepsPerTick: number }
  | { type: 'reset' }
  | { type: 'curvature' }
  | { type: 'simulateDeviceLoss' }
  /** A standalone PyTorch script of a spec (src/export/pytorch.ts); image sets need the worker's pixels. */
  | { type: 'exportPytorch'; requestId: number; spec: ExperimentSpec };

export type RunStatus = 'idle' | 'loading' | 'running' | 'paused' | 'done' | 'error';

/** What kind of failure an error is (the engine's error codes, src/experiment/errors.ts). */
export type ErrorKind = ErrorCode;

export type FromWorker =
  | { type: 'ready'; backend: BackendKind; adapter: string; reason: string | null }
  | { type: 'noBackend'; reason: string }
  | { type: 'status'; status: RunStatus; step: number; loadKey: string | null }
  | { type: 'info'; runId: string; info: SessionInfo }
  | { type: 'metrics'; runId: string; events: MetricEvent[] }
  | { type: 'curvature'; runId: string; report: CurvatureReport }
  | { type: 'analysis'; requestId: number; result: StaticAnalysis }
  | { type: 'error'; kind: ErrorKind; message: string; runId: string | null; field: string | null; requestId: number | null }
  | { type: 'deviceLost'; message: string }
  | { type: 'recovered'; backend: BackendKind; adapter: string; step: number }
  | { type: 'pytorchScript'; requestId: number; result: PytorchScript | { error: string } };

/** An exported PyTorch script and the file name to save it under. */
export interface PytorchScript {
  filename: string;
  script: string;
}
