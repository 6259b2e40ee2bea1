/** What the data of a spec asks of the model (input shape, classes), whatever its source. */
import { DATASETS } from '../../data/datasets';
import { IMAGE_SETS, isImageData } from '../../data/images';
import type { ExperimentSpec, LossKind } from '../../experiment/types';
import { isObject } from '../../util/guards';

export type DataSource = { kind: 'toy'; name: string } | { kind: 'image'; name: string } | { kind: 'explicit' };

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
