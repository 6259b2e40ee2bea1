/**
 * Spec -> result JSON, the code path shared by the CLI and the fixture tests. Which top-level
 * keys are computed: `spec.compute` when given, else every key the fixture README defines that
 * applies to the spec (test keys need test data, `train` needs a train section, ...).
 */
import type { GpuContext } from '../gpu/context';
import type { ResolvedSpec } from '../spec/types';
import { analyze, applicableKeys, STATIC_KEYS } from './analyze';
import { trainTrajectory } from '../dynamics/trajectory';
import { infiniteKey, infiniteLimitProblem, infiniteProblem } from './infinite';

export interface RunOptions {
  onNote?: (note: string) => void;
}

/**
 * The keys a spec asks for (explicit `compute`, or all that apply). `infinite` applies to
 * NTK-parameterized specs with an infinite-width limit (src/model/infinite-plan.ts).
 */
export function requestedKeys(spec: ResolvedSpec): string[] {
  if (spec.compute) return spec.compute;
  const keys = applicableKeys(spec);
  if (spec.train) keys.push('train');
  if (!infiniteProblem(spec)) keys.push('infinite');
  return keys;
}

export async function runExperiment(ctx: GpuContext, spec: ResolvedSpec, opts: RunOptions = {}): Promise<Record<string, unknown>> {
  const keys = new Set(requestedKeys(spec));
  // Refuse `infinite` before any work (one line naming the field or the device limit); by
  // default, skip it with a note instead, as analyze does with objects beyond the device limits.
  const problem = infiniteProblem(spec);
  if (keys.has('infinite') && problem) throw problem;
  if (!spec.compute && problem && spec.model.parameterization === 'ntk') opts.onNote?.(`infinite skipped: ${problem.message}`);
  const limit = keys.has('infinite') ? infiniteLimitProblem(ctx, spec) : null;
  if (limit && spec.compute) throw limit;
  if (limit) {
    keys.delete('infinite');
    opts.onNote?.(`infinite skipped: ${limit.message}`);
  }
  const staticKeys = STATIC_KEYS.some((k) => keys.has(k));
  const result = staticKeys ? await analyze(ctx, spec, { keys, onNote: opts.onNote }) : {};
  if (keys.has('train')) result.train = await trainTrajectory(ctx, spec);
  if (keys.has('infinite')) result.infinite = await infiniteKey(ctx, spec);
  return result;
}
