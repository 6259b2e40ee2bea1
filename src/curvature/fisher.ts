/**
 * Fisher / GGN representations with one interface (NNGeometry's `PMat*`): code written against
 * `FisherRepresentation` works with any of them. This file holds the interface, the shared
 * errors and helpers, and the explicit representations Dense, Diag and BlockDiag; the Kronecker
 * ones (KFAC, EKFAC) are in fisher-kron.ts, the matrix-free Implicit and LowRank in
 * fisher-free.ts.
 *
 * Conventions (README section 4): F = (1/n) sum_i J_i^T M_i J_i, P x P in the [W | b] layout of
 * src/model/layout.ts. Vectors are P-element tensors. Every operation either returns the right
 * answer or throws: `UnsupportedOperationError` for an operation a representation cannot
 * provide, `SingularError` for an undamped solve of a singular matrix, plain `Error` for bad
 * arguments (negative or non-finite damping, wrong sizes).
 *
 * | representation | storage            | solve(v, l)                         | inverse(l)           |
 * |----------------|--------------------|-------------------------------------|----------------------|
 * | Dense          | P x P (GPU)        | Cholesky of F + l I (float64, host) | Dense                |
 * | Diag           | P                  | v / (d + l)                         | Diag                 |
 * | BlockDiag      | P_l x P_l / layer  | Cholesky per block (float64, host)  | BlockDiag            |
 * | KFAC           | A, G / layer       | pi-damped Kronecker inverse         | KFAC (damped factors)|
 * | EKFAC          | U_A, U_G, s / layer| Q diag(1 / (s + l)) Q^T v           | EKFAC                |
 * | Implicit       | forward state only | conjugate gradient on F + l I       | unsupported          |
 * | LowRank        | U (P x k), lambda  | Woodbury                            | unsupported          |
 *
 * The float64 host solves of Dense and BlockDiag are deliberate: they serve matrices up to
 * `fisher_max_params` (a few thousand), where a float64 Cholesky in JS takes milliseconds to a
 * few seconds and is far more accurate than float32 for the ill-conditioned F + l I that small
 * dampings give; the GPU side (the products) stays float32.
 */
import { TangentError, UnsupportedError } from '../experiment/errors';
import type { GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import type { ParamLayerPlan } from '../model/layout';
import { matmul } from '../ops/matmul';
import { mulInPlace } from '../ops/elementwise';
import { dot, sumOfSquares, sum, trace as traceOf } from '../ops/reduce';
import { fullJacobian } from '../geometry/kernels';
import { cholesky, eigvalsSym } from '../math/linalg';
import { diagEmbed, diagonal, divDamped, invDamped, setBlock } from '../ops/kfac';
import { exactBlock, kroneckerBasisDiag } from './ekfac';
import type { FisherSource } from './source';

export type FisherKind = 'dense' | 'diag' | 'block-diag' | 'kfac' | 'ekfac' | 'implicit' | 'low-rank';

/** An operation this representation cannot provide (never a silently wrong answer). */
export class UnsupportedOperationError extends UnsupportedError {
  constructor(kind: FisherKind, op: string, why: string) {
    super(`${kind} Fisher: ${op} is not supported (${why})`);
  }
}

/** An undamped solve (or inverse) of a singular representation. */
export class SingularError extends TangentError {
  constructor(kind: FisherKind, op: string, why: string) {
    super('numeric', `${kind} Fisher: ${op} with damping 0 on a singular matrix (${why}); pass a damping > 0`);
  }
}

export interface FisherRepresentation {
  readonly kind: FisherKind;
  /** Number of parameters (the matrix is P x P). */
  readonly P: number;
  /** out = F v (a new tensor unless `out` is given; `out` must differ from `v`). */
  mv(v: Tensor, out?: Tensor): Tensor;
  /** v^T F v (float64 finish). */
  vTMv(v: Tensor): Promise<number>;
  trace(): Promise<number>;
  frobeniusNorm(): Promise<number>;
  /** The diagonal of F (a new tensor unless `out` is given). */
  diag(out?: Tensor): Tensor;
  /**
   * x = (F + damping I)^-1 v (KFAC: the pi-damped Kronecker inverse, see fisher-kron.ts).
   * damping >= 0; damping = 0 throws SingularError when F is singular.
   */
  solve(v: Tensor, damping: number, out?: Tensor): Promise<Tensor>;
  /** The representation of (F + damping I)^-1, where it is one of the same kind. */
  inverse(damping: number): Promise<FisherRepresentation>;
  /** All P eigenvalues, ascending (float64 host array). */
  eigenvalues(): Promise<Float64Array>;
  /** The dense P x P matrix (a new tensor), for inspection and tests. */
  toDense(): Promise<Tensor>;
  dispose(): void;
}

// ---------------------------------------------------------------------------------------------
// Helpers shared by every representation.

export function checkVector(kind: FisherKind, op: string, v: Tensor, P: number): void {
  if (v.isDestroyed) throw new Error(`${kind} Fisher: ${op} of a destroyed tensor`);
  if (v.size < P) throw new Error(`${kind} Fisher: ${op} needs a vector of ${P} entries, got ${v.size}`);
}

export function checkDamping(kind: FisherKind, op: string, damping: number): void {
  if (!(typeof damping === 'number' && Number.isFinite(damping) && damping >= 0)) {
    throw new Error(`${kind} Fisher: ${op} damping must be a finite number >= 0, got ${damping}`);
  }
}

export function outputFor(ctx: GpuContext, kind: FisherKind, op: string, v: Tensor | null, P: number, out?: Tensor): Tensor {
  if (!out) return ctx.tensor([P], `${kind} ${op}`);
  if (out === v) throw new Error(`${kind} Fisher: ${op} output must differ from its input`);
  if (out.size < P) throw new Error(`${kind} Fisher: ${op} output has ${out.size} entries, needs ${P}`);
  return out;
}

/** v^T (F v) through `mv`, float64 finish. */
export async function quadraticForm(rep: FisherRepresentation, ctx: GpuContext, v: Tensor): Promise<number> {
  const w = rep.mv(v);
  const r = await dot(ctx, v, w, rep.P);
  w.destroy();
  return r;
}

/** Host float64 copy of an N x N matrix, symmetrized (float32 products are symmetric to round-off). */
export async function hostSymmetric(ctx: GpuContext, t: Tensor, N: number): Promise<Float64Array> {
  const a = await ctx.read(t, 0, N * N);
  const A = new Float64Array(N * N);
  for (let i = 0; i < N; i++) for (let j = 0; j < N; j++) A[i * N + j] = 0.5 * (a[i * N + j] + a[j * N + i]);
  return A;
}

/**
 * Lower Cholesky factor of A + damping I (float64), or a SingularError when it is not positive
 * definite (damping 0 on a singular F) or a plain Error when damping > 0 still fails (F not PSD:
 * NaN or a corrupted matrix).
 */
export function dampedCholesky(kind: FisherKind, A: Float64Array, N: number, damping: number): Float64Array {
  const B = Float64Array.from(A);
  for (let i = 0; i < N; i++) B[i * N + i] += damping;
  // Relative pivot floor: a pivot below N eps ||A|| is numerically zero, and float32 input makes
  // "exactly singular" land anywhere around it.
  let scale = 0;
  for (let i = 0; i < N; i++) scale = Math.max(scale, Math.abs(B[i * N + i]));
  try {
    const L = cholesky(B, N);
    let minPivot = Infinity;
    for (let i = 0; i < N; i++) minPivot = Math.min(minPivot, L[i * N + i] * L[i * N + i]);
    if (damping === 0 && minPivot <= 1e-6 * scale) throw new Error(`pivot ${minPivot.toExponential(2)}`);
    return L;
  } catch (e) {
    if (damping === 0) throw new SingularError(kind, 'solve', `Cholesky pivot at round-off level: ${(e as Error).message}`);
    throw new Error(
      `${kind} Fisher: F + ${damping} I is not numerically positive definite (${(e as Error).message}): the damping is below the float32 round-off of F, or F is not finite; raise the damping`,
    );
  }
}

/** Solve L L^T x = b in place (b: N). */
export function choleskyApply(L: Float64Array, N: number, b: Float64Array): Float64Array {
  const x = Float64Array.from(b);
  for (let i = 0; i < N; i++) {
    let s = x[i];
    for (let p = 0; p < i; p++) s -= L[i * N + p] * x[p];
    x[i] = s / L[i * N + i];
  }
  for (let i = N - 1; i >= 0; i--) {
    let s = x[i];
    for (let p = i + 1; p < N; p++) s -= L[p * N + i] * x[p];
    x[i] = s / L[i * N + i];
  }
  return x;
}

/** (A + damping I)^-1 as a dense float64 matrix, from its Cholesky factor. */
export function choleskyInverse(L: Float64Array, N: number): Float64Array {
  const inv = new Float64Array(N * N);
  const e = new Float64Array(N);
  for (let j = 0; j < N; j++) {
    e.fill(0);
    e[j] = 1;
    const x = choleskyApply(L, N, e);
    for (let i = 0; i < N; i++) inv[i * N + j] = x[i];
  }
  return inv;
}

function checkSize(ctx: GpuContext, P: number, what: string): void {
  ctx.checkStorageBytes(P * P * 4, `${what} (${P} x ${P})`);
}

// ---------------------------------------------------------------------------------------------

/** The dense P x P Fisher on the GPU. */
export class DenseFisher implements FisherRepresentation {
  readonly kind = 'dense' as const;
  private host: Float64Array | null = null;
  private factor: { damping: number; L: Float64Array } | null = null;

  /** Takes ownership of `F` (P x P, symmetric). */
  constructor(
    readonly ctx: GpuContext,
    readonly P: number,
    readonly F: Tensor,
  ) {
    if (F.size < P * P) throw new Error(`dense Fisher: matrix has ${F.size} entries, needs ${P * P}`);
  }

  /** F = Gamma^T Gamma / n from the metric-weighted Jacobian (formed, then freed). */
  static fromSource(src: FisherSource): DenseFisher {
    const { ctx, P } = src;
    checkSize(ctx, P, 'the dense Fisher');
    const J = fullJacobian(ctx, src.plan, src.state, src.gamma);
    const F = ctx.tensor([P, P], 'dense Fisher');
    matmul(ctx, { a: J, b: J, c: F, M: P, N: P, K: src.rows, transA: true, alpha: 1 / src.n });
    J.destroy();
    return new DenseFisher(ctx, P, F);
  }

  private async hostMatrix(): Promise<Float64Array> {
    if (!this.host) this.host = await hostSymmetric(this.ctx, this.F, this.P);
    return this.host;
  }

  mv(v: Tensor, out?: Tensor): Tensor {
    checkVector(this.kind, 'mv', v, this.P);
    const o = outputFor(this.ctx, this.kind, 'mv', v, this.P, out);
    matmul(this.ctx, { a: this.F, b: v, c: o, M: this.P, N: 1, K: this.P });
    return o;
  }

  vTMv(v: Tensor): Promise<number> {
    return quadraticForm(this, this.ctx, v);
  }

  trace(): Promise<number> {
    return traceOf(this.ctx, this.F, this.P);
  }

  async frobeniusNorm(): Promise<number> {
    return Math.sqrt(await sumOfSquares(this.ctx, this.F, this.P * this.P));
  }

  diag(out?: Tensor): Tensor {
    const o = outputFor(this.ctx, this.kind, 'diag', null, this.P, out);
    diagonal(this.ctx, this.F, o, this.P);
    return o;
  }

  private async cholesky(damping: number): Promise<Float64Array> {
    if (this.factor?.damping !== damping) this.factor = { damping, L: dampedCholesky(this.kind, await this.hostMatrix(), this.P, damping) };
    return this.factor.L;
  }

  async solve(v: Tensor, damping: number, out?: Tensor): Promise<Tensor> {
    checkVector(this.kind, 'solve', v, this.P);
    checkDamping(this.kind, 'solve', damping);
    const L = await this.cholesky(damping);
    const b = Float64Array.from(await this.ctx.read(v, 0, this.P));
    const x = choleskyApply(L, this.P, b);
    const o = outputFor(this.ctx, this.kind, 'solve', v, this.P, out);
    this.ctx.write(o, Float32Array.from(x));
    return o;
  }

  async inverse(damping: number): Promise<DenseFisher> {
    checkDamping(this.kind, 'inverse', damping);
    const inv = choleskyInverse(await this.cholesky(damping), this.P);
    return new DenseFisher(this.ctx, this.P, this.ctx.upload(inv, [this.P, this.P], 'dense Fisher inverse'));
  }

  async eigenvalues(): Promise<Float64Array> {
    return eigvalsSym(await this.hostMatrix(), this.P);
  }

  async toDense(): Promise<Tensor> {
    const D = this.ctx.tensor([this.P, this.P], 'dense Fisher copy');
    this.ctx.copy(this.F, D, this.P * this.P);
    return D;
  }

  dispose(): void {
    this.F.destroy();
    this.host = null;
    this.factor = null;
  }
}

// ---------------------------------------------------------------------------------------------

/** The diagonal of F (P), computed from squared signals without any per-example gradient. */
export class DiagFisher implements FisherRepresentation {
  readonly kind = 'diag' as const;
  private host: Float32Array | null = null;

  /** Takes ownership of `d` (P). */
  constructor(
    readonly ctx: GpuContext,
    readonly P: number,
    readonly d: Tensor,
  ) {
    if (d.size < P) throw new Error(`diag Fisher: vector has ${d.size} entries, needs ${P}`);
  }

  static fromSource(src: FisherSource): DiagFisher {
    const d = src.ctx.tensor([src.P], 'diag Fisher');
    for (const layer of src.plan.paramLayers) kroneckerBasisDiag(src.ctx, layer, src.state, src.gamma, null, null, d, layer.offset);
    return new DiagFisher(src.ctx, src.P, d);
  }

  private async hostDiag(): Promise<Float32Array> {
    if (!this.host) this.host = await this.ctx.read(this.d, 0, this.P);
    return this.host;
  }

  mv(v: Tensor, out?: Tensor): Tensor {
    checkVector(this.kind, 'mv', v, this.P);
    const o = outputFor(this.ctx, this.kind, 'mv', v, this.P, out);
    this.ctx.copy(v, o, this.P);
    mulInPlace(this.ctx, this.d, o, this.P);
    return o;
  }

  vTMv(v: Tensor): Promise<number> {
    return quadraticForm(this, this.ctx, v);
  }

  trace(): Promise<number> {
    return sum(this.ctx, this.d, this.P);
  }

  async frobeniusNorm(): Promise<number> {
    return Math.sqrt(await sumOfSquares(this.ctx, this.d, this.P));
  }

  diag(out?: Tensor): Tensor {
    const o = outputFor(this.ctx, this.kind, 'diag', null, this.P, out);
    this.ctx.copy(this.d, o, this.P);
    return o;
  }

  private async checkInvertible(op: string, damping: number): Promise<void> {
    checkDamping(this.kind, op, damping);
    if (damping > 0) return;
    const d = await this.hostDiag();
    let max = 0;
    let min = Infinity;
    for (const x of d) {
      max = Math.max(max, x);
      min = Math.min(min, x);
    }
    if (!(min > 1e-7 * max)) throw new SingularError(this.kind, op, `smallest diagonal entry ${min.toExponential(2)} of max ${max.toExponential(2)}`);
  }

  async solve(v: Tensor, damping: number, out?: Tensor): Promise<Tensor> {
    checkVector(this.kind, 'solve', v, this.P);
    await this.checkInvertible('solve', damping);
    const o = outputFor(this.ctx, this.kind, 'solve', v, this.P, out);
    divDamped(this.ctx, this.d, v, damping, o, this.P);
    return o;
  }

  async inverse(damping: number): Promise<DiagFisher> {
    await this.checkInvertible('inverse', damping);
    const d = this.ctx.tensor([this.P], 'diag Fisher inverse');
    invDamped(this.ctx, this.d, damping, d, this.P);
    return new DiagFisher(this.ctx, this.P, d);
  }

  async eigenvalues(): Promise<Float64Array> {
    return Float64Array.from(await this.hostDiag()).sort();
  }

  async toDense(): Promise<Tensor> {
    checkSize(this.ctx, this.P, 'the dense form of the diag Fisher');
    const D = this.ctx.tensor([this.P, this.P], 'diag Fisher dense');
    diagEmbed(this.ctx, this.d, this.P, D, this.P);
    return D;
  }

  dispose(): void {
    this.d.destroy();
    this.host = null;
  }
}

// ---------------------------------------------------------------------------------------------

/** The exact diagonal blocks F_l of every parametrized layer (no cross-layer terms). */
export class BlockDiagFisher implements FisherRepresentation {
  readonly kind = 'block-diag' as const;
  private host: Float64Array[] | null = null;
  private factors: { damping: number; L: Float64Array[] } | null = null;

  /** Takes ownership of `blocks[l]` (P_l x P_l, at `layers[l].offset`). */
  constructor(
    readonly ctx: GpuContext,
    readonly P: number,
    readonly layers: readonly ParamLayerPlan[],
    readonly blocks: Tensor[],
  ) {}

  static fromSource(src: FisherSource): BlockDiagFisher {
    const blocks = src.plan.paramLayers.map((l) => exactBlock(src.ctx, l, src.state, src.gamma));
    return new BlockDiagFisher(src.ctx, src.P, src.plan.paramLayers, blocks);
  }

  private async hostBlocks(): Promise<Float64Array[]> {
    if (!this.host) {
      const h: Float64Array[] = [];
      for (let i = 0; i < this.layers.length; i++) h.push(await hostSymmetric(this.ctx, this.blocks[i], this.layers[i].size));
      this.host = h;
    }
    return this.host;
  }

  mv(v: Tensor, out?: Tensor): Tensor {
    checkVector(this.kind, 'mv', v, this.P);
    const o = outputFor(this.ctx, this.kind, 'mv', v, this.P, out);
    this.layers.forEach((l, i) => {
      matmul(this.ctx, { a: this.blocks[i], b: { t: v, offset: l.offset, ld: 1 }, c: { t: o, offset: l.offset, ld: 1 }, M: l.size, N: 1, K: l.size });
    });
    return o;
  }

  vTMv(v: Tensor): Promise<number> {
    return quadraticForm(this, this.ctx, v);
  }

  async trace(): Promise<number> {
    let t = 0;
    for (let i = 0; i < this.layers.length; i++) t += await traceOf(this.ctx, this.blocks[i], this.layers[i].size);
    return t;
  }

  async frobeniusNorm(): Promise<number> {
    let s = 0;
    for (let i = 0; i < this.layers.length; i++) s += await sumOfSquares(this.ctx, this.blocks[i], this.layers[i].size ** 2);
    return Math.sqrt(s);
  }

  diag(out?: Tensor): Tensor {
    const o = outputFor(this.ctx, this.kind, 'diag', null, this.P, out);
    this.layers.forEach((l, i) => diagonal(this.ctx, this.blocks[i], o, l.size, l.offset));
    return o;
  }

  private async choleskys(damping: number): Promise<Float64Array[]> {
    if (this.factors?.damping !== damping) {
      const host = await this.hostBlocks();
      this.factors = { damping, L: host.map((B, i) => dampedCholesky(this.kind, B, this.layers[i].size, damping)) };
    }
    return this.factors.L;
  }

  async solve(v: Tensor, damping: number, out?: Tensor): Promise<Tensor> {
    checkVector(this.kind, 'solve', v, this.P);
    checkDamping(this.kind, 'solve', damping);
    const L = await this.choleskys(damping);
    const b = await this.ctx.read(v, 0, this.P);
    const x = new Float32Array(this.P);
    this.layers.forEach((l, i) => x.set(choleskyApply(L[i], l.size, Float64Array.from(b.subarray(l.offset, l.offset + l.size))), l.offset));
    const o = outputFor(this.ctx, this.kind, 'solve', v, this.P, out);
    this.ctx.write(o, x);
    return o;
  }

  async inverse(damping: number): Promise<BlockDiagFisher> {
    checkDamping(this.kind, 'inverse', damping);
    const L = await this.choleskys(damping);
    const blocks = this.layers.map((l, i) => this.ctx.upload(choleskyInverse(L[i], l.size), [l.size, l.size], 'block inverse'));
    return new BlockDiagFisher(this.ctx, this.P, this.layers, blocks);
  }

  async eigenvalues(): Promise<Float64Array> {
    const host = await this.hostBlocks();
    const all = new Float64Array(this.P);
    host.forEach((B, i) => all.set(eigvalsSym(B, this.layers[i].size), this.layers[i].offset));
    return all.sort();
  }

  async toDense(): Promise<Tensor> {
    return embedBlocks(this.ctx, this.P, this.layers, this.blocks);
  }

  dispose(): void {
    for (const b of this.blocks) b.destroy();
    this.host = null;
    this.factors = null;
  }
}

/** A zero P x P matrix with `blocks[l]` on the diagonal at each layer's offset. */
export function embedBlocks(ctx: GpuContext, P: number, layers: readonly ParamLayerPlan[], blocks: Tensor[]): Tensor {
  checkSize(ctx, P, 'the dense form of a block-diagonal Fisher');
  const D = ctx.tensor([P, P], 'block-diagonal dense');
  layers.forEach((l, i) => setBlock(ctx, blocks[i], l.size, D, P, l.offset));
  return D;
}
