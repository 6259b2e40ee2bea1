/**
 * Spec -> result, the code path shared by the CLI and the fixture tests: the static keys at
 * theta0 (analyze.ts) and the `train` trajectories (trajectory.ts). Which keys: `spec.compute`
 * when given, else every key the fixture README defines that applies to the spec
 * (`requestedKeys` in src/experiment/keys.ts).
 */
import type { GpuContext } from '../gpu/context';
import { planOf } from '../model/layout';
import { requestedKeys } from '../experiment/keys';
import type { AnalysisResult } from '../experiment/result';
import type { ResolvedSpec } from '../experiment/types';
import { analyze } from './analyze';
import { trainTrajectory } from './trajectory';

export interface RunOptions {
  onNote?: (note: string) => void;
}

export async function runExperiment(ctx: GpuContext, spec: ResolvedSpec, opts: RunOptions = {}): Promise<AnalysisResult> {
  const { keys, explicit } = requestedKeys(spec, planOf(spec).P);
  const result = await analyze(ctx, spec, { keys: explicit ? keys : undefined, onNote: opts.onNote });
  if (keys.includes('train')) result.train = await trainTrajectory(ctx, spec);
  return result;
}
