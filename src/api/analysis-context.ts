/**
 * The GPU intermediates of the runner's analysis at theta0, each computed at most once, when a
 * key first asks for it, and freed by `dispose`:
 *
 * - one forward pass on the training set (and one on the test set),
 * - one batched backward pass of the n*c unit output vectors (Jacobian signals), which feeds the
 *   Jacobian and every tangent kernel,
 * - for cross_entropy, one batched backward pass of the metric square roots L_i (Gamma signals),
 *   which feeds the Fisher and KFAC / EKFAC (for mse the metric is the identity, so the Jacobian
 *   signals serve),
 * - the full and per-layer kernels, the traced kernel, the whitened kernel Gamma Gamma^T.
 */
import type { GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import { GpuModel, type ForwardState, type Signals } from '../nn/gpu-model';
import { releaseSplit, uploadSplit, type DeviceSplit } from '../nn/split';
import { planOf, type ModelPlan } from '../model/layout';
import { crossEntropyMetricSeeds, identitySeeds, lossAndGrad } from '../ops/loss';
import { traceOutputs } from '../ops/ntk';
import { centeredTangentKernels, tangentKernels, type KernelOptions } from '../geometry/kernels';
import type { ResolvedSpec } from '../experiment/types';

/** Outputs and losses of one split at theta0. */
export interface SplitEvaluation {
  outputs: Float32Array;
  perExample: Float32Array;
  loss: number;
}

export class AnalysisContext {
  readonly plan: ModelPlan;
  readonly model: GpuModel;
  readonly theta: Tensor;
  readonly train: DeviceSplit;
  readonly test: DeviceSplit | null;
  readonly n: number;
  readonly c: number;
  /** n * c kernel rows. */
  readonly N: number;
  readonly P: number;
  private readonly memo = new Map<string, Promise<unknown>>();
  private readonly tensors: Tensor[] = [];
  private readonly signalSets: Signals[] = [];
  private readonly states: ForwardState[] = [];
  private dLdf: Tensor | null = null;

  constructor(
    readonly ctx: GpuContext,
    readonly spec: ResolvedSpec,
    private readonly kernelOptions: KernelOptions = {},
  ) {
    this.plan = planOf(spec);
    this.model = new GpuModel(ctx, this.plan);
    this.n = spec.data.n;
    this.c = this.plan.c;
    this.N = this.n * this.c;
    this.P = this.plan.P;
    this.theta = this.own(ctx.upload(spec.theta, [this.P], 'theta'));
    this.train = uploadSplit(ctx, spec, this.plan, 'train')!;
    this.test = uploadSplit(ctx, spec, this.plan, 'test');
  }

  /** Keep a tensor until `dispose`. */
  own(t: Tensor): Tensor {
    this.tensors.push(t);
    return t;
  }

  private once<T>(key: string, make: () => Promise<T>): Promise<T> {
    let p = this.memo.get(key) as Promise<T> | undefined;
    if (!p) {
      p = make();
      this.memo.set(key, p);
    }
    return p;
  }

  /** The forward state at theta0 on the training set. */
  state(): Promise<ForwardState> {
    return this.once('state', async () => {
      const s = this.model.forward(this.train.x, this.n, this.theta);
      this.states.push(s);
      return s;
    });
  }

  /** dL/df (n x c, with the 1/n of the mean) at theta0 on the training set. */
  async lossGradOutputs(): Promise<Tensor> {
    await this.evaluation('train');
    return this.dLdf!;
  }

  /** Outputs, per-example losses and mean loss of a split at theta0. */
  evaluation(split: 'train' | 'test'): Promise<SplitEvaluation> {
    return this.once(`eval:${split}`, async () => {
      const data = split === 'train' ? this.train : this.test;
      if (!data) throw new Error('no test data');
      const { ctx, c } = this;
      const state = split === 'train' ? await this.state() : this.model.forward(data.x, data.n, this.theta);
      const perEx = ctx.tensor([data.n], 'per-example loss');
      const grad = this.own(ctx.tensor([data.n, c], 'dL/df'));
      lossAndGrad(ctx, this.spec.loss, state.output, data.targets, perEx, grad, data.n, c, 1 / data.n);
      const [outputs, perExample] = await ctx.readMany([{ tensor: state.output }, { tensor: perEx }]);
      perEx.destroy();
      if (split === 'train') this.dLdf = grad;
      else this.model.releaseForward(state);
      let loss = 0;
      for (const v of perExample) loss += v;
      return { outputs, perExample, loss: loss / data.n };
    });
  }

  /** The backward pass of the n*c unit output vectors: every per-example Jacobian row. */
  jacobianSignals(): Promise<Signals> {
    return this.once('jacSignals', async () => {
      const state = await this.state();
      const seeds = this.ctx.tensor([this.N, this.c], 'unit seeds');
      identitySeeds(this.ctx, seeds, this.n, this.c);
      const s = this.model.backward(state, seeds, this.c, this.theta);
      seeds.destroy();
      this.signalSets.push(s);
      return s;
    });
  }

  /** The metric-weighted signals Gamma (rows L_i^T J_i): the Jacobian signals for mse. */
  gammaSignals(): Promise<Signals> {
    if (this.spec.loss === 'mse') return this.jacobianSignals();
    return this.once('gammaSignals', async () => {
      const state = await this.state();
      const seeds = this.ctx.tensor([this.N, this.c], 'metric seeds');
      crossEntropyMetricSeeds(this.ctx, state.output, seeds, this.n, this.c);
      const s = this.model.backward(state, seeds, this.c, this.theta);
      seeds.destroy();
      this.signalSets.push(s);
      return s;
    });
  }

  /** The full tangent kernel K = J J^T and the per-layer ones (nc x nc each). */
  kernels(): Promise<{ total: Tensor; perLayer: Tensor[] }> {
    return this.once('kernels', async () => {
      const k = tangentKernels(this.ctx, this.plan, await this.state(), await this.jacobianSignals(), { ...this.kernelOptions, perLayer: true });
      this.own(k.total);
      k.perLayer.forEach((t) => this.own(t));
      return k;
    });
  }

  /** The kernels of the centered Jacobian (README section 9), total and per layer, accurate in float32. */
  centeredKernels(): Promise<{ total: Tensor; perLayer: Tensor[] }> {
    return this.once('centeredKernels', async () => {
      const k = centeredTangentKernels(this.ctx, this.plan, await this.state(), await this.jacobianSignals(), this.kernelOptions);
      this.own(k.total);
      k.perLayer.forEach((t) => this.own(t));
      return k;
    });
  }

  /** The full kernel, read back. */
  kernelHost(): Promise<Float32Array> {
    return this.once('kernelHost', async () => this.ctx.read((await this.kernels()).total));
  }

  /** The output-traced kernel of K (n x n), read back. */
  tracedHost(K?: Tensor): Promise<Float32Array> {
    const make = async () => {
      const kernel = K ?? (await this.kernels()).total;
      const t = this.ctx.tensor([this.n, this.n], 'ntk_trace');
      traceOutputs(this.ctx, kernel, t, this.n, this.c);
      const host = await this.ctx.read(t);
      t.destroy();
      return host;
    };
    return K ? make() : this.once('tracedHost', make);
  }

  /** The whitened kernel Gamma Gamma^T (nc x nc): F's nonzero spectrum, times n. */
  gammaKernel(): Promise<Tensor> {
    return this.once('gammaKernel', async () => {
      const k = tangentKernels(this.ctx, this.plan, await this.state(), await this.gammaSignals(), this.kernelOptions);
      return this.own(k.total);
    });
  }

  dispose(): void {
    for (const s of this.signalSets) this.model.releaseSignals(s);
    for (const s of this.states) this.model.releaseForward(s);
    for (const t of this.tensors) t.destroy();
    releaseSplit(this.train);
    releaseSplit(this.test);
  }
}
