/**
 * Spec -> result JSON, the code path shared by the CLI and the fixture tests. Which top-level
 * keys are computed: `spec.compute` when given, else every key the fixture README defines that
 * applies to the spec (test keys need test data, `train` needs a train section, ...).
 */
import type { GpuContext } from '../gpu/context';
import type { ResolvedSpec } from '../spec/types';
import { analyze, applicableKeys } from './analyze';
import { trainTrajectory } from '../dynamics/trajectory';

export interface RunOptions {
  onNote?: (note: string) => void;
}

/** The keys a spec asks for (explicit `compute`, or all that apply). */
export function requestedKeys(spec: ResolvedSpec): string[] {
  if (spec.compute) return spec.compute;
  const keys = applicableKeys(spec);
  if (spec.train) keys.push('train');
  return keys;
}

export async function runExperiment(ctx: GpuContext, spec: ResolvedSpec, opts: RunOptions = {}): Promise<Record<string, unknown>> {
  const keys = new Set(requestedKeys(spec));
  // The Trainer does not apply src/curvature/optimizer.ts (NaturalGradient) yet: refuse rather
  // than silently train kfac / ekfac specs with plain gradient descent. Remove once it does.
  if (keys.has('train') && (spec.train?.optimizer === 'kfac' || spec.train?.optimizer === 'ekfac')) {
    throw new Error(`train.optimizer "${spec.train.optimizer}": the training engine does not apply the natural-gradient preconditioner yet (src/curvature/optimizer.ts); use "gd" or "sgd", or the optimizer race (scripts/optimizer-race.mjs)`);
  }
  const result = await analyze(ctx, spec, { keys, onNote: opts.onNote });
  if (keys.has('train')) result.train = await trainTrajectory(ctx, spec);
  return result;
}
