/** The architectures the model panel edits (an MLP, or a CNN for images), and fitting a model to its data. */
import type { Activation, ExperimentSpec, LayerSpec } from '../../experiment/types';
import { dataFacts, outputsFor } from './data-facts';


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
