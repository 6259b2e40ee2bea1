/**
 * The largest stable learning rate of full-batch GD near theta0: lr < 2n / lambda_max, where
 * lambda_max is the top eigenvalue of the metric-weighted tangent kernel L^T K L (K itself for
 * mse, where the metric is the identity). In function space one GD step on L(h)/alpha^2 is
 * h <- h - (lr/n) K M (h - ...) to first order, whatever alpha is, so the bound is
 * alpha-independent (Neural Tangents' `max_learning_rate` for our loss normalization).
 */
import type { GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import type { GpuModel, ForwardState } from '../nn/gpu-model';
import { crossEntropyMetricSeeds, identitySeeds } from '../ops/loss';
import { tangentKernels } from '../geometry/kernels';
import type { ResolvedSpec } from '../experiment/types';

/** Largest eigenvalue of a symmetric PSD matrix by power iteration (f64, from a host copy). */
export function topEigenvalue(K: ArrayLike<number>, N: number, iterations = 200): number {
  let v = new Float64Array(N).fill(1 / Math.sqrt(N));
  let lambda = 0;
  for (let it = 0; it < iterations; it++) {
    const w = new Float64Array(N);
    for (let i = 0; i < N; i++) {
      let s = 0;
      for (let j = 0; j < N; j++) s += K[i * N + j] * v[j];
      w[i] = s;
    }
    let nrm = 0;
    for (let i = 0; i < N; i++) nrm += w[i] * w[i];
    nrm = Math.sqrt(nrm);
    if (nrm === 0) return 0;
    const next = nrm;
    for (let i = 0; i < N; i++) w[i] /= nrm;
    v = w;
    if (Math.abs(next - lambda) <= 1e-10 * next) return next;
    lambda = next;
  }
  return lambda;
}

/** 2n / lambda_max of the metric-weighted kernel at the given forward state. */
export async function stableLearningRate(ctx: GpuContext, model: GpuModel, state: ForwardState, theta: Tensor, spec: ResolvedSpec): Promise<number> {
  const n = state.n;
  const c = model.plan.c;
  const seeds = ctx.tensor([n * c, c], 'seeds');
  if (spec.loss === 'mse') identitySeeds(ctx, seeds, n, c);
  else crossEntropyMetricSeeds(ctx, state.output, seeds, n, c);
  const signals = model.backward(state, seeds, c, theta);
  seeds.destroy();
  const { total } = tangentKernels(ctx, model.plan, state, signals);
  model.releaseSignals(signals);
  const K = await ctx.read(total);
  total.destroy();
  const lmax = topEigenvalue(K, n * c);
  return lmax > 0 ? (2 * n) / lmax : Infinity;
}
