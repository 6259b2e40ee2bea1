/**
 * The typed message protocol between the lab's main thread (React + store) and the engine
 * worker (the engines and the sessions). Plain data only: specs travel as JSON values (the
 * worker validates them again), results as the session contract's plain objects.
 *
 * Every message about runs carries the `loadId` of the load that created them. The store keeps
 * only messages of its current load, so nothing of an older run (a preset switched mid-run, a
 * reset, a setting changed while playing) can reach the new runs' series, however the worker's
 * queue and the main thread's message batches interleave.
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
/** Which backend the user asked for: `auto` lets the lab pick (and time both on a software adapter). */
export type BackendMode = 'auto' | 'webgpu' | 'cpu';
export const BACKEND_MODES: readonly BackendMode[] = ['auto', 'webgpu', 'cpu'];

/** The backend the runs use, and why. */
export interface BackendDecision {
  kind: BackendKind;
  adapter: string;
  mode: BackendMode;
  /** One line for the header: why this backend. */
  reason: string;
  /** Steps per second measured on the current experiment (auto mode on a software adapter). */
  rates: { webgpu: number | null; cpu: number | null } | null;
  /** The WebGPU adapter when there is one (null: no WebGPU in this browser). */
  gpuAdapter: string | null;
  /** Whether that adapter is a software one (SwiftShader, llvmpipe, a fallback adapter). */
  gpuSoftware: boolean;
  /** Why WebGPU could not be used, when it could not. */
  gpuError: string | null;
}

/** A few training images to show before training (image data sets only). */
export interface ImageSamples {
  /** Channels, height, width of one image. */
  shape: [number, number, number];
  /** Each image's pixels (C*H*W, in [0, 1]). */
  images: Float32Array[];
  labels: number[];
  classNames: string[];
}

/** What the worker knows of a run beyond the session's info. */
export interface RunFacts {
  /** ||theta0||_2, to show parameter movement relative to the initial parameters. */
  theta0Norm: number;
  samples: ImageSamples | null;
}

export type ToWorker =
  | { type: 'init'; backend: BackendMode; baseUrl: string }
  | { type: 'setBackend'; mode: BackendMode }
  | { type: 'load'; runs: RunRequest[]; autoplay: boolean; loadId: number }
  | { type: 'analyze'; requestId: number; spec: ExperimentSpec }
  | { type: 'play' }
  | { type: 'pause' }
  | { type: 'step'; steps: number }
  | { type: 'speed'; stepsPerTick: number }
  | { type: 'curvature' }
  | { type: 'simulateDeviceLoss' }
  /** A standalone PyTorch script of a spec (src/export/pytorch.ts); image sets need the worker's pixels. */
  | { type: 'exportPytorch'; requestId: number; spec: ExperimentSpec };

export type RunStatus = 'idle' | 'loading' | 'running' | 'paused' | 'done' | 'error';

/** What kind of failure an error is (the engine's error codes, src/experiment/errors.ts). */
export type ErrorKind = ErrorCode;

export type FromWorker =
  | { type: 'ready'; decision: BackendDecision }
  | { type: 'backend'; decision: BackendDecision }
  /** The worker is timing both backends on the current experiment (auto mode, software adapter). */
  | { type: 'choosing'; loadId: number }
  | { type: 'noBackend'; reason: string }
  | { type: 'status'; status: RunStatus; step: number; loadId: number }
  | { type: 'info'; loadId: number; runId: string; info: SessionInfo; facts: RunFacts }
  | { type: 'metrics'; loadId: number; runId: string; events: MetricEvent[] }
  | { type: 'curvature'; loadId: number; runId: string; report: CurvatureReport }
  | { type: 'analysis'; requestId: number; result: StaticAnalysis }
  | { type: 'error'; kind: ErrorKind; message: string; loadId: number | null; runId: string | null; field: string | null; requestId: number | null }
  | { type: 'deviceLost'; message: string }
  | { type: 'recovered'; backend: BackendKind; adapter: string; step: number }
  | { type: 'pytorchScript'; requestId: number; result: PytorchScript | { error: string } };

/** An exported PyTorch script and the file name to save it under. */
export interface PytorchScript {
  filename: string;
  script: string;
}
