/**
 * Representations that never store F:
 *
 * Implicit (matrix-free). F v = J^T (M (J v)) / n: a JVP through the network frozen at the
 * source's forward state (GpuModel.jvp), the output metric (identity for mse, diag p - p p^T for
 * cross_entropy, shaders/metric.wgsl ce_metric_mv), and a VJP (one batched backward pass of one
 * seed row per example plus the gradient contraction). No Jacobian is formed. Its trace,
 * Frobenius norm and spectrum come from the (n c) x (n c) Gram Gamma Gamma^T / n (the signals'
 * tangent kernel, src/geometry/kernels.ts), which has F's nonzero eigenvalues; its diagonal from
 * squared signals (ekfac.ts with identity bases). `solve` is conjugate gradient on F + l I;
 * there is no `inverse` (a matrix-free operator has no stored inverse).
 *
 * LowRank. F ~ U diag(lambda) U^T with the top k eigenpairs: from the Gram's eigendecomposition
 * Gamma Gamma^T / n = V diag(lambda) V^T (float64 on the host, (n c)^2), u_j = Gamma^T v_j /
 * sqrt(n lambda_j). With the default k (every eigenvalue above 1e-6 lambda_max) it is F itself to
 * float32 accuracy; a smaller k is the best rank-k approximation. Solves use Woodbury:
 * (U L U^T + l I)^-1 v = v / l - U diag(lambda / (l (lambda + l))) U^T v; undamped solves need
 * k = P. `inverse` is unsupported: (U L U^T + l I)^-1 is not low-rank.
 */
import type { GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import { matmul } from '../ops/matmul';
import { axpby, fill, mulInPlace } from '../ops/elementwise';
import { dot, sumOfSquares, trace as traceOf } from '../ops/reduce';
import { fullJacobian, tangentKernels } from '../geometry/kernels';
import { eighSym, eigvalsSym } from '../math/linalg';
import { crossEntropyMetricMv, square } from '../ops/kfac';
import { kroneckerBasisDiag } from './ekfac';
import {
  checkDamping,
  checkVector,
  hostSymmetric,
  outputFor,
  quadraticForm,
  SingularError,
  UnsupportedOperationError,
  type FisherRepresentation,
} from './fisher';
import type { FisherSource } from './source';

export interface ConjugateGradientOptions {
  /** Stop when ||r|| <= tol ||v|| (default 1e-5, about what float32 products allow). */
  tol?: number;
  /** Iteration cap (default 2 P + 50); not converging by then throws. */
  maxIterations?: number;
}

export class ImplicitFisher implements FisherRepresentation {
  readonly kind = 'implicit' as const;
  /** Iterations of the last conjugate-gradient solve. */
  lastIterations = 0;
  private gram: Float64Array | null = null;

  /** Borrows `src` (the caller disposes it after this representation). */
  constructor(
    readonly src: FisherSource,
    readonly cg: ConjugateGradientOptions = {},
  ) {}

  static fromSource(src: FisherSource, cg: ConjugateGradientOptions = {}): ImplicitFisher {
    return new ImplicitFisher(src, cg);
  }

  get ctx(): GpuContext {
    return this.src.ctx;
  }

  get P(): number {
    return this.src.P;
  }

  private checkSource(): void {
    if (this.src.isDisposed) throw new Error('implicit Fisher: its FisherSource was disposed');
  }

  mv(v: Tensor, out?: Tensor): Tensor {
    this.checkSource();
    checkVector(this.kind, 'mv', v, this.P);
    const { ctx, model, state, theta, n } = this.src;
    const c = model.plan.c;
    const o = outputFor(ctx, this.kind, 'mv', v, this.P, out);
    const jv = model.jvp(state, theta, v);
    const seeds = ctx.tensor([n, c], 'M J v / n');
    if (this.src.loss === 'mse') axpby(ctx, 1 / n, jv, 0, seeds, n * c);
    else crossEntropyMetricMv(ctx, state.output, jv, seeds, n, c, 1 / n);
    jv.destroy();
    const sig = model.backward(state, seeds, 1, theta);
    model.gradient(state, sig, o);
    model.releaseSignals(sig);
    seeds.destroy();
    return o;
  }

  vTMv(v: Tensor): Promise<number> {
    return quadraticForm(this, this.ctx, v);
  }

  /** The Gram Gamma Gamma^T (rows x rows) on the GPU; a new tensor. */
  private gramTensor(): Tensor {
    this.checkSource();
    return tangentKernels(this.ctx, this.src.plan, this.src.state, this.src.gamma).total;
  }

  async trace(): Promise<number> {
    const K = this.gramTensor();
    const t = await traceOf(this.ctx, K, this.src.rows);
    K.destroy();
    return t / this.src.n;
  }

  async frobeniusNorm(): Promise<number> {
    const K = this.gramTensor();
    const s = await sumOfSquares(this.ctx, K, this.src.rows ** 2);
    K.destroy();
    return Math.sqrt(s) / this.src.n;
  }

  diag(out?: Tensor): Tensor {
    this.checkSource();
    const o = outputFor(this.ctx, this.kind, 'diag', null, this.P, out);
    for (const layer of this.src.plan.paramLayers) kroneckerBasisDiag(this.ctx, layer, this.src.state, this.src.gamma, null, null, o, layer.offset);
    return o;
  }

  async solve(v: Tensor, damping: number, out?: Tensor): Promise<Tensor> {
    checkVector(this.kind, 'solve', v, this.P);
    checkDamping(this.kind, 'solve', damping);
    if (damping === 0 && this.src.rows < this.P) {
      throw new SingularError(this.kind, 'solve', `rank F <= n c = ${this.src.rows} < P = ${this.P}`);
    }
    const ctx = this.ctx;
    const P = this.P;
    const tol = this.cg.tol ?? 1e-5;
    const maxIt = this.cg.maxIterations ?? 2 * P + 50;
    const x = outputFor(ctx, this.kind, 'solve', v, P, out);
    const r = ctx.tensor([P], 'cg r');
    const p = ctx.tensor([P], 'cg p');
    const Ap = ctx.tensor([P], 'cg Ap');
    try {
      fill(ctx, x, 0, P);
      ctx.copy(v, r, P);
      ctx.copy(v, p, P);
      const bb = await dot(ctx, v, v, P);
      if (bb === 0) return x;
      let rr = bb;
      for (let it = 1; it <= maxIt; it++) {
        this.mv(p, Ap);
        if (damping > 0) axpby(ctx, damping, p, 1, Ap, P);
        const pAp = await dot(ctx, p, Ap, P);
        if (!(pAp > 0)) {
          throw new Error(`implicit Fisher: conjugate gradient met p^T (F + l I) p = ${pAp} at iteration ${it}: F + ${damping} I is singular or not finite`);
        }
        const alpha = rr / pAp;
        axpby(ctx, alpha, p, 1, x, P);
        axpby(ctx, -alpha, Ap, 1, r, P);
        const rrNew = await dot(ctx, r, r, P);
        this.lastIterations = it;
        if (Math.sqrt(rrNew) <= tol * Math.sqrt(bb)) return x;
        axpby(ctx, 1, r, rrNew / rr, p, P);
        rr = rrNew;
      }
      throw new Error(
        `implicit Fisher: conjugate gradient did not reach ||r|| <= ${tol} ||v|| in ${maxIt} iterations (now ${(Math.sqrt(rr / bb)).toExponential(2)}); raise the damping, tol or maxIterations`,
      );
    } catch (e) {
      if (x !== out) x.destroy();
      throw e;
    } finally {
      r.destroy();
      p.destroy();
      Ap.destroy();
    }
  }

  inverse(): Promise<FisherRepresentation> {
    return Promise.reject(new UnsupportedOperationError(this.kind, 'inverse', 'a matrix-free operator stores no matrix to invert; use solve(v, damping)'));
  }

  async eigenvalues(): Promise<Float64Array> {
    if (!this.gram) {
      const K = this.gramTensor();
      this.gram = await hostSymmetric(this.ctx, K, this.src.rows);
      K.destroy();
    }
    const N = this.src.rows;
    const g = eigvalsSym(this.gram, N); // ascending
    const P = this.P;
    const all = new Float64Array(P);
    // F has the Gram's top min(N, P) eigenvalues (divided by n) and zeros for the rest.
    const k = Math.min(N, P);
    for (let j = 0; j < k; j++) all[P - k + j] = g[N - k + j] / this.src.n;
    return all;
  }

  /** F = Gamma^T Gamma / n, formed (conversion only). */
  async toDense(): Promise<Tensor> {
    this.checkSource();
    const { ctx, P } = this;
    ctx.checkStorageBytes(P * P * 4, `the dense form of the implicit Fisher (${P} x ${P})`);
    const J = fullJacobian(ctx, this.src.plan, this.src.state, this.src.gamma);
    const F = ctx.tensor([P, P], 'implicit Fisher dense');
    matmul(ctx, { a: J, b: J, c: F, M: P, N: P, K: this.src.rows, transA: true, alpha: 1 / this.src.n });
    J.destroy();
    return F;
  }

  dispose(): void {
    this.gram = null;
  }
}

// ---------------------------------------------------------------------------------------------

export class LowRankFisher implements FisherRepresentation {
  readonly kind = 'low-rank' as const;

  /** Takes ownership of `U` (P x k, orthonormal columns) and `lambdaT` (k, = `lambda`). */
  constructor(
    readonly ctx: GpuContext,
    readonly P: number,
    readonly U: Tensor,
    readonly lambda: Float64Array,
    readonly lambdaT: Tensor,
  ) {}

  get rank(): number {
    return this.lambda.length;
  }

  /**
   * The top `rank` eigenpairs of F (default: all above `relTol` * lambda_max, relTol = 1e-6).
   */
  static async fromSource(src: FisherSource, opts: { rank?: number; relTol?: number } = {}): Promise<LowRankFisher> {
    const { ctx, P, n } = src;
    const N = src.rows;
    const Kt = tangentKernels(ctx, src.plan, src.state, src.gamma).total;
    const K = await hostSymmetric(ctx, Kt, N);
    Kt.destroy();
    const e = eighSym(K, N); // of Gamma Gamma^T, ascending
    const lmax = Math.max(e.values[N - 1] / n, 0);
    const relTol = opts.relTol ?? 1e-6;
    let k = 0;
    while (k < Math.min(N, P) && e.values[N - 1 - k] / n > relTol * lmax) k++;
    if (opts.rank !== undefined) {
      if (!(Number.isInteger(opts.rank) && opts.rank >= 1)) throw new Error(`low-rank Fisher: rank must be a positive integer, got ${opts.rank}`);
      k = Math.min(k, opts.rank);
    }
    k = Math.max(k, 1);
    // V_k scaled: column j is v_j / sqrt(n lambda_j) (= v_j / sqrt(mu_j) for Gram eigenvalue mu_j).
    const lambda = new Float64Array(k);
    const Vs = new Float32Array(N * k);
    for (let j = 0; j < k; j++) {
      const col = N - 1 - j;
      const mu = e.values[col];
      lambda[j] = mu / n;
      const w = mu > 0 ? 1 / Math.sqrt(mu) : 0;
      for (let i = 0; i < N; i++) Vs[i * k + j] = e.vectors[i * N + col] * w;
    }
    ctx.checkStorageBytes(N * P * 4, `the metric-weighted Jacobian (${N} x ${P})`);
    const J = fullJacobian(ctx, src.plan, src.state, src.gamma);
    const V = ctx.upload(Vs, [N, k], 'V scaled');
    const U = ctx.tensor([P, k], 'low-rank U');
    matmul(ctx, { a: J, b: V, c: U, M: P, N: k, K: N, transA: true });
    J.destroy();
    V.destroy();
    return new LowRankFisher(ctx, P, U, lambda, ctx.upload(lambda, [k], 'low-rank lambda'));
  }

  /** out = U diag(w) U^T v with w (k) a tensor. */
  private apply(v: Tensor, w: Tensor, out: Tensor): void {
    const k = this.rank;
    const t = this.ctx.tensor([k], 'U^T v');
    matmul(this.ctx, { a: this.U, b: v, c: t, M: k, N: 1, K: this.P, transA: true });
    mulInPlace(this.ctx, w, t, k);
    matmul(this.ctx, { a: this.U, b: t, c: out, M: this.P, N: 1, K: k });
    t.destroy();
  }

  mv(v: Tensor, out?: Tensor): Tensor {
    checkVector(this.kind, 'mv', v, this.P);
    const o = outputFor(this.ctx, this.kind, 'mv', v, this.P, out);
    this.apply(v, this.lambdaT, o);
    return o;
  }

  vTMv(v: Tensor): Promise<number> {
    return quadraticForm(this, this.ctx, v);
  }

  async trace(): Promise<number> {
    return this.lambda.reduce((a, b) => a + b, 0);
  }

  async frobeniusNorm(): Promise<number> {
    return Math.sqrt(this.lambda.reduce((a, b) => a + b * b, 0));
  }

  diag(out?: Tensor): Tensor {
    const o = outputFor(this.ctx, this.kind, 'diag', null, this.P, out);
    const k = this.rank;
    const U2 = this.ctx.tensor([this.P, k], 'U^2');
    square(this.ctx, this.U, U2, this.P * k);
    matmul(this.ctx, { a: U2, b: this.lambdaT, c: o, M: this.P, N: 1, K: k });
    U2.destroy();
    return o;
  }

  async solve(v: Tensor, damping: number, out?: Tensor): Promise<Tensor> {
    checkVector(this.kind, 'solve', v, this.P);
    checkDamping(this.kind, 'solve', damping);
    const k = this.rank;
    if (damping === 0 && k < this.P) throw new SingularError(this.kind, 'solve', `rank ${k} < P = ${this.P}`);
    const o = outputFor(this.ctx, this.kind, 'solve', v, this.P, out);
    const w = new Float32Array(k);
    if (damping === 0) for (let j = 0; j < k; j++) w[j] = 1 / this.lambda[j];
    else for (let j = 0; j < k; j++) w[j] = -this.lambda[j] / (damping * (this.lambda[j] + damping));
    const wt = this.ctx.upload(w, [k], 'woodbury weights');
    this.apply(v, wt, o);
    if (damping > 0) axpby(this.ctx, 1 / damping, v, 1, o, this.P);
    wt.destroy();
    return o;
  }

  inverse(): Promise<FisherRepresentation> {
    return Promise.reject(new UnsupportedOperationError(this.kind, 'inverse', '(U diag(lambda) U^T + l I)^-1 is not low-rank; use solve(v, damping)'));
  }

  async eigenvalues(): Promise<Float64Array> {
    const all = new Float64Array(this.P);
    all.set(this.lambda);
    return all.sort();
  }

  async toDense(): Promise<Tensor> {
    const { ctx, P } = this;
    const k = this.rank;
    ctx.checkStorageBytes(P * P * 4, `the dense form of the low-rank Fisher (${P} x ${P})`);
    const L = new Float32Array(k * k);
    for (let j = 0; j < k; j++) L[j * k + j] = this.lambda[j];
    const Lt = ctx.upload(L, [k, k], 'diag(lambda)');
    const UL = ctx.tensor([P, k], 'U diag(lambda)');
    matmul(ctx, { a: this.U, b: Lt, c: UL, M: P, N: k, K: k });
    const D = ctx.tensor([P, P], 'low-rank dense');
    matmul(ctx, { a: UL, b: this.U, c: D, M: P, N: P, K: k, transB: true });
    Lt.destroy();
    UL.destroy();
    return D;
  }

  dispose(): void {
    this.U.destroy();
    this.lambdaT.destroy();
  }
}
