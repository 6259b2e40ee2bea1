/**
 * Small dense float64 linear algebra for the CPU reference.
 *
 * Every matrix is a row-major `Float64Array` with its shape passed explicitly: the
 * reference works with a handful of shapes and explicit sizes keep the index arithmetic
 * visible at each call site (the same arithmetic the WGSL kernels use).
 *
 * The one non-trivial routine is `eighSym`, a symmetric eigensolver (Householder
 * tridiagonalization + implicit QL, the EISPACK tred2/tql2 pair as in JAMA). It is the
 * f64 oracle for the GPU Jacobi solver and for the NTK spectra, so it favours robustness
 * (scaling, deflation on `eps * ||T||`, an iteration cap) over speed. Storage is arranged
 * so that every inner loop runs over contiguous memory, which keeps n ~ 2000 practical.
 */

/** `C = A B`, with `A` (m x k) and `B` (k x n). */
export function matmul(A: Float64Array, B: Float64Array, m: number, k: number, n: number): Float64Array {
  const C = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    const ci = i * n;
    for (let p = 0; p < k; p++) {
      const a = A[i * k + p];
      if (a === 0) continue;
      const bp = p * n;
      for (let j = 0; j < n; j++) C[ci + j] += a * B[bp + j];
    }
  }
  return C;
}

/** `C = A^T B`, with `A` (k x m) and `B` (k x n). */
export function matmulTN(A: Float64Array, B: Float64Array, k: number, m: number, n: number): Float64Array {
  const C = new Float64Array(m * n);
  for (let p = 0; p < k; p++) {
    const ap = p * m;
    const bp = p * n;
    for (let i = 0; i < m; i++) {
      const a = A[ap + i];
      if (a === 0) continue;
      const ci = i * n;
      for (let j = 0; j < n; j++) C[ci + j] += a * B[bp + j];
    }
  }
  return C;
}

/** `C = A B^T`, with `A` (m x k) and `B` (n x k). */
export function matmulNT(A: Float64Array, B: Float64Array, m: number, k: number, n: number): Float64Array {
  const C = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    const ai = i * k;
    for (let j = 0; j < n; j++) {
      const bj = j * k;
      let s = 0;
      for (let p = 0; p < k; p++) s += A[ai + p] * B[bj + p];
      C[i * n + j] = s;
    }
  }
  return C;
}

/** Transpose of `A` (m x n), returned as (n x m). */
export function transpose(A: Float64Array, m: number, n: number): Float64Array {
  const T = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) T[j * m + i] = A[i * n + j];
  return T;
}

/** Columns per cache block in `gramRows`: a block of all rows stays in L2/L3 while it is reused. */
const GRAM_CHUNK = 512;

/**
 * Row Gram matrix `X[:, c0:c1] X[:, c0:c1]^T` (rows x rows) of `X` (rows x cols).
 *
 * This is the NTK kernel (`J J^T`) and runs on Jacobians of tens of MB, so it is blocked:
 * columns in chunks of GRAM_CHUNK (the chunk of every row stays in cache across the
 * j loop) and rows in groups of 4 (each loaded `X[j, p]` feeds 4 accumulators). Only the
 * upper triangle is computed and mirrored, so the result is exactly symmetric (the
 * eigensolver and the alignments rely on that).
 */
export function gramRows(X: Float64Array, rows: number, cols: number, c0 = 0, c1 = cols): Float64Array {
  const K = new Float64Array(rows * rows);
  for (let p0 = c0; p0 < c1; p0 += GRAM_CHUNK) {
    const p1 = Math.min(c1, p0 + GRAM_CHUNK);
    let i = 0;
    for (; i + 4 <= rows; i += 4) {
      const x0 = i * cols;
      const x1 = x0 + cols;
      const x2 = x1 + cols;
      const x3 = x2 + cols;
      for (let j = i; j < rows; j++) {
        const xj = j * cols;
        let s0 = 0;
        let s1 = 0;
        let s2 = 0;
        let s3 = 0;
        for (let p = p0; p < p1; p++) {
          const v = X[xj + p];
          s0 += X[x0 + p] * v;
          s1 += X[x1 + p] * v;
          s2 += X[x2 + p] * v;
          s3 += X[x3 + p] * v;
        }
        K[i * rows + j] += s0;
        K[(i + 1) * rows + j] += s1;
        K[(i + 2) * rows + j] += s2;
        K[(i + 3) * rows + j] += s3;
      }
    }
    for (; i < rows; i++) {
      const xi = i * cols;
      for (let j = i; j < rows; j++) {
        const xj = j * cols;
        let s = 0;
        for (let p = p0; p < p1; p++) s += X[xi + p] * X[xj + p];
        K[i * rows + j] += s;
      }
    }
  }
  // The 4-row groups also filled a few entries below the diagonal (j < i inside a group):
  // mirror the upper triangle over them.
  for (let i = 0; i < rows; i++) for (let j = i + 1; j < rows; j++) K[j * rows + i] = K[i * rows + j];
  return K;
}

/**
 * Column Gram matrix `X[:, c0:c1]^T X[:, c0:c1]` ((c1-c0) x (c1-c0)) of `X` (rows x cols):
 * the Fisher and its exact blocks. Transposing the slice first lets it use the blocked
 * `gramRows` kernel (a sum of row outer products would stream the whole w x w result once
 * per row).
 */
export function gramCols(X: Float64Array, rows: number, cols: number, c0 = 0, c1 = cols): Float64Array {
  const w = c1 - c0;
  const T = new Float64Array(w * rows);
  for (let r = 0; r < rows; r++) {
    const xr = r * cols + c0;
    for (let p = 0; p < w; p++) T[p * rows + r] = X[xr + p];
  }
  return gramRows(T, w, rows);
}

/** Sum of `a[i] * b[i]` (Frobenius inner product for matrices of equal shape). */
export function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/**
 * Frobenius (Euclidean) norm, with the running sum of squares scaled as in LAPACK's
 * `dnrm2`, so that neither tiny nor huge entries under/overflow. The scaled sum is
 * accumulated with Neumaier compensation: norms of ~1e5-entry blocks are reported to
 * full double precision.
 */
export function frobenius(a: Float64Array): number {
  let scale = 0;
  for (let i = 0; i < a.length; i++) scale = Math.max(scale, Math.abs(a[i]));
  if (scale === 0 || !Number.isFinite(scale)) return scale;
  let sum = 0;
  let comp = 0;
  for (let i = 0; i < a.length; i++) {
    const v = a[i] / scale;
    const term = v * v;
    const t = sum + term;
    comp += Math.abs(sum) >= Math.abs(term) ? sum - t + term : term - t + sum;
    sum = t;
  }
  return scale * Math.sqrt(sum + comp);
}

/** Frobenius norm of the difference `a - b`. */
export function frobeniusDiff(a: Float64Array, b: Float64Array): number {
  const d = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) d[i] = a[i] - b[i];
  return frobenius(d);
}

/** Trace of a square matrix (n x n). */
export function trace(A: Float64Array, n: number): number {
  let s = 0;
  for (let i = 0; i < n; i++) s += A[i * n + i];
  return s;
}

/** Kronecker product `G (x) A`, index `[(o, a), (o', a')] = G[o, o'] A[a, a']` (size pq x pq). */
export function kron(G: Float64Array, p: number, A: Float64Array, q: number): Float64Array {
  const N = p * q;
  const K = new Float64Array(N * N);
  for (let o = 0; o < p; o++)
    for (let o2 = 0; o2 < p; o2++) {
      const g = G[o * p + o2];
      if (g === 0) continue;
      for (let a = 0; a < q; a++) {
        const row = (o * q + a) * N + o2 * q;
        const ar = a * q;
        for (let a2 = 0; a2 < q; a2++) K[row + a2] = g * A[ar + a2];
      }
    }
  return K;
}

/**
 * `Q X Q^T` for `Q = U (x) V` (U is p x p, V is q x q) and `X` (pq x pq), without forming Q:
 * X is a 4-tensor `X[o, a, o', a']` and each factor acts on its own pair of axes.
 * Cost O((pq)^2 (p + q)) instead of O((pq)^3).
 */
export function kronCongruence(X: Float64Array, U: Float64Array, p: number, V: Float64Array, q: number): Float64Array {
  const N = p * q;
  // Left factor: Y = (U (x) V) X, i.e. Y[(o,a), c] = sum_{o2,a2} U[o,o2] V[a,a2] X[(o2,a2), c].
  const left = (M: Float64Array): Float64Array => {
    // Apply V on the `a` axis: T1[(o2,a), c] = sum_a2 V[a,a2] M[(o2,a2), c].
    const T1 = new Float64Array(N * N);
    for (let o2 = 0; o2 < p; o2++)
      for (let a = 0; a < q; a++) {
        const dst = (o2 * q + a) * N;
        for (let a2 = 0; a2 < q; a2++) {
          const v = V[a * q + a2];
          if (v === 0) continue;
          const src = (o2 * q + a2) * N;
          for (let c = 0; c < N; c++) T1[dst + c] += v * M[src + c];
        }
      }
    // Apply U on the `o` axis: T2[(o,a), c] = sum_o2 U[o,o2] T1[(o2,a), c].
    const T2 = new Float64Array(N * N);
    for (let o = 0; o < p; o++)
      for (let o2 = 0; o2 < p; o2++) {
        const u = U[o * p + o2];
        if (u === 0) continue;
        for (let a = 0; a < q; a++) {
          const dst = (o * q + a) * N;
          const src = (o2 * q + a) * N;
          for (let c = 0; c < N; c++) T2[dst + c] += u * T1[src + c];
        }
      }
    return T2;
  };
  // Q X Q^T = left(left(X)^T)^T, and both transposes are cheap relative to the products.
  return transpose(left(transpose(left(X), N, N)), N, N);
}

/** Result of a symmetric eigendecomposition `A = V diag(values) V^T`. */
export interface SymEig {
  /** Eigenvalues, ascending (as LAPACK's / numpy's `eigh`). */
  values: Float64Array;
  /** Orthonormal eigenvectors as the **columns** of a row-major n x n matrix: `V[k*n + j]` is component k of vector j. */
  vectors: Float64Array;
}

/** Largest number of implicit QL sweeps allowed per eigenvalue before giving up. */
const MAX_QL_ITERATIONS = 60;

/** `sqrt(a^2 + b^2)` without destructive under/overflow (Math.hypot is slow in V8). */
function pythag(a: number, b: number): number {
  const x = Math.abs(a);
  const y = Math.abs(b);
  if (x > y) {
    const r = y / x;
    return x * Math.sqrt(1 + r * r);
  }
  if (y === 0) return 0;
  const r = x / y;
  return y * Math.sqrt(1 + r * r);
}

/**
 * Householder reduction of the symmetric matrix held in `W` to tridiagonal form (EISPACK
 * tred2). On return `d` is the diagonal, `e[1..n-1]` the subdiagonal and, when `vectors`
 * is set, row j of `W` holds column j of the accumulated orthogonal transform.
 *
 * JAMA's tred2 works on `V[k][j]` with k running in the inner loops. Storing `W = V^T`
 * turns each of those loops into a contiguous sweep over a row; since A is symmetric,
 * the input already is its own transpose.
 */
function tred2(W: Float64Array, n: number, d: Float64Array, e: Float64Array, vectors: boolean): void {
  for (let j = 0; j < n; j++) d[j] = W[j * n + n - 1];
  for (let i = n - 1; i > 0; i--) {
    // Scale the row to avoid under/overflow in the Householder vector.
    let scale = 0;
    let h = 0;
    for (let k = 0; k < i; k++) scale += Math.abs(d[k]);
    if (scale === 0) {
      e[i] = d[i - 1];
      for (let j = 0; j < i; j++) {
        d[j] = W[j * n + i - 1];
        W[j * n + i] = 0;
        W[i * n + j] = 0;
      }
    } else {
      for (let k = 0; k < i; k++) {
        d[k] /= scale;
        h += d[k] * d[k];
      }
      let f = d[i - 1];
      let g = Math.sqrt(h);
      if (f > 0) g = -g;
      e[i] = scale * g;
      h -= f * g;
      d[i - 1] = f - g;
      for (let j = 0; j < i; j++) e[j] = 0;
      // Apply the similarity transformation to the remaining columns.
      for (let j = 0; j < i; j++) {
        f = d[j];
        W[i * n + j] = f;
        const wj = j * n;
        g = e[j] + W[wj + j] * f;
        for (let k = j + 1; k <= i - 1; k++) {
          const w = W[wj + k];
          g += w * d[k];
          e[k] += w * f;
        }
        e[j] = g;
      }
      f = 0;
      for (let j = 0; j < i; j++) {
        e[j] /= h;
        f += e[j] * d[j];
      }
      const hh = f / (h + h);
      for (let j = 0; j < i; j++) e[j] -= hh * d[j];
      for (let j = 0; j < i; j++) {
        f = d[j];
        g = e[j];
        const wj = j * n;
        for (let k = j; k <= i - 1; k++) W[wj + k] -= f * e[k] + g * d[k];
        d[j] = W[wj + i - 1];
        W[wj + i] = 0;
      }
    }
    d[i] = h;
  }
  if (vectors) {
    // Accumulate the Householder transformations.
    for (let i = 0; i < n - 1; i++) {
      W[i * n + n - 1] = W[i * n + i];
      W[i * n + i] = 1;
      const h = d[i + 1];
      const wi1 = (i + 1) * n;
      if (h !== 0) {
        for (let k = 0; k <= i; k++) d[k] = W[wi1 + k] / h;
        for (let j = 0; j <= i; j++) {
          const wj = j * n;
          let g = 0;
          for (let k = 0; k <= i; k++) g += W[wi1 + k] * W[wj + k];
          for (let k = 0; k <= i; k++) W[wj + k] -= g * d[k];
        }
      }
      for (let k = 0; k <= i; k++) W[wi1 + k] = 0;
    }
    for (let j = 0; j < n; j++) {
      d[j] = W[j * n + n - 1];
      W[j * n + n - 1] = 0;
    }
    W[(n - 1) * n + n - 1] = 1;
  } else {
    for (let j = 0; j < n; j++) d[j] = W[j * n + j];
  }
  e[0] = 0;
}

/**
 * Implicit QL on the tridiagonal (d, e) (EISPACK tql2). A subdiagonal entry is deflated
 * when `|e| <= eps * max_l(|d_l| + |e_l|)`, i.e. relative to the norm of T: eigenvalues
 * are accurate to about `eps * ||A||` (what LAPACK's `eigh` guarantees too). With
 * `vectors`, the rotations are applied to the rows of `W` (contiguous, see tred2).
 */
function tql2(W: Float64Array | null, n: number, d: Float64Array, e: Float64Array): void {
  for (let i = 1; i < n; i++) e[i - 1] = e[i];
  e[n - 1] = 0;
  let f = 0;
  let tst1 = 0;
  const eps = 2 ** -52;
  for (let l = 0; l < n; l++) {
    tst1 = Math.max(tst1, Math.abs(d[l]) + Math.abs(e[l]));
    let m = l;
    while (m < n) {
      if (Math.abs(e[m]) <= eps * tst1) break;
      m++;
    }
    if (m === n) m = n - 1; // e[n-1] = 0, so the search always stops by then.
    if (m > l) {
      let iter = 0;
      do {
        if (++iter > MAX_QL_ITERATIONS) {
          throw new Error(`eighSym: implicit QL did not converge for eigenvalue ${l} of ${n}`);
        }
        // Wilkinson-type implicit shift from the leading 2x2 block.
        let g = d[l];
        let p = (d[l + 1] - g) / (2 * e[l]);
        let r = pythag(p, 1);
        if (p < 0) r = -r;
        d[l] = e[l] / (p + r);
        d[l + 1] = e[l] * (p + r);
        const dl1 = d[l + 1];
        let h = g - d[l];
        for (let i = l + 2; i < n; i++) d[i] -= h;
        f += h;
        // Implicit QL transformation.
        p = d[m];
        let c = 1;
        let c2 = c;
        let c3 = c;
        const el1 = e[l + 1];
        let s = 0;
        let s2 = 0;
        for (let i = m - 1; i >= l; i--) {
          c3 = c2;
          c2 = c;
          s2 = s;
          g = c * e[i];
          h = c * p;
          r = pythag(p, e[i]);
          e[i + 1] = s * r;
          s = e[i] / r;
          c = p / r;
          p = c * d[i] - s * g;
          d[i + 1] = h + s * (c * g + s * d[i]);
          if (W) {
            const wi = i * n;
            const wi1 = (i + 1) * n;
            for (let k = 0; k < n; k++) {
              const hk = W[wi1 + k];
              const vk = W[wi + k];
              W[wi1 + k] = s * vk + c * hk;
              W[wi + k] = c * vk - s * hk;
            }
          }
        }
        p = (-s * s2 * c3 * el1 * e[l]) / dl1;
        e[l] = s * p;
        d[l] = c * p;
      } while (Math.abs(e[l]) > eps * tst1);
    }
    d[l] += f;
    e[l] = 0;
  }
}

function checkSymmetricInput(A: Float64Array, n: number): void {
  if (!Number.isInteger(n) || n < 0) throw new Error(`eighSym: bad size ${n}`);
  if (A.length !== n * n) throw new Error(`eighSym: expected ${n * n} entries, got ${A.length}`);
  for (let i = 0; i < A.length; i++) {
    if (!Number.isFinite(A[i])) throw new Error('eighSym: matrix has a non-finite entry');
  }
}

/**
 * Symmetric eigendecomposition `A = V diag(values) V^T` of the n x n matrix `A`
 * (only its lower triangle is read; `A` is not modified). Eigenvalues ascending, like
 * numpy/LAPACK `eigh`; ties keep the order QL produced them in (a diagonal matrix
 * with equal entries returns the identity, as LAPACK does).
 */
export function eighSym(A: Float64Array, n: number): SymEig {
  checkSymmetricInput(A, n);
  if (n === 0) return { values: new Float64Array(0), vectors: new Float64Array(0) };
  // W = A^T, symmetrized from the lower triangle (row-major lower = W's upper).
  const W = new Float64Array(n * n);
  for (let i = 0; i < n; i++)
    for (let j = 0; j <= i; j++) {
      W[j * n + i] = A[i * n + j];
      W[i * n + j] = A[i * n + j];
    }
  const d = new Float64Array(n);
  const e = new Float64Array(n);
  tred2(W, n, d, e, true);
  tql2(W, n, d, e);
  // Sort ascending (stable selection: equal eigenvalues keep their order) and transpose
  // the vector rows into columns.
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => d[a] - d[b] || a - b);
  const values = new Float64Array(n);
  const vectors = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    const src = order[j];
    values[j] = d[src];
    for (let k = 0; k < n; k++) vectors[k * n + j] = W[src * n + k];
  }
  return { values, vectors };
}

/** Eigenvalues only (ascending), in O(n^3 * 4/3) instead of the ~6 n^3 of `eighSym`. */
export function eigvalsSym(A: Float64Array, n: number): Float64Array {
  checkSymmetricInput(A, n);
  if (n === 0) return new Float64Array(0);
  const W = new Float64Array(n * n);
  for (let i = 0; i < n; i++)
    for (let j = 0; j <= i; j++) {
      W[j * n + i] = A[i * n + j];
      W[i * n + j] = A[i * n + j];
    }
  const d = new Float64Array(n);
  const e = new Float64Array(n);
  tred2(W, n, d, e, false);
  tql2(null, n, d, e);
  return d.sort();
}

/**
 * Cholesky factor `L` (lower, row-major) of a symmetric positive definite `A` (n x n).
 * Throws when a pivot is not positive: the caller (damped natural-gradient solves)
 * should add damping rather than get a silently wrong factor.
 */
export function cholesky(A: Float64Array, n: number): Float64Array {
  const L = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    let s = A[j * n + j];
    for (let k = 0; k < j; k++) s -= L[j * n + k] * L[j * n + k];
    if (!(s > 0)) throw new Error(`cholesky: matrix is not positive definite (pivot ${j} = ${s})`);
    const ljj = Math.sqrt(s);
    L[j * n + j] = ljj;
    for (let i = j + 1; i < n; i++) {
      let t = A[i * n + j];
      for (let k = 0; k < j; k++) t -= L[i * n + k] * L[j * n + k];
      L[i * n + j] = t / ljj;
    }
  }
  return L;
}

/** Solve `A X = B` for symmetric positive definite `A` (n x n) and `B` (n x k), via Cholesky. */
export function choleskySolve(A: Float64Array, n: number, B: Float64Array, k = 1): Float64Array {
  const L = cholesky(A, n);
  const X = Float64Array.from(B);
  for (let col = 0; col < k; col++) {
    // Forward substitution L y = b.
    for (let i = 0; i < n; i++) {
      let s = X[i * k + col];
      for (let p = 0; p < i; p++) s -= L[i * n + p] * X[p * k + col];
      X[i * k + col] = s / L[i * n + i];
    }
    // Back substitution L^T x = y.
    for (let i = n - 1; i >= 0; i--) {
      let s = X[i * k + col];
      for (let p = i + 1; p < n; p++) s -= L[p * n + i] * X[p * k + col];
      X[i * k + col] = s / L[i * n + i];
    }
  }
  return X;
}
