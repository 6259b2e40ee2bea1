/**
 * The Kronecker-factored representations (README sections 5 and 6), block-diagonal over layers:
 *
 *   KFAC   F_l ~ G_l (x) A_l                                 (stores A, G; eigenbases on demand)
 *   EKFAC  F_l ~ Q_l diag(s_l) Q_l^T,  Q_l = U_G (x) U_A       (stores U_A, U_G, s)
 *
 * Products, diagonals, traces and norms use the factors only (never a P_l x P_l block):
 *   KFAC   F v = vec(G V A), diag = diag(G) diag(A)^T, tr = tr G tr A, ||.||_F = ||G|| ||A||,
 *          eigenvalues = {g_i a_j}
 *   EKFAC  F v = U_G [(U_G^T V U_A) o s] U_A^T, diag = (U_G o U_G) s (U_A o U_A)^T, tr = sum s,
 *          ||.||_F = ||s||, eigenvalues = s (Q is orthogonal)
 *
 * Solves. EKFAC: (F + l I)^-1 = Q diag(1 / (s + l)) Q^T exactly. KFAC uses pi-damping (Martens &
 * Grosse 2015, s. 6.3): (G + sqrt(l)/pi I)^-1 (x) (A + pi sqrt(l) I)^-1 with
 * pi = sqrt((tr A / m) / (tr G / out)): the factored damping KFAC optimizers use, which is not
 * (G (x) A + l I)^-1 (that has no Kronecker form); with l = 0 both are (G (x) A)^-1. `inverse(l)`
 * returns the representation of the same damped inverse (KFAC with the inverted damped factors,
 * EKFAC with 1 / (s + l)).
 */
import type { GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import type { ParamLayerPlan } from '../model/layout';
import { matmul } from '../ops/matmul';
import { sum, sumOfSquares, trace as traceOf } from '../ops/reduce';
import { applyScratch, kfacBlockDiag, kfacFactors, kroneckerApply, kroneckerEigenApply, releaseScratch, type ApplyScratch } from './kfac';
import { piDamping } from '../math/training';
import { ekfacBlock, ekfacBlockDiag, kroneckerBasisDiag } from './ekfac';
import { factorEigen, releaseEigen, type EigenSolver, type FactorEigen } from './eigen';
import { invDamped, kfacInverseEigenvalues, kronProduct, scaleCols } from '../ops/kfac';
import {
  checkDamping,
  checkVector,
  embedBlocks,
  outputFor,
  quadraticForm,
  SingularError,
  type FisherKind,
  type FisherRepresentation,
} from './fisher';
import type { FisherSource } from './source';

/** Relative threshold below which an eigenvalue counts as zero in an undamped solve. */
const SINGULAR_REL = 1e-7;

interface KronLayer {
  layer: ParamLayerPlan;
  m: number;
  out: number;
}

function kronLayers(layers: readonly ParamLayerPlan[]): KronLayer[] {
  return layers.map((layer) => ({ layer, m: layer.fanIn + 1, out: layer.out }));
}

/** U diag(f(lambda)) U^T for a factor eigendecomposition, as a new n x n tensor. */
function eigenFunction(ctx: GpuContext, e: FactorEigen, f: (x: number) => number): Tensor {
  const n = e.n;
  const fv = ctx.upload(Array.from(e.values, f), [n], 'f(lambda)');
  const Us = ctx.tensor([n, n], 'U f(lambda)');
  scaleCols(ctx, e.vectors, fv, Us, 1, n);
  const M = ctx.tensor([n, n], 'U f(lambda) U^T');
  matmul(ctx, { a: Us, b: e.vectors, c: M, M: n, N: n, K: n, transB: true });
  fv.destroy();
  Us.destroy();
  return M;
}

abstract class KronBase {
  abstract readonly kind: FisherKind;
  protected readonly kl: KronLayer[];
  protected readonly scratch: ApplyScratch[];

  constructor(
    readonly ctx: GpuContext,
    readonly P: number,
    readonly layers: readonly ParamLayerPlan[],
  ) {
    this.kl = kronLayers(layers);
    this.scratch = layers.map((l) => applyScratch(ctx, l));
  }

  protected disposeScratch(): void {
    for (const s of this.scratch) releaseScratch(s);
  }
}

// ---------------------------------------------------------------------------------------------

export interface KronOptions {
  /** Eigensolver of the factors (default `cpu`, float64; `gpu`: the WGSL Jacobi). */
  solver?: EigenSolver;
}

export class KfacFisher extends KronBase implements FisherRepresentation {
  readonly kind = 'kfac' as const;
  private eig: FactorEigen[] | null = null;

  /** Takes ownership of the factors (A_l: m x m, G_l: out x out per layer). */
  constructor(
    ctx: GpuContext,
    P: number,
    layers: readonly ParamLayerPlan[],
    readonly A: Tensor[],
    readonly G: Tensor[],
    private readonly opts: KronOptions = {},
  ) {
    super(ctx, P, layers);
  }

  static fromSource(src: FisherSource, opts: KronOptions = {}): KfacFisher {
    const f = kfacFactors(src.ctx, src.plan.paramLayers, src.state, src.gamma);
    return new KfacFisher(
      src.ctx,
      src.P,
      src.plan.paramLayers,
      f.map((x) => x.A),
      f.map((x) => x.G),
      opts,
    );
  }

  /** Eigendecompositions of every factor (computed once): [A_0, G_0, A_1, G_1, ...]. */
  async eigen(): Promise<FactorEigen[]> {
    if (!this.eig) {
      this.eig = await factorEigen(
        this.ctx,
        this.kl.flatMap((k, i) => [
          { t: this.A[i], n: k.m },
          { t: this.G[i], n: k.out },
        ]),
        { solver: this.opts.solver ?? 'cpu' },
      );
    }
    return this.eig;
  }

  mv(v: Tensor, out?: Tensor): Tensor {
    checkVector(this.kind, 'mv', v, this.P);
    const o = outputFor(this.ctx, this.kind, 'mv', v, this.P, out);
    this.kl.forEach((k, i) => kroneckerApply(this.ctx, k.layer, this.G[i], this.A[i], v, o, this.scratch[i]));
    return o;
  }

  vTMv(v: Tensor): Promise<number> {
    return quadraticForm(this, this.ctx, v);
  }

  async trace(): Promise<number> {
    let t = 0;
    for (let i = 0; i < this.kl.length; i++) t += (await traceOf(this.ctx, this.G[i], this.kl[i].out)) * (await traceOf(this.ctx, this.A[i], this.kl[i].m));
    return t;
  }

  async frobeniusNorm(): Promise<number> {
    let s = 0;
    for (let i = 0; i < this.kl.length; i++) {
      s += (await sumOfSquares(this.ctx, this.G[i], this.kl[i].out ** 2)) * (await sumOfSquares(this.ctx, this.A[i], this.kl[i].m ** 2));
    }
    return Math.sqrt(s);
  }

  diag(out?: Tensor): Tensor {
    const o = outputFor(this.ctx, this.kind, 'diag', null, this.P, out);
    this.kl.forEach((k, i) => kfacBlockDiag(this.ctx, this.A[i], k.m, this.G[i], k.out, o, k.layer.offset));
    return o;
  }

  /** Undamped: every g_i a_j must be numerically nonzero. */
  private checkNonsingular(eig: FactorEigen[], op: string): void {
    let max = 0;
    let min = Infinity;
    for (let i = 0; i < this.kl.length; i++) {
      const a = eig[2 * i].values;
      const g = eig[2 * i + 1].values;
      for (const x of a) for (const y of g) {
        const p = Math.max(x, 0) * Math.max(y, 0);
        max = Math.max(max, p);
        min = Math.min(min, p);
      }
    }
    if (!(min > SINGULAR_REL * max)) throw new SingularError(this.kind, op, `smallest eigenvalue g_i a_j = ${min.toExponential(2)} of max ${max.toExponential(2)}`);
  }

  /** Inverse eigenvalues D_l (out x m) of the (pi-)damped factors; new tensors. */
  private async inverseEigenvalues(damping: number, op: string): Promise<Tensor[]> {
    checkDamping(this.kind, op, damping);
    const eig = await this.eigen();
    if (damping === 0) this.checkNonsingular(eig, op);
    return this.kl.map((k, i) => {
      const D = this.ctx.tensor([k.out, k.m], 'kfac inverse eigenvalues');
      if (damping > 0) kfacInverseEigenvalues(this.ctx, eig[2 * i + 1].valuesT, k.out, eig[2 * i].valuesT, k.m, damping, D);
      else {
        const a = eig[2 * i].values;
        const g = eig[2 * i + 1].values;
        const d = new Float32Array(k.out * k.m);
        for (let o = 0; o < k.out; o++) for (let j = 0; j < k.m; j++) d[o * k.m + j] = 1 / (g[o] * a[j]);
        this.ctx.write(D, d);
      }
      return D;
    });
  }

  async solve(v: Tensor, damping: number, out?: Tensor): Promise<Tensor> {
    checkVector(this.kind, 'solve', v, this.P);
    const D = await this.inverseEigenvalues(damping, 'solve');
    const eig = await this.eigen();
    const o = outputFor(this.ctx, this.kind, 'solve', v, this.P, out);
    this.kl.forEach((k, i) => kroneckerEigenApply(this.ctx, k.layer, eig[2 * i + 1].vectors, eig[2 * i].vectors, D[i], v, o, this.scratch[i]));
    for (const d of D) d.destroy();
    return o;
  }

  /** KFAC of the inverted (pi-)damped factors: (G + sqrt(l)/pi)^-1 (x) (A + pi sqrt(l))^-1. */
  async inverse(damping: number): Promise<KfacFisher> {
    checkDamping(this.kind, 'inverse', damping);
    const eig = await this.eigen();
    if (damping === 0) this.checkNonsingular(eig, 'inverse');
    const A: Tensor[] = [];
    const G: Tensor[] = [];
    this.kl.forEach((_, i) => {
      const eA = eig[2 * i];
      const eG = eig[2 * i + 1];
      const pi = piDamping(eA.values, eG.values);
      const sl = Math.sqrt(damping);
      // Clamp round-off negatives as the GPU kernel does (damping > 0); undamped: checked above.
      const clamp = (x: number) => (damping > 0 ? Math.max(x, 0) : x);
      A.push(eigenFunction(this.ctx, eA, (x) => 1 / (clamp(x) + pi * sl)));
      G.push(eigenFunction(this.ctx, eG, (x) => 1 / (clamp(x) + sl / pi)));
    });
    return new KfacFisher(this.ctx, this.P, this.layers, A, G, this.opts);
  }

  async eigenvalues(): Promise<Float64Array> {
    const eig = await this.eigen();
    const all = new Float64Array(this.P);
    this.kl.forEach((k, i) => {
      const a = eig[2 * i].values;
      const g = eig[2 * i + 1].values;
      for (let o = 0; o < k.out; o++) for (let j = 0; j < k.m; j++) all[k.layer.offset + o * k.m + j] = g[o] * a[j];
    });
    return all.sort();
  }

  async toDense(): Promise<Tensor> {
    const blocks = this.kl.map((k, i) => {
      const B = this.ctx.tensor([k.layer.size, k.layer.size], 'kfac block');
      kronProduct(this.ctx, this.G[i], k.out, this.A[i], k.m, B);
      return B;
    });
    const D = embedBlocks(this.ctx, this.P, this.layers, blocks);
    for (const b of blocks) b.destroy();
    return D;
  }

  dispose(): void {
    for (const t of [...this.A, ...this.G]) t.destroy();
    for (const e of this.eig ?? []) releaseEigen(e);
    this.eig = null;
    this.disposeScratch();
  }
}

// ---------------------------------------------------------------------------------------------

export class EkfacFisher extends KronBase implements FisherRepresentation {
  readonly kind = 'ekfac' as const;
  private sHost: Float32Array[] | null = null;

  /** Takes ownership of the bases (U_A: m x m, U_G: out x out, columns) and diagonals s (out x m). */
  constructor(
    ctx: GpuContext,
    P: number,
    layers: readonly ParamLayerPlan[],
    readonly UA: Tensor[],
    readonly UG: Tensor[],
    readonly s: Tensor[],
  ) {
    super(ctx, P, layers);
  }

  /** Factors, their eigenbases, and s = diag(Q^T F Q) from the projected signals. */
  static async fromSource(src: FisherSource, opts: KronOptions = {}): Promise<EkfacFisher> {
    const { ctx } = src;
    const layers = src.plan.paramLayers;
    const f = kfacFactors(ctx, layers, src.state, src.gamma);
    let eig: FactorEigen[];
    try {
      eig = await factorEigen(
        ctx,
        f.flatMap((x) => [
          { t: x.A, n: x.layer.fanIn + 1 },
          { t: x.G, n: x.layer.out },
        ]),
        { solver: opts.solver ?? 'cpu' },
      );
    } finally {
      for (const x of f) {
        x.A.destroy();
        x.G.destroy();
      }
    }
    const s = layers.map((l, i) => {
      const t = ctx.tensor([l.out, l.fanIn + 1], 'ekfac s');
      kroneckerBasisDiag(ctx, l, src.state, src.gamma, eig[2 * i + 1].vectors, eig[2 * i].vectors, t);
      return t;
    });
    for (const e of eig) e.valuesT.destroy();
    return new EkfacFisher(
      ctx,
      src.P,
      layers,
      layers.map((_, i) => eig[2 * i].vectors),
      layers.map((_, i) => eig[2 * i + 1].vectors),
      s,
    );
  }

  private async hostS(): Promise<Float32Array[]> {
    if (!this.sHost) this.sHost = await this.ctx.readMany(this.s.map((t) => ({ tensor: t })));
    return this.sHost;
  }

  mv(v: Tensor, out?: Tensor): Tensor {
    checkVector(this.kind, 'mv', v, this.P);
    const o = outputFor(this.ctx, this.kind, 'mv', v, this.P, out);
    this.kl.forEach((k, i) => kroneckerEigenApply(this.ctx, k.layer, this.UG[i], this.UA[i], this.s[i], v, o, this.scratch[i]));
    return o;
  }

  vTMv(v: Tensor): Promise<number> {
    return quadraticForm(this, this.ctx, v);
  }

  async trace(): Promise<number> {
    let t = 0;
    for (const s of this.s) t += await sum(this.ctx, s);
    return t;
  }

  async frobeniusNorm(): Promise<number> {
    let t = 0;
    for (const s of this.s) t += await sumOfSquares(this.ctx, s);
    return Math.sqrt(t);
  }

  diag(out?: Tensor): Tensor {
    const o = outputFor(this.ctx, this.kind, 'diag', null, this.P, out);
    this.kl.forEach((k, i) => ekfacBlockDiag(this.ctx, k.layer, this.UG[i], this.UA[i], this.s[i], o, k.layer.offset));
    return o;
  }

  private async checkNonsingular(damping: number, op: string): Promise<void> {
    checkDamping(this.kind, op, damping);
    if (damping > 0) return;
    let max = 0;
    let min = Infinity;
    for (const s of await this.hostS()) for (const x of s) {
      max = Math.max(max, x);
      min = Math.min(min, x);
    }
    if (!(min > SINGULAR_REL * max)) throw new SingularError(this.kind, op, `smallest diagonal entry s = ${min.toExponential(2)} of max ${max.toExponential(2)}`);
  }

  async solve(v: Tensor, damping: number, out?: Tensor): Promise<Tensor> {
    checkVector(this.kind, 'solve', v, this.P);
    await this.checkNonsingular(damping, 'solve');
    const o = outputFor(this.ctx, this.kind, 'solve', v, this.P, out);
    this.kl.forEach((k, i) => {
      const D = this.ctx.tensor([k.out, k.m], 'ekfac 1/(s + l)');
      invDamped(this.ctx, this.s[i], damping, D);
      kroneckerEigenApply(this.ctx, k.layer, this.UG[i], this.UA[i], D, v, o, this.scratch[i]);
      D.destroy();
    });
    return o;
  }

  /** Same eigenbasis, diagonal 1 / (s + l): exactly (EKFAC + l I)^-1. */
  async inverse(damping: number): Promise<EkfacFisher> {
    await this.checkNonsingular(damping, 'inverse');
    const copy = (t: Tensor, label: string) => {
      const c = this.ctx.tensor(t.shape, label);
      this.ctx.copy(t, c);
      return c;
    };
    const s = this.kl.map((k, i) => {
      const D = this.ctx.tensor([k.out, k.m], 'ekfac inverse s');
      invDamped(this.ctx, this.s[i], damping, D);
      return D;
    });
    return new EkfacFisher(
      this.ctx,
      this.P,
      this.layers,
      this.UA.map((t) => copy(t, 'U_A')),
      this.UG.map((t) => copy(t, 'U_G')),
      s,
    );
  }

  async eigenvalues(): Promise<Float64Array> {
    const all = new Float64Array(this.P);
    (await this.hostS()).forEach((s, i) => all.set(s, this.kl[i].layer.offset));
    return all.sort();
  }

  async toDense(): Promise<Tensor> {
    const blocks = this.kl.map((k, i) => ekfacBlock(this.ctx, k.layer, this.UG[i], this.UA[i], this.s[i]));
    const D = embedBlocks(this.ctx, this.P, this.layers, blocks);
    for (const b of blocks) b.destroy();
    return D;
  }

  dispose(): void {
    for (const t of [...this.UA, ...this.UG, ...this.s]) t.destroy();
    this.sHost = null;
    this.disposeScratch();
  }
}
