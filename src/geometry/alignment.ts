/**
 * Kernel-target alignments on the GPU (fixture README sections 7 and 9).
 *
 *   A(K, Y) = <K, Y Y^T>_F / (||K||_F ||Y Y^T||_F)       on the output-traced kernel (n x n)
 *   A(K, v) = v^T K v / (||K||_F ||v||^2)                on the full kernel (nc x nc), v = vec(Y)
 *
 * Centered versions replace K by (H (x) I) K (H (x) I): the kernel of the centered Jacobian when
 * the caller has it (`centeredTangentKernels`, accurate in float32), else K centered here from its
 * row means (which loses accuracy when K has a large common part); and Y by H Y (targets are
 * data: centered on the CPU in f64). The numerators never form Y Y^T:
 * <K, Y Y^T> = sum(Y o (K Y)), one product and one dot. Norms are GPU block sums finished in f64.
 */
import type { GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import { matmul } from '../ops/matmul';
import { centerKernel, traceOutputs } from '../ops/ntk';
import { reducePartials } from '../ops/reduce';
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

/**
 * Reductions recorded on the GPU and how to finish them: `partials` are block partial sums
 * (ops/reduce.ts), each finished in f64 into one number, and `finish` turns those numbers into the
 * result. Recording first and reading everything at once (readPending) costs one GPU round trip
 * for any number of reductions: a kernel probe's ~40 scalars used to take ~40 sequential
 * readbacks, each a full device sync (milliseconds in a browser).
 */
export interface Pending<T> {
  partials: Tensor[];
  finish(sums: number[]): T;
}

/** Read every pending reduction with one readback; the partials are destroyed. */
export async function readPending<T extends unknown[]>(ctx: GpuContext, items: { [K in keyof T]: Pending<T[K]> }): Promise<T> {
  const tensors = items.flatMap((p) => p.partials);
  let reads: Float32Array[];
  try {
    reads = await ctx.readMany(tensors.map((tensor) => ({ tensor })));
  } finally {
    // Freed on a failed readback too (a lost device, an aborted map): a live session goes on.
    for (const t of tensors) t.destroy();
  }
  const sums = reads.map((r) => {
    let s = 0;
    for (let i = 0; i < r.length; i++) s += r[i];
    return s;
  });
  let at = 0;
  return items.map((p) => {
    const mine = sums.slice(at, at + p.partials.length);
    at += p.partials.length;
    return p.finish(mine);
  }) as T;
}

/** Combine pending results (the partials of all, finished in order). */
export function combinePending<T extends unknown[], R>(items: { [K in keyof T]: Pending<T[K]> }, finish: (values: T) => R): Pending<R> {
  const counts = items.map((p) => p.partials.length);
  return {
    partials: items.flatMap((p) => p.partials),
    finish(sums) {
      let at = 0;
      const values = items.map((p, i) => {
        const v = p.finish(sums.slice(at, at + counts[i]));
        at += counts[i];
        return v;
      }) as T;
      return finish(values);
    },
  };
}

/** <K, Y Y^T> / (||K|| ||Y Y^T||) for an n x n kernel against n x c targets. */
function traceAlignment(ctx: GpuContext, K: Tensor, Y: Tensor, n: number, c: number, outerNorm: number): Pending<number> {
  const KY = ctx.tensor([n, c], 'KY');
  matmul(ctx, { a: K, b: Y, c: KY, M: n, N: c, K: n });
  const partials = [reducePartials(ctx, 2, KY, Y, n * c), reducePartials(ctx, 1, K, null, n * n)];
  KY.destroy();
  return { partials, finish: ([num, kk]) => num / (Math.sqrt(kk) * outerNorm) };
}

/** v^T K v / (||K|| ||v||^2) for an nc x nc kernel, v = vec(Y) example-major. */
function fullAlignment(ctx: GpuContext, K: Tensor, v: Tensor, N: number, vsq: number): Pending<number> {
  const Kv = ctx.tensor([N], 'Kv');
  matmul(ctx, { a: K, b: v, c: Kv, M: N, N: 1, K: N });
  const partials = [reducePartials(ctx, 2, Kv, v, N), reducePartials(ctx, 1, K, null, N * N)];
  Kv.destroy();
  return { partials, finish: ([num, kk]) => num / (Math.sqrt(kk) * vsq) };
}

export interface KernelAlignments {
  uncentered: number;
  centered: number;
  ntk_uncentered: number;
  ntk_centered: number;
}

/**
 * Record the four alignments of one full kernel K (nc x nc); read with readPending. The centered
 * ones use `Kc`, the kernel of the centered Jacobian, when given. (Temporaries are released at
 * once: the context reuses a buffer only after the commands using it are submitted.)
 */
export function recordKernelAlignments(ctx: GpuContext, K: Tensor, t: AlignmentTargets, which: { traced: boolean; full: boolean }, Kc?: Tensor): Pending<KernelAlignments> {
  const { n, c } = t;
  const N = n * c;
  const parts: Pending<number>[] = [];
  if (which.traced) {
    const Ktr = ctx.tensor([n, n], 'K traced');
    traceOutputs(ctx, K, Ktr, n, c);
    // The traced centered kernel is H K_tr H = trace over outputs of (H (x) I) K (H (x) I).
    const Ktrc = ctx.tensor([n, n], 'K traced centered');
    if (Kc) traceOutputs(ctx, Kc, Ktrc, n, c);
    else centerKernel(ctx, Ktr, Ktrc, n, 1);
    parts.push(traceAlignment(ctx, Ktr, t.Y, n, c, t.outerNorm), traceAlignment(ctx, Ktrc, t.Yc, n, c, t.outerNormCentered));
    Ktr.destroy();
    Ktrc.destroy();
  }
  if (which.full) {
    const centered = Kc ?? ctx.tensor([N, N], 'K centered');
    if (!Kc) centerKernel(ctx, K, centered, n, c);
    parts.push(fullAlignment(ctx, K, t.Y, N, t.sq), fullAlignment(ctx, centered, t.Yc, N, t.sqCentered));
    if (!Kc) centered.destroy();
  }
  return combinePending(parts, (v: number[]) => {
    const out: KernelAlignments = { uncentered: NaN, centered: NaN, ntk_uncentered: NaN, ntk_centered: NaN };
    let i = 0;
    if (which.traced) {
      out.uncentered = v[i++];
      out.centered = v[i++];
    }
    if (which.full) {
      out.ntk_uncentered = v[i++];
      out.ntk_centered = v[i++];
    }
    return out;
  });
}

/**
 * Record every alignment of fixture README sections 7 and 9 of a kernel and of each layer's
 * kernel, the centered ones from the kernels of the centered Jacobian when given.
 */
export function recordAlignments(
  ctx: GpuContext,
  k: { total: Tensor; perLayer: Tensor[] },
  centered: { total: Tensor; perLayer: Tensor[] } | null,
  targets: AlignmentTargets,
): Pending<AlignmentMetrics> {
  const which = { traced: true, full: true };
  const parts = [k.total, ...k.perLayer].map((K, i) => recordKernelAlignments(ctx, K, targets, which, i === 0 ? centered?.total : centered?.perLayer[i - 1]));
  return combinePending(parts, ([total, ...per]: KernelAlignments[]) => ({
    uncentered: total.uncentered,
    centered: total.centered,
    ntk_uncentered: total.ntk_uncentered,
    ntk_centered: total.ntk_centered,
    per_layer_uncentered: per.map((a) => a.uncentered),
    per_layer_centered: per.map((a) => a.centered),
    per_layer_ntk_uncentered: per.map((a) => a.ntk_uncentered),
    per_layer_ntk_centered: per.map((a) => a.ntk_centered),
  }));
}

/** Every alignment of a kernel state, with one readback (see `recordAlignments`). */
export async function alignmentsOf(
  ctx: GpuContext,
  k: { total: Tensor; perLayer: Tensor[] },
  centered: { total: Tensor; perLayer: Tensor[] } | null,
  targets: AlignmentTargets,
): Promise<AlignmentMetrics> {
  const [a] = await readPending<[AlignmentMetrics]>(ctx, [recordAlignments(ctx, k, centered, targets)]);
  return a;
}
