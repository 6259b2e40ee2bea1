/**
 * The kernels of the centered Jacobian on the GPU (`centeredTangentKernels`, src/geometry/kernels.ts)
 * against their float64 twin `centerNtk` of the f64 kernel (src/reference/geometry.ts), by both
 * routes (centered layer Jacobian, and H K H when a layer is beyond the budgets), on MLPs and CNNs
 * whose layer inputs have a large common part (the case centering K in float32 gets wrong).
 */
import { describe, expect, it } from 'vitest';
import { gpuContext } from './helpers/gpu';
import { CONV_NO_FLATTEN, CONV_STRIDED, MLP_SIGMOID, normErr, randomSpec } from './reference-helpers';
import { planOf } from '../src/model/layout';
import { GpuModel } from '../src/nn/gpu-model';
import { identitySeeds } from '../src/ops/loss';
import { centeredTangentKernels } from '../src/geometry/kernels';
import { forward, jacobianSignals } from '../src/reference/model';
import { centerNtk, ntkFromSignals } from '../src/reference/geometry';

/** Models, with the accuracy of the H K H fallback on each (it degrades with the common part). */
const MODELS = [
  ['sigmoid MLP with small weights (inputs with a large common part), c = 2', { ...MLP_SIGMOID, n: 9, gain: 0.3 }, 1e-2],
  ['strided CNN with pooling, c = 3', { ...CONV_STRIDED, n: 5 }, 1e-4],
  ['sigmoid conv into dense, c = 2', { ...CONV_NO_FLATTEN, n: 7 }, 1e-4],
] as const;

/** Normalized max errors of the total and per-layer centered kernels of one route. */
async function routeErrors(spec: ReturnType<typeof randomSpec>, opts: { maxWork?: number }): Promise<number[]> {
  const ctx = await gpuContext();
  const plan = planOf(spec);
  const { n } = spec.data;
  const c = plan.c;
  const N = n * c;
  const fw = forward(plan, spec.theta, spec.data.x, n);
  const ref = ntkFromSignals(fw, jacobianSignals(fw));
  const model = new GpuModel(ctx, plan);
  const theta = ctx.upload(spec.theta, [plan.P], 'theta');
  const x = ctx.upload(spec.data.x, [n, plan.inputSize], 'x');
  const state = model.forward(x, n, theta);
  const seeds = ctx.tensor([N, c], 'seeds');
  identitySeeds(ctx, seeds, n, c);
  const signals = model.backward(state, seeds, c, theta);
  const k = centeredTangentKernels(ctx, plan, state, signals, opts);
  const errors = [normErr(await ctx.read(k.total), centerNtk(ref.K, n, c))];
  for (const [l, Kl] of k.perLayer.entries()) errors.push(normErr(await ctx.read(Kl), centerNtk(ref.Kl[l], n, c)));
  for (const t of [k.total, ...k.perLayer, theta, x, seeds]) t.destroy();
  model.releaseSignals(signals);
  model.releaseForward(state);
  return errors;
}

describe('centered tangent kernels', () => {
  for (const [name, o, fallbackTol] of MODELS) {
    it(name, async () => {
      const ctx = await gpuContext();
      const live = ctx.liveTensors;
      const spec = randomSpec({ ...o, loss: 'mse', seed: 5 });
      const exact = await routeErrors(spec, {});
      const fallback = await routeErrors(spec, { maxWork: 0 });
      // The centered Jacobian keeps float32 accuracy; H K H is within its documented range.
      for (const e of exact) expect(e).toBeLessThan(5e-5);
      for (const e of fallback) expect(e).toBeLessThan(fallbackTol);
      expect(ctx.liveTensors).toBe(live);
    });
  }

  it('where the inputs share a large common part, centering the Jacobian beats centering the kernel by orders of magnitude', async () => {
    const spec = randomSpec({ ...MLP_SIGMOID, n: 9, gain: 0.3, loss: 'mse', seed: 5 });
    const exact = await routeErrors(spec, {});
    const fallback = await routeErrors(spec, { maxWork: 0 });
    // Measured: 2e-5 (the float32 forward pass's own rounding of the sigmoid units) vs 2.4e-3.
    expect(Math.max(...fallback) / Math.max(...exact)).toBeGreaterThan(30);
  });
});
