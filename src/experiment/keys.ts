/**
 * The result keys of the runner (top level of the result JSON, in the fixture README's order).
 * A spec's `compute` lists some of them; src/api/keys.ts says what each needs and computes.
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
] as const;
export type ResultKey = (typeof RESULT_KEYS)[number];

export const isResultKey = (k: unknown): k is ResultKey => (RESULT_KEYS as readonly unknown[]).includes(k);
