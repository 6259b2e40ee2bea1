/** Wrappers of shaders/ntk.wgsl (NTK assembly from Grams, output traces, centering). */
import type { GpuContext } from '../gpu/context';
import { kernel } from '../gpu/kernel';
import type { Tensor } from '../gpu/tensor';
import { need, run1d } from './dispatch';

/** Every entry of shaders/ntk.wgsl: in0, in1, in2 (read), out (read_write). */
const ntk = (entry: string) =>
  kernel({ shader: 'ntk', entry, inputs: ['in0', 'in1', 'in2'], outputs: ['out'], uniforms: { n: 'u32', R: 'u32', T: 'u32', acc: 'u32' }, workgroupSize: 256 });

export const HADAMARD_ACC = ntk('hadamard_acc');
export const PATCH_GRAM_ACC = ntk('patch_gram_acc');
export const TRACE_OUTPUTS = ntk('trace_outputs');
export const CENTER_ROW_MEANS = ntk('center_row_means');
export const CENTER_GRAND = ntk('center_grand');
export const CENTER_APPLY = ntk('center_apply');

const u = (n: number, R: number, T: number, acc: boolean) => ({ n, R, T, acc: acc ? 1 : 0 });

/** K (+)= (PG per example pair) o SG, for a dense layer. PG: n x n, SG and K: nR x nR. */
export function hadamardAccumulate(ctx: GpuContext, pg: Tensor, sg: Tensor, K: Tensor, n: number, R: number, accumulate: boolean): void {
  const N = n * R;
  need(pg, n * n, 'hadamard PG');
  need(sg, N * N, 'hadamard SG');
  need(K, N * N, 'hadamard K');
  run1d(ctx, HADAMARD_ACC, { total: N * N, inputs: [pg, sg, ctx.placeholder], outputs: [K], uniforms: u(n, R, 1, accumulate) });
}

/** K (+)= sum over position pairs of PG o SG, for a conv layer. PG: nT x nT, SG: nRT x nRT. */
export function patchGramAccumulate(ctx: GpuContext, pg: Tensor, sg: Tensor, K: Tensor, n: number, R: number, T: number, accumulate: boolean): void {
  const N = n * R;
  need(pg, n * T * n * T, 'patch gram PG');
  need(sg, N * T * N * T, 'patch gram SG');
  need(K, N * N, 'patch gram K');
  run1d(ctx, PATCH_GRAM_ACC, { total: N * N, inputs: [pg, sg, ctx.placeholder], outputs: [K], uniforms: u(n, R, T, accumulate) });
}

/** Ktr (n x n) = trace over outputs of each (i, j) block of K (nR x nR). */
export function traceOutputs(ctx: GpuContext, K: Tensor, out: Tensor, n: number, R: number): void {
  need(K, n * R * n * R, 'trace K');
  need(out, n * n, 'trace out');
  run1d(ctx, TRACE_OUTPUTS, { total: n * n, inputs: [K, ctx.placeholder, ctx.placeholder], outputs: [out], uniforms: u(n, R, 1, false) });
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
  run1d(ctx, CENTER_ROW_MEANS, { total: N * R, inputs: [K, ctx.placeholder, ctx.placeholder], outputs: [rm], uniforms: u(n, R, 1, false) });
  run1d(ctx, CENTER_GRAND, { total: R * R, inputs: [rm, ctx.placeholder, ctx.placeholder], outputs: [g], uniforms: u(n, R, 1, false) });
  run1d(ctx, CENTER_APPLY, { total: N * N, inputs: [K, rm, g], outputs: [out], uniforms: u(n, R, 1, false) });
  rm.destroy();
  g.destroy();
}
