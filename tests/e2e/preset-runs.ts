/**
 * The presets as the e2e tests run them, and what each must show (tests/e2e/claims.ts).
 *
 * `npm test` runs every preset at a reduced size: the same document with fewer steps (and
 * fewer metric events), cut where the preset's claim is already established, so that the four
 * presets fit the suite's time budget on a 2-core machine. `TANGENT_FULL_PRESETS=1` runs them at
 * their full size, as a user's click does, and records the time to the last step
 * (test-results/presets.json).
 */
import { PRESETS } from '../../src/lab/presets';
import type { LabDoc } from '../../src/lab/doc/document';

export const FULL = process.env.TANGENT_FULL_PRESETS === '1';

/** Reduced sizes: steps and metric events of each preset in `npm test`. */
const REDUCED: Record<string, { steps: number; events: number }> = {
  'lazy-vs-hasty': { steps: 300, events: 100 },
  'ntk-alignment': { steps: 100, events: 50 },
  'ekfac-vs-kfac': { steps: 100, events: 50 },
  'wider-is-lazier': { steps: 150, events: 50 },
};

export function presetDoc(id: string, full = FULL): LabDoc {
  const p = PRESETS.find((x) => x.id === id);
  if (!p) throw new Error(`no preset ${id}`);
  if (full) return p.doc;
  const r = REDUCED[id];
  return { ...p.doc, spec: { ...p.doc.spec, train: { ...p.doc.spec.train!, steps: r.steps } }, metrics: { ...p.doc.metrics, events: r.events } };
}
