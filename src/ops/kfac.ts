/** Typed wrappers of shaders/kfac.wgsl (elementwise and small-reduction steps of KFAC / EKFAC). */
import { Uniforms, type GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import { need, run1d } from './dispatch';

interface K {
  n?: number;
  R?: number;
  W?: number;
  p?: number;
  q?: number;
  o0?: number;
  scale?: number;
  beta?: number;
  d1?: number;
}

function uniforms(k: K): ArrayBuffer {
  return new Uniforms()
    .u32(k.n ?? 0, k.R ?? 0, k.W ?? 0, k.p ?? 0)
    .u32(k.q ?? 0, k.o0 ?? 0, 0, 0)
    .f32(k.scale ?? 1, k.beta ?? 0, k.d1 ?? 0, 0)
    .bytes();
}

function run(ctx: GpuContext, entry: string, total: number, x: Tensor, y: Tensor | null, out: Tensor, k: K): void {
  run1d(ctx, { shader: 'kfac', entry, total, inputs: [x, y ?? ctx.placeholder], outputs: [out], uniforms: uniforms(k) });
}

/** out (n x W) = scale * sum over the R rows of each example of x^2, x: (n R) x W. */
export function rowsSumSq(ctx: GpuContext, x: Tensor, out: Tensor, n: number, R: number, W: number, scale = 1): void {
  need(x, n * R * W, 'rowsSumSq input');
  need(out, n * W, 'rowsSumSq output');
  run(ctx, 'rows_sumsq', n * W, x, null, out, { n, R, W, scale });
}

/** out (n) = scale * <x_i, y_i> over each example's R rows of W values. */
export function rowsDot(ctx: GpuContext, x: Tensor, y: Tensor, out: Tensor, n: number, R: number, W: number, scale = 1): void {
  need(x, n * R * W, 'rowsDot x');
  need(y, n * R * W, 'rowsDot y');
  need(out, n, 'rowsDot output');
  run(ctx, 'rows_dot', n, x, y, out, { n, R, W, scale });
}

/** out = x^2 elementwise over the first n elements. */
export function square(ctx: GpuContext, x: Tensor, out: Tensor, n = x.size): void {
  need(x, n, 'square input');
  need(out, n, 'square output');
  run(ctx, 'square', n, x, null, out, { n });
}

/** out (W) = beta out + scale * sum over B matrices (B x W, row-major) of their squared entries. */
export function colsSumSq(ctx: GpuContext, x: Tensor, out: Tensor, B: number, W: number, scale: number, beta: number): void {
  need(x, B * W, 'colsSumSq input');
  need(out, W, 'colsSumSq output');
  run(ctx, 'cols_sumsq', W, x, null, out, { R: B, W, scale, beta });
}

/** out = X (x) Y for X (p x p) and Y (q x q), index (o q + a, o' q + a'). */
export function kronProduct(ctx: GpuContext, X: Tensor, p: number, Y: Tensor, q: number, out: Tensor): void {
  need(X, p * p, 'kron X');
  need(Y, q * q, 'kron Y');
  need(out, p * q * p * q, 'kron output');
  run(ctx, 'kron', p * q * p * q, X, Y, out, { p, q });
}

/** out[z] = X diag(Y[z]) for z < p: X is q x q, Y is p x q, out is p x q x q. */
export function scaleCols(ctx: GpuContext, X: Tensor, Y: Tensor, out: Tensor, p: number, q: number): void {
  need(X, q * q, 'scaleCols X');
  need(Y, p * q, 'scaleCols Y');
  need(out, p * q * q, 'scaleCols output');
  run(ctx, 'scale_cols', p * q * q, X, Y, out, { p, q });
}

/** out[(o p + o'), k] = X[o, k] X[o', k] for X (p x p). */
export function outerCols(ctx: GpuContext, X: Tensor, out: Tensor, p: number): void {
  need(X, p * p, 'outerCols X');
  need(out, p * p * p, 'outerCols output');
  run(ctx, 'outer_cols', p * p * p, X, null, out, { p });
}

/** out[offset : offset + p] = diagonal of the p x p matrix X. */
export function diagonal(ctx: GpuContext, X: Tensor, out: Tensor, p: number, offset = 0): void {
  need(X, p * p, 'diag X');
  need(out, offset + p, 'diag output');
  run(ctx, 'diag', p, X, null, out, { p, o0: offset });
}

/** Write the p x p matrix X into the N x N matrix `out` as the diagonal block at (offset, offset). */
export function setBlock(ctx: GpuContext, X: Tensor, p: number, out: Tensor, N: number, offset: number): void {
  need(X, p * p, 'setBlock X');
  need(out, N * N, 'setBlock output');
  if (offset + p > N) throw new Error(`setBlock: a ${p}x${p} block at ${offset} overflows ${N}x${N}`);
  run(ctx, 'set_block', p * p, X, null, out, { n: N, p, o0: offset });
}

/** Write the vector x (p) onto the diagonal of the N x N matrix `out`, starting at (offset, offset). */
export function diagEmbed(ctx: GpuContext, x: Tensor, p: number, out: Tensor, N: number, offset = 0): void {
  need(x, p, 'diagEmbed x');
  need(out, N * N, 'diagEmbed output');
  if (offset + p > N) throw new Error(`diagEmbed: ${p} values at ${offset} overflow ${N}x${N}`);
  run(ctx, 'diag_embed', p, x, null, out, { n: N, p, o0: offset });
}

/** out (p x q) = pi-damped KFAC inverse eigenvalues 1 / ((eG + sqrt(l)/pi)(eA + pi sqrt(l))). */
export function kfacInverseEigenvalues(ctx: GpuContext, eigG: Tensor, p: number, eigA: Tensor, q: number, damping: number, out: Tensor): void {
  need(eigG, p, 'kfac eig_G');
  need(eigA, q, 'kfac eig_A');
  need(out, p * q, 'kfac inverse eigenvalues');
  run(ctx, 'kfac_inv', p * q, eigG, eigA, out, { p, q, d1: damping });
}

/** out = 1 / (max(x, 0) + damping), elementwise. */
export function invDamped(ctx: GpuContext, x: Tensor, damping: number, out: Tensor, n = x.size): void {
  need(x, n, 'invDamped input');
  need(out, n, 'invDamped output');
  run(ctx, 'inv_damped', n, x, null, out, { n, d1: damping });
}

/** out = v / (d + damping), elementwise. */
export function divDamped(ctx: GpuContext, d: Tensor, v: Tensor, damping: number, out: Tensor, n = d.size): void {
  need(d, n, 'divDamped d');
  need(v, n, 'divDamped v');
  need(out, n, 'divDamped output');
  run(ctx, 'div_damped', n, d, v, out, { n, d1: damping });
}

/** out (n x c) = scale * (diag p_i - p_i p_i^T) y_i with p_i = softmax(logits_i). */
export function crossEntropyMetricMv(ctx: GpuContext, logits: Tensor, y: Tensor, out: Tensor, n: number, c: number, scale = 1): void {
  need(logits, n * c, 'metric logits');
  need(y, n * c, 'metric input');
  need(out, n * c, 'metric output');
  run(ctx, 'ce_metric_mv', n, logits, y, out, { n, W: c, scale });
}
