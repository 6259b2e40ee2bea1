/**
 * Typed wrapper of shaders/matmul.wgsl: batched C = alpha op(A) op(B) + beta C with views.
 */
import { GpuContext, LimitError, Uniforms } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';

/** A matrix stored inside a tensor: element offset, leading dimension, batch stride. */
export interface MatView {
  t: Tensor;
  offset?: number;
  /** Row stride of the matrix as stored (before any transpose). */
  ld?: number;
  /** Elements between consecutive batches (0 broadcasts). */
  stride?: number;
}

export interface MatmulArgs {
  a: Tensor | MatView;
  b: Tensor | MatView;
  c: Tensor | MatView;
  M: number;
  N: number;
  K: number;
  transA?: boolean;
  transB?: boolean;
  batch?: number;
  /** Consecutive batches that share one B (b-th product uses B[floor(b / bDiv)]). */
  bDiv?: number;
  alpha?: number;
  /** With beta !== undefined the product is added to beta * C. */
  beta?: number;
}

const view = (v: Tensor | MatView): MatView => ('t' in v ? v : { t: v });

function checkRange(v: MatView, rows: number, cols: number, ld: number, stride: number, batches: number, name: string): void {
  if (rows === 0 || cols === 0 || batches === 0) return;
  const last = (v.offset ?? 0) + (batches - 1) * stride + (rows - 1) * ld + (cols - 1);
  if (last >= v.t.size || (v.offset ?? 0) < 0) {
    throw new Error(`matmul: ${name} view (${rows}x${cols}, ld ${ld}, ${batches} batches of stride ${stride}) overruns ${v.t.label || 'tensor'} of ${v.t.size} elements`);
  }
}

export function matmul(ctx: GpuContext, args: MatmulArgs): void {
  const { M, N, K } = args;
  const transA = args.transA ?? false;
  const transB = args.transB ?? false;
  const batch = args.batch ?? 1;
  const bDiv = args.bDiv ?? 1;
  const a = view(args.a);
  const b = view(args.b);
  const c = view(args.c);
  const lda = a.ld ?? (transA ? M : K);
  const ldb = b.ld ?? (transB ? K : N);
  const ldc = c.ld ?? N;
  const strideA = a.stride ?? M * K;
  const strideB = b.stride ?? K * N;
  const strideC = c.stride ?? M * N;
  checkRange(a, transA ? K : M, transA ? M : K, lda, strideA, batch, 'A');
  checkRange(b, transB ? N : K, transB ? K : N, ldb, strideB, Math.ceil(batch / bDiv), 'B');
  checkRange(c, M, N, ldc, strideC, batch, 'C');
  if (M === 0 || N === 0 || batch === 0) return;
  const maxWg = ctx.limits.maxComputeWorkgroupsPerDimension;
  const gx = Math.ceil(N / 64);
  const gy = Math.ceil(M / 64);
  if (gx > maxWg || gy > maxWg) throw new LimitError('maxComputeWorkgroupsPerDimension', Math.max(gx, gy), maxWg, `matmul ${M}x${K}x${N}`);
  const accumulate = args.beta !== undefined;
  // Batches beyond the per-dimension limit are split; bDiv-aligned so B indexing stays exact.
  const chunk = Math.max(bDiv, Math.floor(maxWg / bDiv) * bDiv);
  for (let b0 = 0; b0 < batch; b0 += chunk) {
    const nb = Math.min(chunk, batch - b0);
    const u = new Uniforms()
      .u32(M, N, K, nb)
      .u32((a.offset ?? 0) + b0 * strideA, (b.offset ?? 0) + (b0 / bDiv) * strideB, (c.offset ?? 0) + b0 * strideC, bDiv)
      .u32(lda, ldb, ldc, 0)
      .u32(strideA, strideB, strideC, 0)
      .f32(args.alpha ?? 1, args.beta ?? 0);
    ctx.dispatch({
      kernel: { shader: 'matmul', constants: { TRANS_A: transA, TRANS_B: transB, ACCUMULATE: accumulate } },
      inputs: [a.t, b.t],
      outputs: [c.t],
      uniforms: u.bytes(),
      workgroups: [gx, gy, nb],
    });
  }
}
