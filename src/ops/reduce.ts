/**
 * Wrappers of shaders/reduce.wgsl. The GPU reduces blocks of 1024 elements pairwise; the block
 * partials are summed in float64 here, so large norms keep their accuracy (fixture README:
 * "accumulate such norms in float64").
 */
import type { GpuContext } from '../gpu/context';
import { kernel } from '../gpu/kernel';
import type { Tensor } from '../gpu/tensor';
import { need, run1d } from './dispatch';

export const REDUCE = kernel({
  shader: 'reduce',
  inputs: ['x', 'y'],
  outputs: ['partial'],
  uniforms: { n: 'u32', offX: 'u32', offY: 'u32', strideX: 'u32' },
  constants: ['MODE'],
  workgroupSize: 256,
});

type Mode = 0 | 1 | 2 | 3 | 4;

/** Record the reduction; returns the partials tensor (caller destroys it after reading). */
export function reducePartials(ctx: GpuContext, mode: Mode, x: Tensor, y: Tensor | null, n: number, offX = 0, offY = 0, strideX = 1): Tensor {
  need(x, offX + (n - 1) * strideX + 1, 'reduce');
  if (y) need(y, offY + n, 'reduce');
  const blocks = Math.max(1, Math.ceil(n / 1024));
  const partial = ctx.tensor([blocks], 'reduce partials');
  // One workgroup of 256 invocations per block of 1024 elements.
  run1d(ctx, REDUCE, {
    constants: { MODE: mode },
    total: blocks * 256,
    inputs: [x, y ?? ctx.placeholder],
    outputs: [partial],
    uniforms: { n, offX, offY, strideX },
  });
  return partial;
}

async function finish(ctx: GpuContext, partial: Tensor): Promise<number> {
  const p = await ctx.read(partial);
  partial.destroy();
  let s = 0;
  for (let i = 0; i < p.length; i++) s += p[i];
  return s;
}

export async function sum(ctx: GpuContext, x: Tensor, n = x.size, off = 0): Promise<number> {
  return finish(ctx, reducePartials(ctx, 0, x, null, n, off));
}

export async function sumOfSquares(ctx: GpuContext, x: Tensor, n = x.size, off = 0): Promise<number> {
  return finish(ctx, reducePartials(ctx, 1, x, null, n, off));
}

export async function dot(ctx: GpuContext, x: Tensor, y: Tensor, n = x.size, offX = 0, offY = 0): Promise<number> {
  return finish(ctx, reducePartials(ctx, 2, x, y, n, offX, offY));
}

/** Number of positions where [x > 0] == [y > 0]. */
export async function signAgreement(ctx: GpuContext, x: Tensor, y: Tensor, n = x.size): Promise<number> {
  return finish(ctx, reducePartials(ctx, 3, x, y, n));
}

/** Number of non-finite (NaN or infinite) entries. */
export async function countNonFinite(ctx: GpuContext, x: Tensor, n = x.size): Promise<number> {
  return finish(ctx, reducePartials(ctx, 4, x, null, n));
}

/** Trace of an N x N matrix. */
export async function trace(ctx: GpuContext, A: Tensor, N: number): Promise<number> {
  return finish(ctx, reducePartials(ctx, 0, A, null, N, 0, 0, N + 1));
}

/** Frobenius / Euclidean norm. */
export async function norm(ctx: GpuContext, x: Tensor, n = x.size, off = 0): Promise<number> {
  return Math.sqrt(await sumOfSquares(ctx, x, n, off));
}
