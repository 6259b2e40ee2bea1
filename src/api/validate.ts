/**
 * Validation of untrusted experiment specs (JSON files, URLs, the UI's import box).
 * Every error names the field, what was expected and what was found; nothing here
 * evaluates input as code.
 */
import { planModel, numel, type ModelPlan } from '../model/layout';
import { SpecError } from '../experiment/errors';
import { isObject } from '../util/guards';
import { RESULT_KEYS } from '../experiment/keys';
import { initParams } from '../model/init';
import { generateDataset } from '../data/datasets';
import { isImageDataset, resolveImageSpec, IMAGE_SETS, type ImageSet } from '../data/images';
import {
  ACTIVATIONS,
  LOSSES,
  type ExperimentSpec,
  type LayerSpec,
  type ResolvedData,
  type ResolvedModel,
  type ResolvedSpec,
  type ResolvedTrain,
  type Parameterization,
  type Activation,
} from '../experiment/types';

/** Largest sizes accepted at all, so a hostile spec cannot ask for absurd allocations. */
export const HARD_LIMITS = {
  layers: 64,
  units: 65536,
  examples: 1 << 20,
  inputSize: 1 << 20,
  params: 1 << 26,
  steps: 10_000_000,
};

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return `an array of length ${v.length}`;
  if (typeof v === 'number') return Number.isNaN(v) ? 'NaN' : String(v);
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v);
  if (typeof v === 'object') return 'an object';
  return typeof v;
}

function fail(field: string, expected: string, found: unknown): never {
  throw new SpecError(field, expected, describe(found));
}

function checkKeys(obj: Record<string, unknown>, allowed: readonly string[], field: string): void {
  for (const k of Object.keys(obj)) {
    if (!allowed.includes(k)) {
      throw new SpecError(`${field}.${k}`, `one of the keys ${allowed.join(', ')}`, `an unknown key "${k}"`);
    }
  }
}

export function finiteNumber(v: unknown, field: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) fail(field, 'a finite number', v);
  return v;
}

export function positiveInt(v: unknown, field: string, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) fail(field, 'a positive integer', v);
  if (v > max) fail(field, `a positive integer at most ${max}`, v);
  return v;
}

function nonNegInt(v: unknown, field: string, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) fail(field, 'a non-negative integer', v);
  if (v > max) fail(field, `an integer at most ${max}`, v);
  return v;
}

/**
 * Read a nested array of the given shape into a flat row-major Float64Array,
 * checking every level's length and that every entry is a finite number.
 */
export function readTensor(v: unknown, shape: readonly number[], field: string): Float64Array {
  const out = new Float64Array(numel(shape));
  let k = 0;
  const walk = (node: unknown, depth: number, path: string) => {
    if (depth === shape.length) {
      if (typeof node !== 'number' || !Number.isFinite(node)) fail(path, 'a finite number', node);
      out[k++] = node;
      return;
    }
    if (!Array.isArray(node)) fail(path, `an array of length ${shape[depth]}`, node);
    if (node.length !== shape[depth]) fail(path, `an array of length ${shape[depth]} (shape [${shape.join(', ')}])`, node);
    for (let i = 0; i < node.length; i++) walk(node[i], depth + 1, `${path}[${i}]`);
  };
  walk(v, 0, field);
  return out;
}

/** Leading dimension of a nested array (the number of examples). */
function leadingLength(v: unknown, field: string): number {
  if (!Array.isArray(v)) fail(field, 'an array with one entry per example', v);
  if (v.length === 0) fail(field, 'at least one example', v);
  if (v.length > HARD_LIMITS.examples) fail(field, `at most ${HARD_LIMITS.examples} examples`, v);
  return v.length;
}

function validateLayer(v: unknown, i: number): LayerSpec {
  const field = `model.layers[${i}]`;
  if (!isObject(v)) fail(field, 'a layer object', v);
  const activation = (key: string): Activation => {
    const a = v[key];
    if (!ACTIVATIONS.includes(a as Activation)) fail(`${field}.${key}`, `one of ${ACTIVATIONS.join(', ')}`, a);
    return a as Activation;
  };
  switch (v.type) {
    case 'dense':
      checkKeys(v, ['type', 'units', 'activation'], field);
      return { type: 'dense', units: positiveInt(v.units, `${field}.units`, HARD_LIMITS.units), activation: activation('activation') };
    case 'conv2d': {
      checkKeys(v, ['type', 'filters', 'kernel', 'stride', 'padding', 'activation'], field);
      return {
        type: 'conv2d',
        filters: positiveInt(v.filters, `${field}.filters`, HARD_LIMITS.units),
        kernel: positiveInt(v.kernel, `${field}.kernel`, 1024),
        stride: v.stride === undefined ? 1 : positiveInt(v.stride, `${field}.stride`, 1024),
        padding: v.padding === undefined ? 0 : nonNegInt(v.padding, `${field}.padding`, 1024),
        activation: activation('activation'),
      };
    }
    case 'avgpool2d':
      checkKeys(v, ['type', 'size'], field);
      return { type: 'avgpool2d', size: positiveInt(v.size, `${field}.size`, 4096) };
    case 'flatten':
      checkKeys(v, ['type'], field);
      return { type: 'flatten' };
    default:
      return fail(`${field}.type`, 'one of dense, conv2d, avgpool2d, flatten', v.type);
  }
}

function validateModel(v: unknown, initScheme: Parameterization | undefined): ResolvedModel {
  if (!isObject(v)) fail('model', 'an object with input and layers', v);
  checkKeys(v, ['input', 'layers', 'parameterization', 'sigma_w', 'sigma_b'], 'model');
  const input = v.input;
  if (!Array.isArray(input) || (input.length !== 1 && input.length !== 3)) {
    fail('model.input', '[d] for vectors or [C, H, W] for images', input);
  }
  const inputShape = input.map((d, i) => positiveInt(d, `model.input[${i}]`, HARD_LIMITS.inputSize));
  if (numel(inputShape) > HARD_LIMITS.inputSize) fail('model.input', `at most ${HARD_LIMITS.inputSize} input values`, input);
  if (!Array.isArray(v.layers) || v.layers.length === 0) fail('model.layers', 'a non-empty array of layers', v.layers);
  if (v.layers.length > HARD_LIMITS.layers) fail('model.layers', `at most ${HARD_LIMITS.layers} layers`, v.layers);
  const layers = v.layers.map(validateLayer);
  let parameterization: Parameterization = initScheme ?? 'standard';
  if (v.parameterization !== undefined) {
    if (v.parameterization !== 'standard' && v.parameterization !== 'ntk') {
      fail('model.parameterization', 'standard or ntk', v.parameterization);
    }
    if (initScheme !== undefined && initScheme !== v.parameterization) {
      fail('model.parameterization', `the same as init.scheme (${initScheme})`, v.parameterization);
    }
    parameterization = v.parameterization;
  }
  const sigma = (key: 'sigma_w' | 'sigma_b') => {
    if (v[key] === undefined) return 1;
    const s = finiteNumber(v[key], `model.${key}`);
    if (s < 0) fail(`model.${key}`, 'a non-negative number', s);
    return s;
  };
  return { input: inputShape, layers, parameterization, sigmaW: sigma('sigma_w'), sigmaB: sigma('sigma_b') };
}

function paramsToTheta(v: unknown, plan: ModelPlan): Float64Array {
  if (!Array.isArray(v)) fail('params', 'an array with one {weight, bias} per dense/conv2d layer', v);
  if (v.length !== plan.paramLayers.length) {
    fail('params', `${plan.paramLayers.length} entries (one per dense/conv2d layer)`, v);
  }
  const theta = new Float64Array(plan.P);
  plan.paramLayers.forEach((layer, l) => {
    const field = `params[${l}]`;
    const entry = v[l];
    if (!isObject(entry)) fail(field, 'an object {weight, bias}', entry);
    checkKeys(entry, ['weight', 'bias'], field);
    const wShape = layer.kind === 'dense' ? [layer.out, layer.fanIn] : [layer.out, layer.cin, layer.kernel, layer.kernel];
    const W = readTensor(entry.weight, wShape, `${field}.weight`);
    const b = readTensor(entry.bias, [layer.out], `${field}.bias`);
    const m = layer.fanIn + 1;
    for (let o = 0; o < layer.out; o++) {
      theta.set(W.subarray(o * layer.fanIn, (o + 1) * layer.fanIn), layer.offset + o * m);
      theta[layer.offset + o * m + layer.fanIn] = b[o];
    }
  });
  return theta;
}

function readLabels(v: unknown, n: number, c: number, field: string): Int32Array {
  if (!Array.isArray(v) || v.length !== n) fail(field, `an array of ${n} integer labels`, v);
  const labels = new Int32Array(n);
  v.forEach((yi, i) => {
    if (typeof yi !== 'number' || !Number.isInteger(yi) || yi < 0 || yi >= c) {
      fail(`${field}[${i}]`, `an integer label in 0..${c - 1}`, yi);
    }
    labels[i] = yi;
  });
  return labels;
}

function oneHot(labels: Int32Array, c: number): Float64Array {
  const y = new Float64Array(labels.length * c);
  labels.forEach((l, i) => (y[i * c + l] = 1));
  return y;
}

/** Options of `validateSpec`. */
export interface ValidateOptions {
  /**
   * Supplies the decoded pixels of an image set named by `data.dataset` ("digits", "fashion").
   * The Node runner reads them from public/datasets (src/data/image-files.ts); the lab's worker
   * fetches them first. Without it, image-set data is refused with a message saying so.
   */
  imageSet?: (name: string) => ImageSet;
}

function validateData(v: unknown, plan: ModelPlan, loss: ResolvedSpec['loss'], raw: ExperimentSpec, opts: ValidateOptions): ResolvedData {
  if (!isObject(v)) fail('data', 'an object with x and y (or a generated dataset)', v);
  if (isImageDataset(v.dataset)) {
    if (!opts.imageSet) {
      throw new SpecError('data.dataset', `the pixels of the image set "${v.dataset}" (${IMAGE_SETS[v.dataset].file})`, 'no image loader in this context');
    }
    const { spec: explicit, flipped } = resolveImageSpec(raw, opts.imageSet(v.dataset));
    const data = validateData(explicit.data, plan, loss, raw, {});
    data.meta = { dataset: v.dataset, flipped: Uint8Array.from(flipped, Number) };
    return data;
  }
  if (v.dataset !== undefined) {
    const { flipped, ...generated } = generateDataset(v, plan.input, 'data', { loss, c: plan.c });
    const data = validateData(generated, plan, loss, raw, opts);
    data.meta = { dataset: String(v.dataset), flipped: flipped ? Uint8Array.from(flipped, Number) : null };
    return data;
  }
  checkKeys(v, ['x', 'y', 'x_test', 'y_test'], 'data');
  const c = plan.c;
  const n = leadingLength(v.x, 'data.x');
  const x = readTensor(v.x, [n, ...plan.input], 'data.x');
  let nTest = 0;
  let xTest: Float64Array = new Float64Array(0);
  if (v.x_test !== undefined) {
    if (Array.isArray(v.x_test) && v.x_test.length === 0) {
      nTest = 0;
    } else {
      nTest = leadingLength(v.x_test, 'data.x_test');
      xTest = readTensor(v.x_test, [nTest, ...plan.input], 'data.x_test');
    }
    if (v.y_test === undefined && nTest > 0) fail('data.y_test', `targets for the ${nTest} test examples`, undefined);
  } else if (v.y_test !== undefined) {
    fail('data.x_test', 'test inputs to go with data.y_test', undefined);
  }
  if (loss === 'cross_entropy') {
    const labels = readLabels(v.y, n, c, 'data.y');
    const labelsTest = nTest > 0 ? readLabels(v.y_test, nTest, c, 'data.y_test') : new Int32Array(0);
    return { x, n, xTest, nTest, c, y: oneHot(labels, c), yTest: oneHot(labelsTest, c), labels, labelsTest, meta: { dataset: null, flipped: null } };
  }
  const y = readTensor(v.y, [n, c], 'data.y');
  const yTest = nTest > 0 ? readTensor(v.y_test, [nTest, c], 'data.y_test') : new Float64Array(0);
  return { x, n, xTest, nTest, c, y, yTest, labels: null, labelsTest: null, meta: { dataset: null, flipped: null } };
}

function validateTrain(v: unknown, n: number): ResolvedTrain {
  if (!isObject(v)) fail('train', 'an object {optimizer, lr, steps, ...}', v);
  checkKeys(
    v,
    ['optimizer', 'lr', 'steps', 'alpha', 'checkpoints', 'batch_size', 'momentum', 'weight_decay', 'seed', 'damping', 'eig_every'],
    'train',
  );
  const optimizer = v.optimizer === undefined ? 'gd' : v.optimizer;
  if (!['gd', 'sgd', 'kfac', 'ekfac'].includes(optimizer as string)) fail('train.optimizer', 'one of gd, sgd, kfac, ekfac', optimizer);
  const lr = finiteNumber(v.lr, 'train.lr');
  if (lr <= 0) fail('train.lr', 'a positive learning rate', lr);
  const steps = nonNegInt(v.steps, 'train.steps', HARD_LIMITS.steps);
  const alpha = v.alpha === undefined ? 1 : finiteNumber(v.alpha, 'train.alpha');
  if (alpha <= 0) fail('train.alpha', 'a positive scale alpha (> 0)', alpha);
  let checkpoints = [0, steps];
  if (v.checkpoints !== undefined) {
    if (!Array.isArray(v.checkpoints) || v.checkpoints.length === 0) fail('train.checkpoints', 'a non-empty array of step counts', v.checkpoints);
    checkpoints = v.checkpoints.map((t, i) => {
      const value = nonNegInt(t, `train.checkpoints[${i}]`);
      if (value > steps) fail(`train.checkpoints[${i}]`, `a step count between 0 and train.steps = ${steps}`, value);
      return value;
    });
    for (let i = 1; i < checkpoints.length; i++) {
      if (checkpoints[i] <= checkpoints[i - 1]) {
        fail(`train.checkpoints[${i}]`, `strictly increasing step counts (after ${checkpoints[i - 1]})`, checkpoints[i]);
      }
    }
  } else if (steps === 0) {
    checkpoints = [0];
  }
  const batchSize = v.batch_size === undefined ? n : positiveInt(v.batch_size, 'train.batch_size');
  if (batchSize > n) fail('train.batch_size', `a batch size at most n = ${n}`, batchSize);
  if (optimizer === 'gd' && batchSize < n) fail('train.batch_size', `n = ${n} for full-batch gd (use "sgd" for minibatches)`, batchSize);
  const momentum = v.momentum === undefined ? 0 : finiteNumber(v.momentum, 'train.momentum');
  if (momentum < 0 || momentum >= 1) fail('train.momentum', 'a momentum in [0, 1)', momentum);
  const weightDecay = v.weight_decay === undefined ? 0 : finiteNumber(v.weight_decay, 'train.weight_decay');
  if (weightDecay < 0) fail('train.weight_decay', 'a non-negative weight decay', weightDecay);
  const seed = v.seed === undefined ? 0 : nonNegInt(v.seed, 'train.seed', 0xffffffff);
  const damping = v.damping === undefined ? 1e-3 : finiteNumber(v.damping, 'train.damping');
  if (damping <= 0) fail('train.damping', 'a positive damping (> 0)', damping);
  const eigEvery = v.eig_every === undefined ? 1 : positiveInt(v.eig_every, 'train.eig_every');
  return {
    optimizer: optimizer as ResolvedTrain['optimizer'],
    lr,
    steps,
    alpha,
    checkpoints,
    batchSize,
    momentum,
    weightDecay,
    seed,
    damping,
    eigEvery,
  };
}

/** Parse spec text, with an error that says it is not JSON rather than a bare SyntaxError. */
export function parseSpecText(text: string, source = 'spec'): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new SpecError(source, 'a JSON document', `text that is not JSON (${(e as Error).message})`);
  }
}

/** Validate an untrusted value and resolve it into the engine's input. */
export function validateSpec(raw: unknown, opts: ValidateOptions = {}): ResolvedSpec {
  if (!isObject(raw)) fail('spec', 'a JSON object', raw);
  checkKeys(raw, ['name', 'description', 'model', 'params', 'init', 'loss', 'data', 'train', 'compute', 'options'], 'spec');
  const spec = raw as Partial<ExperimentSpec> & Record<string, unknown>;
  if (!LOSSES.includes(spec.loss as never)) fail('loss', `one of ${LOSSES.join(', ')}`, spec.loss);
  const loss = spec.loss as ResolvedSpec['loss'];

  let initScheme: Parameterization | undefined;
  if (spec.init !== undefined) {
    if (!isObject(spec.init)) fail('init', 'an object {seed, scheme}', spec.init);
    checkKeys(spec.init, ['seed', 'scheme', 'gain'], 'init');
    if (spec.init.scheme !== 'standard' && spec.init.scheme !== 'ntk') fail('init.scheme', 'standard or ntk', spec.init.scheme);
    initScheme = spec.init.scheme;
  }
  const model = validateModel(spec.model, initScheme);
  let plan: ModelPlan;
  try {
    plan = planModel(model);
  } catch (e) {
    throw e instanceof SpecError ? e : new SpecError('model', 'a valid model', String(e));
  }
  if (plan.P > HARD_LIMITS.params) fail('model', `at most ${HARD_LIMITS.params} parameters`, plan.P);
  if (loss === 'cross_entropy' && plan.c < 2) {
    fail('model.layers', 'at least 2 outputs for cross_entropy (softmax over one output is constant)', plan.c);
  }

  let theta: Float64Array;
  if (spec.params !== undefined) {
    if (spec.init !== undefined) fail('init', 'either params or init, not both', spec.init);
    theta = paramsToTheta(spec.params, plan);
  } else if (spec.init !== undefined) {
    const init = spec.init as Record<string, unknown>;
    const seed = nonNegInt(init.seed, 'init.seed', 0xffffffff);
    const gain = init.gain === undefined ? 1 : finiteNumber(init.gain, 'init.gain');
    if (gain < 0) fail('init.gain', 'a non-negative gain', gain);
    theta = initParams(plan, { seed, scheme: init.scheme as Parameterization, gain });
  } else {
    return fail('params', 'explicit params or an init {seed, scheme}', undefined);
  }

  const data = validateData(spec.data, plan, loss, spec as ExperimentSpec, opts);
  const train = spec.train === undefined ? null : validateTrain(spec.train, data.n);

  let compute: string[] | null = null;
  if (spec.compute !== undefined) {
    if (!Array.isArray(spec.compute)) fail('compute', `an array of result keys (${RESULT_KEYS.join(', ')})`, spec.compute);
    compute = spec.compute.map((k, i) => {
      if (!RESULT_KEYS.includes(k as never)) fail(`compute[${i}]`, `one of ${RESULT_KEYS.join(', ')}`, k);
      return k as string;
    });
    if (compute.includes('train') && !train) fail('compute', 'a train section in the spec to compute "train"', 'no train');
  }

  const options = { fisher_max_params: 400, block_max_params: 150 };
  if (spec.options !== undefined) {
    if (!isObject(spec.options)) fail('options', 'an object', spec.options);
    checkKeys(spec.options, ['fisher_max_params', 'block_max_params'], 'options');
    if (spec.options.fisher_max_params !== undefined) {
      options.fisher_max_params = nonNegInt(spec.options.fisher_max_params, 'options.fisher_max_params', 8192);
    }
    if (spec.options.block_max_params !== undefined) {
      options.block_max_params = nonNegInt(spec.options.block_max_params, 'options.block_max_params', 4096);
    }
  }

  const name = typeof spec.name === 'string' ? spec.name : 'experiment';
  return { name, model, theta, loss, data, train, compute, options };
}
