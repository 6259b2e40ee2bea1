/**
 * An independent high-accuracy integrator for the quadrature tests: adaptive Gauss-Kronrod
 * (G7/K15) on intervals, nested for the 2-D Gaussian expectations. Slow and simple: it shares
 * no code and no change of variables with src/math/infinite-quadrature.ts.
 */
import { activationAndSlope, whiten, type SmoothActivation } from '../../src/math/infinite-quadrature';

const XK = [0.991455371120812639, 0.949107912342758525, 0.864864423359769073, 0.741531185599394440, 0.586087235467691130, 0.405845151377397167, 0.207784955007898468, 0];
const WK = [0.022935322010529225, 0.063092092629978553, 0.104790010322250184, 0.140653259715525919, 0.169004726639267903, 0.190350578064785410, 0.204432940075298892, 0.209482141084727828];
const WG = [0.129484966168869693, 0.279705391489276668, 0.381830050505118945, 0.417959183673469388];

function gk15(f: (x: number) => number, a: number, b: number): [number, number] {
  const c = (a + b) / 2;
  const h = (b - a) / 2;
  const fc = f(c);
  let k = WK[7] * fc;
  let g = WG[3] * fc;
  for (let i = 0; i < 7; i++) {
    const f1 = f(c - h * XK[i]);
    const f2 = f(c + h * XK[i]);
    k += WK[i] * (f1 + f2);
    if (i % 2 === 1) g += WG[(i - 1) / 2] * (f1 + f2);
  }
  return [k * h, Math.abs((k - g) * h)];
}

/** Adaptive integral of f over [a, b] split at `breaks`, to absolute tolerance `tol`. */
export function adaptiveIntegral(f: (x: number) => number, a: number, b: number, tol: number, breaks: number[] = []): number {
  const pts = [a, ...breaks.filter((x) => x > a && x < b).sort((x, y) => x - y), b];
  let total = 0;
  for (let i = 0; i + 1 < pts.length; i++) {
    const stack: [number, number, number][] = [[pts[i], pts[i + 1], 0]];
    while (stack.length) {
      const [lo, hi, depth] = stack.pop()!;
      const [v, err] = gk15(f, lo, hi);
      if (err <= tol * ((hi - lo) / (b - a)) || depth > 40) total += v;
      else {
        const mid = (lo + hi) / 2;
        stack.push([lo, mid, depth + 1], [mid, hi, depth + 1]);
      }
    }
  }
  return total;
}

const N = (z: number) => Math.exp(-0.5 * z * z) / Math.sqrt(2 * Math.PI);

/** E[phi(u)phi(v)] and E[phi'(u)phi'(v)] by nested adaptive Gauss-Kronrod on [-9, 9]^2. */
export function adaptiveExpectations(act: SmoothActivation, s11: number, s12: number, s22: number, tol = 1e-13): { k: number; d: number } {
  const { a, b, c } = whiten(s11, s12, s22);
  const L = 9;
  const inner = (z1: number, which: 0 | 1) => {
    const m = b * z1;
    const br = c > 0 ? [-m / c] : [];
    return adaptiveIntegral((z2) => activationAndSlope(act, m + c * z2)[which] * N(z2), -L, L, tol, br);
  };
  const k = adaptiveIntegral((z1) => activationAndSlope(act, a * z1)[0] * inner(z1, 0) * N(z1), -L, L, tol, [0]);
  const d = adaptiveIntegral((z1) => activationAndSlope(act, a * z1)[1] * inner(z1, 1) * N(z1), -L, L, tol, [0]);
  return { k, d };
}
