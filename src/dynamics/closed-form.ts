/**
 * Closed-form lazy prediction for mse (fixture README section 12) on the GPU engine: the kernel
 * K0 is read back once and handed to `LazyClosedForm` (src/math/training.ts: the f64
 * eigendecomposition and the mode responses). The test predictions `h0_test + K0t c_t` never
 * form the cross-kernel K0t: `K0t c = J0_test (J0^T c)`, one VJP at theta0 on the training set
 * and one JVP at theta0 on the test set.
 */
import type { GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import { initialOutputs, LazyClosedForm } from '../math/training';
import type { Trainer } from './trainer';

export class ClosedForm {
  private constructor(
    private readonly ctx: GpuContext,
    private readonly trainer: Trainer,
    private readonly modes: LazyClosedForm,
    private readonly h0Test: Float64Array | null,
  ) {}

  static async create(ctx: GpuContext, trainer: Trainer, K0: Tensor): Promise<ClosedForm> {
    const spec = trainer.spec;
    if (spec.loss !== 'mse') throw new Error('closed form: only for mse');
    const N = spec.data.n * trainer.plan.c;
    const reads = [{ tensor: K0 }, { tensor: trainer.state0.output }];
    if (trainer.state0Test) reads.push({ tensor: trainer.state0Test.output });
    const [Kh, f0, f0t] = await ctx.readMany(reads);
    // Symmetrize the f32 kernel before the f64 eigendecomposition.
    const K = new Float64Array(N * N);
    for (let i = 0; i < N; i++) for (let j = 0; j < N; j++) K[i * N + j] = 0.5 * (Kh[i * N + j] + Kh[j * N + i]);
    const modes = new LazyClosedForm(K, initialOutputs(f0, trainer.alpha), spec.data.y, spec.data.n, trainer.cfg.lr);
    return new ClosedForm(ctx, trainer, modes, trainer.state0Test ? initialOutputs(f0t, trainer.alpha) : null);
  }

  /** Training-set outputs after t steps (n*c, example-major). */
  outputs(t: number): Float64Array {
    return this.modes.outputs(t);
  }

  /** Test-set outputs after t steps, or null without test data. */
  async outputsTest(t: number): Promise<Float64Array | null> {
    const tr = this.trainer;
    const state0Test = tr.state0Test;
    if (!this.h0Test || !state0Test) return null;
    const ctx = this.ctx;
    const seeds = ctx.upload(this.modes.testCoefficients(t), [tr.spec.data.n, tr.plan.c], 'closed-form coefficients');
    const signals = tr.model.backward(tr.state0, seeds, 1, tr.theta0);
    const u = ctx.tensor([tr.plan.P], 'J0^T c');
    tr.model.gradient(tr.state0, signals, u);
    tr.model.releaseSignals(signals);
    const ku = tr.model.jvp(state0Test, tr.theta0, u);
    const kc = await ctx.read(ku);
    seeds.destroy();
    u.destroy();
    ku.destroy();
    return this.h0Test.map((v, k) => v + kc[k]);
  }
}
