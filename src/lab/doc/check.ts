/**
 * A document is checked with `checkDoc` wherever it comes from (URL, imported file, preset, an
 * edit): the spec goes through the engine's `validateSpec` (image data through a placeholder of
 * the right shape, see src/data/images.ts) and the lab's interactive limits.
 */
import { validateSpec } from '../../api/validate';
import { SpecError } from '../../experiment/errors';
import { checkImageData, isImageData, placeholderImageSpec } from '../../data/images';
import type { ExperimentSpec, ResolvedSpec } from '../../experiment/types';
import { isObject } from '../../util/guards';
import {
  ALIGNMENT_DEFS,
  COMPARE_PARAMS,
  DEFAULT_SPEC,
  LAB_LIMITS,
  UI_OPTIMIZERS,
  type AlignmentDef,
  type Compare,
  type CompareParam,
  type LabDoc,
  type LabMetrics,
  type LabView,
  METRIC_KEYS,
  type UiOptimizer,
} from './document';
import { applyCompare } from './compare';

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

function checkMetrics(m: unknown): LabMetrics | undefined {
  if (m === undefined) return undefined;
  if (!isObject(m)) throw new SpecError('metrics', 'an object {events, kernelEvery, gridEvery, probeExamples}', typeof m);
  const out: LabMetrics = {};
  for (const [k, v] of Object.entries(m)) {
    if (!(METRIC_KEYS as readonly string[]).includes(k)) throw new SpecError(`metrics.${k}`, `only the keys ${METRIC_KEYS.join(', ')}`, `an unknown key "${k}"`);
    const min = k === 'events' || k === 'probeExamples' ? 1 : 0;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > 100_000) throw new SpecError(`metrics.${k}`, `an integer from ${min} to 100000`, JSON.stringify(v) ?? String(v));
    out[k as keyof LabMetrics] = v;
  }
  return out;
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
    if (!ok) throw new SpecError(`compare.values[${i}]`, param === 'optimizer' ? `one of ${UI_OPTIMIZERS.join(', ')}` : 'a finite number', typeof v === 'number' ? String(v) : (JSON.stringify(v) ?? String(v)));
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
    if (!['v', 'spec', 'compare', 'view', 'metrics'].includes(k)) throw new SpecError(`document.${k}`, 'one of the keys v, spec, compare, view, metrics', `an unknown key "${k}"`);
  }
  if (raw.v !== 1) throw new SpecError('document.v', 'version 1', JSON.stringify(raw.v) ?? 'nothing');
  if (!isObject(raw.spec)) throw new SpecError('spec', 'an experiment spec object', typeof raw.spec);
  const spec0 = raw.spec as unknown as ExperimentSpec;
  const spec: ExperimentSpec = spec0.train === undefined ? { ...spec0, train: DEFAULT_SPEC.train } : spec0;
  if (isImageData(spec.data)) checkImageData(spec.data as Record<string, unknown>);
  validateLabSpec(spec);
  const metrics = checkMetrics(raw.metrics);
  const doc: LabDoc = { v: 1, spec, compare: checkCompare(raw.compare, spec), view: checkView(raw.view) };
  return metrics ? { ...doc, metrics } : doc;
}

/** Human-readable message of anything thrown (engine errors say what was wrong and what to do). */
export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
