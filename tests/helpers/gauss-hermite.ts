/**
 * Gauss-Hermite quadrature, the rule the fixture generator uses for tanh / sigmoid: the baseline
 * the mapped trapezoidal rule of src/math/infinite-quadrature.ts is measured against (README's
 * accuracy table; tests/reference-infinite.test.ts). Test code only: the engine never uses it.
 */
import { activationAndSlope, whiten, type SmoothActivation } from '../../src/math/infinite-quadrature';

/**
 * Gauss-Hermite nodes and weights for the standard normal weight (probabilists'): sum_i w_i f(x_i)
 * ~ E[f(z)], z ~ N(0, 1). Newton iteration on the orthonormal Hermite recurrence, in float64 (the
 * baseline the mapped rule is measured against; see the README's accuracy table).
 */
export function gaussHermite(q: number): { x: Float64Array; w: Float64Array } {
  // Physicists' nodes t_i of H_q (weight e^{-t^2}); x = sqrt(2) t, w = w_t / sqrt(pi).
  const x = new Float64Array(q);
  const w = new Float64Array(q);
  const m = Math.floor((q + 1) / 2);
  let z = 0;
  for (let i = 0; i < m; i++) {
    // Initial guesses (Numerical Recipes' gauher).
    if (i === 0) z = Math.sqrt(2 * q + 1) - 1.85575 * Math.pow(2 * q + 1, -1 / 6);
    else if (i === 1) z -= (1.14 * Math.pow(q, 0.426)) / z;
    else if (i === 2) z = 1.86 * z - 0.86 * x[0];
    else if (i === 3) z = 1.91 * z - 0.91 * x[1];
    else z = 2 * z - x[i - 2];
    let pp = 0;
    for (let it = 0; it < 100; it++) {
      let p1 = Math.PI ** -0.25;
      let p2 = 0;
      for (let j = 0; j < q; j++) {
        const p3 = p2;
        p2 = p1;
        p1 = z * Math.sqrt(2 / (j + 1)) * p2 - Math.sqrt(j / (j + 1)) * p3;
      }
      pp = Math.sqrt(2 * q) * p2;
      const z1 = z;
      z = z1 - p1 / pp;
      if (Math.abs(z - z1) <= 1e-15 * Math.max(1, Math.abs(z))) break;
    }
    x[i] = z;
    x[q - 1 - i] = -z;
    w[i] = 2 / (pp * pp);
    w[q - 1 - i] = w[i];
  }
  for (let i = 0; i < q; i++) {
    x[i] *= Math.SQRT2;
    w[i] /= Math.sqrt(Math.PI);
  }
  return { x, w };
}

/** The same expectations by 2-D Gauss-Hermite with q points per dimension (the README generator's rule). */
export function gaussHermiteExpectations(act: SmoothActivation, s11: number, s12: number, s22: number, gh: { x: Float64Array; w: Float64Array }): { k: number; d: number } {
  const { a, b, c } = whiten(s11, s12, s22);
  let k = 0;
  let d = 0;
  for (let i = 0; i < gh.x.length; i++) {
    const [p1, q1] = activationAndSlope(act, a * gh.x[i]);
    let ik = 0;
    let id = 0;
    for (let j = 0; j < gh.x.length; j++) {
      const [p2, q2] = activationAndSlope(act, b * gh.x[i] + c * gh.x[j]);
      ik += gh.w[j] * p2;
      id += gh.w[j] * q2;
    }
    k += gh.w[i] * p1 * ik;
    d += gh.w[i] * q1 * id;
  }
  return { k, d };
}
