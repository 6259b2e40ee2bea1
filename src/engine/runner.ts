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
  const result = await analyze(ctx, spec, { keys, onNote: opts.onNote });
  if (keys.has('train')) result.train = await trainTrajectory(ctx, spec, opts.onNote);
  return result;
}
