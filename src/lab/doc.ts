/**
 * The lab document: the experiment spec (the single source of truth every control edits) plus
 * the few lab-only settings that a shared link must also carry (a comparison of several runs,
 * the alignment definition shown). Pure functions: no DOM, no worker, no GPU.
 *
 * A document is checked with `checkDoc` wherever it comes from (URL, imported file, preset,
 * an edit): the spec goes through the engine's `validateSpec` (image data through a
 * placeholder of the right shape, see src/data/images.ts) and the lab's interactive limits.
 */
import { validateSpec } from '../api/validate';
import { SpecError } from '../experiment/errors';
import { DATASETS } from '../data/datasets';
import { IMAGE_SETS, checkImageData, isImageData, placeholderImageSpec } from '../data/images';
import type { Activation, ExperimentSpec, LayerSpec, LossKind, ResolvedSpec } from '../experiment/types';
import type { LabSessionOptions } from './protocol';

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

export interface LabDoc {
  v: 1;
  spec: ExperimentSpec;
  compare: Compare | null;
  view: LabView;
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

// ---------------------------------------------------------------------------------------------
// Data facts

export type DataSource = { kind: 'toy'; name: string } | { kind: 'image'; name: string } | { kind: 'explicit' };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export function dataSource(data: unknown): DataSource {
  if (isObject(data) && typeof data.dataset === 'string') {
    return isImageData(data) ? { kind: 'image', name: data.dataset } : { kind: 'toy', name: data.dataset };
  }
  return { kind: 'explicit' };
}

export interface DataFacts {
  task: 'classification' | 'regression';
  /** Model input shape the data needs. */
  input: number[];
  /** Number of classes, or of target columns for regression. */
  classes: number;
  n: number;
  nTest: number;
  /** Two input features: decision maps apply. */
  is2d: boolean;
}

function explicitFacts(spec: ExperimentSpec): DataFacts {
  const d = spec.data as Record<string, unknown>;
  const x = Array.isArray(d.x) ? (d.x as unknown[]) : [];
  const xt = Array.isArray(d.x_test) ? (d.x_test as unknown[]) : [];
  const first = x[0];
  const input = Array.isArray(first) && first.every((v) => typeof v === 'number') ? [first.length] : (spec.model?.input ?? [1]);
  const y = Array.isArray(d.y) ? (d.y as unknown[]) : [];
  let task: DataFacts['task'] = 'regression';
  let classes = 1;
  if (spec.loss === 'cross_entropy') {
    task = 'classification';
    classes = Math.max(2, ...y.map((v) => (typeof v === 'number' ? v + 1 : 0)));
  } else if (Array.isArray(y[0])) {
    classes = (y[0] as unknown[]).length;
    const rows = y as number[][];
    const pm1 = classes === 1 && rows.every((r) => r[0] === 1 || r[0] === -1);
    const onehot = classes > 1 && rows.every((r) => r.filter((v) => v === 1).length === 1 && r.every((v) => v === 0 || v === 1));
    if (pm1 || onehot) {
      task = 'classification';
      classes = pm1 ? 2 : classes;
    }
  }
  return { task, input, classes, n: x.length, nTest: xt.length, is2d: input.length === 1 && input[0] === 2 };
}

/** What the data asks of the model (input shape, classes), whatever its source. */
export function dataFacts(spec: ExperimentSpec): DataFacts {
  const src = dataSource(spec.data);
  const d = spec.data as Record<string, unknown>;
  const num = (k: string, def: number) => (typeof d[k] === 'number' ? (d[k] as number) : def);
  if (src.kind === 'image') {
    const meta = IMAGE_SETS[src.name];
    return { task: 'classification', input: meta.shape.slice(), classes: num('classes', meta.classes), n: num('n', 200), nTest: num('n_test', 0), is2d: false };
  }
  if (src.kind === 'toy') {
    const info = DATASETS[src.name];
    if (!info) return { task: 'classification', input: [2], classes: 2, n: num('n', 100), nTest: num('n_test', 0), is2d: true };
    const classes = info.kind === 'regression' ? 1 : info.classes || num('classes', 3);
    return { task: info.kind, input: [info.dims], classes, n: num('n', 100), nTest: num('n_test', 0), is2d: info.dims === 2 };
  }
  return explicitFacts(spec);
}

/** Outputs the model needs for this data and loss. */
export function outputsFor(facts: DataFacts, loss: LossKind): number {
  if (facts.task === 'regression') return facts.classes;
  if (loss === 'mse' && facts.classes === 2) return 1;
  return facts.classes;
}

// ---------------------------------------------------------------------------------------------
// Model architectures the panels edit

export interface MlpArch {
  kind: 'mlp';
  depth: number;
  width: number;
  activation: Activation;
}
export interface CnnArch {
  kind: 'cnn';
  convLayers: number;
  filters: number;
  kernel: number;
  padding: number;
  /** Average-pooling window after each conv layer; 1 = none. */
  pool: number;
  activation: Activation;
}
export type Arch = MlpArch | CnnArch;

/** Recognize the panel's architectures in a layer list (null: a custom model from a file). */
export function readArch(layers: LayerSpec[]): Arch | null {
  const body = layers.slice(0, -1);
  const last = layers[layers.length - 1];
  if (!last || last.type !== 'dense' || last.activation !== 'linear') return null;
  if (body.some((l) => l.type === 'conv2d')) {
    const convs = body.filter((l): l is Extract<LayerSpec, { type: 'conv2d' }> => l.type === 'conv2d');
    const pools = body.filter((l): l is Extract<LayerSpec, { type: 'avgpool2d' }> => l.type === 'avgpool2d');
    const c0 = convs[0];
    const pool = pools[0]?.size ?? 1;
    const rebuilt = buildBody({ kind: 'cnn', convLayers: convs.length, filters: c0.filters, kernel: c0.kernel, padding: c0.padding ?? 0, pool, activation: c0.activation }, [1, 1, 1]);
    if (JSON.stringify(rebuilt) !== JSON.stringify(normalizeLayers(body))) return null;
    return { kind: 'cnn', convLayers: convs.length, filters: c0.filters, kernel: c0.kernel, padding: c0.padding ?? 0, pool, activation: c0.activation };
  }
  const dense = body.filter((l) => l.type !== 'flatten');
  if (dense.some((l) => l.type !== 'dense')) return null;
  if (body.length - dense.length > 1 || (body.length > dense.length && body[0].type !== 'flatten')) return null;
  const d = dense as Extract<LayerSpec, { type: 'dense' }>[];
  if (d.length === 0) return { kind: 'mlp', depth: 0, width: 32, activation: 'relu' };
  if (d.some((l) => l.units !== d[0].units || l.activation !== d[0].activation)) return null;
  return { kind: 'mlp', depth: d.length, width: d[0].units, activation: d[0].activation };
}

function normalizeLayers(layers: LayerSpec[]): LayerSpec[] {
  return layers.map((l) => (l.type === 'conv2d' ? { ...l, stride: l.stride ?? 1, padding: l.padding ?? 0 } : l));
}

function buildBody(arch: Arch, input: number[]): LayerSpec[] {
  if (arch.kind === 'mlp') {
    const hidden: LayerSpec[] = Array.from({ length: arch.depth }, () => ({ type: 'dense', units: arch.width, activation: arch.activation }));
    return input.length === 3 ? [{ type: 'flatten' }, ...hidden] : hidden;
  }
  const out: LayerSpec[] = [];
  for (let i = 0; i < arch.convLayers; i++) {
    out.push({ type: 'conv2d', filters: arch.filters, kernel: arch.kernel, stride: 1, padding: arch.padding, activation: arch.activation });
    if (arch.pool > 1) out.push({ type: 'avgpool2d', size: arch.pool });
  }
  out.push({ type: 'flatten' });
  return out;
}

/** The layer list of an architecture for an input shape and a number of outputs. */
export function buildLayers(arch: Arch, input: number[], outputs: number): LayerSpec[] {
  return [...buildBody(arch, input), { type: 'dense', units: outputs, activation: 'linear' }];
}

export function defaultArch(kind: Arch['kind']): Arch {
  return kind === 'mlp'
    ? { kind: 'mlp', depth: 2, width: 32, activation: 'relu' }
    : { kind: 'cnn', convLayers: 1, filters: 4, kernel: 3, padding: 1, pool: 2, activation: 'relu' };
}

/**
 * Make the model and training settings fit the data after an edit of the data or the loss:
 * input shape, number of outputs, loss for regression data, CNN only for images, batch size <= n.
 */
export function conform(spec: ExperimentSpec): ExperimentSpec {
  const facts = dataFacts(spec);
  const out: ExperimentSpec = { ...spec, model: { ...spec.model } };
  if (facts.task === 'regression' && out.loss !== 'mse') out.loss = 'mse';
  const outputs = outputsFor(facts, out.loss);
  let arch = readArch(spec.model.layers);
  if (arch?.kind === 'cnn' && facts.input.length !== 3) arch = defaultArch('mlp');
  const sameInput = JSON.stringify(spec.model.input) === JSON.stringify(facts.input);
  if (arch) {
    out.model.layers = buildLayers(arch, facts.input, outputs);
  } else if (!sameInput) {
    out.model.layers = buildLayers(defaultArch('mlp'), facts.input, outputs);
  } else {
    const layers = spec.model.layers.slice();
    const last = layers[layers.length - 1];
    if (last?.type === 'dense') layers[layers.length - 1] = { ...last, units: outputs };
    out.model.layers = layers;
  }
  out.model.input = facts.input.slice();
  if (out.train) {
    const t = { ...out.train };
    if (t.batch_size !== undefined && t.batch_size > facts.n) t.batch_size = facts.n;
    if (t.optimizer === 'gd') delete t.batch_size;
    out.train = t;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Optimizer in the UI's terms (momentum is SGD with momentum)

export function uiOptimizer(spec: ExperimentSpec): UiOptimizer {
  const t = spec.train;
  if (!t) return 'gd';
  if (t.optimizer === 'sgd' && (t.momentum ?? 0) > 0) return 'momentum';
  return t.optimizer;
}

export function withOptimizer(spec: ExperimentSpec, opt: UiOptimizer): ExperimentSpec {
  const n = dataFacts(spec).n;
  const t = { ...(spec.train ?? DEFAULT_SPEC.train!) };
  delete t.momentum;
  if (opt === 'gd') {
    t.optimizer = 'gd';
    delete t.batch_size;
  } else if (opt === 'sgd' || opt === 'momentum') {
    t.optimizer = 'sgd';
    t.batch_size = Math.min(n, t.batch_size ?? Math.max(1, Math.min(32, Math.round(n / 4))));
    if (opt === 'momentum') t.momentum = 0.9;
  } else {
    t.optimizer = opt;
    t.damping = t.damping ?? 1e-3;
    t.eig_every = t.eig_every ?? 10;
  }
  return { ...spec, train: t };
}

// ---------------------------------------------------------------------------------------------
// Comparison runs

export interface RunPlan {
  id: string;
  label: string;
  spec: ExperimentSpec;
}

export function withMlpWidth(spec: ExperimentSpec, width: number): ExperimentSpec {
  const arch = readArch(spec.model.layers);
  const facts = dataFacts(spec);
  if (arch?.kind === 'mlp') {
    return { ...spec, model: { ...spec.model, layers: buildLayers({ ...arch, width }, facts.input, outputsFor(facts, spec.loss)) } };
  }
  if (arch?.kind === 'cnn') {
    return { ...spec, model: { ...spec.model, layers: buildLayers({ ...arch, filters: width }, facts.input, outputsFor(facts, spec.loss)) } };
  }
  throw new SpecError('compare', 'a model built by the model panel (MLP or CNN) to vary its width', 'a custom layer list');
}

/** Apply one comparison value to a spec. */
export function applyCompare(spec: ExperimentSpec, param: CompareParam, value: number | string): ExperimentSpec {
  const train = { ...(spec.train ?? DEFAULT_SPEC.train!) };
  switch (param) {
    case 'alpha':
      return { ...spec, train: { ...train, alpha: Number(value) } };
    case 'lr':
      return { ...spec, train: { ...train, lr: Number(value) } };
    case 'optimizer':
      return withOptimizer(spec, value as UiOptimizer);
    case 'width':
      return withMlpWidth(spec, Number(value));
    case 'label_noise':
      return { ...spec, data: { ...(spec.data as object), label_noise: Number(value) } as ExperimentSpec['data'] };
  }
}

const COMPARE_LABEL: Record<CompareParam, (v: number | string) => string> = {
  alpha: (v) => `α = ${v}`,
  lr: (v) => `lr = ${v}`,
  optimizer: (v) => String(v).toUpperCase(),
  width: (v) => `width ${v}`,
  label_noise: (v) => `${Math.round(Number(v) * 100)} % random labels`,
};

/** The runs a document asks for: one, or one per comparison value. */
export function expandRuns(doc: LabDoc): RunPlan[] {
  if (!doc.compare) return [{ id: 'run0', label: 'run', spec: doc.spec }];
  const { param, values } = doc.compare;
  return values.map((v, i) => ({ id: `run${i}`, label: COMPARE_LABEL[param](v), spec: applyCompare(doc.spec, param, v) }));
}

/**
 * What each session measures, scaled to the experiment's size: ~150 points per curve, and
 * kernel probes (alignment, spectrum, movement) on at most ~400 kernel rows (n_probe * c), so
 * their f64 eigendecomposition stays interactive.
 */
export function sessionOptionsFor(spec: ResolvedSpec): LabSessionOptions {
  const steps = spec.train?.steps ?? 0;
  const c = spec.data.c;
  const probeExamples = Math.min(spec.data.n, 100, Math.max(16, Math.floor(LAB_LIMITS.kernelRows / c)));
  const metricsEvery = Math.max(1, Math.ceil(steps / 150));
  return {
    metricsEvery,
    probeExamples,
    kernelEvery: probeExamples * c > LAB_LIMITS.kernelRows ? 2 : 1,
    gridEvery: spec.model.input.length === 1 && spec.model.input[0] === 2 ? 3 : 0,
    gridSize: 32,
    topEigenvalues: 60,
    linearized: true,
    closedForm: spec.loss === 'mse',
    perExampleLoss: false,
  };
}

// ---------------------------------------------------------------------------------------------
// Validation

/** validateSpec for lab specs: image data through a placeholder, then the lab's limits. */
export function validateLabSpec(spec: ExperimentSpec): ResolvedSpec {
  let raw: ExperimentSpec = spec;
  if (isObject(spec) && isImageData(spec.data)) {
    if (!isObject(spec.model)) throw new SpecError('model', 'an object with input and layers', 'something else');
    raw = placeholderImageSpec(spec);
  }
  const resolved = validateSpec(raw);
  checkLabLimits(resolved);
  return resolved;
}

export function checkLabLimits(r: ResolvedSpec): void {
  if (!r.train) throw new SpecError('train', 'a train section {optimizer, lr, steps} (the lab trains every spec)', 'nothing');
  if (r.data.n > LAB_LIMITS.n) throw new SpecError('data.n', `at most ${LAB_LIMITS.n} training examples in the lab (the headless runner has no such limit)`, String(r.data.n));
  if (r.data.nTest > LAB_LIMITS.nTest) throw new SpecError('data.n_test', `at most ${LAB_LIMITS.nTest} test examples in the lab`, String(r.data.nTest));
  if (r.theta.length > LAB_LIMITS.params) {
    throw new SpecError('model', `at most ${LAB_LIMITS.params.toLocaleString('en')} parameters in the lab (use the headless runner for larger models)`, `${r.theta.length.toLocaleString('en')} parameters`);
  }
  if (r.train.steps > LAB_LIMITS.steps) throw new SpecError('train.steps', `at most ${LAB_LIMITS.steps} steps in the lab`, String(r.train.steps));
  if (r.train.steps < 1) throw new SpecError('train.steps', 'at least 1 step', String(r.train.steps));
}

function checkView(v: unknown): LabView {
  if (v === undefined) return { alignment: 'ntk_centered' };
  if (!isObject(v)) throw new SpecError('view', 'an object {alignment}', typeof v);
  for (const k of Object.keys(v)) if (k !== 'alignment') throw new SpecError(`view.${k}`, 'only the key alignment', `an unknown key "${k}"`);
  const a = v.alignment ?? 'ntk_centered';
  if (!ALIGNMENT_DEFS.includes(a as AlignmentDef)) throw new SpecError('view.alignment', `one of ${ALIGNMENT_DEFS.join(', ')}`, JSON.stringify(a));
  return { alignment: a as AlignmentDef };
}

function checkCompare(c: unknown, spec: ExperimentSpec): Compare | null {
  if (c === undefined || c === null) return null;
  if (!isObject(c)) throw new SpecError('compare', 'an object {param, values} or null', typeof c);
  for (const k of Object.keys(c)) if (k !== 'param' && k !== 'values') throw new SpecError(`compare.${k}`, 'only the keys param and values', `an unknown key "${k}"`);
  if (!COMPARE_PARAMS.includes(c.param as CompareParam)) throw new SpecError('compare.param', `one of ${COMPARE_PARAMS.join(', ')}`, JSON.stringify(c.param));
  const param = c.param as CompareParam;
  if (!Array.isArray(c.values) || c.values.length < 1 || c.values.length > LAB_LIMITS.compareRuns) {
    throw new SpecError('compare.values', `an array of 1 to ${LAB_LIMITS.compareRuns} values`, Array.isArray(c.values) ? `${c.values.length} values` : typeof c.values);
  }
  const values = c.values.map((v, i) => {
    const ok = param === 'optimizer' ? UI_OPTIMIZERS.includes(v as UiOptimizer) : typeof v === 'number' && Number.isFinite(v);
    if (!ok) throw new SpecError(`compare.values[${i}]`, param === 'optimizer' ? `one of ${UI_OPTIMIZERS.join(', ')}` : 'a finite number', JSON.stringify(v) ?? String(v));
    return v as number | string;
  });
  values.forEach((v, i) => {
    try {
      validateLabSpec(applyCompare(spec, param, v));
    } catch (e) {
      if (e instanceof SpecError) throw new SpecError(`compare.values[${i}] → ${e.field}`, e.expected, e.found);
      throw e;
    }
  });
  return { param, values };
}

/**
 * Check an untrusted document (URL, file, preset): its shape, its spec (engine validation and
 * lab limits) and every comparison run. A bare experiment spec (as the runner reads) is accepted
 * too and wrapped. Throws a SpecError naming the field.
 */
export function checkDoc(raw: unknown): LabDoc {
  if (!isObject(raw)) throw new SpecError('document', 'a JSON object (a lab document or an experiment spec)', Array.isArray(raw) ? 'an array' : typeof raw);
  if (raw.v === undefined && raw.spec === undefined && raw.model !== undefined) {
    return checkDoc({ v: 1, spec: raw });
  }
  for (const k of Object.keys(raw)) {
    if (!['v', 'spec', 'compare', 'view'].includes(k)) throw new SpecError(`document.${k}`, 'one of the keys v, spec, compare, view', `an unknown key "${k}"`);
  }
  if (raw.v !== 1) throw new SpecError('document.v', 'version 1', JSON.stringify(raw.v) ?? 'nothing');
  if (!isObject(raw.spec)) throw new SpecError('spec', 'an experiment spec object', typeof raw.spec);
  const spec0 = raw.spec as unknown as ExperimentSpec;
  const spec: ExperimentSpec = spec0.train === undefined ? { ...spec0, train: DEFAULT_SPEC.train } : spec0;
  if (isImageData(spec.data)) checkImageData(spec.data as Record<string, unknown>);
  validateLabSpec(spec);
  return { v: 1, spec, compare: checkCompare(raw.compare, spec), view: checkView(raw.view) };
}

/** Human-readable message of any error thrown by validation. */
export function errorMessage(e: unknown): string {
  if (e instanceof SpecError) return `${e.field}: expected ${e.expected}, found ${e.found}`;
  if (e instanceof Error) return e.message;
  return String(e);
}
