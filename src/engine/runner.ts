/**
 * Spec -> result JSON, the code path shared by the CLI and the fixture tests. Which top-level
 * keys are computed: `spec.compute` when given, else every key the fixture README defines that
 * applies to the spec (test keys need test data, `train` needs a train section, ...).
 */
import type { GpuContext } from '../gpu/context';
import type { ResolvedSpec } from '../spec/types';
import { analyze, applicableKeys } from './analyze';

export interface RunOptions {
  onNote?: (note: string) => void;
}

/** The keys a spec asks for (explicit `compute`, or all that apply). */
export function requestedKeys(spec: ResolvedSpec): string[] {
  if (spec.compute) return spec.compute;
  return applicableKeys(spec);
}

export async function runExperiment(ctx: GpuContext, spec: ResolvedSpec, opts: RunOptions = {}): Promise<Record<string, unknown>> {
  const keys = new Set(requestedKeys(spec));
  return analyze(ctx, spec, { keys, onNote: opts.onNote });
}
