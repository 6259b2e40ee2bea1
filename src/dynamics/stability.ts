/**
 * The stability bound of full-batch GD on the GPU: `2n / lambda_max(L^T K L)` (src/math/training.ts
 * defines it), with the kernel whitened on the GPU by one batched backward pass of the metric's
 * square roots `L_i` (unit seeds for mse), taken at the model's outputs `h` at theta0: `f(theta0)`
 * when alpha is exactly 1, else 0 (README section 8's alpha rule).
 */
import type { GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import type { GpuModel, ForwardState } from '../nn/gpu-model';
import { crossEntropyMetricSeeds, identitySeeds } from '../ops/loss';
import { tangentKernels } from '../geometry/kernels';
import { stableLrOf, topEigenvalue } from '../math/training';
import type { LossKind } from '../experiment/types';

/** 2n / lambda_max of the metric-weighted kernel at the forward state at theta0. */
export async function stableLearningRate(ctx: GpuContext, model: GpuModel, state: ForwardState, theta: Tensor, loss: LossKind, alpha: number): Promise<number> {
  const n = state.n;
  const c = model.plan.c;
  const seeds = ctx.tensor([n * c, c], 'seeds');
  if (loss === 'mse') identitySeeds(ctx, seeds, n, c);
  else {
    const h0 = alpha === 1 ? state.output : ctx.tensor([n, c], 'h0 = 0');
    crossEntropyMetricSeeds(ctx, h0, seeds, n, c);
    if (h0 !== state.output) h0.destroy();
  }
  const signals = model.backward(state, seeds, c, theta);
  seeds.destroy();
  const { total } = tangentKernels(ctx, model.plan, state, signals);
  model.releaseSignals(signals);
  const K = await ctx.read(total);
  total.destroy();
  return stableLrOf(topEigenvalue(K, n * c), n);
}
