/** Wrappers of shaders/ntk.wgsl (NTK assembly from Grams, output traces, centering). */
import { Uniforms, type GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import { need, run1d } from './dispatch';

function u(n: number, R: number, T: number, acc: boolean): ArrayBuffer {
  return new Uniforms().u32(n, R, T, acc ? 1 : 0).bytes();
}

/** K (+)= (PG per example pair) o SG, for a dense layer. PG: n x n, SG and K: nR x nR. */
export function hadamardAccumulate(ctx: GpuContext, pg: Tensor, sg: Tensor, K: Tensor, n: number, R: number, accumulate: boolean): void {
  const N = n * R;
  need(pg, n * n, 'hadamard PG');
  need(sg, N * N, 'hadamard SG');
  need(K, N * N, 'hadamard K');
  run1d(ctx, { shader: 'ntk', entry: 'hadamard_acc', total: N * N, inputs: [pg, sg, ctx.placeholder], outputs: [K], uniforms: u(n, R, 1, accumulate) });
}

/** K (+)= sum over position pairs of PG o SG, for a conv layer. PG: nT x nT, SG: nRT x nRT. */
export function patchGramAccumulate(ctx: GpuContext, pg: Tensor, sg: Tensor, K: Tensor, n: number, R: number, T: number, accumulate: boolean): void {
  const N = n * R;
  need(pg, n * T * n * T, 'patch gram PG');
  need(sg, N * T * N * T, 'patch gram SG');
  need(K, N * N, 'patch gram K');
  run1d(ctx, { shader: 'ntk', entry: 'patch_gram_acc', total: N * N, inputs: [pg, sg, ctx.placeholder], outputs: [K], uniforms: u(n, R, T, accumulate) });
}

/** Ktr (n x n) = trace over outputs of each (i, j) block of K (nR x nR). */
export function traceOutputs(ctx: GpuContext, K: Tensor, out: Tensor, n: number, R: number): void {
  need(K, n * R * n * R, 'trace K');
  need(out, n * n, 'trace out');
  run1d(ctx, { shader: 'ntk', entry: 'trace_outputs', total: n * n, inputs: [K, ctx.placeholder, ctx.placeholder], outputs: [out], uniforms: u(n, R, 1, false) });
}

/**
 * out = (H (x) I_R) K (H (x) I_R) with H = I_n - 11^T/n, for a symmetric K (nR x nR): centers
 * every output-pair block over examples (fixture README section 9). Temporaries are freed.
 */
export function centerKernel(ctx: GpuContext, K: Tensor, out: Tensor, n: number, R: number): void {
  const N = n * R;
  need(K, N * N, 'center K');
  need(out, N * N, 'center out');
  const rm = ctx.tensor([N * R], 'row means');
  const g = ctx.tensor([R * R], 'grand means');
  run1d(ctx, { shader: 'ntk', entry: 'center_row_means', total: N * R, inputs: [K, ctx.placeholder, ctx.placeholder], outputs: [rm], uniforms: u(n, R, 1, false) });
  run1d(ctx, { shader: 'ntk', entry: 'center_grand', total: R * R, inputs: [rm, ctx.placeholder, ctx.placeholder], outputs: [g], uniforms: u(n, R, 1, false) });
  run1d(ctx, { shader: 'ntk', entry: 'center_apply', total: N * N, inputs: [K, rm, g], outputs: [out], uniforms: u(n, R, 1, false) });
  rm.destroy();
  g.destroy();
}
