/**
 * The runner's `infinite` key on the GPU (fixture README section 13): the analytic NNGP / NTK by
 * the WGSL kernels (src/geometry/infinite-kernels.ts), then the function-space training of the
 * infinite-width predictor in float64 with the batches of the actual / linearized models.
 */
import { LimitError, type GpuContext } from '../gpu/context';
import type { ResolvedSpec } from '../experiment/types';
import type { InfiniteResult } from '../experiment/result';
import { infinitePlan, infiniteProblem } from '../model/infinite-plan';
import { infiniteChunk, infiniteKernels, type InfiniteKernelOptions } from '../geometry/infinite-kernels';
import { infiniteResult } from '../reference/infinite-result';

export { infiniteProblem };

/**
 * The device limit the `infinite` key of a spec would exceed, or null: the map of one example
 * pair, the stacked inputs and the per-layer variances must each fit one storage binding.
 */
export function infiniteLimitProblem(ctx: GpuContext, spec: ResolvedSpec): LimitError | null {
  const plan = infinitePlan(spec.model);
  const limit = ctx.limits.maxStorageBufferBindingSize;
  const N = spec.data.n + spec.data.nTest;
  try {
    infiniteChunk(ctx, plan);
    for (const [floats, what] of [
      [N * plan.inputSize, `the infinite-width kernel's inputs (${N} x ${plan.inputSize})`],
      [N * plan.maxPositions, `the infinite-width kernel's variances (${N} examples x ${plan.maxPositions} positions)`],
    ] as const) {
      if (floats * 4 > limit) throw new LimitError('maxStorageBufferBindingSize', floats * 4, limit, what);
    }
  } catch (e) {
    if (e instanceof LimitError) return e;
    throw e;
  }
  return null;
}

export async function infiniteKey(ctx: GpuContext, spec: ResolvedSpec, opts: InfiniteKernelOptions = {}): Promise<InfiniteResult> {
  const problem = infiniteProblem(spec);
  if (problem) throw problem;
  const plan = infinitePlan(spec.model);
  const extras = spec.data.nTest > 0 ? [{ x: spec.data.xTest, n: spec.data.nTest }] : [];
  const kernels = await infiniteKernels(ctx, plan, { x: spec.data.x, n: spec.data.n }, extras, opts);
  return infiniteResult(spec, kernels);
}
