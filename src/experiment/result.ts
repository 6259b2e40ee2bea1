/**
 * The result of an experiment, typed: what the runner computes (`src/api/analyze.ts` on the GPU,
 * `src/reference/results.ts` in float64) and what the lab, the CLI and the tests read. One
 * function, `toFixtureJson`, turns it into the fixtures' `expected` format (keys, nesting and
 * shapes of fixture README "File format"); nothing else builds that JSON.
 *
 * Matrices stay flat (row-major typed arrays) until the JSON is written, so consumers that plot
 * or reduce them never walk nested arrays. The per-layer KFAC entries and the training
 * trajectories are stored in their JSON shape already: they are only ever serialized or compared.
 */
import { RESULT_KEYS, type ResultKey } from './keys';
import { list, nest } from '../util/nested';

/** A dense row-major matrix. */
export interface Matrix {
  readonly rows: number;
  readonly cols: number;
  readonly data: ArrayLike<number>;
}

export function matrix(data: ArrayLike<number>, rows: number, cols: number): Matrix {
  if (data.length !== rows * cols) throw new Error(`matrix: ${data.length} values for ${rows} x ${cols}`);
  return { rows, cols, data };
}

/** Kernel-target alignments of fixture README sections 7 and 9, total and per layer. */
export interface AlignmentResult {
  uncentered: number;
  centered: number;
  ntk_uncentered: number;
  ntk_centered: number;
  per_layer_uncentered: number[];
  per_layer_centered: number[];
  per_layer_ntk_uncentered: number[];
  per_layer_ntk_centered: number[];
}

/** NTK spectrum statistics (README section 10). */
export interface SpectrumResult {
  /** All eigenvalues, descending. */
  eigenvalues: number[];
  effective_rank: number;
  trace_ratio: { '1': number; '5': number; '10': number };
}

/** One parametrized layer's KFAC / EKFAC / exact-block quantities (README sections 5 and 6). */
export interface KfacLayerResult {
  layer_index: number;
  type: 'dense' | 'conv2d';
  param_offset: number;
  param_size: number;
  out: number;
  fan_in_plus_1: number;
  spatial_positions: number;
  A: number[][];
  G: number[][];
  eig_A: number[];
  eig_G: number[];
  ekfac_s: number[][];
  exact_block_diag: number[];
  kfac_block_diag: number[];
  ekfac_block_diag: number[];
  exact_block?: number[][];
  kfac_block?: number[][];
  ekfac_block?: number[][];
  frob_exact: number;
  frob_err_kfac: number;
  frob_err_ekfac: number;
}

/** One model's trajectory at the checkpoints (README sections 8, 9, 11), one entry per checkpoint. */
export interface TrajectoryResult {
  outputs: number[][][];
  outputs_test?: number[][][];
  loss: number[];
  loss_test?: number[];
  per_example_loss: number[][];
  param_distance: number[];
  alignment_uncentered: number[];
  alignment_centered: number[];
  alignment_per_layer_uncentered: number[][];
  alignment_per_layer_centered: number[][];
  alignment_ntk_centered: number[];
  alignment_per_layer_ntk_centered: number[][];
  ntk_similarity_to_init: number[];
  ntk_similarity_to_init_centered: number[];
  /** Only when the model has a relu layer. */
  relu_sign_similarity?: number[];
}

/** The `train` key: both trajectories, the checkpoints and, for mse, the closed form (section 12). */
export interface TrainResult {
  actual: TrajectoryResult;
  linearized: TrajectoryResult;
  checkpoints: number[];
  closed_form?: { outputs: number[][][]; outputs_test?: number[][][] };
}

/** The infinite-width kernels and the function-space training of their predictor (README section 13). */
export interface InfiniteResult {
  nngp: number[][];
  ntk: number[][];
  nngp_test?: number[][];
  ntk_test?: number[][];
  train?: { outputs: number[][][]; outputs_test?: number[][][]; loss: number[]; loss_test?: number[]; steps: number[] };
}

/** Every result key, typed; a key that was not computed is absent. */
export interface AnalysisResult {
  theta?: ArrayLike<number>;
  outputs?: Matrix;
  outputsTest?: Matrix;
  loss?: number;
  lossTest?: number;
  perExampleLoss?: ArrayLike<number>;
  lossGrad?: ArrayLike<number>;
  jacobian?: Matrix;
  ntk?: Matrix;
  ntkTrace?: Matrix;
  ntkTracePerLayer?: Matrix[];
  alignment?: AlignmentResult;
  ntkSpectrum?: SpectrumResult;
  ntkTraceSpectrum?: SpectrumResult;
  fisher?: Matrix;
  fisherTrace?: number;
  fisherFrobenius?: number;
  kfac?: KfacLayerResult[];
  train?: TrainResult;
  infinite?: InfiniteResult;
}

/** The field of `AnalysisResult` that holds each result key. */
export const RESULT_FIELD: { readonly [K in ResultKey]: keyof AnalysisResult } = {
  theta: 'theta',
  outputs: 'outputs',
  outputs_test: 'outputsTest',
  loss: 'loss',
  loss_test: 'lossTest',
  per_example_loss: 'perExampleLoss',
  loss_grad: 'lossGrad',
  jacobian: 'jacobian',
  ntk: 'ntk',
  ntk_trace: 'ntkTrace',
  ntk_trace_per_layer: 'ntkTracePerLayer',
  alignment: 'alignment',
  ntk_spectrum: 'ntkSpectrum',
  ntk_trace_spectrum: 'ntkTraceSpectrum',
  fisher: 'fisher',
  fisher_trace: 'fisherTrace',
  fisher_frobenius: 'fisherFrobenius',
  kfac: 'kfac',
  train: 'train',
  infinite: 'infinite',
};

const isMatrix = (v: unknown): v is Matrix => typeof v === 'object' && v !== null && 'rows' in v && 'cols' in v && 'data' in v;

function jsonValue(v: unknown): unknown {
  if (isMatrix(v)) return nest(v.data, [v.rows, v.cols]);
  if (Array.isArray(v)) return v.map(jsonValue);
  if (ArrayBuffer.isView(v)) return list(v as unknown as ArrayLike<number>);
  return v;
}

/** The fixture-format JSON of a result: snake_case keys in `RESULT_KEYS` order, matrices as lists of rows. */
export function toFixtureJson(r: AnalysisResult): Partial<Record<ResultKey, unknown>> {
  const out: Partial<Record<ResultKey, unknown>> = {};
  for (const key of RESULT_KEYS) {
    const v = r[RESULT_FIELD[key]];
    if (v !== undefined) out[key] = jsonValue(v);
  }
  return out;
}

/** The keys a result holds, in `RESULT_KEYS` order. */
export function resultKeys(r: AnalysisResult): ResultKey[] {
  return RESULT_KEYS.filter((k) => r[RESULT_FIELD[k]] !== undefined);
}
