/**
 * Typed wrappers of the curvature helper shaders, the elementwise and small-reduction steps of
 * KFAC / EKFAC and the Fisher representations between the matrix products:
 * shaders/kfac_moments.wgsl (sums of squares and products), shaders/kfac_kron.wgsl (Kronecker
 * blocks), shaders/kfac_blocks.wgsl (diagonals and diagonal blocks of a P x P matrix),
 * shaders/kfac_damping.wgsl (damped inverses) and shaders/metric.wgsl (the cross-entropy metric).
 * Float64 twins: src/reference/kernels.ts (same names with a `Ref` suffix).
 */
import type { GpuContext } from '../gpu/context';
import { kernel } from '../gpu/kernel';
import type { Tensor } from '../gpu/tensor';
import { need, run1d } from './dispatch';

const moments = (entry: string) =>
  kernel({
    shader: 'kfac_moments',
    entry,
    inputs: ['x', 'y'],
    outputs: ['out'],
    uniforms: { n: 'u32', R: 'u32', W: 'u32', scale: 'f32', beta: 'f32' },
    workgroupSize: 256,
  });

export const ROWS_SUMSQ = moments('rows_sumsq');
export const ROWS_DOT = moments('rows_dot');
export const COLS_SUMSQ = moments('cols_sumsq');
export const SQUARE = moments('square');

const kron = (entry: string) =>
  kernel({ shader: 'kfac_kron', entry, inputs: ['x', 'y'], outputs: ['out'], uniforms: { p: 'u32', q: 'u32' }, workgroupSize: 256 });

export const KRON = kron('kron');
export const SCALE_COLS = kron('scale_cols');
export const OUTER_COLS = kron('outer_cols');

const blocks = (entry: string) =>
  kernel({ shader: 'kfac_blocks', entry, inputs: ['x'], outputs: ['out'], uniforms: { N: 'u32', p: 'u32', offset: 'u32' }, workgroupSize: 256 });

export const DIAG = blocks('diag');
export const SET_BLOCK = blocks('set_block');
export const DIAG_EMBED = blocks('diag_embed');

const damping = (entry: string) =>
  kernel({
    shader: 'kfac_damping',
    entry,
    inputs: ['x', 'y'],
    outputs: ['out'],
    uniforms: { n: 'u32', p: 'u32', q: 'u32', damping: 'f32' },
    workgroupSize: 256,
  });

export const KFAC_INV = damping('kfac_inv');
export const INV_DAMPED = damping('inv_damped');
export const DIV_DAMPED = damping('div_damped');

export const CE_METRIC_MV = kernel({
  shader: 'metric',
  entry: 'ce_metric_mv',
  inputs: ['logits', 'v'],
  outputs: ['out'],
  uniforms: { n: 'u32', c: 'u32', scale: 'f32' },
  workgroupSize: 256,
});

/** out (n x W) = scale * sum over the R rows of each example of x^2, x: (n R) x W. */
export function rowsSumSq(ctx: GpuContext, x: Tensor, out: Tensor, n: number, R: number, W: number, scale = 1): void {
  need(x, n * R * W, 'rowsSumSq input');
  need(out, n * W, 'rowsSumSq output');
  run1d(ctx, ROWS_SUMSQ, { total: n * W, inputs: [x, ctx.placeholder], outputs: [out], uniforms: { n, R, W, scale, beta: 0 } });
}

/** out (n) = scale * <x_i, y_i> over each example's R rows of W values. */
export function rowsDot(ctx: GpuContext, x: Tensor, y: Tensor, out: Tensor, n: number, R: number, W: number, scale = 1): void {
  need(x, n * R * W, 'rowsDot x');
  need(y, n * R * W, 'rowsDot y');
  need(out, n, 'rowsDot output');
  run1d(ctx, ROWS_DOT, { total: n, inputs: [x, y], outputs: [out], uniforms: { n, R, W, scale, beta: 0 } });
}

/** out = x^2 elementwise over the first n elements. */
export function square(ctx: GpuContext, x: Tensor, out: Tensor, n = x.size): void {
  need(x, n, 'square input');
  need(out, n, 'square output');
  run1d(ctx, SQUARE, { total: n, inputs: [x, ctx.placeholder], outputs: [out], uniforms: { n, R: 0, W: 0, scale: 1, beta: 0 } });
}

/** out (W) = beta out + scale * sum over B matrices (B x W, row-major) of their squared entries. */
export function colsSumSq(ctx: GpuContext, x: Tensor, out: Tensor, B: number, W: number, scale: number, beta: number): void {
  need(x, B * W, 'colsSumSq input');
  need(out, W, 'colsSumSq output');
  run1d(ctx, COLS_SUMSQ, { total: W, inputs: [x, ctx.placeholder], outputs: [out], uniforms: { n: 0, R: B, W, scale, beta } });
}

/** out = X (x) Y for X (p x p) and Y (q x q), index (o q + a, o' q + a'). */
export function kronProduct(ctx: GpuContext, X: Tensor, p: number, Y: Tensor, q: number, out: Tensor): void {
  need(X, p * p, 'kron X');
  need(Y, q * q, 'kron Y');
  need(out, p * q * p * q, 'kron output');
  run1d(ctx, KRON, { total: p * q * p * q, inputs: [X, Y], outputs: [out], uniforms: { p, q } });
}

/** out[z] = X diag(Y[z]) for z < p: X is q x q, Y is p x q, out is p x q x q. */
export function scaleCols(ctx: GpuContext, X: Tensor, Y: Tensor, out: Tensor, p: number, q: number): void {
  need(X, q * q, 'scaleCols X');
  need(Y, p * q, 'scaleCols Y');
  need(out, p * q * q, 'scaleCols output');
  run1d(ctx, SCALE_COLS, { total: p * q * q, inputs: [X, Y], outputs: [out], uniforms: { p, q } });
}

/** out[(o p + o'), k] = X[o, k] X[o', k] for X (p x p). */
export function outerCols(ctx: GpuContext, X: Tensor, out: Tensor, p: number): void {
  need(X, p * p, 'outerCols X');
  need(out, p * p * p, 'outerCols output');
  run1d(ctx, OUTER_COLS, { total: p * p * p, inputs: [X, ctx.placeholder], outputs: [out], uniforms: { p, q: 0 } });
}

/** out[offset : offset + p] = diagonal of the p x p matrix X. */
export function diagonal(ctx: GpuContext, X: Tensor, out: Tensor, p: number, offset = 0): void {
  need(X, p * p, 'diag X');
  need(out, offset + p, 'diag output');
  run1d(ctx, DIAG, { total: p, inputs: [X], outputs: [out], uniforms: { N: 0, p, offset } });
}

/** Write the p x p matrix X into the N x N matrix `out` as the diagonal block at (offset, offset). */
export function setBlock(ctx: GpuContext, X: Tensor, p: number, out: Tensor, N: number, offset: number): void {
  need(X, p * p, 'setBlock X');
  need(out, N * N, 'setBlock output');
  if (offset + p > N) throw new Error(`setBlock: a ${p}x${p} block at ${offset} overflows ${N}x${N}`);
  run1d(ctx, SET_BLOCK, { total: p * p, inputs: [X], outputs: [out], uniforms: { N, p, offset } });
}

/** Write the vector x (p) onto the diagonal of the N x N matrix `out`, starting at (offset, offset). */
export function diagEmbed(ctx: GpuContext, x: Tensor, p: number, out: Tensor, N: number, offset = 0): void {
  need(x, p, 'diagEmbed x');
  need(out, N * N, 'diagEmbed output');
  if (offset + p > N) throw new Error(`diagEmbed: ${p} values at ${offset} overflow ${N}x${N}`);
  run1d(ctx, DIAG_EMBED, { total: p, inputs: [x], outputs: [out], uniforms: { N, p, offset } });
}

/** out (p x q) = pi-damped KFAC inverse eigenvalues 1 / ((eG + sqrt(l)/pi)(eA + pi sqrt(l))). */
export function kfacInverseEigenvalues(ctx: GpuContext, eigG: Tensor, p: number, eigA: Tensor, q: number, damping: number, out: Tensor): void {
  need(eigG, p, 'kfac eig_G');
  need(eigA, q, 'kfac eig_A');
  need(out, p * q, 'kfac inverse eigenvalues');
  run1d(ctx, KFAC_INV, { total: p * q, inputs: [eigG, eigA], outputs: [out], uniforms: { n: 0, p, q, damping } });
}

/** out = 1 / (max(x, 0) + damping), elementwise. */
export function invDamped(ctx: GpuContext, x: Tensor, damping: number, out: Tensor, n = x.size): void {
  need(x, n, 'invDamped input');
  need(out, n, 'invDamped output');
  run1d(ctx, INV_DAMPED, { total: n, inputs: [x, ctx.placeholder], outputs: [out], uniforms: { n, p: 0, q: 0, damping } });
}

/** out = v / (d + damping), elementwise. */
export function divDamped(ctx: GpuContext, d: Tensor, v: Tensor, damping: number, out: Tensor, n = d.size): void {
  need(d, n, 'divDamped d');
  need(v, n, 'divDamped v');
  need(out, n, 'divDamped output');
  run1d(ctx, DIV_DAMPED, { total: n, inputs: [d, v], outputs: [out], uniforms: { n, p: 0, q: 0, damping } });
}

/** out (n x c) = scale * (diag p_i - p_i p_i^T) y_i with p_i = softmax(logits_i). */
export function crossEntropyMetricMv(ctx: GpuContext, logits: Tensor, y: Tensor, out: Tensor, n: number, c: number, scale = 1): void {
  need(logits, n * c, 'metric logits');
  need(y, n * c, 'metric input');
  need(out, n * c, 'metric output');
  run1d(ctx, CE_METRIC_MV, { total: n, inputs: [logits, y], outputs: [out], uniforms: { n, c, scale } });
}
