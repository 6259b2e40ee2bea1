/**
 * The infinite-width network trained in function space (fixture README section 13), in float64:
 * the mean predictor of the infinite-width limit under gradient descent with the NTK Theta (the
 * n x n factor of Theta (x) I_c), from h_0 = 0 on every input. One step on a batch B of training
 * examples, with R_B the per-example loss gradients d l_i / d h_i (mse: h_i - y_i; cross-entropy:
 * softmax(h_i) - onehot(y_i)):
 *
 *   g       = (1/|B|) Theta[:, B] R_B         (and g_x = (1/|B|) Theta(x, B) R_B on extra inputs)
 *   v       = mu v + g                        (momentum on h, PyTorch's convention: v_0 = g_0)
 *   h      <- h - lr v
 *
 * Full batch (B = all n, mu = 0) is exactly the README's rule h_{t+1} = h_t - (lr/n) ntk R_t. This
 * is the linearized network's training in function space (h = J delta with J J^T -> Theta), so the
 * rule does not depend on the laziness scale alpha, and a minibatch step is the linearized
 * network's SGD step mapped through J: the same batches give the same steps. Weight decay has no
 * function-space counterpart (it acts on theta, not on theta - theta0) and is not offered.
 *
 * Pure float64 arrays (example-major n x c outputs); no GPU, no spec parsing.
 */
import type { LossKind } from '../experiment/types';
import { mean, perExampleLosses, softmaxRows, targetClasses, type Targets } from './training';

/** Kernel rows of an extra input set against the training set, and optional targets. */
export interface ExtraInputs {
  /** m x n, row-major: Theta(x_i, x_j) for extra input i and training example j. */
  ntk: Float64Array;
  m: number;
  /** m x c targets (mse) or one-hot rows (cross-entropy), for the loss on this set; optional. */
  y?: Float64Array;
}

export interface FunctionSpaceOptions {
  loss: LossKind;
  /** n x n NTK factor Theta on the training inputs (row-major, symmetric). */
  ntk: Float64Array;
  n: number;
  c: number;
  /** n x c targets: mse values, cross-entropy one-hot rows. */
  y: Float64Array;
  lr: number;
  /** Momentum mu in [0, 1) applied to h (default 0). */
  momentum?: number;
  /** Extra inputs (test points, a grid): their outputs are advanced with the same steps. */
  extras?: ExtraInputs[];
}

/** Targets in the loss's encoding: cross-entropy rows of `y` must be one-hot (their labels are read off). */
function targetsOf(loss: LossKind, y: Float64Array, n: number, c: number): Targets {
  if (loss === 'mse') return { y, labels: null };
  const labels = targetClasses(y, n, c);
  if (!labels) throw new Error('FunctionSpacePredictor: cross-entropy targets must be one-hot rows');
  return { y, labels };
}

/** d l_i / d h_i for the rows in `rows` (|rows| x c, in that order): h - y (mse), softmax(h) - y (cross-entropy). */
export function lossGradientRows(loss: LossKind, h: Float64Array, y: ArrayLike<number>, rows: ArrayLike<number>, c: number): Float64Array {
  const R = new Float64Array(rows.length * c);
  for (let r = 0; r < rows.length; r++) {
    const i = rows[r];
    const p = loss === 'mse' ? h.subarray(i * c, (i + 1) * c) : softmaxRows(h.subarray(i * c, (i + 1) * c), 1, c);
    for (let k = 0; k < c; k++) R[r * c + k] = p[k] - y[i * c + k];
  }
  return R;
}

/**
 * The infinite-width predictor on the training set and on extra input sets, advanced step by
 * step. `step` counts the steps taken; `outputs` (n x c) and `extraOutputs[e]` (m_e x c) are the
 * current h (views: copy them to keep a checkpoint).
 */
export class FunctionSpacePredictor {
  step = 0;
  readonly outputs: Float64Array;
  readonly extraOutputs: Float64Array[];
  private readonly velocity: Float64Array | null;
  private readonly extraVelocity: (Float64Array | null)[];
  private readonly all: Int32Array;
  private readonly targets: Targets;
  private readonly extraTargets: (Targets | null)[];

  constructor(private readonly o: FunctionSpaceOptions) {
    const { n, c } = o;
    if (o.ntk.length !== n * n) throw new Error(`FunctionSpacePredictor: ntk has ${o.ntk.length} entries, expected n^2 = ${n * n}`);
    if (o.y.length !== n * c) throw new Error(`FunctionSpacePredictor: y has ${o.y.length} entries, expected n*c = ${n * c}`);
    if (!(o.lr > 0) || !Number.isFinite(o.lr)) throw new Error(`FunctionSpacePredictor: learning rate ${o.lr} is not a positive number`);
    const mu = o.momentum ?? 0;
    if (!(mu >= 0 && mu < 1)) throw new Error(`FunctionSpacePredictor: momentum ${mu} is not in [0, 1)`);
    for (const [e, x] of (o.extras ?? []).entries()) {
      if (x.ntk.length !== x.m * n) throw new Error(`FunctionSpacePredictor: extras[${e}].ntk has ${x.ntk.length} entries, expected m*n = ${x.m * n}`);
      if (x.y && x.y.length !== x.m * c) throw new Error(`FunctionSpacePredictor: extras[${e}].y has ${x.y.length} entries, expected m*c = ${x.m * c}`);
    }
    this.outputs = new Float64Array(n * c);
    this.extraOutputs = (o.extras ?? []).map((x) => new Float64Array(x.m * c));
    this.velocity = mu > 0 ? new Float64Array(n * c) : null;
    this.extraVelocity = (o.extras ?? []).map((x) => (mu > 0 ? new Float64Array(x.m * c) : null));
    this.all = Int32Array.from({ length: n }, (_, i) => i);
    this.targets = targetsOf(o.loss, o.y, n, c);
    this.extraTargets = (o.extras ?? []).map((x) => (x.y && x.m > 0 ? targetsOf(o.loss, x.y, x.m, c) : null));
  }

  /**
   * One step on the batch `batch` (training indices; all n when omitted). The kernel columns of
   * the batch are weighted 1/|B|, so a full batch is the README's (lr/n) ntk R.
   */
  advance(batch?: ArrayLike<number>): void {
    const { n, c, lr } = this.o;
    const B = batch ?? this.all;
    if (B.length === 0) throw new Error('FunctionSpacePredictor: empty batch');
    for (let r = 0; r < B.length; r++) {
      const i = B[r];
      if (!Number.isInteger(i) || i < 0 || i >= n) throw new Error(`FunctionSpacePredictor: batch index ${i} is not a training example (0..${n - 1})`);
    }
    const R = lossGradientRows(this.o.loss, this.outputs, this.o.y, B, c);
    const scale = 1 / B.length;
    const mu = this.o.momentum ?? 0;
    const apply = (K: Float64Array, rows: number, h: Float64Array, v: Float64Array | null) => {
      for (let i = 0; i < rows; i++) {
        for (let k = 0; k < c; k++) {
          let g = 0;
          for (let r = 0; r < B.length; r++) g += K[i * n + B[r]] * R[r * c + k];
          g *= scale;
          const idx = i * c + k;
          if (v) {
            v[idx] = mu * v[idx] + g;
            g = v[idx];
          }
          h[idx] -= lr * g;
        }
      }
    };
    // Extra outputs first: they use R of the current training outputs, as the training set does.
    (this.o.extras ?? []).forEach((x, e) => apply(x.ntk, x.m, this.extraOutputs[e], this.extraVelocity[e]));
    apply(this.o.ntk, n, this.outputs, this.velocity);
    this.step++;
  }

  /** Per-example training losses at the current outputs. */
  perExampleLoss(): Float64Array {
    return perExampleLosses(this.o.loss, this.outputs, this.targets, this.o.n, this.o.c);
  }

  /** Mean training loss L(h) (README section 3). */
  loss(): number {
    return mean(this.perExampleLoss());
  }

  /** Mean loss on extra set `e` (null when it has no targets). */
  extraLoss(e: number): number | null {
    const t = this.extraTargets[e];
    if (!t) return null;
    return mean(perExampleLosses(this.o.loss, this.extraOutputs[e], t, this.o.extras![e].m, this.o.c));
  }
}
