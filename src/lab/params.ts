/**
 * Every control of the lab in one declarative table (after TensorFlow Playground's state.ts):
 * its label, its one-sentence tooltip with the formula, its range, and how it reads and edits
 * the document. The panels render this table; nothing else edits the spec, so the spec (and
 * with it the URL) is always the single source of truth.
 */
import { ACTIVATIONS, type Activation, type ExperimentSpec, type LossKind } from '../experiment/types';
import { DATASETS } from '../data/datasets';
import { IMAGE_SETS } from '../data/images';
import { ALIGNMENT_DEFS, DEFAULT_SPEC, UI_OPTIMIZERS, type AlignmentDef, type LabDoc, type UiOptimizer } from './doc/document';
import { applyCompare } from './doc/compare';
import { validateLabSpec } from './doc/check';
import { buildLayers, conform, defaultArch, readArch, type Arch, type CnnArch, type MlpArch } from './doc/architecture';
import { dataFacts, dataSource, outputsFor } from './doc/data-facts';
import { uiOptimizer, withOptimizer } from './doc/optimizer';

export type Value = number | string | boolean;

export interface Option {
  value: string;
  label: string;
}

export interface ParamDef {
  id: string;
  panel: 'data' | 'model' | 'train' | 'view';
  label: string;
  /** One sentence, with the formula where there is one. */
  tip: string;
  control: 'range' | 'log' | 'select' | 'number' | 'toggle';
  min?: number | ((d: LabDoc) => number);
  max?: number | ((d: LabDoc) => number);
  step?: number;
  options?: (d: LabDoc) => Option[];
  /** Value shown next to the control. */
  format?: (v: number, d: LabDoc) => string;
  visible?: (d: LabDoc) => boolean;
  get: (d: LabDoc) => Value;
  set: (d: LabDoc, v: Value) => LabDoc;
}

// ---------------------------------------------------------------------------------------------
// small immutable editors

/** A new spec; a comparison that no longer applies to it (e.g. label noise on regression data) is dropped. */
const withSpec = (d: LabDoc, spec: ExperimentSpec): LabDoc => {
  if (!d.compare) return { ...d, spec };
  try {
    for (const v of d.compare.values) validateLabSpec(applyCompare(spec, d.compare.param, v));
    return { ...d, spec };
  } catch {
    return { ...d, spec, compare: null };
  }
};
const data = (d: LabDoc) => d.spec.data as Record<string, unknown>;
const train = (d: LabDoc) => d.spec.train ?? DEFAULT_SPEC.train!;
const setData = (d: LabDoc, patch: Record<string, unknown>): LabDoc =>
  withSpec(d, conform({ ...d.spec, data: { ...data(d), ...patch } as ExperimentSpec['data'] }));
const setTrain = (d: LabDoc, patch: Partial<NonNullable<ExperimentSpec['train']>>): LabDoc =>
  withSpec(d, { ...d.spec, train: { ...train(d), ...patch } });
const num = (v: Value) => Number(v);
const isGenerated = (d: LabDoc) => dataSource(d.spec.data).kind !== 'explicit';
const isImage = (d: LabDoc) => dataSource(d.spec.data).kind === 'image';
const isToy = (d: LabDoc) => dataSource(d.spec.data).kind === 'toy';

function arch(d: LabDoc): Arch | null {
  return readArch(d.spec.model.layers);
}
function setArch(d: LabDoc, a: Arch): LabDoc {
  const facts = dataFacts(d.spec);
  return withSpec(d, { ...d.spec, model: { ...d.spec.model, layers: buildLayers(a, facts.input, outputsFor(facts, d.spec.loss)) } });
}
function mlp(d: LabDoc): MlpArch {
  const a = arch(d);
  return a?.kind === 'mlp' ? a : (defaultArch('mlp') as MlpArch);
}
function cnn(d: LabDoc): CnnArch {
  const a = arch(d);
  return a?.kind === 'cnn' ? a : (defaultArch('cnn') as CnnArch);
}

/** Change the loss; explicit (CSV) class data is re-encoded (labels <-> one-hot / +-1 targets). */
export function withLoss(spec: ExperimentSpec, loss: LossKind): ExperimentSpec {
  if (spec.loss === loss) return spec;
  const facts = dataFacts(spec);
  let out: ExperimentSpec = { ...spec, loss };
  if (dataSource(spec.data).kind === 'explicit' && facts.task === 'classification') {
    const d = spec.data as { x: unknown; y: unknown; x_test?: unknown; y_test?: unknown };
    const c = facts.classes;
    const toLabels = (y: unknown) => ((y as number[][]) ?? []).map((r) => (r.length === 1 ? (r[0] > 0 ? 1 : 0) : r.indexOf(1)));
    const toTargets = (y: unknown) => ((y as number[]) ?? []).map((l) => (c === 2 ? [l === 1 ? 1 : -1] : Array.from({ length: c }, (_, k) => (k === l ? 1 : 0))));
    const recode = loss === 'cross_entropy' ? toLabels : toTargets;
    out = { ...out, data: { ...d, y: recode(d.y), x_test: d.x_test ?? [], y_test: recode(d.y_test ?? []) } };
  }
  return conform(out);
}

const datasetOptions = (d: LabDoc): Option[] => {
  const opts = [
    ...Object.entries(DATASETS).map(([k, v]) => ({ value: k, label: v.title })),
    ...Object.entries(IMAGE_SETS).map(([k, v]) => ({ value: k, label: v.title })),
  ];
  if (!isGenerated(d)) opts.push({ value: '__explicit', label: 'Uploaded CSV data' });
  return opts;
};

/** Switch dataset, keeping the common options (n, n_test, seed, noise, label noise). */
export function withDataset(spec: ExperimentSpec, name: string): ExperimentSpec {
  const old = (dataSource(spec.data).kind === 'explicit' ? {} : spec.data) as Record<string, unknown>;
  const next: Record<string, unknown> = { dataset: name, seed: old.seed ?? 0 };
  if (name in IMAGE_SETS) {
    const meta = IMAGE_SETS[name];
    next.n = Math.min(typeof old.n === 'number' ? old.n : 200, meta.trainCum[meta.classes - 1]);
    next.n_test = Math.min(typeof old.n_test === 'number' ? old.n_test : 100, meta.testCum[meta.classes - 1]);
    next.label_noise = old.label_noise ?? 0;
    // A class count carries over only between image sets (a toy's 3 spirals say nothing about digits).
    if (typeof old.classes === 'number' && typeof old.dataset === 'string' && old.dataset in IMAGE_SETS) next.classes = Math.min(meta.classes, Math.max(2, old.classes));
  } else {
    const info = DATASETS[name];
    next.n = Math.min(typeof old.n === 'number' ? old.n : 100, 1000);
    next.n_test = Math.min(typeof old.n_test === 'number' ? old.n_test : 200, 1000);
    next.noise = typeof old.noise === 'number' ? Math.min(old.noise, 0.5) : 0;
    if (info?.kind === 'classification') next.label_noise = old.label_noise ?? 0;
    const fromToy = typeof old.dataset === 'string' && !(old.dataset in IMAGE_SETS);
    if (info && info.classes === 0 && info.kind === 'classification') next.classes = typeof old.classes === 'number' && fromToy ? Math.min(6, old.classes) : 3;
  }
  let out = conform({ ...spec, data: next as ExperimentSpec['data'] });
  if (name in IMAGE_SETS && spec.loss === 'mse' && outputsFor(dataFacts(out), 'mse') > 1) out = withLoss(out, 'cross_entropy');
  return out;
}

const poolMax = (d: LabDoc, which: 'train' | 'test') => {
  const src = dataSource(d.spec.data);
  if (src.kind !== 'image') return 1000;
  const meta = IMAGE_SETS[src.name];
  const k = (data(d).classes as number | undefined) ?? meta.classes;
  return (which === 'train' ? meta.trainCum : meta.testCum)[k - 1];
};

const ACT_OPTIONS: Option[] = ACTIVATIONS.map((a) => ({ value: a, label: a }));
const fmtLr = (v: number) => (v >= 0.01 ? v.toPrecision(2) : v.toExponential(1));

// ---------------------------------------------------------------------------------------------

export const PARAMS: ParamDef[] = [
  // ---------------------------------------------------------------- data
  {
    id: 'dataset',
    panel: 'data',
    label: 'Dataset',
    tip: '2-D toys (difficulty = distance to the decision boundary), regression toys, or small image subsets.',
    control: 'select',
    options: datasetOptions,
    get: (d) => (isGenerated(d) ? String(data(d).dataset) : '__explicit'),
    set: (d, v) => (v === '__explicit' ? d : withSpec(d, withDataset(d.spec, String(v)))),
  },
  {
    id: 'n',
    panel: 'data',
    label: 'Training examples n',
    tip: 'Number of training examples; the NTK is an (n·c)×(n·c) matrix, so its cost grows as n².',
    control: 'range',
    min: 8,
    max: (d) => poolMax(d, 'train'),
    step: 1,
    visible: isGenerated,
    get: (d) => num((data(d).n as number) ?? 100),
    set: (d, v) => setData(d, { n: Math.round(num(v)) }),
  },
  {
    id: 'n_test',
    panel: 'data',
    label: 'Test examples',
    tip: 'Held-out examples for the test loss: the mean of ℓ(h(xᵢ), yᵢ) over them.',
    control: 'range',
    min: 0,
    max: (d) => poolMax(d, 'test'),
    step: 1,
    visible: isGenerated,
    get: (d) => num((data(d).n_test as number) ?? 0),
    set: (d, v) => setData(d, { n_test: Math.round(num(v)) }),
  },
  {
    id: 'noise',
    panel: 'data',
    label: 'Input noise',
    tip: 'Standard deviation σ of Gaussian noise added to each input coordinate: x ← x + σ·ε.',
    control: 'range',
    min: 0,
    max: 0.5,
    step: 0.01,
    visible: isToy,
    get: (d) => num((data(d).noise as number) ?? 0),
    set: (d, v) => setData(d, { noise: num(v) }),
  },
  {
    id: 'label_noise',
    panel: 'data',
    label: 'Label noise (random labels)',
    tip: 'Fraction of training labels replaced by a different random class; noisy examples are the “hard” difficulty group.',
    control: 'range',
    min: 0,
    max: 1,
    step: 0.05,
    visible: (d) => isGenerated(d) && dataFacts(d.spec).task === 'classification',
    format: (v) => `${Math.round(v * 100)} %`,
    get: (d) => num((data(d).label_noise as number) ?? 0),
    set: (d, v) => setData(d, { label_noise: num(v) }),
  },
  {
    id: 'random_labels',
    panel: 'data',
    label: 'Random labels',
    tip: 'Toggle 50 % random labels (as in the NTK-alignment experiments): the kernel then aligns less with the target and test alignment drops.',
    control: 'toggle',
    visible: (d) => isGenerated(d) && dataFacts(d.spec).task === 'classification',
    get: (d) => num((data(d).label_noise as number) ?? 0) > 0,
    set: (d, v) => setData(d, { label_noise: v ? 0.5 : 0 }),
  },
  {
    id: 'classes',
    panel: 'data',
    label: 'Classes',
    tip: 'Number of classes c (spirals and blobs; image sets use their first c classes).',
    control: 'range',
    min: 2,
    max: (d) => (isImage(d) ? 10 : 6),
    step: 1,
    visible: (d) => {
      const src = dataSource(d.spec.data);
      return src.kind === 'image' || (src.kind === 'toy' && DATASETS[src.name]?.classes === 0 && DATASETS[src.name]?.kind === 'classification');
    },
    get: (d) => num((data(d).classes as number) ?? (isImage(d) ? 10 : 3)),
    set: (d, v) => {
      const next = setData(d, { classes: Math.round(num(v)) });
      const n = Math.min(num(data(next).n as number), poolMax(next, 'train'));
      const nt = Math.min(num((data(next).n_test as number) ?? 0), poolMax(next, 'test'));
      return setData(next, { n, n_test: nt });
    },
  },
  {
    id: 'data_seed',
    panel: 'data',
    label: 'Data seed',
    tip: 'Seed of the data generator and of the subset drawn; the same seed gives the same data everywhere.',
    control: 'number',
    min: 0,
    max: 0xffffffff,
    step: 1,
    visible: isGenerated,
    get: (d) => num((data(d).seed as number) ?? 0),
    set: (d, v) => setData(d, { seed: Math.max(0, Math.round(num(v))) }),
  },
  // ---------------------------------------------------------------- model
  {
    id: 'arch',
    panel: 'model',
    label: 'Architecture',
    tip: 'A multilayer perceptron, or (for images) a convolutional network: conv → avg-pool blocks, then a dense read-out.',
    control: 'select',
    options: (d) => [
      { value: 'mlp', label: 'MLP' },
      ...(dataFacts(d.spec).input.length === 3 ? [{ value: 'cnn', label: 'CNN' }] : []),
      ...(arch(d) === null ? [{ value: 'custom', label: 'Custom (from file)' }] : []),
    ],
    get: (d) => arch(d)?.kind ?? 'custom',
    set: (d, v) => (v === 'mlp' || v === 'cnn' ? setArch(d, arch(d)?.kind === v ? arch(d)! : defaultArch(v)) : d),
  },
  {
    id: 'depth',
    panel: 'model',
    label: 'Hidden layers',
    tip: 'Number of hidden dense layers L; the model is f = W_{L+1} φ(W_L … φ(W_1 x)).',
    control: 'range',
    min: 0,
    max: 6,
    step: 1,
    visible: (d) => arch(d)?.kind === 'mlp',
    get: (d) => mlp(d).depth,
    set: (d, v) => setArch(d, { ...mlp(d), depth: Math.round(num(v)) }),
  },
  {
    id: 'width',
    panel: 'model',
    label: 'Width',
    tip: 'Units per hidden layer; wider networks move their kernel less (laziness grows with width).',
    control: 'log',
    min: 2,
    max: 512,
    step: 1,
    visible: (d) => arch(d)?.kind === 'mlp',
    get: (d) => mlp(d).width,
    set: (d, v) => setArch(d, { ...mlp(d), width: Math.max(1, Math.round(num(v))) }),
  },
  {
    id: 'activation',
    panel: 'model',
    label: 'Activation',
    tip: 'Non-linearity φ applied after each hidden layer (relu(z) = max(z, 0)).',
    control: 'select',
    options: () => ACT_OPTIONS,
    visible: (d) => arch(d) !== null,
    get: (d) => (arch(d) ?? mlp(d)).activation,
    set: (d, v) => {
      const a = arch(d);
      return a ? setArch(d, { ...a, activation: v as Activation }) : d;
    },
  },
  {
    id: 'conv_layers',
    panel: 'model',
    label: 'Conv layers',
    tip: 'Number of convolution (+ pooling) blocks before the dense read-out.',
    control: 'range',
    min: 1,
    max: 3,
    step: 1,
    visible: (d) => arch(d)?.kind === 'cnn',
    get: (d) => cnn(d).convLayers,
    set: (d, v) => setArch(d, { ...cnn(d), convLayers: Math.round(num(v)) }),
  },
  {
    id: 'filters',
    panel: 'model',
    label: 'Filters',
    tip: 'Output channels of each convolution (its width).',
    control: 'range',
    min: 1,
    max: 32,
    step: 1,
    visible: (d) => arch(d)?.kind === 'cnn',
    get: (d) => cnn(d).filters,
    set: (d, v) => setArch(d, { ...cnn(d), filters: Math.round(num(v)) }),
  },
  {
    id: 'kernel',
    panel: 'model',
    label: 'Kernel size',
    tip: 'Side k of each k×k convolution kernel.',
    control: 'range',
    min: 1,
    max: 7,
    step: 1,
    visible: (d) => arch(d)?.kind === 'cnn',
    get: (d) => cnn(d).kernel,
    set: (d, v) => setArch(d, { ...cnn(d), kernel: Math.round(num(v)) }),
  },
  {
    id: 'padding',
    panel: 'model',
    label: 'Padding',
    tip: 'Zero padding p on each side; the output side is H + 2p − k + 1.',
    control: 'range',
    min: 0,
    max: 3,
    step: 1,
    visible: (d) => arch(d)?.kind === 'cnn',
    get: (d) => cnn(d).padding,
    set: (d, v) => setArch(d, { ...cnn(d), padding: Math.round(num(v)) }),
  },
  {
    id: 'pool',
    panel: 'model',
    label: 'Pooling',
    tip: 'Average pooling window after each convolution (1 = none).',
    control: 'select',
    options: () => [
      { value: '1', label: 'none' },
      { value: '2', label: '2×2 average' },
    ],
    visible: (d) => arch(d)?.kind === 'cnn',
    get: (d) => String(cnn(d).pool),
    set: (d, v) => setArch(d, { ...cnn(d), pool: num(v) }),
  },
  {
    id: 'parameterization',
    panel: 'model',
    label: 'Parameterization',
    tip: 'standard: s = W a + b with PyTorch’s init; NTK: s = (σ_w/√fan_in) W a + σ_b b with W, b ~ N(0, 1).',
    control: 'select',
    options: () => [
      { value: 'standard', label: 'standard' },
      { value: 'ntk', label: 'NTK' },
    ],
    get: (d) => d.spec.model.parameterization ?? d.spec.init?.scheme ?? 'standard',
    set: (d, v) => {
      const p = v === 'ntk' ? 'ntk' : 'standard';
      return withSpec(d, { ...d.spec, model: { ...d.spec.model, parameterization: p }, init: { seed: 0, gain: 1, ...d.spec.init, scheme: p } });
    },
  },
  {
    id: 'gain',
    panel: 'model',
    label: 'Init scale',
    tip: 'Gain g multiplying the initial weights, W₀ = g·W_init; larger g makes training lazier.',
    control: 'log',
    min: 0.1,
    max: 10,
    step: 0.01,
    format: (v) => v.toPrecision(2),
    get: (d) => d.spec.init?.gain ?? 1,
    set: (d, v) => withSpec(d, { ...d.spec, init: { seed: 0, scheme: 'standard', ...d.spec.init, gain: Number(num(v).toPrecision(3)) } }),
  },
  {
    id: 'init_seed',
    panel: 'model',
    label: 'Init seed',
    tip: 'Seed of the initial parameters θ₀ (the same seed gives the same θ₀ in the browser and in Node).',
    control: 'number',
    min: 0,
    max: 0xffffffff,
    step: 1,
    get: (d) => d.spec.init?.seed ?? 0,
    set: (d, v) => withSpec(d, { ...d.spec, init: { scheme: 'standard', gain: 1, ...d.spec.init, seed: Math.max(0, Math.round(num(v))) } }),
  },
  {
    id: 'loss',
    panel: 'model',
    label: 'Loss',
    tip: 'mse: ℓ = ½‖h − y‖² (closed-form lazy prediction available); cross-entropy: ℓ = −log softmax(h)_y.',
    control: 'select',
    options: (d) => [
      { value: 'mse', label: 'mean squared error' },
      ...(dataFacts(d.spec).task === 'classification' ? [{ value: 'cross_entropy', label: 'cross-entropy' }] : []),
    ],
    get: (d) => d.spec.loss,
    set: (d, v) => withSpec(d, withLoss(d.spec, v as LossKind)),
  },
  // ---------------------------------------------------------------- training
  {
    id: 'optimizer',
    panel: 'train',
    label: 'Optimizer',
    tip: 'GD (full batch), SGD (minibatches), SGD with momentum (v ← μv + g), KFAC and EKFAC (natural-gradient steps with Kronecker-factored Fisher blocks).',
    control: 'select',
    options: () => UI_OPTIMIZERS.map((o) => ({ value: o, label: { gd: 'GD', sgd: 'SGD', momentum: 'SGD + momentum', kfac: 'KFAC', ekfac: 'EKFAC' }[o] })),
    get: (d) => uiOptimizer(d.spec),
    set: (d, v) => withSpec(d, withOptimizer(d.spec, v as UiOptimizer)),
  },
  {
    id: 'lr',
    panel: 'train',
    label: 'Learning rate η',
    tip: 'Step size of θ ← θ − η ∇L(h)/α²; GD on the linearized model is stable below 2n/λₘₐₓ(K).',
    control: 'log',
    min: 1e-4,
    max: 100,
    step: 0.0001,
    format: fmtLr,
    get: (d) => train(d).lr,
    set: (d, v) => setTrain(d, { lr: Number(num(v).toPrecision(3)) }),
  },
  {
    id: 'alpha',
    panel: 'train',
    label: 'Laziness α',
    tip: 'Chizat–Bach scale: train h = α(f(θ) − f(θ₀)) on L(h)/α²; parameters move as 1/α, so large α is lazy (linearized) training.',
    control: 'log',
    min: 0.1,
    max: 1000,
    step: 0.1,
    format: (v) => (v >= 10 ? v.toFixed(0) : v.toPrecision(2)),
    get: (d) => train(d).alpha ?? 1,
    set: (d, v) => setTrain(d, { alpha: Number(num(v).toPrecision(3)) }),
  },
  {
    id: 'batch_size',
    panel: 'train',
    label: 'Batch size',
    tip: 'Examples per SGD step; the gradient is the mean over a seeded random minibatch.',
    control: 'range',
    min: 1,
    max: (d) => dataFacts(d.spec).n,
    step: 1,
    visible: (d) => train(d).optimizer !== 'gd',
    get: (d) => train(d).batch_size ?? dataFacts(d.spec).n,
    set: (d, v) => setTrain(d, { batch_size: Math.round(num(v)) }),
  },
  {
    id: 'momentum',
    panel: 'train',
    label: 'Momentum μ',
    tip: 'Heavy-ball momentum: v ← μ v + g, θ ← θ − η v.',
    control: 'range',
    min: 0,
    max: 0.99,
    step: 0.01,
    visible: (d) => uiOptimizer(d.spec) === 'momentum',
    get: (d) => train(d).momentum ?? 0,
    set: (d, v) => setTrain(d, { momentum: num(v) }),
  },
  {
    id: 'damping',
    panel: 'train',
    label: 'Damping λ',
    tip: 'Tikhonov damping of the natural-gradient step: Δθ = −η (F̂ + λI)⁻¹ g.',
    control: 'log',
    min: 1e-6,
    max: 1,
    step: 1e-6,
    format: (v) => v.toExponential(0),
    visible: (d) => ['kfac', 'ekfac'].includes(train(d).optimizer),
    get: (d) => train(d).damping ?? 1e-3,
    set: (d, v) => setTrain(d, { damping: Number(num(v).toPrecision(2)) }),
  },
  {
    id: 'eig_every',
    panel: 'train',
    label: 'Update interval',
    tip: 'Steps between eigendecompositions of the Kronecker factors (EKFAC refreshes its diagonal every step).',
    control: 'range',
    min: 1,
    max: 100,
    step: 1,
    visible: (d) => ['kfac', 'ekfac'].includes(train(d).optimizer),
    get: (d) => train(d).eig_every ?? 10,
    set: (d, v) => setTrain(d, { eig_every: Math.round(num(v)) }),
  },
  {
    id: 'steps',
    panel: 'train',
    label: 'Steps',
    tip: 'Number of optimizer steps T of both the actual and the linearized model.',
    control: 'log',
    min: 10,
    max: 20000,
    step: 1,
    format: (v) => String(Math.round(v)),
    get: (d) => train(d).steps,
    set: (d, v) => setTrain(d, { steps: Math.round(num(v)) }),
  },
  {
    id: 'train_seed',
    panel: 'train',
    label: 'Batch seed',
    tip: 'Seed of the minibatch order, shared by the actual and the linearized model.',
    control: 'number',
    min: 0,
    max: 0xffffffff,
    step: 1,
    visible: (d) => train(d).optimizer !== 'gd',
    get: (d) => train(d).seed ?? 0,
    set: (d, v) => setTrain(d, { seed: Math.max(0, Math.round(num(v))) }),
  },
  // ---------------------------------------------------------------- view
  {
    id: 'alignment_def',
    panel: 'view',
    label: 'Alignment definition',
    tip: 'ntk_centered (Baratin et al.): A = ṽᵀK̃ṽ/(‖K̃‖_F‖ṽ‖²) on the full NTK with centered Jacobians and targets; “centered/uncentered” use the output-traced kernel against YYᵀ.',
    control: 'select',
    options: () => ALIGNMENT_DEFS.map((a) => ({ value: a, label: a.replace('_', ' ') })),
    get: (d) => d.view.alignment,
    set: (d, v) => ({ ...d, view: { ...d.view, alignment: v as AlignmentDef } }),
  },
];

export const PARAM_BY_ID: Record<string, ParamDef> = Object.fromEntries(PARAMS.map((p) => [p.id, p]));

export function bound(b: number | ((d: LabDoc) => number) | undefined, d: LabDoc, def: number): number {
  if (b === undefined) return def;
  return typeof b === 'function' ? b(d) : b;
}
