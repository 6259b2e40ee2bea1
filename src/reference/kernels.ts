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

// ---------------------------------------------------------------------------------------------
// shaders/elementwise.wgsl (activations: shaders/activations.wgsl)

export type ActName = 'linear' | 'tanh' | 'relu' | 'sigmoid';

export function actRef(act: ActName, s: number): number {
  switch (act) {
    case 'tanh':
      return Math.tanh(s);
    case 'relu':
      return Math.max(s, 0);
    case 'sigmoid':
      return 1 / (1 + Math.exp(-s));
    default:
      return s;
  }
}

export function actGradRef(act: ActName, s: number): number {
  switch (act) {
    case 'tanh':
      return 1 - Math.tanh(s) ** 2;
    case 'relu':
      return s > 0 ? 1 : 0;
    case 'sigmoid': {
      const g = 1 / (1 + Math.exp(-s));
      return g * (1 - g);
    }
    default:
      return 1;
  }
}

/** g[i] *= act'(s[(i / (R len)) len + i % len]). */
export function actGradMulRef(act: ActName, s: ArrayLike<number>, g: Float64Array, len: number, R: number): void {
  for (let i = 0; i < g.length; i++) g[i] *= actGradRef(act, s[Math.floor(i / (R * len)) * len + (i % len)]);
}

// ---------------------------------------------------------------------------------------------
// shaders/patches.wgsl and shaders/pool.wgsl

export interface ConvGeom {
  C: number;
  H: number;
  W: number;
  k: number;
  stride: number;
  pad: number;
  wMul: number;
  bMul: number;
}

export const convOut = (g: ConvGeom) => ({
  Hout: Math.floor((g.H + 2 * g.pad - g.k) / g.stride) + 1,
  Wout: Math.floor((g.W + 2 * g.pad - g.k) / g.stride) + 1,
});

/** P[i, t, a] (n x T x (C k k + 1)), unfold order (c, ki, kj), bias entry bMul. */
export function im2colRef(x: ArrayLike<number>, n: number, g: ConvGeom): Float64Array {
  const { Hout, Wout } = convOut(g);
  const fanIn = g.C * g.k * g.k;
  const m = fanIn + 1;
  const T = Hout * Wout;
  const P = new Float64Array(n * T * m);
  for (let i = 0; i < n; i++)
    for (let ty = 0; ty < Hout; ty++)
      for (let tx = 0; tx < Wout; tx++) {
        const row = (i * T + ty * Wout + tx) * m;
        for (let c = 0; c < g.C; c++)
          for (let ki = 0; ki < g.k; ki++)
            for (let kj = 0; kj < g.k; kj++) {
              const y = ty * g.stride + ki - g.pad;
              const xx = tx * g.stride + kj - g.pad;
              const inside = y >= 0 && xx >= 0 && y < g.H && xx < g.W;
              P[row + (c * g.k + ki) * g.k + kj] = inside ? g.wMul * x[((i * g.C + c) * g.H + y) * g.W + xx] : 0;
            }
        P[row + fanIn] = g.bMul;
      }
  return P;
}

/** Adjoint of im2col's weight part: dX (rows x C x H x W) from dP (rows x T x fanIn), scaled by wMul. */
export function col2imRef(dP: ArrayLike<number>, rows: number, g: ConvGeom): Float64Array {
  const { Hout, Wout } = convOut(g);
  const fanIn = g.C * g.k * g.k;
  const T = Hout * Wout;
  const dX = new Float64Array(rows * g.C * g.H * g.W);
  // Scatter form (the shader gathers): every patch entry adds into the pixel it came from.
  for (let r = 0; r < rows; r++)
    for (let ty = 0; ty < Hout; ty++)
      for (let tx = 0; tx < Wout; tx++)
        for (let c = 0; c < g.C; c++)
          for (let ki = 0; ki < g.k; ki++)
            for (let kj = 0; kj < g.k; kj++) {
              const y = ty * g.stride + ki - g.pad;
              const xx = tx * g.stride + kj - g.pad;
              if (y < 0 || xx < 0 || y >= g.H || xx >= g.W) continue;
              dX[((r * g.C + c) * g.H + y) * g.W + xx] += g.wMul * dP[(r * T + ty * Wout + tx) * fanIn + (c * g.k + ki) * g.k + kj];
            }
  return dX;
}

export function avgPoolRef(x: ArrayLike<number>, rows: number, C: number, H: number, W: number, q: number): Float64Array {
  const Ho = Math.floor(H / q);
  const Wo = Math.floor(W / q);
  const y = new Float64Array(rows * C * Ho * Wo);
  for (let rc = 0; rc < rows * C; rc++)
    for (let oy = 0; oy < Ho; oy++)
      for (let ox = 0; ox < Wo; ox++) {
        let s = 0;
        for (let dy = 0; dy < q; dy++) for (let dx = 0; dx < q; dx++) s += x[(rc * H + oy * q + dy) * W + ox * q + dx];
        y[(rc * Ho + oy) * Wo + ox] = s / (q * q);
      }
  return y;
}

export function avgPoolBackwardRef(dy: ArrayLike<number>, rows: number, C: number, H: number, W: number, q: number): Float64Array {
  const Ho = Math.floor(H / q);
  const Wo = Math.floor(W / q);
  const dx = new Float64Array(rows * C * H * W);
  for (let rc = 0; rc < rows * C; rc++)
    for (let y = 0; y < Ho * q; y++)
      for (let x = 0; x < Wo * q; x++) dx[(rc * H + y) * W + x] = dy[(rc * Ho + Math.floor(y / q)) * Wo + Math.floor(x / q)] / (q * q);
  return dx;
}

/** out[z, b, a, c] = in[z, a, b, c]. */
export function swapAxesRef(x: ArrayLike<number>, A: number, B: number, C: number, batch = 1): Float64Array {
  const out = new Float64Array(batch * A * B * C);
  for (let z = 0; z < batch; z++)
    for (let a = 0; a < A; a++) for (let b = 0; b < B; b++) for (let c = 0; c < C; c++) out[((z * B + b) * A + a) * C + c] = x[((z * A + a) * B + b) * C + c];
  return out;
}

// ---------------------------------------------------------------------------------------------
// shaders/loss.wgsl

/** Per-example losses and scale * dl/df, for mse targets (n x c) or labels (n). */
export function lossRef(loss: 'mse' | 'cross_entropy', f: ArrayLike<number>, t: ArrayLike<number>, n: number, c: number, scale: number) {
  const per = new Float64Array(n);
  const grad = new Float64Array(n * c);
  for (let i = 0; i < n; i++) {
    if (loss === 'mse') {
      let s = 0;
      for (let k = 0; k < c; k++) {
        const d = f[i * c + k] - t[i * c + k];
        s += d * d;
        grad[i * c + k] = scale * d;
      }
      per[i] = 0.5 * s;
    } else {
      let mx = -Infinity;
      for (let k = 0; k < c; k++) mx = Math.max(mx, f[i * c + k]);
      let z = 0;
      for (let k = 0; k < c; k++) z += Math.exp(f[i * c + k] - mx);
      const y = t[i];
      for (let k = 0; k < c; k++) grad[i * c + k] = scale * (Math.exp(f[i * c + k] - mx) / z - (k === y ? 1 : 0));
      per[i] = Math.log(z) - (f[i * c + y] - mx);
    }
  }
  return { per, grad };
}

/** Rows i*c+r: column r of L_i = diag(sqrt p) - p sqrt(p)^T. */
export function ceMetricSeedsRef(f: ArrayLike<number>, n: number, c: number): Float64Array {
  const out = new Float64Array(n * c * c);
  for (let i = 0; i < n; i++) {
    let mx = -Infinity;
    for (let k = 0; k < c; k++) mx = Math.max(mx, f[i * c + k]);
    let z = 0;
    for (let k = 0; k < c; k++) z += Math.exp(f[i * c + k] - mx);
    const p = Array.from({ length: c }, (_, k) => Math.exp(f[i * c + k] - mx) / z);
    for (let r = 0; r < c; r++) for (let k = 0; k < c; k++) out[(i * c + r) * c + k] = (k === r ? Math.sqrt(p[r]) : 0) - p[k] * Math.sqrt(p[r]);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// shaders/ntk.wgsl and shaders/jacobian.wgsl

export function hadamardAccRef(pg: ArrayLike<number>, sg: ArrayLike<number>, K: Float64Array, n: number, R: number, acc: boolean): void {
  const N = n * R;
  for (let r = 0; r < N; r++)
    for (let q = 0; q < N; q++) {
      const v = pg[Math.floor(r / R) * n + Math.floor(q / R)] * sg[r * N + q];
      K[r * N + q] = (acc ? K[r * N + q] : 0) + v;
    }
}

export function patchGramAccRef(pg: ArrayLike<number>, sg: ArrayLike<number>, K: Float64Array, n: number, R: number, T: number, acc: boolean): void {
  const N = n * R;
  for (let r = 0; r < N; r++)
    for (let q = 0; q < N; q++) {
      const i = Math.floor(r / R);
      const j = Math.floor(q / R);
      let s = 0;
      for (let t = 0; t < T; t++) for (let u = 0; u < T; u++) s += pg[(i * T + t) * n * T + j * T + u] * sg[(r * T + t) * N * T + q * T + u];
      K[r * N + q] = (acc ? K[r * N + q] : 0) + s;
    }
}

export function traceOutputsRef(K: ArrayLike<number>, n: number, R: number): Float64Array {
  const N = n * R;
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) for (let k = 0; k < R; k++) out[i * n + j] += K[(i * R + k) * N + j * R + k];
  return out;
}

/** (H (x) I_R) K (H (x) I_R), H = I - 11^T/n, written out as three products. */
export function centerKernelRef(K: ArrayLike<number>, n: number, R: number): Float64Array {
  const N = n * R;
  const Hk = new Float64Array(N * N);
  for (let a = 0; a < N; a++) for (let b = 0; b < N; b++) Hk[a * N + b] = (a === b ? 1 : 0) - (a % R === b % R ? 1 / n : 0);
  const tmp = new Float64Array(N * N);
  const out = new Float64Array(N * N);
  matmulRef(Hk, K, tmp, { M: N, N, K: N });
  matmulRef(tmp, Hk, out, { M: N, N, K: N });
  return out;
}

export function denseJacobianBlockRef(S: ArrayLike<number>, A: ArrayLike<number>, J: Float64Array, rows: number, R: number, out: number, m: number, P: number, offset: number): void {
  for (let r = 0; r < rows; r++)
    for (let o = 0; o < out; o++) for (let a = 0; a < m; a++) J[r * P + offset + o * m + a] = S[r * out + o] * A[Math.floor(r / R) * m + a];
}

// ---------------------------------------------------------------------------------------------
// The curvature helpers: shaders/kfac_moments.wgsl, kfac_kron.wgsl, kfac_blocks.wgsl,
// kfac_damping.wgsl and metric.wgsl (wrapped in src/ops/kfac.ts by the same names without `Ref`).

/** out[i, j] = scale * sum_{r<R} x[(i R + r) W + j]^2  (n x W). */
export function rowsSumSqRef(x: ArrayLike<number>, n: number, R: number, W: number, scale = 1): Float64Array {
  const out = new Float64Array(n * W);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < W; j++) {
      let s = 0;
      for (let r = 0; r < R; r++) s += x[(i * R + r) * W + j] ** 2;
      out[i * W + j] = scale * s;
    }
  return out;
}

/** out[i] = scale * sum over the R W values of example i of x * y  (n). */
export function rowsDotRef(x: ArrayLike<number>, y: ArrayLike<number>, n: number, R: number, W: number, scale = 1): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let k = 0; k < R * W; k++) s += x[i * R * W + k] * y[i * R * W + k];
    out[i] = scale * s;
  }
  return out;
}

/** out[j] = beta out[j] + scale * sum_{b<B} x[b W + j]^2, in place; beta = 0 overwrites (out may hold NaN). */
export function colsSumSqRef(x: ArrayLike<number>, out: Float64Array, B: number, W: number, scale: number, beta: number): void {
  for (let j = 0; j < W; j++) {
    let s = 0;
    for (let b = 0; b < B; b++) s += x[b * W + j] ** 2;
    out[j] = (beta === 0 ? 0 : beta * out[j]) + scale * s;
  }
}

/** out[e] = x[e]^2. */
export function squareRef(x: ArrayLike<number>, n = x.length): Float64Array {
  return Float64Array.from({ length: n }, (_, e) => x[e] * x[e]);
}

/** X (x) Y for X (p x p) and Y (q x q): out[(o q + a), (o' q + a')] = X[o, o'] Y[a, a']. */
export function kronProductRef(X: ArrayLike<number>, p: number, Y: ArrayLike<number>, q: number): Float64Array {
  const N = p * q;
  const out = new Float64Array(N * N);
  for (let o = 0; o < p; o++)
    for (let a = 0; a < q; a++)
      for (let o2 = 0; o2 < p; o2++) for (let a2 = 0; a2 < q; a2++) out[(o * q + a) * N + o2 * q + a2] = X[o * p + o2] * Y[a * q + a2];
  return out;
}

/** out[z] = X diag(Y[z]) for z < p: X is q x q, Y is p x q, out is p x q x q. */
export function scaleColsRef(X: ArrayLike<number>, Y: ArrayLike<number>, p: number, q: number): Float64Array {
  const out = new Float64Array(p * q * q);
  for (let z = 0; z < p; z++) for (let a = 0; a < q; a++) for (let b = 0; b < q; b++) out[(z * q + a) * q + b] = X[a * q + b] * Y[z * q + b];
  return out;
}

/** out[(o p + o'), k] = X[o, k] X[o', k] for X (p x p). */
export function outerColsRef(X: ArrayLike<number>, p: number): Float64Array {
  const out = new Float64Array(p * p * p);
  for (let o = 0; o < p; o++) for (let o2 = 0; o2 < p; o2++) for (let k = 0; k < p; k++) out[(o * p + o2) * p + k] = X[o * p + k] * X[o2 * p + k];
  return out;
}

/** out[offset + i] = X[i, i] for the p x p matrix X, in place (the rest of out is kept). */
export function diagonalRef(X: ArrayLike<number>, p: number, out: Float64Array, offset = 0): void {
  for (let i = 0; i < p; i++) out[offset + i] = X[i * p + i];
}

/** The p x p matrix X written into the N x N matrix out at (offset, offset), in place. */
export function setBlockRef(X: ArrayLike<number>, p: number, out: Float64Array, N: number, offset: number): void {
  for (let r = 0; r < p; r++) for (let c = 0; c < p; c++) out[(offset + r) * N + offset + c] = X[r * p + c];
}

/** The vector x (p) written onto the diagonal of the N x N matrix out from (offset, offset), in place. */
export function diagEmbedRef(x: ArrayLike<number>, p: number, out: Float64Array, N: number, offset = 0): void {
  for (let i = 0; i < p; i++) out[(offset + i) * (N + 1)] = x[i];
}

/**
 * pi-damped KFAC inverse eigenvalues (Martens & Grosse 2015, s. 6.3), p x q:
 * out[o, a] = 1 / ((max(eG[o], 0) + sqrt(l)/pi) (max(eA[a], 0) + pi sqrt(l))),
 * pi = sqrt((tr A / q) / (tr G / p)) over the clamped eigenvalues, 1 when a trace is 0.
 */
export function kfacInverseEigenvaluesRef(eigG: ArrayLike<number>, p: number, eigA: ArrayLike<number>, q: number, damping: number): Float64Array {
  let trG = 0;
  let trA = 0;
  for (let k = 0; k < p; k++) trG += Math.max(eigG[k], 0);
  for (let k = 0; k < q; k++) trA += Math.max(eigA[k], 0);
  const pi = trG > 0 && trA > 0 ? Math.sqrt(trA / q / (trG / p)) : 1;
  const sl = Math.sqrt(damping);
  const out = new Float64Array(p * q);
  for (let o = 0; o < p; o++) for (let a = 0; a < q; a++) out[o * q + a] = 1 / ((Math.max(eigG[o], 0) + sl / pi) * (Math.max(eigA[a], 0) + pi * sl));
  return out;
}

/** out[e] = 1 / (max(x[e], 0) + damping). */
export function invDampedRef(x: ArrayLike<number>, damping: number, n = x.length): Float64Array {
  return Float64Array.from({ length: n }, (_, e) => 1 / (Math.max(x[e], 0) + damping));
}

/** out[e] = v[e] / (d[e] + damping). */
export function divDampedRef(d: ArrayLike<number>, v: ArrayLike<number>, damping: number, n = d.length): Float64Array {
  return Float64Array.from({ length: n }, (_, e) => v[e] / (d[e] + damping));
}

/** out[i] = scale (diag p_i - p_i p_i^T) v_i with p_i = softmax(logits_i)  (n x c). */
export function crossEntropyMetricMvRef(logits: ArrayLike<number>, v: ArrayLike<number>, n: number, c: number, scale = 1): Float64Array {
  const out = new Float64Array(n * c);
  for (let i = 0; i < n; i++) {
    let mx = -Infinity;
    for (let k = 0; k < c; k++) mx = Math.max(mx, logits[i * c + k]);
    let z = 0;
    for (let k = 0; k < c; k++) z += Math.exp(logits[i * c + k] - mx);
    const p = Array.from({ length: c }, (_, k) => Math.exp(logits[i * c + k] - mx) / z);
    let pv = 0;
    for (let k = 0; k < c; k++) pv += p[k] * v[i * c + k];
    for (let k = 0; k < c; k++) out[i * c + k] = scale * p[k] * (v[i * c + k] - pv);
  }
  return out;
}
