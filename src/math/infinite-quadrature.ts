/**
 * Gaussian expectations of the smooth activations (tanh, sigmoid) for the infinite-width
 * kernels (fixture README section 13), in float64:
 *
 *   k = E[phi(u) phi(v)],  d = E[phi'(u) phi'(v)],  (u, v) ~ N(0, [[S11, S12], [S12, S22]]),
 *
 * after the Cholesky whitening of the README: u = a z1, v = b z1 + c z2 with z ~ N(0, I2),
 * a = sqrt(S11), b = S12 / a, c = sqrt(S22 - b^2).
 *
 * Why not plain Gauss-Hermite: with a large variance, phi(a z) is a near step of width 1/a in z
 * (and phi' a narrow bump), which polynomials resolve poorly; Gauss-Hermite then needs
 * O((pi a)^2) points per dimension (the README's generator needed 256 to 1024). Instead, each of
 * the two nested 1-D integrals over [-L, L] uses a change of variables
 *
 *   z = z0 + asinh(w sinh s),   dz/ds = w cosh s / sqrt(1 + (w sinh s)^2),
 *
 * and the trapezoidal rule in s with a step of at most h. Near z0 the nodes are spaced ~ w h
 * (w = the width of the activation's transition), at distance D from z0 ~ D h (a geometric
 * grading), and beyond |z - z0| ~ 1 uniformly ~ h (the Gaussian's own scale): the node count grows
 * like (2L + 2 ln(1/w)) / h, not like 1/w^2. (A plain sinh map z = z0 + w sinh s grades forever,
 * so when the transition sits away from the Gaussian's centre its bulk is undersampled; the
 * asinh(w sinh s) form keeps both resolved.) The integrand in s is analytic in a strip and
 * negligible at both ends, where the trapezoidal rule converges geometrically in 1/h.
 * Centres and widths:
 *
 *   outer (z1): z0 = 0, w1 = min(1, 1/a, sqrt(1 + c^2)/|b|)   (phi(a z1) and E_z2[phi(b z1 + c z2)]
 *               both change around z1 = 0, the second over a width sqrt(1 + c^2)/|b|)
 *   inner (z2): when c > 1, z0 = clamp(-b z1 / c, -L, L) and w2 = 1/c (phi(b z1 + c z2) changes
 *               sharply at z2 = -b z1/c); otherwise z0 = 0, w2 = 1 (nothing sharp: plain trapezoid)
 *
 * Accuracy, measured against nested adaptive Gauss-Kronrod (tests/helpers/adaptive.ts) over
 * variances 1e-4 .. 1e4 and correlations -0.999999 .. 1, as error / sqrt(E[phi(u)^2] E[phi(v)^2])
 * (the Cauchy-Schwarz scale of k; likewise for d): h = 0.3, L = 7.5 gives at most 1.1e-9 (k) and
 * 5.3e-8 (d), with 51 (w = 1) to 98 (w = 0.001) nodes per dimension; h = 0.35 gives 1.4e-8 and
 * 6.0e-7. The README asks for about 1e-7. The WGSL kernel (shaders/infinite_act.wgsl) evaluates
 * the same rule, node for node, in float32.
 */
import type { Activation } from '../experiment/types';

/** Parameters of the mapped trapezoidal rule. */
export interface QuadratureRule {
  /** Largest step in the mapped variable s. */
  h: number;
  /** Integration domain [-L, L] in whitened coordinates (the N(0,1) tail beyond 7.5 is 6e-14). */
  L: number;
}

/** The rule of the kernels and the runner (accuracy in the header). */
export const DEFAULT_RULE: QuadratureRule = { h: 0.3, L: 7.5 };

const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

/** The smooth activations with no closed-form Gaussian expectation. */
export type SmoothActivation = Extract<Activation, 'tanh' | 'sigmoid'>;

function sigmoid(s: number): number {
  const e = Math.exp(-Math.abs(s));
  return s >= 0 ? 1 / (1 + e) : e / (1 + e);
}

/** phi(s) and phi'(s) (tanh' = 1 - tanh^2 = 4e/(1+e)^2 with e = exp(-2|s|); sigmoid' = e/(1+e)^2 with e = exp(-|s|)). */
export function activationAndSlope(act: SmoothActivation, s: number): [number, number] {
  if (act === 'tanh') {
    const e = Math.exp(-2 * Math.abs(s));
    return [Math.tanh(s), (4 * e) / ((1 + e) * (1 + e))];
  }
  const e = Math.exp(-Math.abs(s));
  return [sigmoid(s), e / ((1 + e) * (1 + e))];
}

/**
 * The nodes of the mapped rule for one 1-D integral over [-L, L]: z(s) = z0 + asinh(w sinh(s)),
 * s uniform from s(-L) to s(L), s(z) = asinh(sinh(z - z0) / w). Returns the first node's s, the
 * step and the number of intervals (count + 1 nodes).
 */
export function mappedNodes(z0: number, w: number, rule: QuadratureRule = DEFAULT_RULE): { s0: number; step: number; count: number } {
  // s(z) = asinh(sinh(z - z0) / w), the identity shift z - z0 when w = 1.
  const s0 = w === 1 ? -rule.L - z0 : Math.asinh(Math.sinh(-rule.L - z0) / w);
  const s1 = w === 1 ? rule.L - z0 : Math.asinh(Math.sinh(rule.L - z0) / w);
  const count = Math.max(2, Math.ceil((s1 - s0) / rule.h));
  return { s0, step: (s1 - s0) / count, count };
}

/** Whitening of a 2x2 covariance (a = sqrt(S11), b = S12/a, c = sqrt(S22 - b^2), with a = 0 handled). */
export function whiten(s11: number, s12: number, s22: number): { a: number; b: number; c: number } {
  const a = Math.sqrt(Math.max(s11, 0));
  const b = a > 0 ? s12 / a : 0;
  const c = Math.sqrt(Math.max(s22 - b * b, 0));
  return { a, b, c };
}

/**
 * E[phi(u) phi(v)] and E[phi'(u) phi'(v)] for (u, v) ~ N(0, [[s11, s12], [s12, s22]]), by the
 * nested mapped trapezoidal rule of the header.
 */
export function gaussianExpectations(act: SmoothActivation, s11: number, s12: number, s22: number, rule: QuadratureRule = DEFAULT_RULE): { k: number; d: number } {
  const { a, b, c } = whiten(s11, s12, s22);
  let w1 = 1;
  if (a > 1) w1 = 1 / a;
  if (Math.abs(b) > 0) w1 = Math.min(w1, Math.sqrt(1 + c * c) / Math.abs(b));
  const sharp = c > 1;
  const w2 = sharp ? 1 / c : 1;
  const tanh = act === 'tanh';
  const outer = mappedNodes(0, w1, rule);
  let k = 0;
  let d = 0;
  // (Written out without helper calls or tuples: this loop runs 2,500 to 10,000 times per entry.)
  for (let i = 0; i <= outer.count; i++) {
    const s = outer.s0 + i * outer.step;
    let z1 = s;
    let j1 = 1;
    if (w1 !== 1) {
      // z = asinh(w sinh s), dz/ds = w cosh s / sqrt(1 + (w sinh s)^2) (w = 1: the identity).
      const es = Math.exp(s);
      const y1 = 0.5 * w1 * (es - 1 / es);
      const r1 = Math.sqrt(1 + y1 * y1);
      z1 = y1 >= 0 ? Math.log(y1 + r1) : -Math.log(r1 - y1);
      j1 = (0.5 * w1 * (es + 1 / es)) / r1;
    }
    const wt1 = (i === 0 || i === outer.count ? 0.5 : 1) * outer.step * j1 * INV_SQRT_2PI * Math.exp(-0.5 * z1 * z1);
    const u = a * z1;
    let p1: number;
    let q1: number;
    if (tanh) {
      const e = Math.exp(-2 * Math.abs(u));
      p1 = Math.tanh(u);
      q1 = (4 * e) / ((1 + e) * (1 + e));
    } else {
      const e = Math.exp(-Math.abs(u));
      p1 = u >= 0 ? 1 / (1 + e) : e / (1 + e);
      q1 = e / ((1 + e) * (1 + e));
    }
    const m = b * z1;
    // Centre of the inner map: the activation's transition z2 = -m/c when it is sharp (c > 1).
    const z0 = sharp ? Math.min(rule.L, Math.max(-rule.L, -m / c)) : 0;
    // The activation's argument m + c z2 = r + c (z2 - z0), with r = 0 unless the centre was clamped.
    const r = m + c * z0;
    const inner = mappedNodes(z0, w2, rule);
    let ik = 0;
    let id = 0;
    for (let j = 0; j <= inner.count; j++) {
      const t = inner.s0 + j * inner.step;
      let dz = t;
      let j2 = 1;
      if (sharp) {
        const et = Math.exp(t);
        const y2 = 0.5 * w2 * (et - 1 / et);
        const r2 = Math.sqrt(1 + y2 * y2);
        dz = y2 >= 0 ? Math.log(y2 + r2) : -Math.log(r2 - y2);
        j2 = (0.5 * w2 * (et + 1 / et)) / r2;
      }
      const z2 = z0 + dz;
      const wt2 = (j === 0 || j === inner.count ? 0.5 : 1) * inner.step * j2 * INV_SQRT_2PI * Math.exp(-0.5 * z2 * z2);
      const v = r + c * dz;
      if (tanh) {
        const e = Math.exp(-2 * Math.abs(v));
        ik += wt2 * (v >= 0 ? (1 - e) / (1 + e) : (e - 1) / (1 + e));
        id += wt2 * ((4 * e) / ((1 + e) * (1 + e)));
      } else {
        const e = Math.exp(-Math.abs(v));
        ik += wt2 * (v >= 0 ? 1 / (1 + e) : e / (1 + e));
        id += wt2 * (e / ((1 + e) * (1 + e)));
      }
    }
    k += wt1 * p1 * ik;
    d += wt1 * q1 * id;
  }
  return { k, d };
}
