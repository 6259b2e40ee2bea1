/**
 * The runner's static analysis at theta0, on the GPU: outputs, losses, gradient, per-example
 * Jacobian, NTK (full, traced, per layer), alignments, spectra and the Fisher/GGN, in exactly the
 * fixture `expected` format (keys, nesting, shapes).
 *
 * One forward pass and one batched backward pass of the n*c unit output vectors feed the
 * Jacobian and every kernel; for cross_entropy a second batched pass of the metric square roots
 * L_i feeds the Fisher (for mse the metric is the identity, so the Jacobian signals serve).
 */
import type { GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import { GpuModel, type ForwardState, type Signals } from '../nn/gpu-model';
import type { ModelPlan } from '../nn/layout';
import { crossEntropyMetricSeeds, identitySeeds, lossAndGrad } from '../ops/loss';
import { matmul } from '../ops/matmul';
import { traceOutputs } from '../ops/ntk';
import { sumOfSquares, trace } from '../ops/reduce';
import { fullJacobian, tangentKernels, type KernelOptions } from '../geometry/kernels';
import { kernelAlignments, releaseTargets, uploadTargets } from '../geometry/alignment';
import { spectrumStats } from '../geometry/spectrum';
import { eigvalsSym } from '../reference/linalg';
import { nest } from '../reference/nested';
import { planOf, RESULT_KEYS } from '../spec/validate';
import { kfacKey } from '../curvature/results';
import type { ResolvedSpec } from '../spec/types';

export interface AnalyzeOptions extends KernelOptions {
  /** Keys to compute; default: all that apply (see `defaultKeys`). */
  keys?: ReadonlySet<string>;
  /** Receives one line per skipped or adjusted key. */
  onNote?: (note: string) => void;
}

/** Keys computed at theta0 by this module (not `train`, nor `infinite`: src/engine/infinite.ts). */
export const STATIC_KEYS = RESULT_KEYS.filter((k) => k !== 'train' && k !== 'infinite');

/** Inputs and targets of one data split, on the GPU. */
export interface DeviceSplit {
  n: number;
  x: Tensor;
  /** mse: n x c targets; cross_entropy: n labels (as f32). */
  targets: Tensor;
}

export function uploadSplit(ctx: GpuContext, spec: ResolvedSpec, plan: ModelPlan, which: 'train' | 'test'): DeviceSplit | null {
  const d = spec.data;
  const n = which === 'train' ? d.n : d.nTest;
  if (n === 0) return null;
  const x = ctx.upload(which === 'train' ? d.x : d.xTest, [n, plan.inputSize], `x ${which}`);
  const targets =
    spec.loss === 'mse'
      ? ctx.upload(which === 'train' ? d.y : d.yTest, [n, plan.c], `y ${which}`)
      : ctx.upload(Float32Array.from((which === 'train' ? d.labels : d.labelsTest)!), [n], `labels ${which}`);
  return { n, x, targets };
}

export function releaseSplit(s: DeviceSplit | null): void {
  s?.x.destroy();
  s?.targets.destroy();
}

/** Outputs, per-example losses and scaled output gradient of one split. */
export async function evaluate(
  ctx: GpuContext,
  model: GpuModel,
  spec: ResolvedSpec,
  split: DeviceSplit,
  theta: Tensor,
  keepState = false,
): Promise<{ outputs: Float32Array; perExample: Float32Array; loss: number; state: ForwardState | null; grad: Tensor | null }> {
  const c = model.plan.c;
  const state = model.forward(split.x, split.n, theta);
  const perEx = ctx.tensor([split.n], 'per-example loss');
  const grad = ctx.tensor([split.n, c], 'dL/df');
  lossAndGrad(ctx, spec.loss, state.output, split.targets, perEx, grad, split.n, c, 1 / split.n);
  const [outputs, perExample] = await ctx.readMany([{ tensor: state.output }, { tensor: perEx }]);
  perEx.destroy();
  let loss = 0;
  for (const v of perExample) loss += v;
  loss /= split.n;
  if (!keepState) {
    model.releaseForward(state);
    grad.destroy();
    return { outputs, perExample, loss, state: null, grad: null };
  }
  return { outputs, perExample, loss, state, grad };
}

/** Which static keys apply to a spec (before size limits). */
export function applicableKeys(spec: ResolvedSpec): string[] {
  return STATIC_KEYS.filter((k) => !((k === 'outputs_test' || k === 'loss_test') && spec.data.nTest === 0));
}

const list = (a: ArrayLike<number>): number[] => Array.from(a, Number);

/** Compute the requested static keys. */
export async function analyze(ctx: GpuContext, spec: ResolvedSpec, opts: AnalyzeOptions = {}): Promise<Record<string, unknown>> {
  const plan = planOf(spec);
  const note = opts.onNote ?? (() => {});
  const explicit = opts.keys !== undefined;
  const want = new Set(opts.keys ?? applicableKeys(spec));
  const { n, c } = { n: spec.data.n, c: plan.c };
  const N = n * c;
  const P = plan.P;
  const result: Record<string, unknown> = {};

  if (want.has('fisher') && P > spec.options.fisher_max_params) {
    if (explicit && spec.compute?.includes('fisher')) {
      throw new Error(`fisher: P = ${P} parameters exceeds options.fisher_max_params = ${spec.options.fisher_max_params}; raise it (at most 8192) or drop "fisher"`);
    }
    want.delete('fisher');
    note(`fisher skipped: P = ${P} > options.fisher_max_params = ${spec.options.fisher_max_params} (fisher_trace and fisher_frobenius are still computed)`);
  }
  if (want.has('jacobian') && N * P * 4 > ctx.limits.maxStorageBufferBindingSize) {
    if (explicit) ctx.checkStorageBytes(N * P * 4, `jacobian (${N} x ${P})`);
    want.delete('jacobian');
    note(`jacobian skipped: ${N} x ${P} floats exceed the device limit maxStorageBufferBindingSize`);
  }

  const model = new GpuModel(ctx, plan);
  const theta = ctx.upload(spec.theta, [P], 'theta');
  const train = uploadSplit(ctx, spec, plan, 'train')!;
  const test = uploadSplit(ctx, spec, plan, 'test');
  const owned: Tensor[] = [theta];
  try {
    if (want.has('theta')) result.theta = list(await ctx.read(theta));

    const ev = await evaluate(ctx, model, spec, train, theta, true);
    const state = ev.state!;
    owned.push(ev.grad!);
    if (want.has('outputs')) result.outputs = nest(list(ev.outputs), [n, c]);
    if (test && (want.has('outputs_test') || want.has('loss_test'))) {
      const evt = await evaluate(ctx, model, spec, test, theta);
      if (want.has('outputs_test')) result.outputs_test = nest(list(evt.outputs), [test.n, c]);
      if (want.has('loss_test')) result.loss_test = evt.loss;
    }
    if (want.has('loss')) result.loss = ev.loss;
    if (want.has('per_example_loss')) result.per_example_loss = list(ev.perExample);

    if (want.has('loss_grad')) {
      const sig = model.backward(state, ev.grad!, 1, theta);
      const grad = ctx.tensor([P], 'dL/dtheta');
      model.gradient(state, sig, grad);
      result.loss_grad = list(await ctx.read(grad));
      grad.destroy();
      model.releaseSignals(sig);
    }

    const needJacobianSignals = ['jacobian', 'ntk', 'ntk_trace', 'ntk_trace_per_layer', 'alignment', 'ntk_spectrum', 'ntk_trace_spectrum'].some((k) =>
      want.has(k),
    );
    const needFisher = ['fisher', 'fisher_trace', 'fisher_frobenius'].some((k) => want.has(k));
    const needGamma = needFisher || want.has('kfac');
    let jacSignals: Signals | null = null;
    if (needJacobianSignals || (needGamma && spec.loss === 'mse')) {
      const seeds = ctx.tensor([N, c], 'unit seeds');
      identitySeeds(ctx, seeds, n, c);
      jacSignals = model.backward(state, seeds, c, theta);
      seeds.destroy();
    }

    if (want.has('jacobian')) {
      const J = fullJacobian(ctx, plan, state, jacSignals!);
      result.jacobian = nest(list(await ctx.read(J)), [N, P]);
      J.destroy();
    }

    if (needJacobianSignals && ['ntk', 'ntk_trace', 'ntk_trace_per_layer', 'alignment', 'ntk_spectrum', 'ntk_trace_spectrum'].some((k) => want.has(k))) {
      const perLayerNeeded = want.has('ntk_trace_per_layer') || want.has('alignment');
      const { total: K, perLayer } = tangentKernels(ctx, plan, state, jacSignals!, { ...opts, perLayer: perLayerNeeded });
      owned.push(K, ...perLayer);
      let Kh: Float32Array | null = null;
      if (want.has('ntk') || want.has('ntk_spectrum')) Kh = await ctx.read(K);
      if (want.has('ntk')) result.ntk = nest(list(Kh!), [N, N]);
      const Ktr = ctx.tensor([n, n], 'ntk_trace');
      owned.push(Ktr);
      traceOutputs(ctx, K, Ktr, n, c);
      const KtrH = await ctx.read(Ktr);
      if (want.has('ntk_trace')) result.ntk_trace = nest(list(KtrH), [n, n]);
      if (want.has('ntk_trace_per_layer')) {
        const layers: unknown[] = [];
        for (const Kl of perLayer) {
          const t = ctx.tensor([n, n], 'ntk_trace_l');
          traceOutputs(ctx, Kl, t, n, c);
          layers.push(nest(list(await ctx.read(t)), [n, n]));
          t.destroy();
        }
        result.ntk_trace_per_layer = layers;
      }
      if (want.has('alignment')) {
        const targets = uploadTargets(ctx, spec.data.y, n, c);
        try {
          const total = await kernelAlignments(ctx, K, targets, { traced: true, full: true });
          const per = [];
          for (const Kl of perLayer) per.push(await kernelAlignments(ctx, Kl, targets, { traced: true, full: true }));
          result.alignment = {
            uncentered: total.uncentered,
            centered: total.centered,
            per_layer_uncentered: per.map((a) => a.uncentered),
            per_layer_centered: per.map((a) => a.centered),
            ntk_centered: total.ntk_centered,
            ntk_uncentered: total.ntk_uncentered,
            per_layer_ntk_centered: per.map((a) => a.ntk_centered),
            per_layer_ntk_uncentered: per.map((a) => a.ntk_uncentered),
          };
        } finally {
          releaseTargets(targets);
        }
      }
      // Spectra: f64 CPU eigenvalues of the f32 kernels (the WGSL Jacobi solver serves the
      // curvature work; float64 here keeps the effective rank's tail eigenvalues resolved).
      if (want.has('ntk_spectrum')) result.ntk_spectrum = spectrumStats(eigvalsSym(Float64Array.from(Kh!), N));
      if (want.has('ntk_trace_spectrum')) result.ntk_trace_spectrum = spectrumStats(eigvalsSym(Float64Array.from(KtrH), n));
    }

    if (needGamma) {
      let gammaSignals = jacSignals;
      if (spec.loss === 'cross_entropy') {
        const seeds = ctx.tensor([N, c], 'metric seeds');
        crossEntropyMetricSeeds(ctx, state.output, seeds, n, c);
        gammaSignals = model.backward(state, seeds, c, theta);
        seeds.destroy();
      }
      // KFAC / EKFAC per layer from the same forward state and Gamma signals (src/curvature).
      if (want.has('kfac')) {
        result.kfac = await kfacKey(ctx, plan.paramLayers, state, gammaSignals!, { blockMaxParams: spec.options.block_max_params });
      }
      // F = (1/n) Gamma^T Gamma with Gamma the metric-weighted Jacobian rows; its trace and
      // Frobenius norm come from the (nc x nc) Gram Gamma Gamma^T, which shares F's nonzero
      // spectrum, so neither needs the P x P matrix.
      const KG = needFisher ? tangentKernels(ctx, plan, state, gammaSignals!, opts).total : null;
      if (KG) owned.push(KG);
      if (want.has('fisher')) {
        const G = fullJacobian(ctx, plan, state, gammaSignals!);
        ctx.checkStorageBytes(P * P * 4, `the dense Fisher (${P} x ${P})`);
        const F = ctx.tensor([P, P], 'Fisher');
        matmul(ctx, { a: G, b: G, c: F, M: P, N: P, K: N, transA: true, alpha: 1 / n });
        result.fisher = nest(list(await ctx.read(F)), [P, P]);
        G.destroy();
        F.destroy();
      }
      if (want.has('fisher_trace')) result.fisher_trace = (await trace(ctx, KG!, N)) / n;
      if (want.has('fisher_frobenius')) result.fisher_frobenius = Math.sqrt(await sumOfSquares(ctx, KG!, N * N)) / n;
      if (gammaSignals !== jacSignals) model.releaseSignals(gammaSignals!);
    }
    if (jacSignals) model.releaseSignals(jacSignals);
    model.releaseForward(state);
  } finally {
    for (const t of owned) t.destroy();
    releaseSplit(train);
    releaseSplit(test);
  }
  // Keep the README's key order.
  const ordered: Record<string, unknown> = {};
  for (const k of STATIC_KEYS) if (k in result) ordered[k] = result[k];
  return ordered;
}
