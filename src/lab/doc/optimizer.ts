/** The optimizer in the UI's terms: momentum is SGD with momentum. */
import type { ExperimentSpec } from '../../experiment/types';
import { DEFAULT_SPEC, type UiOptimizer } from './document';
import { dataFacts } from './data-facts';


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
