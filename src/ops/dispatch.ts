/** Shared dispatch helper for the 1-D kernels (one invocation per output element). */
import { grid, type GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';

export interface Run1dArgs {
  shader: string;
  entry?: string;
  constants?: Record<string, number | boolean>;
  /** Number of invocations needed. */
  total: number;
  /** Workgroup size declared by the entry point. */
  perGroup?: number;
  inputs: Tensor[];
  outputs: Tensor[];
  uniforms: ArrayBuffer;
}

export function run1d(ctx: GpuContext, a: Run1dArgs): void {
  if (a.total <= 0) return;
  const groups = Math.ceil(a.total / (a.perGroup ?? 256));
  ctx.dispatch({
    kernel: { shader: a.shader, entry: a.entry, constants: a.constants },
    inputs: a.inputs,
    outputs: a.outputs,
    uniforms: a.uniforms,
    workgroups: grid(groups, ctx.limits.maxComputeWorkgroupsPerDimension),
  });
}

/** Throw if a tensor has fewer elements than a kernel will touch. */
export function need(t: Tensor, count: number, what: string): void {
  if (t.size < count) throw new Error(`${what}: tensor ${t.label || ''} has ${t.size} elements, needs ${count}`);
}
