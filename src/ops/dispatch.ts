/** Shared dispatch helper for the 1-D kernels (one invocation per output element or row). */
import { grid, type DispatchArgs, type GpuContext } from '../gpu/context';
import { kernelName, type BindingNames, type KernelDescriptor, type UniformFields } from '../gpu/kernel';
import type { Tensor } from '../gpu/tensor';

/** A 1-D dispatch: `total` invocations instead of a workgroup grid. */
export type Run1dArgs<U extends UniformFields | null, I extends BindingNames, O extends BindingNames> = Omit<DispatchArgs<U, I, O>, 'workgroups'> & {
  /** Number of invocations needed. */
  total: number;
};

/**
 * Dispatch `total` invocations of a 1-D kernel: ceil(total / workgroupSize) workgroups, split
 * into an (x, y) grid when they exceed the per-dimension limit (the kernels flatten the grid as
 * `(wg.y * nwg.x + wg.x) * size + lid.x` and return beyond `total`).
 */
export function run1d<U extends UniformFields | null, I extends BindingNames, O extends BindingNames>(
  ctx: GpuContext,
  kernel: KernelDescriptor<U, I, O>,
  a: Run1dArgs<U, I, O>,
): void {
  if (kernel.workgroupSize === null) throw new Error(`run1d: ${kernelName(kernel)} declares no 1-D workgroup size`);
  if (a.total <= 0) return;
  const groups = Math.ceil(a.total / kernel.workgroupSize);
  const workgroups = grid(groups, ctx.limits.maxComputeWorkgroupsPerDimension);
  ctx.dispatch(kernel, { inputs: a.inputs, outputs: a.outputs, uniforms: a.uniforms, constants: a.constants, workgroups } as DispatchArgs<U, I, O>);
}

/** Throw if a tensor has fewer elements than a kernel will touch. */
export function need(t: Tensor, count: number, what: string): void {
  if (t.size < count) throw new Error(`${what}: tensor ${t.label || ''} has ${t.size} elements, needs ${count}`);
}
