/**
 * The experiment spec: one JSON document that describes a model, its parameters
 * (explicit or seeded), the data, the loss, optional training and which results
 * to compute. The fixture files' `spec` objects are valid experiment specs; every
 * field added here is optional so that stays true.
 *
 * `validateSpec` (validate.ts) turns an untrusted JSON value into a `ResolvedSpec`:
 * flat Float64Arrays, resolved shapes, defaults filled in, and errors that name the field.
 */

export type Activation = 'linear' | 'tanh' | 'relu' | 'sigmoid';
export const ACTIVATIONS: readonly Activation[] = ['linear', 'tanh', 'relu', 'sigmoid'];

export type LossKind = 'mse' | 'cross_entropy';
export const LOSSES: readonly LossKind[] = ['mse', 'cross_entropy'];

/** How a parametrized layer maps parameters to pre-activations. */
export type Parameterization = 'standard' | 'ntk';

export interface DenseLayerSpec {
  type: 'dense';
  units: number;
  activation: Activation;
}
export interface Conv2dLayerSpec {
  type: 'conv2d';
  filters: number;
  kernel: number;
  stride?: number;
  padding?: number;
  activation: Activation;
}
export interface AvgPool2dLayerSpec {
  type: 'avgpool2d';
  size: number;
}
export interface FlattenLayerSpec {
  type: 'flatten';
}
export type LayerSpec = DenseLayerSpec | Conv2dLayerSpec | AvgPool2dLayerSpec | FlattenLayerSpec;

export interface ModelSpec {
  /** `[d]` for vectors or `[C, H, W]` for images (batches are NCHW). */
  input: number[];
  layers: LayerSpec[];
  /**
   * `standard` (default): `s = W a + b`, exactly the fixtures' convention.
   * `ntk`: `s = (sigma_w / sqrt(fan_in)) W a + sigma_b b` (Jacot et al. 2018); the
   * parameters are the unscaled `W`, `b`, so Jacobians and the NTK include the multipliers.
   */
  parameterization?: Parameterization;
  sigma_w?: number;
  sigma_b?: number;
}

export interface LayerParamsSpec {
  weight: unknown;
  bias: number[];
}

/**
 * Seeded initialization, used when `params` is absent.
 * - `standard`: PyTorch's default for nn.Linear / nn.Conv2d: W and b ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
 *   weights multiplied by `gain` (default 1).
 * - `ntk`: W and b ~ N(0, 1) (times `gain` for W), used with the NTK parameterization.
 * The generator is our own (xoshiro128** seeded by splitmix32), so a seed reproduces the
 * same parameters in the browser and in Node, but not PyTorch's.
 */
export interface InitSpec {
  seed: number;
  scheme: Parameterization;
  gain?: number;
}

/** Explicit data arrays, as in the fixtures. */
export interface DataArraysSpec {
  x: unknown;
  y: unknown;
  x_test?: unknown;
  y_test?: unknown;
}

/** A generated dataset (see src/data). */
export interface DataGeneratorSpec {
  dataset: string;
  n: number;
  n_test?: number;
  seed?: number;
  noise?: number;
  label_noise?: number;
  [option: string]: unknown;
}

export type DataSpec = DataArraysSpec | DataGeneratorSpec;

export type OptimizerKind = 'gd' | 'sgd' | 'kfac' | 'ekfac';

export interface TrainSpec {
  optimizer: OptimizerKind;
  lr: number;
  steps: number;
  /** Laziness scale of Chizat et al.: `h = alpha (f - f0)`, objective `L(h)/alpha^2`. Default 1. */
  alpha?: number;
  /** Step counts at which the trajectory is recorded; default `[0, steps]`. */
  checkpoints?: number[];
  batch_size?: number;
  momentum?: number;
  weight_decay?: number;
  /** Seed of the minibatch order (shared by actual and linearized). */
  seed?: number;
  damping?: number;
  /** Steps between eigendecompositions of the Kronecker factors (kfac / ekfac). */
  eig_every?: number;
}

export interface OptionsSpec {
  /** Largest P for which the dense P x P Fisher is computed by default (fixtures: 400). */
  fisher_max_params?: number;
  /** Largest per-layer block size for which dense KFAC/EKFAC/exact blocks are written (fixtures: 150). */
  block_max_params?: number;
}

export interface ExperimentSpec {
  name?: string;
  description?: string;
  model: ModelSpec;
  params?: LayerParamsSpec[];
  init?: InitSpec;
  loss: LossKind;
  data: DataSpec;
  train?: TrainSpec;
  /** Which result keys to compute (top-level keys of the result); default all that apply. */
  compute?: string[];
  options?: OptionsSpec;
}

/** Shape of a layer's input/output activation: `[d]` or `[C, H, W]`. */
export type ActShape = number[];

/** Everything validated and resolved: what the engine and the reference consume. */
export interface ResolvedSpec {
  name: string;
  model: ResolvedModel;
  /** The parameter vector in the fixture README's `[W | b]` row-major layout. */
  theta: Float64Array;
  loss: LossKind;
  data: ResolvedData;
  train: ResolvedTrain | null;
  compute: string[] | null;
  options: Required<OptionsSpec>;
}

export interface ResolvedModel {
  input: ActShape;
  layers: LayerSpec[];
  parameterization: Parameterization;
  sigmaW: number;
  sigmaB: number;
}

export interface ResolvedData {
  /** n x inputSize, row-major (NCHW per example for images). */
  x: Float64Array;
  n: number;
  xTest: Float64Array;
  nTest: number;
  /** Number of outputs of the model. */
  c: number;
  /** mse: n x c targets. cross_entropy: one-hot n x c (for alignment), labels in `labels`. */
  y: Float64Array;
  yTest: Float64Array;
  labels: Int32Array | null;
  labelsTest: Int32Array | null;
  /** Where the data came from: a generated dataset's name, and which labels label noise flipped. */
  meta: { dataset: string | null; flipped: Uint8Array | null };
}

export interface ResolvedTrain {
  optimizer: OptimizerKind;
  lr: number;
  steps: number;
  alpha: number;
  checkpoints: number[];
  batchSize: number;
  momentum: number;
  weightDecay: number;
  seed: number;
  damping: number;
  eigEvery: number;
}
