/** Uploaded CSV data -> the experiment spec that trains on it (pure; the panel handles the file). */
import { parseCsv } from '../data/csv';
import type { ExperimentSpec } from '../experiment/types';
import { conform } from './doc/architecture';
import { type LabDoc } from './doc/document';

/** The spec for uploaded CSV data: explicit arrays, a loss for the task, a model that fits. */
export function csvSpec(doc: LabDoc, text: string, seed = 0): { spec: ExperimentSpec; notes: string[] } {
  const ds = parseCsv(text, { seed });
  const loss = ds.kind === 'classification' ? 'cross_entropy' : 'mse';
  const spec: ExperimentSpec = conform({
    ...doc.spec,
    name: 'Uploaded CSV data',
    loss,
    data: { x: ds.x, y: ds.y, x_test: ds.x_test, y_test: ds.y_test },
  });
  const what = ds.kind === 'classification' ? `${ds.classes} classes` : `targets ${ds.targets.join(', ')}`;
  return { spec, notes: [`${ds.x.length} training and ${ds.x_test.length} test rows; features ${ds.features.join(', ')}; ${what}`, ...ds.notes] };
}
