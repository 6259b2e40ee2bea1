/** Wrappers of shaders/loss.wgsl. */
import { Uniforms, type GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import type { LossKind } from '../experiment/types';
import { need, run1d } from './dispatch';

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
  run1d(ctx, {
    shader: 'loss',
    entry: loss === 'mse' ? 'mse' : 'softmax_ce',
    perGroup: 64,
    total: n,
    inputs: [f, targets],
    outputs: [perExample, grad],
    uniforms: new Uniforms().u32(n, c, 0, 0).f32(scale).bytes(),
  });
}

/** Seeds (n*c x c) of unit output vectors: row i*c+k is e_k. */
export function identitySeeds(ctx: GpuContext, out: Tensor, n: number, c: number): void {
  need(out, n * c * c, 'identity seeds');
  run1d(ctx, {
    shader: 'loss',
    entry: 'identity_seeds',
    perGroup: 64,
    total: n * c * c,
    inputs: [ctx.placeholder, ctx.placeholder],
    outputs: [ctx.placeholderOut, out],
    uniforms: new Uniforms().u32(n, c, 0, 0).f32(0).bytes(),
  });
}

/** Seeds (n*c x c): row i*c+r is column r of L_i, an exact square root of diag(p_i) - p_i p_i^T. */
export function crossEntropyMetricSeeds(ctx: GpuContext, f: Tensor, out: Tensor, n: number, c: number): void {
  need(f, n * c, 'metric seeds logits');
  need(out, n * c * c, 'metric seeds');
  run1d(ctx, {
    shader: 'loss',
    entry: 'ce_metric_seeds',
    perGroup: 64,
    total: n,
    inputs: [f, ctx.placeholder],
    outputs: [ctx.placeholderOut, out],
    uniforms: new Uniforms().u32(n, c, 0, 0).f32(0).bytes(),
  });
}
