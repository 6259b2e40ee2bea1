/**
 * What every Fisher representation is built from: one forward pass of n examples at theta and
 * one batched backward pass of the output metric's square roots (`gammaSignals`), i.e. the
 * augmented inputs / patches and the metric-weighted signals Gamma of every layer. The Fisher of
 * README section 4 is F = (1/n) sum_i J_i^T M_i J_i = Gamma^T Gamma / n, with Gamma the
 * (n c) x P matrix whose rows are the per-example gradients of those seeds; Gamma itself is
 * formed only by representations that store it (Dense, LowRank construction).
 */
import type { GpuContext } from '../gpu/context';
import { Tensor } from '../gpu/tensor';
import { GpuModel, type ForwardState, type Signals } from '../nn/gpu-model';
import type { ModelPlan } from '../model/layout';
import type { LossKind } from '../experiment/types';
import { gammaSignals } from './kfac';

export class FisherSource {
  private disposed = false;

  private constructor(
    readonly ctx: GpuContext,
    readonly model: GpuModel,
    readonly theta: Tensor,
    readonly x: Tensor,
    readonly state: ForwardState,
    readonly gamma: Signals,
    readonly loss: LossKind,
    private readonly owned: Tensor[],
  ) {}

  /**
   * Forward and metric backward passes of `n` examples. `x` (n x inputSize) and `theta` (P) may
   * be tensors (borrowed: the caller keeps them alive and frees them) or host arrays (uploaded
   * and owned).
   */
  static create(ctx: GpuContext, plan: ModelPlan, x: Tensor | ArrayLike<number>, n: number, theta: Tensor | ArrayLike<number>, loss: LossKind): FisherSource {
    const owned: Tensor[] = [];
    const asTensor = (v: Tensor | ArrayLike<number>, shape: number[], label: string): Tensor => {
      if (!(v instanceof Tensor)) {
        const t = ctx.upload(v, shape, label);
        owned.push(t);
        return t;
      }
      return v;
    };
    const xt = asTensor(x, [n, plan.inputSize], 'fisher x');
    const th = asTensor(theta, [plan.P], 'fisher theta');
    const model = new GpuModel(ctx, plan);
    const state = model.forward(xt, n, th);
    const gamma = gammaSignals(ctx, model, state, th, loss);
    return new FisherSource(ctx, model, th, xt, state, gamma, loss, owned);
  }

  get plan(): ModelPlan {
    return this.model.plan;
  }

  get n(): number {
    return this.state.n;
  }

  get P(): number {
    return this.model.plan.P;
  }

  /** Rows of Gamma: n * c. */
  get rows(): number {
    return this.gamma.n * this.gamma.R;
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.model.releaseSignals(this.gamma);
    this.model.releaseForward(this.state);
    for (const t of this.owned) t.destroy();
  }
}
