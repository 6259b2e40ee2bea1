/**
 * The two routes of a conv layer's tangent kernel (src/geometry/kernels.ts), end to end on conv
 * models: spec -> GPU forward pass -> one batched backward pass of the unit seeds -> per-layer
 * kernels K_l by the patch-Gram sum and by J_l J_l^T, each forced, against each other and
 * against the float64 reference (src/reference: the Jacobian of the f64 model and its per-layer
 * Grams), then the full kernel of each route against the reference. The models vary the kernel
 * size (1 to the whole image), stride, padding (beyond half the kernel), channels, and what
 * follows a conv layer (conv, pooling, flatten, a dense layer directly). Last, the automatic
 * route: on a context whose storage limit rules out one route, the other is taken and is right.
 * Tolerance: the fixture README's for `ntk` and `ntk_trace_per_layer`, 1e-5 normalized max error.
 */
import { describe, expect, it } from 'vitest';
import { gpuContext, gpuContextWith } from './helpers/gpu';
import { normalizedMaxError } from './helpers/random';
import { randomSpec, CONV_NO_FLATTEN, CONV_STRIDED } from './reference-helpers';
import { planOf, type ConvPlan } from '../src/model/layout';
import { GpuModel } from '../src/nn/gpu-model';
import { identitySeeds } from '../src/ops/loss';
import { convKernelRoute, convRouteCost, layerKernel, tangentKernels, type ConvRoute } from '../src/geometry/kernels';
import { forward, jacobian } from '../src/reference/model';
import { ntkWithLayers } from '../src/reference/geometry';
import type { GpuContext } from '../src/gpu/context';
import type { ResolvedSpec } from '../src/experiment/types';

const TOL = 1e-5;
const ROUTES: ConvRoute[] = ['jacobian', 'patch-gram'];

const MODELS: [string, Parameters<typeof randomSpec>[0]][] = [
  [
    '3x3 same padding, one channel, into flatten and dense',
    {
      input: [1, 8, 8],
      layers: [
        { type: 'conv2d', filters: 4, kernel: 3, stride: 1, padding: 1, activation: 'tanh' },
        { type: 'flatten' },
        { type: 'dense', units: 3, activation: 'linear' },
      ],
      loss: 'cross_entropy',
      n: 5,
      seed: 21,
    },
  ],
  ['strided conv into conv, pooling (CONV_STRIDED)', { ...CONV_STRIDED, loss: 'mse', n: 4, seed: 22 }],
  [
    '1x1 conv, then a 4x4 kernel with stride 2 and padding 3, three input channels',
    {
      input: [3, 6, 5],
      layers: [
        { type: 'conv2d', filters: 2, kernel: 1, stride: 1, padding: 0, activation: 'sigmoid' },
        { type: 'conv2d', filters: 3, kernel: 4, stride: 2, padding: 3, activation: 'relu' },
        { type: 'flatten' },
        { type: 'dense', units: 2, activation: 'linear' },
      ],
      loss: 'mse',
      n: 6,
      seed: 23,
    },
  ],
  [
    'kernel as large as the image (one position), into a dense layer directly',
    {
      input: [2, 5, 5],
      layers: [
        { type: 'conv2d', filters: 5, kernel: 5, stride: 1, padding: 0, activation: 'tanh' },
        { type: 'dense', units: 3, activation: 'linear' },
      ],
      loss: 'cross_entropy',
      n: 4,
      seed: 24,
    },
  ],
  ['2x2 kernel into a dense layer directly (CONV_NO_FLATTEN)', { ...CONV_NO_FLATTEN, loss: 'cross_entropy', n: 7, seed: 25 }],
];

/** The GPU's per-layer kernels for each forced route and the full kernel of each route. */
async function gpuKernels(ctx: GpuContext, spec: ResolvedSpec) {
  const plan = planOf(spec);
  const { n } = spec.data;
  const c = plan.c;
  const N = n * c;
  const model = new GpuModel(ctx, plan);
  const theta = ctx.upload(spec.theta, [plan.P], 'theta');
  const x = ctx.upload(spec.data.x, [n, plan.inputSize], 'x');
  const state = model.forward(x, n, theta);
  const seeds = ctx.tensor([N, c], 'unit seeds');
  identitySeeds(ctx, seeds, n, c);
  const sig = model.backward(state, seeds, c, theta);
  const perLayer = new Map<ConvRoute, Float32Array[]>();
  const total = new Map<ConvRoute, Float32Array>();
  for (const convRoute of ROUTES) {
    const layers: Float32Array[] = [];
    for (const layer of plan.paramLayers) {
      const K = ctx.tensor([N, N], 'K_l');
      layerKernel(ctx, layer, state, sig, K, false, { convRoute });
      layers.push(await ctx.read(K));
      K.destroy();
    }
    perLayer.set(convRoute, layers);
    const all = tangentKernels(ctx, plan, state, sig, { convRoute });
    total.set(convRoute, await ctx.read(all.total));
    all.total.destroy();
  }
  model.releaseSignals(sig);
  model.releaseForward(state);
  for (const t of [theta, x, seeds]) t.destroy();
  const routes = plan.paramLayers.map((l) => (l.kind === 'conv2d' ? convKernelRoute(ctx, l as ConvPlan, n, c) : null));
  return { plan, perLayer, total, routes };
}

/** The float64 reference: per-layer Grams J_l J_l^T of the f64 Jacobian, and their sum. */
function referenceKernels(spec: ResolvedSpec) {
  const plan = planOf(spec);
  const f32 = (a: ArrayLike<number>) => Float64Array.from(Float32Array.from(a));
  const fw = forward(plan, f32(spec.theta), f32(spec.data.x), spec.data.n);
  return ntkWithLayers(jacobian(fw), plan, spec.data.n * plan.c);
}

describe('conv tangent kernels: patch-Gram and Jacobian routes against each other and the f64 reference', () => {
  for (const [name, o] of MODELS) {
    it(name, async () => {
      const ctx = await gpuContext();
      const live = ctx.liveTensors;
      const spec = randomSpec(o);
      const ref = referenceKernels(spec);
      const gpu = await gpuKernels(ctx, spec);
      const convs = gpu.plan.paramLayers.filter((l) => l.kind === 'conv2d');
      expect(convs.length).toBeGreaterThan(0);
      for (const layer of gpu.plan.paramLayers) {
        const l = layer.paramIndex;
        const want = ref.Kl[l];
        expect(want.some((v) => v !== 0), `layer ${l}: a nonzero reference kernel`).toBe(true);
        for (const route of ROUTES) {
          expect(normalizedMaxError(gpu.perLayer.get(route)![l], want), `layer ${l} (${layer.kind}), ${route} route`).toBeLessThan(TOL);
        }
        if (layer.kind === 'conv2d') {
          // The two routes sum the same products in different orders: they agree to round-off.
          expect(normalizedMaxError(gpu.perLayer.get('patch-gram')![l], gpu.perLayer.get('jacobian')![l]), `layer ${l}: routes`).toBeLessThan(TOL);
        }
      }
      for (const route of ROUTES) expect(normalizedMaxError(gpu.total.get(route)!, ref.K), `full kernel, ${route} route`).toBeLessThan(TOL);
      expect(ctx.liveTensors).toBe(live);
    });
  }
});

describe('the automatic conv route', () => {
  it('picks by operation count, and by memory when one route does not fit the storage limit', async () => {
    // 64 filters over a 3 x 5 x 5 image with a 5 x 5 kernel: one position, so the patch-Gram
    // route needs (n c)^2 floats while the layer Jacobian needs n c 64 76. With a 64 KiB storage
    // limit only the patch-Gram route fits, and the automatic choice must take it.
    const o: Parameters<typeof randomSpec>[0] = {
      input: [3, 5, 5],
      layers: [
        { type: 'conv2d', filters: 64, kernel: 5, stride: 1, padding: 0, activation: 'tanh' },
        { type: 'dense', units: 3, activation: 'linear' },
      ],
      loss: 'cross_entropy',
      n: 4,
      seed: 26,
    };
    const spec = randomSpec(o);
    const plan = planOf(spec);
    const conv = plan.paramLayers[0] as ConvPlan;
    const N = spec.data.n * plan.c;
    const cost = convRouteCost(conv, spec.data.n, plan.c);
    const small = await gpuContextWith({ limits: { maxStorageBufferBindingSize: 64 << 10 } });
    expect(cost.jacobian.memory * 4).toBeGreaterThan(64 << 10);
    expect(cost['patch-gram'].memory * 4).toBeLessThanOrEqual(64 << 10);
    expect(convKernelRoute(small, conv, spec.data.n, plan.c)).toBe('patch-gram');
    // On the default context the cheaper route by operation count.
    const ctx = await gpuContext();
    expect(convKernelRoute(ctx, conv, spec.data.n, plan.c)).toBe(cost.jacobian.flops <= cost['patch-gram'].flops ? 'jacobian' : 'patch-gram');

    // The automatic route on the small context, end to end.
    const live = small.liveTensors;
    const model = new GpuModel(small, plan);
    const theta = small.upload(spec.theta, [plan.P], 'theta');
    const x = small.upload(spec.data.x, [spec.data.n, plan.inputSize], 'x');
    const state = model.forward(x, spec.data.n, theta);
    const seeds = small.tensor([N, plan.c], 'seeds');
    identitySeeds(small, seeds, spec.data.n, plan.c);
    const sig = model.backward(state, seeds, plan.c, theta);
    const K = small.tensor([N, N], 'K_0');
    layerKernel(small, conv, state, sig, K, false);
    expect(normalizedMaxError(await small.read(K), referenceKernels(spec).Kl[0])).toBeLessThan(TOL);
    // Forcing the route that does not fit fails with the limit named.
    expect(() => layerKernel(small, conv, state, sig, K, false, { convRoute: 'jacobian' })).toThrow(/maxStorageBufferBindingSize/);
    model.releaseSignals(sig);
    model.releaseForward(state);
    for (const t of [theta, x, seeds, K]) t.destroy();
    expect(small.liveTensors).toBe(live);
  });
});
