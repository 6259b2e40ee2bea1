/**
 * KFAC on the GPU (fixture README section 5; Martens & Grosse 2015, Grosse & Martens 2016 for
 * conv layers), from the two signal sets every other geometric quantity uses:
 *
 *   A = (1/n)     sum_i sum_t  a~_{i,t} a~_{i,t}^T   = P^T P / n           (m x m)
 *   G = (1/(n T)) sum_i sum_t  S_{i,t}^T M_i S_{i,t} = Gamma^T Gamma / (nT) (out x out)
 *
 * P are the forward state's augmented inputs / patches ((nT) x m) and Gamma the backward signals
 * of the metric square roots (`gammaSignals`: rows i*c + r hold L_i^T S_i, so their Gram carries
 * M_i = L_i L_i^T). Both factors are one matmul each; conv signals are first permuted to
 * (out, nR, T). The KFAC block is G (x) A in the layer's o*m + a order; it is never formed except
 * on request (`kronProduct`).
 *
 * Natural-gradient steps use the factors' eigendecompositions (eigen.ts): with
 * G = U_G diag(g) U_G^T and A = U_A diag(a) U_A^T, any function of the Kronecker matrix acts on a
 * layer's gradient V (out x m, the [W | b] slice) as U_G [(U_G^T V U_A) o D] U_A^T, D = f(g a^T).
 * KFAC's pi-damped inverse is D = 1 / ((g + sqrt(lambda)/pi)(a + pi sqrt(lambda)))
 * (pi = sqrt((tr A / m) / (tr G / out))), EKFAC's is D = 1 / (s + lambda) (ekfac.ts).
 */
import type { GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import type { GpuModel, ForwardState, Signals } from '../nn/gpu-model';
import type { ParamLayerPlan } from '../model/layout';
import type { LossKind } from '../experiment/types';
import { matmul } from '../ops/matmul';
import { swapAxes } from '../ops/patches';
import { mulInPlace } from '../ops/elementwise';
import { crossEntropyMetricSeeds, identitySeeds } from '../ops/loss';

/**
 * Backward signals Gamma of the output metric's square roots, R = c rows per example: unit
 * vectors for mse (M = I), the columns of L_i = diag(sqrt p) - p sqrt(p)^T for cross_entropy,
 * with p = softmax(`logits`) (default: the state's outputs). Release with model.releaseSignals.
 */
export function gammaSignals(ctx: GpuContext, model: GpuModel, state: ForwardState, theta: Tensor, loss: LossKind, logits: Tensor = state.output): Signals {
  const { n } = state;
  const c = model.plan.c;
  const seeds = ctx.tensor([n * c, c], 'metric seeds');
  if (loss === 'mse') identitySeeds(ctx, seeds, n, c);
  else crossEntropyMetricSeeds(ctx, logits, seeds, n, c);
  const sig = model.backward(state, seeds, c, theta);
  seeds.destroy();
  return sig;
}

export interface LayerFactors {
  layer: ParamLayerPlan;
  /** m x m. */
  A: Tensor;
  /** out x out. */
  G: Tensor;
}

/**
 * Write A and G of one layer (README section 5). With `beta` the new factors are blended into
 * the existing ones: X <- beta X + (1 - beta) X_new (a running average).
 */
export function layerFactors(ctx: GpuContext, layer: ParamLayerPlan, state: ForwardState, gamma: Signals, A: Tensor, G: Tensor, beta = 0): void {
  const { n, R } = gamma;
  const m = layer.fanIn + 1;
  const T = layer.positions;
  const w = 1 - beta;
  const acc = beta !== 0 ? beta : undefined;
  const P = state.patches[layer.paramIndex];
  const S = gamma.perLayer[layer.paramIndex];
  matmul(ctx, { a: P, b: P, c: A, M: m, N: m, K: n * T, transA: true, alpha: w / n, beta: acc });
  if (T === 1) {
    matmul(ctx, { a: S, b: S, c: G, M: layer.out, N: layer.out, K: n * R, transA: true, alpha: w / n, beta: acc });
    return;
  }
  // (nR, out, T) -> (out, nR, T): G is then one Gram over nR*T columns.
  const St = ctx.tensor([layer.out, n * R * T], 'signals by channel');
  swapAxes(ctx, S, St, n * R, layer.out, T);
  matmul(ctx, { a: St, b: St, c: G, M: layer.out, N: layer.out, K: n * R * T, transB: true, alpha: w / (n * T), beta: acc });
  St.destroy();
}

/** A and G of every parametrized layer (new tensors; release with `releaseFactors`). */
export function kfacFactors(ctx: GpuContext, layers: readonly ParamLayerPlan[], state: ForwardState, gamma: Signals): LayerFactors[] {
  return layers.map((layer) => {
    const m = layer.fanIn + 1;
    const A = ctx.tensor([m, m], `A ${layer.paramIndex}`);
    const G = ctx.tensor([layer.out, layer.out], `G ${layer.paramIndex}`);
    layerFactors(ctx, layer, state, gamma, A, G);
    return { layer, A, G };
  });
}

export function releaseFactors(f: LayerFactors[]): void {
  for (const x of f) {
    x.A.destroy();
    x.G.destroy();
  }
}

/** diag(G) diag(A)^T (out x m): the diagonal of G (x) A in the o*m + a order, one rank-1 matmul. */
export function kfacBlockDiag(ctx: GpuContext, A: Tensor, m: number, G: Tensor, out: number, dst: Tensor, dstOffset = 0): void {
  // A column of G's diagonal (row stride out + 1) times a row of A's diagonal (stride m + 1).
  matmul(ctx, { a: { t: G, ld: out + 1 }, b: { t: A, ld: m + 1 }, c: { t: dst, offset: dstOffset }, M: out, N: m, K: 1, transB: true });
}

/** Scratch of `kroneckerApply`: two out x m matrices. */
export interface ApplyScratch {
  t1: Tensor;
  t2: Tensor;
}

export function applyScratch(ctx: GpuContext, layer: ParamLayerPlan): ApplyScratch {
  const m = layer.fanIn + 1;
  return { t1: ctx.tensor([layer.out, m], 'kron apply 1'), t2: ctx.tensor([layer.out, m], 'kron apply 2') };
}

export function releaseScratch(s: ApplyScratch): void {
  s.t1.destroy();
  s.t2.destroy();
}

/**
 * dst_l = U_G [(U_G^T V_l U_A) o D] U_A^T for the layer's slice V_l of `v` (out x m at the
 * layer's offset), written at the same offset of `dst`. `v` and `dst` may not be the same tensor.
 */
export function kroneckerEigenApply(
  ctx: GpuContext,
  layer: ParamLayerPlan,
  UG: Tensor,
  UA: Tensor,
  D: Tensor,
  v: Tensor,
  dst: Tensor,
  s: ApplyScratch,
  vOffset = layer.offset,
  dstOffset = layer.offset,
): void {
  const out = layer.out;
  const m = layer.fanIn + 1;
  matmul(ctx, { a: UG, b: { t: v, offset: vOffset, ld: m }, c: s.t1, M: out, N: m, K: out, transA: true });
  matmul(ctx, { a: s.t1, b: UA, c: s.t2, M: out, N: m, K: m });
  mulInPlace(ctx, D, s.t2, out * m);
  matmul(ctx, { a: UG, b: s.t2, c: s.t1, M: out, N: m, K: out });
  matmul(ctx, { a: s.t1, b: UA, c: { t: dst, offset: dstOffset, ld: m }, M: out, N: m, K: m, transB: true });
}

/** dst_l = G V_l A: the KFAC block (G (x) A) times the layer's slice of `v`. */
export function kroneckerApply(ctx: GpuContext, layer: ParamLayerPlan, G: Tensor, A: Tensor, v: Tensor, dst: Tensor, s: ApplyScratch): void {
  const out = layer.out;
  const m = layer.fanIn + 1;
  matmul(ctx, { a: G, b: { t: v, offset: layer.offset, ld: m }, c: s.t1, M: out, N: m, K: out });
  matmul(ctx, { a: s.t1, b: A, c: { t: dst, offset: layer.offset, ld: m }, M: out, N: m, K: m });
}

