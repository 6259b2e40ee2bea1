/** Session options with their defaults, checked once (src/api/session-types.ts documents each). */
import type { SessionOptions } from '../session-types';
import type { ResolvedSpec } from '../../experiment/types';
import { closedFormApplies } from '../../math/training';
import { SpecError } from '../../experiment/errors';

export type ResolvedSessionOptions = Required<SessionOptions>;

/**
 * Options with defaults. `spec` (when given) turns off the closed form where it does not describe
 * the run (`closedFormApplies`: mse and plain full-batch GD only).
 */
export function resolveSessionOptions(opts: SessionOptions = {}, spec?: ResolvedSpec): ResolvedSessionOptions {
  const pos = (v: number | undefined, def: number, name: string, min = 1) => {
    const x = v ?? def;
    if (!Number.isInteger(x) || x < min) throw new SpecError(`session option ${name}`, `an integer >= ${min}`, String(x));
    return x;
  };
  return {
    metricsEvery: pos(opts.metricsEvery, 10, 'metricsEvery'),
    kernelEvery: pos(opts.kernelEvery, 1, 'kernelEvery', 0),
    gridEvery: pos(opts.gridEvery, 5, 'gridEvery', 0),
    gridSize: pos(opts.gridSize, 40, 'gridSize', 2),
    topEigenvalues: pos(opts.topEigenvalues, 50, 'topEigenvalues'),
    linearized: opts.linearized ?? true,
    closedForm: (opts.closedForm ?? true) && (!spec?.train || closedFormApplies(spec.loss, spec.train)),
    perExampleLoss: opts.perExampleLoss ?? false,
    probeExamples: pos(opts.probeExamples, 100, 'probeExamples'),
    infinite: opts.infinite ?? true,
    trainingPath: opts.trainingPath ?? 'auto',
  };
}
