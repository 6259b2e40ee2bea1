/**
 * f64 twins of the individual WGSL kernels (shaders/*.wgsl), written as plainly as possible.
 * Each GPU kernel test compares its f32 output against the function of the same name here.
 */

/** Same contract as shaders/matmul.wgsl: C[b] = alpha op(A[b]) op(B[b / bDiv]) (+ beta C[b]). */
export function matmulRef(
  A: ArrayLike<number>,
  B: ArrayLike<number>,
  C: Float64Array,
  o: {
    M: number;
    N: number;
    K: number;
    transA?: boolean;
    transB?: boolean;
    batch?: number;
    bDiv?: number;
    alpha?: number;
    beta?: number;
    offA?: number;
    offB?: number;
    offC?: number;
    lda?: number;
    ldb?: number;
    ldc?: number;
    strideA?: number;
    strideB?: number;
    strideC?: number;
  },
): void {
  const { M, N, K } = o;
  const batch = o.batch ?? 1;
  const bDiv = o.bDiv ?? 1;
  const lda = o.lda ?? (o.transA ? M : K);
  const ldb = o.ldb ?? (o.transB ? K : N);
  const ldc = o.ldc ?? N;
  const sA = o.strideA ?? M * K;
  const sB = o.strideB ?? K * N;
  const sC = o.strideC ?? M * N;
  const alpha = o.alpha ?? 1;
  for (let b = 0; b < batch; b++) {
    const aB = (o.offA ?? 0) + b * sA;
    const bB = (o.offB ?? 0) + Math.floor(b / bDiv) * sB;
    const cB = (o.offC ?? 0) + b * sC;
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let s = 0;
        for (let k = 0; k < K; k++) {
          const a = o.transA ? A[aB + k * lda + m] : A[aB + m * lda + k];
          const bb = o.transB ? B[bB + n * ldb + k] : B[bB + k * ldb + n];
          s += a * bb;
        }
        const idx = cB + m * ldc + n;
        C[idx] = alpha * s + (o.beta !== undefined ? o.beta * C[idx] : 0);
      }
    }
  }
}
