/** Comparison runs: several runs that differ in one parameter, trained side by side. */
import { SpecError } from '../../experiment/errors';
import type { ExperimentSpec } from '../../experiment/types';
import { DEFAULT_SPEC, type CompareParam, type LabDoc } from './document';
import { dataFacts, outputsFor } from './data-facts';
import { buildLayers, readArch } from './architecture';
import { withOptimizer } from './optimizer';
import type { UiOptimizer } from './document';


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
 * The values typed for a comparison: numbers (or optimizer names). Throws a message naming the
 * first value that is not one (e.g. `"abc" is not a number`), never passes NaN on.
 */
export function parseCompareValues(param: CompareParam, text: string): (number | string)[] {
  const parts = text
    .split(/[,\s]+/)
    .map((t) => t.trim())
    .filter(Boolean);
  if (!parts.length) throw new Error('compare.values: type at least one value, separated by commas');
  return parts.map((p) => {
    if (param === 'optimizer') return p.toLowerCase();
    const v = Number(p);
    if (!Number.isFinite(v)) throw new Error(`compare.values: "${p}" is not a number`);
    return v;
  });
}
