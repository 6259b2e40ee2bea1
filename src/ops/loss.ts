/** Wrappers of shaders/loss.wgsl. */
import type { GpuContext } from '../gpu/context';
import { kernel } from '../gpu/kernel';
import type { Tensor } from '../gpu/tensor';
import type { LossKind } from '../experiment/types';
import { need, run1d } from './dispatch';

/** Every entry of shaders/loss.wgsl: outputs f and targets t (read), out1 and out2 (read_write). */
const loss = (entry: string) =>
  kernel({ shader: 'loss', entry, inputs: ['f', 't'], outputs: ['out1', 'out2'], uniforms: { n: 'u32', c: 'u32', scale: 'f32' }, workgroupSize: 64 });

export const MSE = loss('mse');
export const SOFTMAX_CE = loss('softmax_ce');
export const IDENTITY_SEEDS = loss('identity_seeds');
export const CE_METRIC_SEEDS = loss('ce_metric_seeds');

/**
 * Per-example losses (n) and the scaled output gradient (n x c) = scale * dl_i/df_i.
 * `targets`: n x c floats for mse, n labels (as floats) for cross_entropy.
 */
export function lossAndGrad(
  ctx: GpuContext,
  loss: LossKind,
  f: Tensor,
  targets: Tensor,
  perExample: Tensor,
  grad: Tensor,
  n: number,
  c: number,
  scale: number,
): void {
  need(f, n * c, 'loss outputs');
  need(targets, loss === 'mse' ? n * c : n, 'loss targets');
  need(perExample, n, 'per-example loss');
  need(grad, n * c, 'loss gradient');
  run1d(ctx, loss === 'mse' ? MSE : SOFTMAX_CE, { total: n, inputs: [f, targets], outputs: [perExample, grad], uniforms: { n, c, scale } });
}

/** Seeds (n*c x c) of unit output vectors: row i*c+k is e_k. */
export function identitySeeds(ctx: GpuContext, out: Tensor, n: number, c: number): void {
  need(out, n * c * c, 'identity seeds');
  run1d(ctx, IDENTITY_SEEDS, {
    total: n * c * c,
    inputs: [ctx.placeholder, ctx.placeholder],
    outputs: [ctx.placeholderOut, out],
    uniforms: { n, c, scale: 0 },
  });
}

/** Seeds (n*c x c): row i*c+r is column r of L_i, an exact square root of diag(p_i) - p_i p_i^T. */
export function crossEntropyMetricSeeds(ctx: GpuContext, f: Tensor, out: Tensor, n: number, c: number): void {
  need(f, n * c, 'metric seeds logits');
  need(out, n * c * c, 'metric seeds');
  run1d(ctx, CE_METRIC_SEEDS, { total: n, inputs: [f, ctx.placeholder], outputs: [ctx.placeholderOut, out], uniforms: { n, c, scale: 0 } });
}
