/**
 * The matmul kernel family against its f64 twin (`matmulRef`). Every variant in MATMUL_VARIANTS is
 * forced through the same cases: odd sizes, 1x1, empty products (M, N or K = 0), all four
 * transpose combinations, sizes just above the kernels' tiles, and views (offsets, leading
 * dimensions wider than the matrix, batch strides, broadcast, bDiv) with alpha and beta
 * accumulation. The whole output buffer is compared, so a kernel that writes outside its view
 * fails too.
 */
import { describe, expect, it } from 'vitest';
import { gpuContext } from './helpers/gpu';
import { f32, normalizedMaxError, randomArray } from './helpers/random';
import { MATMUL_VARIANTS, matmul, type MatmulVariant } from '../src/ops/matmul';
import { isCpuAdapter } from '../src/gpu/context';
import { matmulRef } from '../src/reference/kernels';

interface Case {
  M: number;
  N: number;
  K: number;
  batch?: number;
  bDiv?: number;
  alpha?: number;
  beta?: number;
  /** Extra elements before each matrix and added to each leading dimension. */
  offA?: number;
  offB?: number;
  offC?: number;
  padA?: number;
  padB?: number;
  padC?: number;
  /** Batch strides; default: the view's matrix size plus 3 (0 broadcasts A). */
  strideA?: number;
}

const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [1, 7, 1],
  [3, 5, 7],
  [64, 64, 64],
  [65, 63, 17],
  [130, 1, 70],
  [17, 129, 0],
  [0, 5, 5],
  [5, 0, 3],
  [16, 128, 9],
  [17, 129, 33],
  [200, 3, 130],
  [2, 300, 5],
];

const VIEWS: Record<string, Case> = {
  'offsets and leading dimensions': { M: 19, N: 23, K: 11, offA: 3, offB: 5, offC: 7, padA: 2, padB: 3, padC: 1 },
  'batch with strides and alpha': { M: 9, N: 131, K: 6, batch: 3, alpha: 0.5, offC: 2 },
  'bDiv shares B between batches': { M: 7, N: 18, K: 13, batch: 4, bDiv: 2, offB: 1, padB: 1 },
  'broadcast A (stride 0)': { M: 17, N: 5, K: 8, batch: 3, strideA: 0 },
  'beta accumulation': { M: 33, N: 20, K: 15, alpha: -1.25, beta: 0.75 },
  'beta with K = 0': { M: 4, N: 6, K: 0, alpha: 2, beta: -0.5 },
  everything: { M: 18, N: 130, K: 21, batch: 6, bDiv: 3, alpha: 0.3, beta: 1, offA: 1, offB: 2, offC: 3, padA: 1, padB: 2, padC: 3 },
};

async function check(variant: MatmulVariant, c: Case, transA: boolean, transB: boolean, seed: number): Promise<void> {
  const ctx = await gpuContext();
  const { M, N, K } = c;
  const batch = c.batch ?? 1;
  const bDiv = c.bDiv ?? 1;
  // Stored shapes: A is M x K (K x M transposed), B is K x N (N x K transposed).
  const [aRows, aCols] = transA ? [K, M] : [M, K];
  const [bRows, bCols] = transB ? [N, K] : [K, N];
  const lda = aCols + (c.padA ?? 0);
  const ldb = bCols + (c.padB ?? 0);
  const ldc = N + (c.padC ?? 0);
  const strideA = c.strideA ?? aRows * lda + 3;
  const strideB = bRows * ldb + 3;
  const strideC = M * ldc + 3;
  const offA = c.offA ?? 0;
  const offB = c.offB ?? 0;
  const offC = c.offC ?? 0;
  const nA = offA + (batch - 1) * strideA + aRows * lda + 2;
  const nB = offB + (Math.ceil(batch / bDiv) - 1) * strideB + bRows * ldb + 2;
  const nC = offC + (batch - 1) * strideC + M * ldc + 2;
  const A = f32(randomArray(nA, seed));
  const B = f32(randomArray(nB, seed + 1));
  const C0 = f32(randomArray(nC, seed + 2, 3));
  const ta = ctx.upload(A, [nA], 'A');
  const tb = ctx.upload(B, [nB], 'B');
  const tc = ctx.upload(C0, [nC], 'C');
  matmul(ctx, {
    a: { t: ta, offset: offA, ld: lda, stride: strideA },
    b: { t: tb, offset: offB, ld: ldb, stride: strideB },
    c: { t: tc, offset: offC, ld: ldc, stride: strideC },
    M,
    N,
    K,
    transA,
    transB,
    batch,
    bDiv,
    alpha: c.alpha,
    beta: c.beta,
    variant,
  });
  const got = await ctx.read(tc);
  const ref = Float64Array.from(C0);
  matmulRef(A, B, ref, { M, N, K, transA, transB, batch, bDiv, alpha: c.alpha, beta: c.beta, offA, offB, offC, lda, ldb, ldc, strideA, strideB, strideC });
  ta.destroy();
  tb.destroy();
  tc.destroy();
  expect(normalizedMaxError(got, ref)).toBeLessThan(1e-6);
}

const TRANSPOSES: [boolean, boolean][] = [
  [false, false],
  [true, false],
  [false, true],
  [true, true],
];

for (const variant of MATMUL_VARIANTS) {
  describe(`matmul (${variant}) vs f64 reference`, () => {
    SHAPES.forEach(([M, N, K], s) => {
      for (const [transA, transB] of TRANSPOSES) {
        it(`M=${M} N=${N} K=${K} transA=${transA} transB=${transB}`, async () => {
          await check(variant, { M, N, K }, transA, transB, 100 * s + 1);
        });
      }
    });
    Object.entries(VIEWS).forEach(([name, c], s) => {
      for (const [transA, transB] of TRANSPOSES) {
        it(`${name} transA=${transA} transB=${transB}`, async () => {
          await check(variant, c, transA, transB, 7000 + 100 * s);
        });
      }
    });
  });
}

describe('matmul variant choice', () => {
  it('uses the blocked kernel on CPU adapters and the tiled one on GPUs', () => {
    const report = (vendor: string, architecture: string, device: string, description: string) => ({ vendor, architecture, device, description, summary: '', software: false });
    expect(isCpuAdapter(report('mesa', 'software', 'llvmpipe-llvm-15-0-6-256-bits-', 'llvmpipe: Mesa 25.0.7'))).toBe(true);
    expect(isCpuAdapter(report('google', 'swiftshader', '', 'SwiftShader Device (Subzero)'))).toBe(true);
    expect(isCpuAdapter(report('nvidia', 'hopper', '', 'NVIDIA H100'))).toBe(false);
    expect(isCpuAdapter(report('', '', '', ''))).toBe(false);
  });
});
