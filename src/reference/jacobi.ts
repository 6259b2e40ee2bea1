/**
 * CPU twin of the GPU eigensolver in shaders/eigh.wgsl: parallel cyclic Jacobi with
 * round-robin (tournament) ordering, the same rotation formulas, the same stopping test and
 * the same step structure (all n/2 rotations of a step are computed from the matrix as it was
 * before the step, then applied together).
 *
 * It exists to test the algorithm apart from the GPU: that the pairing visits every pair once
 * per sweep, that the stopping test terminates on adversarial matrices, how many sweeps each
 * kind of matrix needs. With `f32: true` every arithmetic result is rounded with Math.fround,
 * which emulates the WGSL kernel's float32 arithmetic (up to the last bit of sqrt and
 * division), so sweep counts and round-off can be studied here. The oracle for accuracy stays
 * `eighSym` (src/math/linalg.ts).
 */
import type { SymEig } from '../math/linalg';

/** Unit roundoff of float32. */
export const U32 = 2 ** -24;

/**
 * The pair played by "table" `k` (0 <= k < m/2) in round `step` (0 <= step < m-1) of the circle
 * method for `m` (even) players: player m-1 stays fixed, the others rotate. Over the m-1 rounds
 * of a sweep every unordered pair {p, q} of 0..m-1 meets exactly once, and within a round the
 * m/2 pairs are disjoint, so their rotations commute and can run in parallel.
 * The same formula is in shaders/eigh.wgsl (`pair_of`).
 */
export function roundRobinPair(m: number, step: number, k: number): [number, number] {
  const r = m - 1;
  if (k === 0) return [step, r];
  return [(step + k) % r, (step + r - k) % r];
}

/**
 * A Jacobi rotation that annihilates a_pq (Rutishauser's formulas, Golub & Van Loan 8.5.2):
 * theta = (a_qq - a_pp) / (2 a_pq), t = sign(theta) / (|theta| + sqrt(theta^2 + 1)) (the smaller
 * root, so |angle| <= pi/4), c = 1/sqrt(1 + t^2), s = t c. Returns null when the test says a_pq
 * is negligible: |a_pq| <= max(tol * sqrt(|a_pp|) sqrt(|a_qq|), floor).
 */
export function jacobiRotation(
  app: number,
  aqq: number,
  apq: number,
  tol: number,
  floor: number,
  r: (x: number) => number = (x) => x,
): { c: number; s: number; t: number } | null {
  const thresh = Math.max(r(tol * r(r(Math.sqrt(Math.abs(app))) * r(Math.sqrt(Math.abs(aqq))))), floor);
  if (Math.abs(apq) <= thresh) return null;
  const theta = r(r(aqq - app) / r(2 * apq));
  const at = Math.abs(theta);
  // For |theta| > 2^20 (float32: theta^2 + 1 == theta^2, and theta^2 may overflow) the root is 1/(2 theta).
  const t =
    at > 1048576 ? r(0.5 / theta) : r((theta < 0 ? -1 : 1) / r(at + r(Math.sqrt(r(r(theta * theta) + 1)))));
  const c = r(1 / r(Math.sqrt(r(r(t * t) + 1))));
  return { c, s: r(t * c), t };
}

export interface JacobiOptions {
  /** Relative threshold of the stopping test (default 2^-24, float32's unit roundoff). */
  tol?: number;
  /** Absolute threshold as a multiple of ||A||_F (default 2^-24, as the GPU solver). */
  floorRel?: number;
  /** Sweep cap (default 30). */
  maxSweeps?: number;
  /** Emulate float32 arithmetic (Math.fround after every operation). */
  f32?: boolean;
}

export interface JacobiResult extends SymEig {
  /** Sweeps run, counting the last one (which found nothing to rotate when converged). */
  sweeps: number;
  converged: boolean;
  /** Rotations applied in total. */
  rotations: number;
}

/** Eigendecomposition by parallel cyclic Jacobi; same output conventions as `eighSym`. */
export function jacobiEigh(A: Float64Array, n: number, opts: JacobiOptions = {}): JacobiResult {
  if (A.length !== n * n) throw new Error(`jacobiEigh: expected ${n * n} entries, got ${A.length}`);
  const r = opts.f32 ? Math.fround : (x: number) => x;
  const tol = opts.tol ?? U32;
  const maxSweeps = opts.maxSweeps ?? 30;
  const m = n + (n % 2); // odd n: one dummy index with a zero row and column, never rotated
  const a = new Float64Array(m * m);
  let fro = 0;
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) {
      const v = r((A[i * n + j] + A[j * n + i]) / 2);
      a[i * m + j] = v;
      fro += v * v;
    }
  const floor = (opts.floorRel ?? U32) * Math.sqrt(fro);
  // vt[p*m + i] = V[i][p]: row p of V^T, as the kernel stores it (a rotation touches two rows).
  const vt = new Float64Array(m * m);
  for (let i = 0; i < m; i++) vt[i * m + i] = 1;
  const h = m / 2;
  const cs = new Float64Array(h);
  const sn = new Float64Array(h);
  const P = new Int32Array(h);
  const Q = new Int32Array(h);
  let sweeps = 0;
  let converged = false;
  let rotations = 0;
  while (sweeps < maxSweeps && !converged) {
    sweeps++;
    let rotated = 0;
    for (let step = 0; step < m - 1; step++) {
      // Phase 1: every pair's rotation from the current matrix; the 2x2 diagonal block is set.
      for (let k = 0; k < h; k++) {
        const [p, q] = roundRobinPair(m, step, k);
        P[k] = p;
        Q[k] = q;
        const app = a[p * m + p];
        const aqq = a[q * m + q];
        const apq = a[p * m + q];
        const rot = jacobiRotation(app, aqq, apq, tol, floor, r);
        if (!rot) {
          cs[k] = 1;
          sn[k] = 0;
          continue;
        }
        rotated++;
        cs[k] = rot.c;
        sn[k] = rot.s;
        a[p * m + p] = r(app - r(rot.t * apq));
        a[q * m + q] = r(aqq + r(rot.t * apq));
        a[p * m + q] = 0;
        a[q * m + p] = 0;
      }
      // Phase 2: each off-diagonal 2x2 block B = A[{p_k,q_k},{p_l,q_l}] <- R_k^T B R_l,
      // computed once for k < l and mirrored, so A stays exactly symmetric.
      for (let k = 0; k < h; k++)
        for (let l = k + 1; l < h; l++) {
          const ck = cs[k], sk = sn[k], cl = cs[l], sl = sn[l];
          const p = P[k], q = Q[k], u = P[l], w = Q[l];
          const b00 = a[p * m + u], b01 = a[p * m + w], b10 = a[q * m + u], b11 = a[q * m + w];
          const x00 = r(r(ck * b00) - r(sk * b10));
          const x01 = r(r(ck * b01) - r(sk * b11));
          const x10 = r(r(sk * b00) + r(ck * b10));
          const x11 = r(r(sk * b01) + r(ck * b11));
          const y00 = r(r(cl * x00) - r(sl * x01));
          const y01 = r(r(sl * x00) + r(cl * x01));
          const y10 = r(r(cl * x10) - r(sl * x11));
          const y11 = r(r(sl * x10) + r(cl * x11));
          a[p * m + u] = a[u * m + p] = y00;
          a[p * m + w] = a[w * m + p] = y01;
          a[q * m + u] = a[u * m + q] = y10;
          a[q * m + w] = a[w * m + q] = y11;
        }
      // V <- V J: rows p, q of V^T.
      for (let k = 0; k < h; k++) {
        const c = cs[k], s = sn[k];
        if (s === 0) continue;
        const p = P[k] * m, q = Q[k] * m;
        for (let i = 0; i < m; i++) {
          const vp = vt[p + i], vq = vt[q + i];
          vt[p + i] = r(r(c * vp) - r(s * vq));
          vt[q + i] = r(r(s * vp) + r(c * vq));
        }
      }
    }
    rotations += rotated;
    converged = rotated === 0;
  }
  // Ascending order; ties keep index order (the kernel's rank rule).
  const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => a[x * m + x] - a[y * m + y] || x - y);
  const values = new Float64Array(n);
  const vectors = new Float64Array(n * n);
  order.forEach((src, j) => {
    values[j] = a[src * m + src];
    for (let i = 0; i < n; i++) vectors[i * n + j] = vt[src * m + i];
  });
  return { values, vectors, sweeps, converged, rotations };
}
