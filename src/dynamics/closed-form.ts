/**
 * Closed-form lazy prediction for mse (fixture README section 12): the discrete-time GD
 * trajectory of the linearized model, through the eigendecomposition K0 = U diag(lambda) U^T:
 *
 *   eta = lr / n,  w = U^T vec(Y - h0)
 *   m_t(l)   = 1 - (1 - eta l)^t          (as -expm1(t log1p(-eta l)) when eta l < 1)
 *   phi_t(l) = eta sum_{s<t} (1 - eta l)^s = m_t(l) / l   (eta t when l = 0)
 *   h_t      = h0 + U diag(m_t) w
 *   h_test_t = h0_test + K0t U diag(phi_t) w
 *
 * K0 is read back once and decomposed in float64 on the CPU (nc x nc). The test predictions never
 * form the cross-kernel K0t: K0t c = J0_test (J0^T c), one VJP at theta0 on the training set and
 * one JVP at theta0 on the test set.
 */
import type { GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import { eighSym } from '../math/linalg';
import type { Trainer } from './trainer';

export class ClosedForm {
  private constructor(
    private readonly ctx: GpuContext,
    private readonly trainer: Trainer,
    private readonly lambda: Float64Array,
    private readonly U: Float64Array,
    private readonly w: Float64Array,
    private readonly h0: Float64Array,
    private readonly h0Test: Float64Array | null,
    private readonly eta: number,
  ) {}

  static async create(ctx: GpuContext, trainer: Trainer, K0: Tensor): Promise<ClosedForm> {
    const spec = trainer.spec;
    if (spec.loss !== 'mse') throw new Error('closed form: only for mse');
    const n = spec.data.n;
    const c = trainer.plan.c;
    const N = n * c;
    const reads = [{ tensor: K0 }, { tensor: trainer.state0.output }];
    if (trainer.state0Test) reads.push({ tensor: trainer.state0Test.output });
    const [Kh, f0, f0t] = await ctx.readMany(reads);
    const alpha1 = trainer.alpha === 1;
    const h0 = alpha1 ? Float64Array.from(f0) : new Float64Array(N);
    const h0Test = trainer.state0Test ? (alpha1 ? Float64Array.from(f0t) : new Float64Array(spec.data.nTest * c)) : null;
    // Symmetrize the f32 kernel before the f64 eigendecomposition.
    const K = new Float64Array(N * N);
    for (let i = 0; i < N; i++) for (let j = 0; j < N; j++) K[i * N + j] = 0.5 * (Kh[i * N + j] + Kh[j * N + i]);
    const { values, vectors } = eighSym(K, N);
    const w = new Float64Array(N);
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < N; k++) s += vectors[k * N + j] * (spec.data.y[k] - h0[k]);
      w[j] = s;
    }
    return new ClosedForm(ctx, trainer, values, vectors, w, h0, h0Test, trainer.cfg.lr / n);
  }

  private factors(t: number): { m: Float64Array; phi: Float64Array } {
    const N = this.lambda.length;
    const m = new Float64Array(N);
    const phi = new Float64Array(N);
    for (let j = 0; j < N; j++) {
      const x = this.eta * this.lambda[j];
      let mt: number;
      if (x < 1) mt = -Math.expm1(t * Math.log1p(-x));
      else mt = 1 - (1 - x) ** t;
      m[j] = mt;
      phi[j] = this.lambda[j] === 0 ? this.eta * t : mt / this.lambda[j];
    }
    return { m, phi };
  }

  private combine(coef: Float64Array): Float64Array {
    const N = this.lambda.length;
    const out = new Float64Array(N);
    for (let k = 0; k < N; k++) {
      let s = 0;
      for (let j = 0; j < N; j++) s += this.U[k * N + j] * coef[j] * this.w[j];
      out[k] = s;
    }
    return out;
  }

  /** Training-set outputs after t steps (n*c, example-major). */
  outputs(t: number): Float64Array {
    const d = this.combine(this.factors(t).m);
    return d.map((v, k) => this.h0[k] + v);
  }

  /** Test-set outputs after t steps, or null without test data. */
  async outputsTest(t: number): Promise<Float64Array | null> {
    const tr = this.trainer;
    const state0Test = tr.state0Test;
    if (!this.h0Test || !state0Test) return null;
    const ctx = this.ctx;
    const n = tr.spec.data.n;
    const cvec = this.combine(this.factors(t).phi);
    const seeds = ctx.upload(cvec, [n, tr.plan.c], 'closed-form coefficients');
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
