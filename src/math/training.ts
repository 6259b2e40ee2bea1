/**
 * The training math, once, in float64: every consumer (the float64 reference, the CPU training
 * backend, the session's metrics, the lab's panels) calls these functions, and the GPU kernels
 * are tested against them. Pure functions of arrays (example-major `n x c` outputs); no GPU, no
 * spec parsing. Conventions are the fixture README's (sections 3, 8, 12).
 *
 * - Alpha (laziness) rule (Chizat, Oyallon & Bach): `h = f` when alpha is exactly 1, otherwise
 *   `h = alpha (f - f0)`; the objective is `L(h) / alpha^2`, so its gradient is
 *   `(1/alpha) J^T dL/dh` in both cases.
 * - Losses: mse `l_i = 1/2 |h_i - y_i|^2`, cross-entropy `l_i = -log softmax(h_i)[y_i]`,
 *   `L = mean_i l_i`.
 * - Updates: PyTorch's SGD, `g += wd * theta`, `v = mu v + g`, `theta -= lr v`.
 * - Class decisions: argmax for several outputs, the sign for one output (targets +-1).
 * - Stability bound of full-batch GD: `2n / lambda_max(L^T K L)` with `K = J J^T` the kernel of
 *   `f` and `L_i L_i^T` the loss Hessian (metric) at the model's outputs `h`: in function space
 *   one GD step on `L(h)/alpha^2` is `h <- h - (lr/n) K M (...)` to first order, whatever alpha.
 */
import type { LossKind } from '../experiment/types';
import { eighSym, transpose } from './linalg';
import { Rng } from '../util/rng';

/** Training targets: mse `y` (n x c); cross-entropy labels (and `y` one-hot, for alignment). */
export interface Targets {
  y: Float64Array;
  labels: Int32Array | null;
}

// ---------------------------------------------------------------------------------------------
// The alpha rule

/** `h` from the network's outputs `f`: `f` itself when alpha is exactly 1, else `alpha (f - f0)`. */
export function scaledOutputs(f: ArrayLike<number>, f0: ArrayLike<number>, alpha: number): Float64Array {
  const h = Float64Array.from(f);
  if (alpha !== 1) for (let i = 0; i < h.length; i++) h[i] = alpha * (f[i] - f0[i]);
  return h;
}

/**
 * `h_lin` from `J0 delta` (a JVP at theta0): `f0 + J0 delta` when alpha is exactly 1, else
 * `alpha J0 delta` (the same rule applied to `f_lin = f0 + J0 delta`).
 */
export function linearizedOutputs(jDelta: ArrayLike<number>, f0: ArrayLike<number>, alpha: number): Float64Array {
  const h = new Float64Array(jDelta.length);
  for (let i = 0; i < h.length; i++) h[i] = alpha === 1 ? f0[i] + jDelta[i] : alpha * jDelta[i];
  return h;
}

/** Outputs of a model at theta0 under the alpha rule: `f0` when alpha is exactly 1, else 0. */
export function initialOutputs(f0: ArrayLike<number>, alpha: number): Float64Array {
  return alpha === 1 ? Float64Array.from(f0) : new Float64Array(f0.length);
}

// ---------------------------------------------------------------------------------------------
// Losses

/** Row-wise softmax of `n x c` logits (max-shifted). */
export function softmaxRows(f: ArrayLike<number>, n: number, c: number): Float64Array {
  const p = new Float64Array(n * c);
  for (let i = 0; i < n; i++) {
    let mx = -Infinity;
    for (let k = 0; k < c; k++) mx = Math.max(mx, f[i * c + k]);
    let z = 0;
    for (let k = 0; k < c; k++) {
      const e = Math.exp(f[i * c + k] - mx);
      p[i * c + k] = e;
      z += e;
    }
    for (let k = 0; k < c; k++) p[i * c + k] /= z;
  }
  return p;
}

/** Cross-entropy of one row of logits against a label (log-sum-exp shifted by the max). */
export function crossEntropyRow(h: ArrayLike<number>, offset: number, c: number, label: number): number {
  let mx = -Infinity;
  for (let k = 0; k < c; k++) mx = Math.max(mx, h[offset + k]);
  let z = 0;
  for (let k = 0; k < c; k++) z += Math.exp(h[offset + k] - mx);
  return mx + Math.log(z) - h[offset + label];
}

/** Per-example losses `l_i` (README section 3). */
export function perExampleLosses(loss: LossKind, h: ArrayLike<number>, t: Targets, n: number, c: number): Float64Array {
  const ell = new Float64Array(n);
  if (loss === 'cross_entropy' && !t.labels) throw new Error('perExampleLosses: cross_entropy needs integer labels');
  for (let i = 0; i < n; i++) {
    if (loss === 'mse') {
      let s = 0;
      for (let k = 0; k < c; k++) s += (h[i * c + k] - t.y[i * c + k]) ** 2;
      ell[i] = 0.5 * s;
    } else {
      ell[i] = crossEntropyRow(h, i * c, c, t.labels![i]);
    }
  }
  return ell;
}

export function mean(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  return a.length ? s / a.length : NaN;
}

/** Mean loss `L = (1/n) sum_i l_i`. */
export function meanLoss(loss: LossKind, h: ArrayLike<number>, t: Targets, n: number, c: number): number {
  return mean(perExampleLosses(loss, h, t, n, c));
}

/** `dL/dh` (n x c), including the 1/n of the mean. */
export function lossGradOutputs(loss: LossKind, h: ArrayLike<number>, t: Targets, n: number, c: number): Float64Array {
  const g = loss === 'mse' ? new Float64Array(n * c) : softmaxRows(h, n, c);
  for (let i = 0; i < n; i++)
    for (let k = 0; k < c; k++) {
      const idx = i * c + k;
      if (loss === 'mse') g[idx] = (h[idx] - t.y[idx]) / n;
      else g[idx] = (g[idx] - (t.labels![i] === k ? 1 : 0)) / n;
    }
  return g;
}

/** Loss of one output row against a class label, the label encoded like the training targets. */
export function classLoss(loss: LossKind, h: ArrayLike<number>, offset: number, c: number, label: number): number {
  if (loss === 'cross_entropy') return crossEntropyRow(h, offset, c, label);
  let s = 0;
  for (let k = 0; k < c; k++) s += (h[offset + k] - classTarget(label, k, c)) ** 2;
  return 0.5 * s;
}

/** The mse target of class `label` at output `k`: +-1 for one output, one-hot otherwise. */
export function classTarget(label: number, k: number, c: number): number {
  if (c === 1) return label === 1 ? 1 : -1;
  return k === label ? 1 : 0;
}

// ---------------------------------------------------------------------------------------------
// Class decisions

/** The class a model predicts for row `i`: the sign of the output for one output, else the argmax. */
export function predictedClass(h: ArrayLike<number>, i: number, c: number): number {
  if (c === 1) return h[i] > 0 ? 1 : 0;
  let best = 0;
  for (let k = 1; k < c; k++) if (h[i * c + k] > h[i * c + best]) best = k;
  return best;
}

/** Fraction of rows whose predicted class is the true class, or null without classes. */
export function accuracy(h: ArrayLike<number>, classes: ArrayLike<number> | null, c: number): number | null {
  if (!classes || classes.length === 0) return null;
  let ok = 0;
  for (let i = 0; i < classes.length; i++) if (predictedClass(h, i, c) === classes[i]) ok++;
  return ok / classes.length;
}

/** Per-row 1/0 flags: predicted class equals the true class. */
export function correctFlags(h: ArrayLike<number>, classes: ArrayLike<number>, c: number): Uint8Array {
  const out = new Uint8Array(classes.length);
  for (let i = 0; i < classes.length; i++) out[i] = predictedClass(h, i, c) === classes[i] ? 1 : 0;
  return out;
}

/**
 * Classes encoded by mse targets: +-1 for one output, exactly one-hot rows otherwise; null when
 * the targets are not class targets (regression).
 */
export function targetClasses(y: ArrayLike<number>, n: number, c: number): Int32Array | null {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    if (c === 1) {
      const v = y[i];
      if (v !== 1 && v !== -1) return null;
      out[i] = v > 0 ? 1 : 0;
      continue;
    }
    let hot = -1;
    for (let k = 0; k < c; k++) {
      const v = y[i * c + k];
      if (v === 1 && hot < 0) hot = k;
      else if (v !== 0) return null;
    }
    if (hot < 0) return null;
    out[i] = hot;
  }
  return out;
}

/** Integer classes of a split: its labels (cross-entropy), else the classes its mse targets encode. */
export function splitClasses(labels: Int32Array | null, y: ArrayLike<number>, n: number, c: number): Int32Array | null {
  return labels ?? (n > 0 ? targetClasses(y, n, c) : null);
}

// ---------------------------------------------------------------------------------------------
// Minibatches

/**
 * Minibatch order: a seeded permutation per epoch, batches in order, the last one possibly short;
 * every batch is all n examples when `batchSize >= n`. Every model of a session (actual,
 * linearized, infinite-width) and both engines draw the same batches from the same seed.
 */
export class BatchSchedule {
  private order: number[] = [];
  private pos = 0;
  private readonly rng: Rng;

  constructor(
    readonly n: number,
    readonly batchSize: number,
    seed: number,
  ) {
    this.rng = new Rng(seed ^ 0x5eed);
  }

  /** Indices of the next batch. */
  next(): number[] {
    if (this.batchSize >= this.n) return Array.from({ length: this.n }, (_, i) => i);
    if (this.pos >= this.order.length) {
      this.order = Array.from({ length: this.n }, (_, i) => i);
      this.rng.shuffle(this.order);
      this.pos = 0;
    }
    const b = this.order.slice(this.pos, this.pos + this.batchSize);
    this.pos += this.batchSize;
    return b;
  }
}

// ---------------------------------------------------------------------------------------------
// Updates

export interface UpdateRule {
  lr: number;
  /** Laziness scale: the objective's gradient is (1/alpha) J^T dL/dh. */
  alpha: number;
  momentum: number;
  weightDecay: number;
}

/** The gradient of the objective `L(h)/alpha^2` plus weight decay: `g / alpha + wd * theta`, with `g = J^T dL/dh`. */
export function descentDirection(grad: ArrayLike<number>, theta: ArrayLike<number>, r: UpdateRule): Float64Array {
  const d = new Float64Array(grad.length);
  for (let p = 0; p < d.length; p++) d[p] = grad[p] / r.alpha + r.weightDecay * theta[p];
  return d;
}

/**
 * One optimizer step in place along a (possibly preconditioned) direction: `v = mu v + d` when
 * there is a velocity, then `delta -= lr * (v or d)`. Returns false if a parameter became non-finite.
 */
export function applyStep(delta: Float64Array, direction: ArrayLike<number>, velocity: Float64Array | null, r: UpdateRule): boolean {
  let finite = true;
  for (let p = 0; p < delta.length; p++) {
    let d = direction[p];
    if (velocity) d = velocity[p] = r.momentum * velocity[p] + d;
    delta[p] -= r.lr * d;
    if (!Number.isFinite(delta[p])) finite = false;
  }
  return finite;
}

/**
 * KFAC's pi-damping factor (Martens & Grosse s. 6.3), `sqrt((tr A / m) / (tr G / out))` from the
 * factors' eigenvalues clamped at 0; 1 when a factor is zero. The damped factors are
 * `(G + sqrt(l)/pi I) (x) (A + pi sqrt(l) I)`. The same formula is in shaders/kfac_damping.wgsl.
 */
export function piDamping(eigA: ArrayLike<number>, eigG: ArrayLike<number>): number {
  let trA = 0;
  let trG = 0;
  for (let i = 0; i < eigA.length; i++) trA += Math.max(eigA[i], 0);
  for (let i = 0; i < eigG.length; i++) trG += Math.max(eigG[i], 0);
  if (!(trA > 0 && trG > 0)) return 1;
  return Math.sqrt(trA / eigA.length / (trG / eigG.length));
}

/** The settings of a KFAC / EKFAC preconditioner, checked (one-line errors naming the setting). */
export function checkNaturalGradientRule(o: { kind: unknown; damping: number; eigEvery: number; decay: number }): void {
  if (o.kind !== 'kfac' && o.kind !== 'ekfac') throw new Error(`natural gradient: kind must be kfac or ekfac, got ${String(o.kind)}`);
  if (!(Number.isFinite(o.damping) && o.damping > 0)) {
    throw new Error(`natural gradient: damping must be a positive finite number (got ${o.damping}); the KFAC/EKFAC inverse of a singular Fisher needs it`);
  }
  if (!(Number.isInteger(o.eigEvery) && o.eigEvery >= 1)) throw new Error(`natural gradient: eigEvery must be a positive integer (got ${o.eigEvery})`);
  if (!(o.decay >= 0 && o.decay < 1)) throw new Error(`natural gradient: decay must be in [0, 1) (got ${o.decay})`);
}

/**
 * Divergence seen in the metrics: the mean training loss is non-finite, or has grown more than a
 * millionfold over its value at step 0 (long before it overflows: a diverging run grows
 * geometrically, and no converging run multiplies its initial loss by 1e6).
 */
export function lossDiverged(loss: number, initialLoss: number): boolean {
  if (!Number.isFinite(loss)) return true;
  return loss > DIVERGENCE_GROWTH * Math.max(initialLoss, Number.MIN_VALUE);
}
export const DIVERGENCE_GROWTH = 1e6;

// ---------------------------------------------------------------------------------------------
// The loss metric and the stability bound

/**
 * Per-example transposed metric factors `L_i^T` (n x c x c) with `L_i L_i^T = M_i`, the Hessian of
 * the loss in the outputs: for cross-entropy `L_i = diag(sqrt p) - p sqrt(p)^T` (an exact square
 * root of `diag(p) - p p^T`), for mse `M = I` and the result is null.
 */
export function metricFactors(loss: LossKind, h: ArrayLike<number>, n: number, c: number): Float64Array | null {
  if (loss === 'mse') return null;
  const p = softmaxRows(h, n, c);
  const Lt = new Float64Array(n * c * c);
  for (let i = 0; i < n; i++)
    for (let r = 0; r < c; r++) {
      const sr = Math.sqrt(p[i * c + r]);
      for (let k = 0; k < c; k++) Lt[(i * c + r) * c + k] = sr * ((r === k ? 1 : 0) - p[i * c + k]);
    }
  return Lt;
}

/** Rows `i*c + r` of `L^T X` for an `(n c) x width` matrix X (X itself when Lt is null). */
export function whitenRows(X: Float64Array, n: number, c: number, width: number, Lt: Float64Array | null): Float64Array {
  if (!Lt) return X;
  const Z = new Float64Array(n * c * width);
  for (let i = 0; i < n; i++)
    for (let r = 0; r < c; r++) {
      const dst = (i * c + r) * width;
      for (let k = 0; k < c; k++) {
        const w = Lt[(i * c + r) * c + k];
        if (w === 0) continue;
        const src = (i * c + k) * width;
        for (let u = 0; u < width; u++) Z[dst + u] += w * X[src + u];
      }
    }
  return Z;
}

/** `L^T K L` for a symmetric `(n c) x (n c)` kernel K (K itself when Lt is null). */
export function whitenKernel(K: Float64Array, n: number, c: number, Lt: Float64Array | null): Float64Array {
  if (!Lt) return K;
  const N = n * c;
  const LK = whitenRows(K, n, c, N, Lt); // L^T K
  return whitenRows(transpose(LK, N, N), n, c, N, Lt); // L^T (L^T K)^T = L^T K L
}

/**
 * Largest eigenvalue of a symmetric PSD matrix by power iteration (f64). The start vector is
 * seeded pseudo-random, not constant: a constant vector is exactly orthogonal to the top
 * eigenvector of common kernels (a metric-weighted kernel at uniform softmax outputs, `h = 0`,
 * annihilates the all-ones direction of every example).
 */
export function topEigenvalue(K: ArrayLike<number>, N: number, iterations = 200): number {
  const rng = new Rng(0x70e1);
  let v = Float64Array.from({ length: N }, () => rng.uniform() - 0.5);
  let v0 = 0;
  for (let i = 0; i < N; i++) v0 += v[i] * v[i];
  v0 = Math.sqrt(v0) || 1;
  for (let i = 0; i < N; i++) v[i] /= v0;
  let lambda = 0;
  for (let it = 0; it < iterations; it++) {
    const w = new Float64Array(N);
    for (let i = 0; i < N; i++) {
      let s = 0;
      for (let j = 0; j < N; j++) s += K[i * N + j] * v[j];
      w[i] = s;
    }
    let nrm = 0;
    for (let i = 0; i < N; i++) nrm += w[i] * w[i];
    nrm = Math.sqrt(nrm);
    if (nrm === 0) return 0;
    for (let i = 0; i < N; i++) w[i] /= nrm;
    v = w;
    if (Math.abs(nrm - lambda) <= 1e-10 * nrm) return nrm;
    lambda = nrm;
  }
  return lambda;
}

/**
 * The largest stable learning rate of full-batch GD near the current point, `2n / lambda_max`
 * of the metric-weighted kernel `L^T K L` (K = J J^T of f on n examples, `h` the model's outputs
 * there, where the metric is taken). Infinity for a zero kernel.
 */
export function stableLearningRate(K: Float64Array, h: ArrayLike<number>, n: number, c: number, loss: LossKind): number {
  return stableLrOf(topEigenvalue(whitenKernel(K, n, c, metricFactors(loss, h, n, c)), n * c), n);
}

/** `2n / lambda_max` (Infinity for a zero kernel), from the top eigenvalue of the metric-weighted kernel. */
export function stableLrOf(lambdaMax: number, n: number): number {
  return lambdaMax > 0 ? (2 * n) / lambdaMax : Infinity;
}

// ---------------------------------------------------------------------------------------------
// Closed-form lazy prediction (README section 12, mse)

/**
 * Whether the closed form describes a run: it is the trajectory of the linearized model under
 * mse and plain full-batch GD (no momentum, weight decay, minibatches or preconditioning).
 */
export function closedFormApplies(loss: LossKind, t: { optimizer: string; momentum: number; weightDecay: number }): boolean {
  return loss === 'mse' && t.optimizer === 'gd' && t.momentum === 0 && t.weightDecay === 0;
}

/**
 * `m_t(x) = 1 - (1 - x)^t` with `x = eta lambda`: `-expm1(t log1p(-x))` when `x < 1` (no
 * cancellation for tiny or slightly negative lambda), integer powers otherwise (the top mode can
 * overshoot, `x >= 1`).
 */
export function modeResponse(etaLambda: number, t: number): number {
  if (etaLambda < 1) return -Math.expm1(t * Math.log1p(-etaLambda));
  return 1 - (1 - etaLambda) ** t;
}

/**
 * The discrete-time GD trajectory of the linearized model under mse, through
 * `K0 = U diag(lambda) U^T` (decomposed once, in f64):
 *
 *   eta = lr / n,  w = U^T vec(Y - h0)
 *   h_t      = h0 + U diag(m_t) w
 *   h_test_t = h0_test + K0t c_t,   c_t = U diag(phi_t) w,   phi_t = m_t / lambda (eta t at 0)
 *
 * The test side is left to the caller as the coefficients `c_t` (n c): `K0t c_t` is a product
 * with the test-train kernel, or `J0_test (J0^T c_t)` (a VJP then a JVP) without forming it.
 */
export class LazyClosedForm {
  private readonly lambda: Float64Array;
  private readonly U: Float64Array;
  private readonly w: Float64Array;
  private readonly eta: number;
  private readonly N: number;

  /** `K0` (nc x nc, symmetric), `h0` and `Y` (nc, example-major), `n` examples, learning rate `lr`. */
  constructor(K0: Float64Array, readonly h0: Float64Array, Y: ArrayLike<number>, n: number, lr: number) {
    const N = h0.length;
    const { values, vectors } = eighSym(K0, N);
    const w = new Float64Array(N);
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let a = 0; a < N; a++) s += vectors[a * N + j] * (Y[a] - h0[a]);
      w[j] = s;
    }
    this.lambda = values;
    this.U = vectors;
    this.w = w;
    this.eta = lr / n;
    this.N = N;
  }

  /** `U diag(coef) w`. */
  private combine(coef: Float64Array): Float64Array {
    const N = this.N;
    const out = new Float64Array(N);
    for (let a = 0; a < N; a++) {
      let s = 0;
      for (let j = 0; j < N; j++) s += this.U[a * N + j] * coef[j] * this.w[j];
      out[a] = s;
    }
    return out;
  }

  /** Training-set outputs after t steps. */
  outputs(t: number): Float64Array {
    const m = this.lambda.map((l) => modeResponse(this.eta * l, t));
    const d = this.combine(m);
    for (let a = 0; a < this.N; a++) d[a] += this.h0[a];
    return d;
  }

  /** The coefficients `c_t` of the test outputs `h0_test + K0t c_t` after t steps. */
  testCoefficients(t: number): Float64Array {
    const phi = this.lambda.map((l) => (l === 0 ? this.eta * t : modeResponse(this.eta * l, t) / l));
    return this.combine(phi);
  }
}
