/**
 * The result keys of the runner (top level of the result JSON, in the fixture README's order).
 * A spec's `compute` lists some of them; `STATIC_KEYS` in src/api/analyze.ts says what each needs and computes.
 */
export const RESULT_KEYS = [
  'theta',
  'outputs',
  'outputs_test',
  'loss',
  'loss_test',
  'per_example_loss',
  'loss_grad',
  'jacobian',
  'ntk',
  'ntk_trace',
  'ntk_trace_per_layer',
  'alignment',
  'ntk_spectrum',
  'ntk_trace_spectrum',
  'fisher',
  'fisher_trace',
  'fisher_frobenius',
  'kfac',
  'train',
  'infinite',
] as const;
export type ResultKey = (typeof RESULT_KEYS)[number];

/** What a spec must hold for a key to apply at all (README "File format"). */
export const KEY_NEEDS: { readonly [K in ResultKey]?: 'test data' | 'a train section' } = {
  outputs_test: 'test data',
  loss_test: 'test data',
  train: 'a train section',
};

interface KeyFacts {
  data: { nTest: number };
  train: unknown;
  compute: readonly string[] | null;
  options: { fisher_max_params: number };
}

/** Whether a key applies to a spec (its data has what the key needs). */
export function keyApplies(key: ResultKey, spec: KeyFacts): boolean {
  const need = KEY_NEEDS[key];
  if (need === 'test data') return spec.data.nTest > 0;
  if (need === 'a train section') return spec.train !== null && spec.train !== undefined;
  return true;
}

/**
 * The keys to compute, in `RESULT_KEYS` order: `spec.compute` when given (keys that cannot apply
 * dropped), else every key that applies except the dense `fisher` when the model has more than
 * `options.fisher_max_params` parameters (`P`), and `infinite` unless the model has an
 * infinite-width limit the runner can compute (`infiniteApplies`: `infiniteProblem(spec)` of
 * src/model/infinite-plan.ts is null). `explicit` says whether the spec chose them.
 */
export function requestedKeys(spec: KeyFacts, P: number, infiniteApplies: boolean): { keys: ResultKey[]; explicit: boolean } {
  if (spec.compute) {
    const asked = new Set(spec.compute);
    return { keys: RESULT_KEYS.filter((k) => asked.has(k) && keyApplies(k, spec)), explicit: true };
  }
  const keys = RESULT_KEYS.filter(
    (k) => keyApplies(k, spec) && !(k === 'fisher' && P > spec.options.fisher_max_params) && !(k === 'infinite' && !infiniteApplies),
  );
  return { keys, explicit: false };
}

/**
 * The dense Fisher's size rule (README "Options"): its refusal when asked for explicitly, and its
 * note when the default key list drops it. One wording for the runner and the PyTorch exporter,
 * which must refuse what the runner refuses with the same message.
 */
export const fisherTooLarge = (P: number, max: number) =>
  `fisher: P = ${P} parameters exceeds options.fisher_max_params = ${max}; raise it (at most 8192) or drop "fisher"`;
export const fisherSkipped = (P: number, max: number) =>
  `fisher skipped: P = ${P} > options.fisher_max_params = ${max} (fisher_trace and fisher_frobenius are still computed)`;
