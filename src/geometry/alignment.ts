/**
 * Kernel-target alignments on the GPU (fixture README sections 7 and 9).
 *
 *   A(K, Y) = <K, Y Y^T>_F / (||K||_F ||Y Y^T||_F)       on the output-traced kernel (n x n)
 *   A(K, v) = v^T K v / (||K||_F ||v||^2)                on the full kernel (nc x nc), v = vec(Y)
 *
 * Centered versions replace K by (H (x) I) K (H (x) I) (computed on the GPU from row means) and
 * Y by H Y (targets are data: centered on the CPU in f64). The numerators never form Y Y^T:
 * <K, Y Y^T> = sum(Y o (K Y)), one product and one dot. Norms are GPU block sums finished in f64.
 */
import type { GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import { matmul } from '../ops/matmul';
import { centerKernel, traceOutputs } from '../ops/ntk';
import { dot, sumOfSquares } from '../ops/reduce';
import type { AlignmentResult } from '../experiment/result';

/** Every alignment of fixture README sections 7 and 9 (total and per layer) of one kernel. */
export type AlignmentMetrics = AlignmentResult;

/** Y - column means (n x c), in f64. */
export function centerColumns(Y: Float64Array, n: number, c: number): Float64Array {
  const out = Float64Array.from(Y);
  for (let k = 0; k < c; k++) {
    let m = 0;
    for (let i = 0; i < n; i++) m += Y[i * c + k];
    m /= n;
    for (let i = 0; i < n; i++) out[i * c + k] -= m;
  }
  return out;
}

/** ||Y Y^T||_F = ||Y^T Y||_F (c x c), in f64. */
function outerFrobenius(Y: Float64Array, n: number, c: number): number {
  let s = 0;
  for (let a = 0; a < c; a++) {
    for (let b = 0; b < c; b++) {
      let g = 0;
      for (let i = 0; i < n; i++) g += Y[i * c + a] * Y[i * c + b];
      s += g * g;
    }
  }
  return Math.sqrt(s);
}

/** Targets on the GPU, raw and centered, with their f64 norms. */
export interface AlignmentTargets {
  n: number;
  c: number;
  Y: Tensor;
  Yc: Tensor;
  /** ||Y Y^T||_F and ||Yc Yc^T||_F. */
  outerNorm: number;
  outerNormCentered: number;
  /** ||vec Y||^2 and ||vec Yc||^2. */
  sq: number;
  sqCentered: number;
}

export function uploadTargets(ctx: GpuContext, Y: Float64Array, n: number, c: number): AlignmentTargets {
  const Yc = centerColumns(Y, n, c);
  let sq = 0;
  let sqc = 0;
  for (let i = 0; i < Y.length; i++) {
    sq += Y[i] * Y[i];
    sqc += Yc[i] * Yc[i];
  }
  return {
    n,
    c,
    Y: ctx.upload(Y, [n, c], 'Y'),
    Yc: ctx.upload(Yc, [n, c], 'Y centered'),
    outerNorm: outerFrobenius(Y, n, c),
    outerNormCentered: outerFrobenius(Yc, n, c),
    sq,
    sqCentered: sqc,
  };
}

export function releaseTargets(t: AlignmentTargets): void {
  t.Y.destroy();
  t.Yc.destroy();
}

/** <K, Y Y^T> / (||K|| ||Y Y^T||) for an n x n kernel against n x c targets. */
async function traceAlignment(ctx: GpuContext, K: Tensor, Y: Tensor, n: number, c: number, outerNorm: number): Promise<number> {
  const KY = ctx.tensor([n, c], 'KY');
  matmul(ctx, { a: K, b: Y, c: KY, M: n, N: c, K: n });
  const [num, kk] = await Promise.all([dot(ctx, KY, Y, n * c), sumOfSquares(ctx, K, n * n)]);
  KY.destroy();
  return num / (Math.sqrt(kk) * outerNorm);
}

/** v^T K v / (||K|| ||v||^2) for an nc x nc kernel, v = vec(Y) example-major. */
async function fullAlignment(ctx: GpuContext, K: Tensor, v: Tensor, N: number, vsq: number): Promise<number> {
  const Kv = ctx.tensor([N], 'Kv');
  matmul(ctx, { a: K, b: v, c: Kv, M: N, N: 1, K: N });
  const [num, kk] = await Promise.all([dot(ctx, Kv, v, N), sumOfSquares(ctx, K, N * N)]);
  Kv.destroy();
  return num / (Math.sqrt(kk) * vsq);
}

export interface KernelAlignments {
  uncentered: number;
  centered: number;
  ntk_uncentered: number;
  ntk_centered: number;
}

/**
 * The four alignments of one full kernel K (nc x nc). The centered ones use `Kc`, the kernel of
 * the centered Jacobian (`centeredTangentKernels`, accurate in float32), when given; otherwise
 * K is centered here (H K H, which loses accuracy when K has a large common part).
 */
export async function kernelAlignments(ctx: GpuContext, K: Tensor, t: AlignmentTargets, which: { traced: boolean; full: boolean }, Kc?: Tensor): Promise<KernelAlignments> {
  const { n, c } = t;
  const N = n * c;
  const out: KernelAlignments = { uncentered: NaN, centered: NaN, ntk_uncentered: NaN, ntk_centered: NaN };
  if (which.traced) {
    const Ktr = ctx.tensor([n, n], 'K traced');
    traceOutputs(ctx, K, Ktr, n, c);
    // The traced centered kernel is H K_tr H = trace over outputs of (H (x) I) K (H (x) I).
    const Ktrc = ctx.tensor([n, n], 'K traced centered');
    if (Kc) traceOutputs(ctx, Kc, Ktrc, n, c);
    else centerKernel(ctx, Ktr, Ktrc, n, 1);
    out.uncentered = await traceAlignment(ctx, Ktr, t.Y, n, c, t.outerNorm);
    out.centered = await traceAlignment(ctx, Ktrc, t.Yc, n, c, t.outerNormCentered);
    Ktr.destroy();
    Ktrc.destroy();
  }
  if (which.full) {
    const centered = Kc ?? ctx.tensor([N, N], 'K centered');
    if (!Kc) centerKernel(ctx, K, centered, n, c);
    out.ntk_uncentered = await fullAlignment(ctx, K, t.Y, N, t.sq);
    out.ntk_centered = await fullAlignment(ctx, centered, t.Yc, N, t.sqCentered);
    if (!Kc) centered.destroy();
  }
  return out;
}

/**
 * Every alignment of fixture README sections 7 and 9 of a kernel and of each layer's kernel, the
 * centered ones from the kernels of the centered Jacobian when given (`centeredTangentKernels`).
 */
export async function alignmentsOf(
  ctx: GpuContext,
  k: { total: Tensor; perLayer: Tensor[] },
  centered: { total: Tensor; perLayer: Tensor[] } | null,
  targets: AlignmentTargets,
): Promise<AlignmentMetrics> {
  const which = { traced: true, full: true };
  const total = await kernelAlignments(ctx, k.total, targets, which, centered?.total);
  const per = [];
  for (const [l, Kl] of k.perLayer.entries()) per.push(await kernelAlignments(ctx, Kl, targets, which, centered?.perLayer[l]));
  return {
    uncentered: total.uncentered,
    centered: total.centered,
    ntk_uncentered: total.ntk_uncentered,
    ntk_centered: total.ntk_centered,
    per_layer_uncentered: per.map((a) => a.uncentered),
    per_layer_centered: per.map((a) => a.centered),
    per_layer_ntk_uncentered: per.map((a) => a.ntk_uncentered),
    per_layer_ntk_centered: per.map((a) => a.ntk_centered),
  };
}
