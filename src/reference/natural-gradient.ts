/**
 * KFAC and EKFAC preconditioners in float64: the twin of the GPU `NaturalGradient`
 * (src/curvature/optimizer.ts, which documents the method), with the same schedule, damping and
 * running averages, used by the float64 CPU training backend and as the oracle of the GPU one.
 *
 * Per parametrized layer, from the batch's forward pass (augmented patches `P`, n*T x m) and the
 * backward signals of the metric's square roots (`S`, rows `i*c + r`, columns `o*T + t`):
 *
 *   A = P^T P / n                      G = sum_{r,t} s_{r,t} s_{r,t}^T / (n T)
 *   KFAC:  D[o, a] = 1 / ((eG_o + sqrt(l)/pi) (eA_a + pi sqrt(l))),  pi = sqrt((tr A / m) / (tr G / out))
 *   EKFAC: s[o', a'] = (1/n) sum_{i, r} (sum_t (U_G^T s_{ir,t})[o'] (U_A^T p_{it})[a'])^2,  D = 1 / (s + l)
 *   precondition: V -> U_G [(U_G^T V U_A) o D] U_A^T,  V the layer's (out x m) gradient block.
 *
 * Eigenvalues are clamped at 0 (round-off), as on the GPU.
 */
import type { ModelPlan, ParamLayerPlan } from '../model/layout';
import type { LossKind } from '../experiment/types';
import { eighSym, type SymEig } from '../math/linalg';
import { checkNaturalGradientRule, metricFactors, piDamping } from '../math/training';
import { kfacFactorA, kfacFactorG } from './geometry';
import { backwardSignals, unitCotangents, type Forward } from './model';

export interface NaturalGradientRule {
  kind: 'kfac' | 'ekfac';
  /** lambda > 0. */
  damping: number;
  /** Steps between eigendecompositions (>= 1). */
  eigEvery: number;
  /** Running-average factor in [0, 1) (0: the current batch). */
  decay: number;
  loss: LossKind;
}

interface LayerState {
  layer: ParamLayerPlan;
  A: Float64Array;
  G: Float64Array;
  eigA: SymEig | null;
  eigG: SymEig | null;
  s: Float64Array | null;
  D: Float64Array;
}

export class NaturalGradient64 {
  private readonly layers: LayerState[];
  /** Updates so far (the step index of the next update). */
  updates = 0;
  decompositions = 0;
  private sStale = true;

  constructor(
    readonly plan: ModelPlan,
    readonly rule: NaturalGradientRule,
  ) {
    checkNaturalGradientRule(rule);
    this.layers = plan.paramLayers.map((layer) => {
      const m = layer.fanIn + 1;
      return {
        layer,
        A: new Float64Array(m * m),
        G: new Float64Array(layer.out * layer.out),
        eigA: null,
        eigG: null,
        s: rule.kind === 'ekfac' ? new Float64Array(layer.out * m) : null,
        D: new Float64Array(layer.out * m),
      };
    });
  }

  /**
   * The curvature work of one step from a batch's forward pass `fw` (at the point whose Fisher is
   * wanted: theta for the actual model, theta0 for the linearized one) and the model's outputs
   * `h` there, where the loss metric is taken.
   */
  update(fw: Forward, h: Float64Array): void {
    const { rule } = this;
    const eigStep = this.updates % rule.eigEvery === 0;
    const ekfac = rule.kind === 'ekfac';
    const factorsNow = eigStep || rule.decay > 0;
    if (!factorsNow && !ekfac) {
      this.updates++;
      return;
    }
    const n = fw.n;
    const c = this.plan.c;
    // Backward signals of the metric's square roots: rows i*c + r are L_i^T[r, :] (identity for mse).
    const cot = metricFactors(rule.loss, h, n, c) ?? unitCotangents(n, c);
    const signals = backwardSignals(fw, cot, n * c, c);
    const first = this.updates === 0;
    // A new eigenbasis makes the running EKFAC diagonal meaningless (it was in the old basis):
    // the average restarts from this batch's estimate, as on the GPU (curvature/optimizer.ts).
    if (eigStep) this.sStale = true;
    for (const l of this.layers) {
      const P = fw.patches[l.layer.paramIndex];
      const S = signals[l.layer.paramIndex];
      if (factorsNow) {
        const w = first ? 0 : rule.decay;
        blend(l.A, kfacFactorA(P, n, l.layer), w);
        blend(l.G, kfacFactorG(S, n, c, l.layer), w);
      }
      if (eigStep) {
        l.eigA = eighSym(l.A, l.layer.fanIn + 1);
        l.eigG = eighSym(l.G, l.layer.out);
        if (!ekfac) this.kfacInverse(l);
      }
      if (ekfac) {
        const sBatch = ekfacDiagonal(P, S, n, c, l.layer, l.eigG!, l.eigA!);
        blend(l.s!, sBatch, rule.decay > 0 && !this.sStale ? rule.decay : 0);
        for (let e = 0; e < l.D.length; e++) l.D[e] = 1 / (Math.max(l.s![e], 0) + rule.damping);
      }
    }
    if (eigStep) this.decompositions++;
    if (ekfac) this.sStale = false;
    this.updates++;
  }

  /** `P^-1 grad` (P the damped KFAC / EKFAC matrix), every layer, in the theta layout. */
  precondition(grad: ArrayLike<number>): Float64Array {
    if (this.updates === 0) throw new Error('precondition: call update() with a batch first (no curvature estimate yet)');
    const out = new Float64Array(grad.length);
    for (const l of this.layers) applyLayer(l, grad, out);
    return out;
  }

  /** Eigenvalues of the current factors (ascending), per layer. */
  factorEigenvalues(): { eigA: Float64Array; eigG: Float64Array }[] {
    return this.layers.map((l) => ({ eigA: l.eigA?.values ?? new Float64Array(0), eigG: l.eigG?.values ?? new Float64Array(0) }));
  }

  private kfacInverse = (l: LayerState): void => {
    const eA = l.eigA!.values;
    const eG = l.eigG!.values;
    const pi = piDamping(eA, eG);
    const sl = Math.sqrt(this.rule.damping);
    const m = eA.length;
    for (let o = 0; o < eG.length; o++) for (let a = 0; a < m; a++) l.D[o * m + a] = 1 / ((Math.max(eG[o], 0) + sl / pi) * (Math.max(eA[a], 0) + pi * sl));
  };
}

/** `x <- w x + (1 - w) batch` (w = 0: the batch estimate). */
function blend(x: Float64Array, batch: Float64Array, w: number): void {
  for (let i = 0; i < x.length; i++) x[i] = w * x[i] + (1 - w) * batch[i];
}

/** `X U` for X (rows x k) and U (k x k, eigenvectors in columns). */
function project(X: Float64Array, rows: number, k: number, U: Float64Array): Float64Array {
  const Y = new Float64Array(rows * k);
  for (let r = 0; r < rows; r++)
    for (let a = 0; a < k; a++) {
      const x = X[r * k + a];
      if (x === 0) continue;
      for (let j = 0; j < k; j++) Y[r * k + j] += x * U[a * k + j];
    }
  return Y;
}

/** The EKFAC diagonal `diag(Q^T F_l Q)` of the batch (out x m), with the sum over positions inside the square. */
function ekfacDiagonal(P: Float64Array, S: Float64Array, n: number, c: number, l: ParamLayerPlan, eigG: SymEig, eigA: SymEig): Float64Array {
  const m = l.fanIn + 1;
  const out = l.out;
  const T = l.positions;
  const Ph = project(P, n * T, m, eigA.vectors); // (n T) x m
  // Signals projected on U_G: rows (i c + r, t), columns o'.
  const St = new Float64Array(n * c * T * out);
  for (let r = 0; r < n * c; r++) for (let o = 0; o < out; o++) for (let t = 0; t < T; t++) St[(r * T + t) * out + o] = S[r * out * T + o * T + t];
  const Sh = project(St, n * c * T, out, eigG.vectors);
  const s = new Float64Array(out * m);
  const M = new Float64Array(out * m);
  for (let i = 0; i < n; i++)
    for (let k = 0; k < c; k++) {
      const r = i * c + k;
      if (T === 1) {
        for (let o = 0; o < out; o++) {
          const so = Sh[r * out + o];
          if (so === 0) continue;
          const so2 = so * so;
          for (let a = 0; a < m; a++) {
            const pa = Ph[i * m + a];
            s[o * m + a] += so2 * pa * pa;
          }
        }
        continue;
      }
      M.fill(0);
      for (let t = 0; t < T; t++)
        for (let o = 0; o < out; o++) {
          const so = Sh[(r * T + t) * out + o];
          if (so === 0) continue;
          for (let a = 0; a < m; a++) M[o * m + a] += so * Ph[(i * T + t) * m + a];
        }
      for (let e = 0; e < M.length; e++) s[e] += M[e] * M[e];
    }
  for (let e = 0; e < s.length; e++) s[e] /= n;
  return s;
}

/** out[block] = U_G [(U_G^T V U_A) o D] U_A^T for the layer's block V of grad. */
function applyLayer(l: LayerState, grad: ArrayLike<number>, out: Float64Array): void {
  const m = l.layer.fanIn + 1;
  const p = l.layer.out;
  const UA = l.eigA!.vectors;
  const UG = l.eigG!.vectors;
  const off = l.layer.offset;
  // W = U_G^T V (p x m), then W U_A.
  const W = new Float64Array(p * m);
  for (let o = 0; o < p; o++)
    for (let k = 0; k < p; k++) {
      const u = UG[k * p + o];
      if (u === 0) continue;
      for (let a = 0; a < m; a++) W[o * m + a] += u * grad[off + k * m + a];
    }
  const X = project(W, p, m, UA);
  for (let e = 0; e < X.length; e++) X[e] *= l.D[e];
  // Y = X U_A^T, then U_G Y.
  const Y = new Float64Array(p * m);
  for (let o = 0; o < p; o++)
    for (let a = 0; a < m; a++) {
      let s = 0;
      for (let j = 0; j < m; j++) s += X[o * m + j] * UA[a * m + j];
      Y[o * m + a] = s;
    }
  for (let o = 0; o < p; o++)
    for (let a = 0; a < m; a++) {
      let s = 0;
      for (let k = 0; k < p; k++) s += UG[o * p + k] * Y[k * m + a];
      out[off + o * m + a] = s;
    }
}
