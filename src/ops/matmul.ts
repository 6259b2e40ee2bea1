/**
 * Typed wrapper of the matmul kernel family: batched C = alpha op(A) op(B) + beta C with views.
 *
 * Two kernels share one contract, one binding signature and one uniform block:
 * - `tiled` (shaders/matmul.wgsl): 64x64 tiles staged in workgroup memory, 4x4 register blocks,
 *   256 invocations. The GPU kernel.
 * - `blocked` (shaders/matmul_blocked.wgsl): no workgroup memory, 16x16 register blocks per
 *   invocation, 8 invocations. For CPU-backed adapters (lavapipe/llvmpipe, SwiftShader), where
 *   every per-invocation load is a scalar load per SIMD lane and multiply-adds per loaded element
 *   decide the speed: 4-5x the tiled kernel on lavapipe (README "Benchmarks").
 * `matmul()` takes the context's configured variant (`matmulVariantFor`: by adapter unless the
 * context was created with `matmul: 'tiled' | 'blocked'`); `args.variant` forces one (tests run
 * every variant through the same cases).
 */
import { LimitError, type GpuContext } from '../gpu/context';
import type { MatmulVariant } from '../gpu/config';
import { kernel } from '../gpu/kernel';
import type { Tensor } from '../gpu/tensor';

export type { MatmulVariant };

/** Every kernel variant, for tests and benchmarks. */
export const MATMUL_VARIANTS: readonly MatmulVariant[] = ['tiled', 'blocked'];

/** The binding signature and uniform block both matmul kernels share. */
const matmulKernel = (shader: string, constants: readonly string[]) =>
  kernel({
    shader,
    inputs: ['A', 'B'],
    outputs: ['C'],
    uniforms: {
      M: 'u32', N: 'u32', K: 'u32', batch: 'u32',
      offA: 'u32', offB: 'u32', offC: 'u32', bDiv: 'u32',
      lda: 'u32', ldb: 'u32', ldc: 'u32',
      strideA: 'u32', strideB: 'u32', strideC: 'u32',
      alpha: 'f32', beta: 'f32',
    },
    constants,
  });

export const MATMUL = matmulKernel('matmul', ['TRANS_A', 'TRANS_B', 'ACCUMULATE']);
export const MATMUL_BLOCKED = matmulKernel('matmul_blocked', ['TRANS_A', 'TRANS_B', 'ACCUMULATE', 'WX']);

interface VariantPlan {
  kernel: typeof MATMUL;
  /** Rows and columns of C per workgroup. */
  tileM: number;
  tileN: number;
  constants: Record<string, number>;
}

/** Invocations per workgroup of the blocked kernel (llvmpipe's 256-bit SIMD width in f32 lanes). */
const BLOCKED_WX = 8;

const PLANS: Record<MatmulVariant, VariantPlan> = {
  tiled: { kernel: MATMUL, tileM: 64, tileN: 64, constants: {} },
  blocked: { kernel: MATMUL_BLOCKED, tileM: 16, tileN: 16 * BLOCKED_WX, constants: { WX: BLOCKED_WX } },
};

/**
 * The variant `matmul()` uses when none is forced: the context's configuration (`matmul`
 * option; by default `blocked` on CPU adapters, `tiled` on GPUs, see `isCpuAdapter`).
 */
export function matmulVariantFor(ctx: GpuContext): MatmulVariant {
  return ctx.config.matmul;
}

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
  /** Force a kernel variant (tests, benchmarks); default: `matmulVariantFor(ctx)`. */
  variant?: MatmulVariant;
}

const view = (v: Tensor | MatView): MatView => ('t' in v ? v : { t: v });

function checkRange(v: MatView, rows: number, cols: number, ld: number, stride: number, batches: number, name: string): void {
  if (rows === 0 || cols === 0 || batches === 0) return;
  const last = (v.offset ?? 0) + (batches - 1) * stride + (rows - 1) * ld + (cols - 1);
  if (last >= v.t.size || (v.offset ?? 0) < 0) {
    throw new Error(`matmul: ${name} view (${rows}x${cols}, ld ${ld}, ${batches} batches of stride ${stride}) overruns ${v.t.label || 'tensor'} of ${v.t.size} elements`);
  }
}

/**
 * Record C = alpha op(A) op(B) (+ beta C) for `batch` products (see `MatmulArgs`). Views are
 * range-checked against their tensors; M, N, K, batch may be 0.
 */
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
  const plan = PLANS[args.variant ?? matmulVariantFor(ctx)];
  if (!plan) throw new Error(`matmul: unknown variant ${args.variant} (have ${MATMUL_VARIANTS.join(', ')})`);
  const maxWg = ctx.limits.maxComputeWorkgroupsPerDimension;
  const gx = Math.ceil(N / plan.tileN);
  const gy = Math.ceil(M / plan.tileM);
  if (gx > maxWg || gy > maxWg) throw new LimitError('maxComputeWorkgroupsPerDimension', Math.max(gx, gy), maxWg, `matmul ${M}x${K}x${N}`);
  const accumulate = args.beta !== undefined;
  // Batches beyond the per-dimension limit are split; bDiv-aligned so B indexing stays exact.
  const chunk = Math.max(bDiv, Math.floor(maxWg / bDiv) * bDiv);
  for (let b0 = 0; b0 < batch; b0 += chunk) {
    const nb = Math.min(chunk, batch - b0);
    ctx.dispatch(plan.kernel, {
      constants: { ...plan.constants, TRANS_A: transA, TRANS_B: transB, ACCUMULATE: accumulate },
      inputs: [a.t, b.t],
      outputs: [c.t],
      uniforms: {
        M,
        N,
        K,
        batch: nb,
        offA: (a.offset ?? 0) + b0 * strideA,
        offB: (b.offset ?? 0) + (b0 / bDiv) * strideB,
        offC: (c.offset ?? 0) + b0 * strideC,
        bDiv,
        lda,
        ldb,
        ldc,
        strideA,
        strideB,
        strideC,
        alpha: args.alpha ?? 1,
        beta: args.beta ?? 0,
      },
      workgroups: [gx, gy, nb],
    });
  }
}
