/**
 * Spec -> result, the code path shared by the CLI and the fixture tests: the static keys at
 * theta0 (analyze.ts), the `train` trajectories (trajectory.ts) and the infinite-width kernels
 * (infinite.ts). Which keys: `spec.compute` when given, else every key the fixture README defines
 * that applies to the spec (`requestedKeys` in src/experiment/keys.ts).
 */
import type { GpuContext } from '../gpu/context';
import { planOf } from '../model/layout';
import { infiniteProblem } from '../model/infinite-plan';
import { requestedKeys } from '../experiment/keys';
import type { AnalysisResult } from '../experiment/result';
import type { ResolvedSpec } from '../experiment/types';
import { analyze, STATIC_KEYS } from './analyze';
import { trainTrajectory } from './trajectory';
import { infiniteKey, infiniteLimitProblem } from './infinite';

export interface RunOptions {
  onNote?: (note: string) => void;
}

export async function runExperiment(ctx: GpuContext, spec: ResolvedSpec, opts: RunOptions = {}): Promise<AnalysisResult> {
  const note = opts.onNote ?? (() => {});
  const problem = infiniteProblem(spec);
  const { keys, explicit } = requestedKeys(spec, planOf(spec).P, problem === null);
  const want = new Set(keys);
  // `infinite` is refused before any work when asked for and impossible (one line naming the
  // field or the device limit); by default it is skipped with a note, as analyze does with
  // objects beyond the device limits.
  if (want.has('infinite') && problem) throw problem;
  if (!explicit && problem && spec.model.parameterization === 'ntk') note(`infinite skipped: ${problem.message}`);
  const limit = want.has('infinite') ? infiniteLimitProblem(ctx, spec) : null;
  if (limit && explicit) throw limit;
  if (limit) {
    want.delete('infinite');
    note(`infinite skipped: ${limit.message}`);
  }
  const result: AnalysisResult = STATIC_KEYS.some((r) => want.has(r.key))
    ? await analyze(ctx, spec, { keys: explicit ? [...want] : undefined, onNote: opts.onNote })
    : {};
  if (want.has('train')) result.train = await trainTrajectory(ctx, spec);
  if (want.has('infinite')) result.infinite = await infiniteKey(ctx, spec);
  return result;
}
