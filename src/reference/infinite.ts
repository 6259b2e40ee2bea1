/**
 * Infinite-width kernels in float64 (fixture README section 13): the NNGP and the NTK of the
 * infinite-width limit of an NTK-parameterized network (Jacot et al. 2018; Lee et al. 2019;
 * Arora et al. 2019 for the CNTK), with the conventions of Neural Tangents' stax. The float64
 * twin of src/geometry/infinite-kernels.ts (shaders/infinite_maps.wgsl, shaders/infinite_act.wgsl): the
 * same plan, the same per-pair algorithm, the same activation rules, so the GPU is tested
 * against it operation by operation.
 *
 * Representation. For a pair of examples (x, x') the current representation's covariance is a
 * P x P map K[p, p'] over (position of x, position of x'), and T the matching NTK map (a vector
 * has P = 1). Layers:
 *
 *   input    K[p, p'] = (1/C) sum_c x_c(p) x'_c(p'),  T = 0
 *   conv     Sigma[P, P'] = sw^2 (1/k^2) sum_o K[P s + o - q, P' s + o - q] + sb^2   (same offset o
 *            on both sides; entries at padding positions are 0 and counted in the 1/k^2)
 *            Theta = Sigma + sw^2 (1/k^2) sum_o T[...]
 *   dense    Sigma = sw^2 (1/P) sum_p K[p, p] + sb^2,  Theta = Sigma + sw^2 (1/P) sum_p T[p, p]
 *            (after flatten of a P-position map: same positions only; a dense layer on a
 *            [C, H, W] input flattens it, so the same rule applies)
 *   act      K = E[phi(u) phi(v)], T = Theta E[phi'(u) phi'(v)],  (u, v) ~ N(0, [[S(x,p), Sigma],
 *            [Sigma, S(x',p')]]) where S(x, p) = Sigma(x, p; x, p) is the example's own variance
 *   avgpool  K[P, P'] = mean over p in window P, p' in window P' of K[p, p'] (same for T)
 *   flatten  no change
 *
 * Only the position pairs later layers read are computed (src/model/infinite-plan.ts `neededBoxes`:
 * offsets within a box per stage; the diagonal alone without pooling). The maps here stay full
 * P x P arrays (zeros outside the boxes); the GPU stores each stage in its compact layout
 * (`StageBox`), and `packStage` converts for comparisons.
 *
 * The variances S(x, p) of every example at every activation come from a first pass over the
 * self pairs (x, x) (pooling mixes positions, so a self pair needs its whole P x P map); the
 * cross pairs then reuse them, so any subset of pairs can be computed independently.
 *
 * Activations: linear (K = Sigma, T = Theta), relu in closed form (arc-cosine kernel, with the
 * angle exactly 0 for an identical pair, see `reluExpectations`), tanh and sigmoid by the
 * quadrature of src/math/infinite-quadrature.ts. The plan (which specs qualify, the op list) is
 * src/model/infinite-plan.ts.
 */
import type { Activation } from '../experiment/types';
import { stagePartner, type InfiniteKernels, type InfiniteOp, type InfinitePlan, type InputSet, type StageBox } from '../model/infinite-plan';
import { gaussianExpectations } from '../math/infinite-quadrature';

export type { CrossKernels, InfiniteKernels, InfiniteOp, InfinitePlan, InputSet, StageBox } from '../model/infinite-plan';

/**
 * Whether entry (p, q) of a map on a grid of width `box.w` is one later layers read (offsets within
 * the stage's box, src/model/infinite-plan.ts `neededBoxes`). Entries outside are left at 0 here
 * (on the GPU: not written); nothing reads them. Without a box every entry is computed.
 */
export function inBox(box: Pick<StageBox, 'w' | 'ry' | 'rx'> | undefined, p: number, q: number): boolean {
  if (!box) return true;
  return Math.abs(Math.floor(p / box.w) - Math.floor(q / box.w)) <= box.ry && Math.abs((p % box.w) - (q % box.w)) <= box.rx;
}

/** Pack a full P x P map into a stage's storage layout (entries outside the box: 0). */
export function packStage(box: StageBox, map: ArrayLike<number>): Float64Array {
  const P = box.h * box.w;
  const out = new Float64Array(P * box.row);
  for (let p = 0; p < P; p++) {
    for (let j = 0; j < box.row; j++) {
      const q = stagePartner(box, p, j);
      if (q >= 0) out[p * box.row + j] = map[p * P + q];
    }
  }
  return out;
}

// ---- the per-pair operations (each the twin of one WGSL entry point) ----

/** Input map of the pair (xa, xb): K[p, p'] = (1/C) sum_c xa[c, p] xb[c, p'] (NCHW rows). */
export function inputMap(xa: ArrayLike<number>, xb: ArrayLike<number>, channels: number, positions: number, box?: StageBox): Float64Array {
  const K = new Float64Array(positions * positions);
  for (let p = 0; p < positions; p++) {
    for (let q = 0; q < positions; q++) {
      if (!inBox(box, p, q)) continue;
      let s = 0;
      for (let c = 0; c < channels; c++) s += xa[c * positions + p] * xb[c * positions + q];
      K[p * positions + q] = s / channels;
    }
  }
  return K;
}

/** Sigma and Theta of a conv layer from the incoming maps (T null: the first layer, T = 0). */
export function convMaps(
  op: Extract<InfiniteOp, { kind: 'conv' }>,
  K: Float64Array,
  T: Float64Array | null,
  sigmaW: number,
  sigmaB: number,
  box?: StageBox,
): { sigma: Float64Array; theta: Float64Array } {
  const { hIn, wIn, hOut, wOut, kernel: k, stride: s, padding: q } = op;
  const Pin = hIn * wIn;
  const Pout = hOut * wOut;
  const sigma = new Float64Array(Pout * Pout);
  const theta = new Float64Array(Pout * Pout);
  const sw2 = sigmaW * sigmaW;
  const sb2 = sigmaB * sigmaB;
  const inv = 1 / (k * k);
  for (let P = 0; P < Pout; P++) {
    const y = Math.floor(P / wOut) * s - q;
    const x = (P % wOut) * s - q;
    for (let P2 = 0; P2 < Pout; P2++) {
      if (!inBox(box, P, P2)) continue;
      const y2 = Math.floor(P2 / wOut) * s - q;
      const x2 = (P2 % wOut) * s - q;
      let mk = 0;
      let mt = 0;
      for (let oy = 0; oy < k; oy++) {
        const ya = y + oy;
        const yb = y2 + oy;
        if (ya < 0 || ya >= hIn || yb < 0 || yb >= hIn) continue;
        for (let ox = 0; ox < k; ox++) {
          const xa = x + ox;
          const xb = x2 + ox;
          if (xa < 0 || xa >= wIn || xb < 0 || xb >= wIn) continue;
          const idx = (ya * wIn + xa) * Pin + yb * wIn + xb;
          mk += K[idx];
          if (T) mt += T[idx];
        }
      }
      const sg = sw2 * (mk * inv) + sb2;
      sigma[P * Pout + P2] = sg;
      theta[P * Pout + P2] = sg + sw2 * (mt * inv);
    }
  }
  return { sigma, theta };
}

/** Sigma and Theta of a dense layer: the mean over the same positions of a P-position map. */
export function denseMaps(K: Float64Array, T: Float64Array | null, positions: number, sigmaW: number, sigmaB: number): { sigma: Float64Array; theta: Float64Array } {
  let mk = 0;
  let mt = 0;
  for (let p = 0; p < positions; p++) {
    mk += K[p * positions + p];
    if (T) mt += T[p * positions + p];
  }
  const sw2 = sigmaW * sigmaW;
  const sg = sw2 * (mk / positions) + sigmaB * sigmaB;
  return { sigma: Float64Array.of(sg), theta: Float64Array.of(sg + sw2 * (mt / positions)) };
}

/** Window means of a map (avgpool2d of size q: non-overlapping windows, floor). */
export function poolMap(op: Extract<InfiniteOp, { kind: 'pool' }>, K: Float64Array, box?: StageBox): Float64Array {
  const { hIn, wIn, hOut, wOut, size: q } = op;
  const Pin = hIn * wIn;
  const Pout = hOut * wOut;
  const out = new Float64Array(Pout * Pout);
  const inv = 1 / (q * q * q * q);
  for (let P = 0; P < Pout; P++) {
    const y0 = Math.floor(P / wOut) * q;
    const x0 = (P % wOut) * q;
    for (let P2 = 0; P2 < Pout; P2++) {
      if (!inBox(box, P, P2)) continue;
      const y1 = Math.floor(P2 / wOut) * q;
      const x1 = (P2 % wOut) * q;
      let s = 0;
      for (let i = 0; i < q; i++)
        for (let j = 0; j < q; j++) {
          const row = ((y0 + i) * wIn + x0 + j) * Pin;
          for (let i2 = 0; i2 < q; i2++) for (let j2 = 0; j2 < q; j2++) s += K[row + (y1 + i2) * wIn + x1 + j2];
        }
      out[P * Pout + P2] = s * inv;
    }
  }
  return out;
}

/**
 * E[relu(u) relu(v)] and E[step(u) step(v)] (the arc-cosine kernels of order 1 and 0).
 *
 * The angle t = arccos(rho) near rho = 1 behaves like sqrt(2 (1 - rho)), so a rho one rounding
 * below 1 shifts t by sqrt(eps) (README section 13). An identical pair (the same example at the
 * same position, or bitwise-equal examples, where s12 = s11 = s22) must give t = 0 exactly:
 * the denominator is taken as s11 itself when s11 == s22 (not sqrt(s11 s22), which an
 * approximate GPU square root need not round back), and rho = 1 whenever s12 >= denominator.
 * The GPU kernel uses the same rule, and d = 1/2 - t/(2 pi) (exactly 1/2 at t = 0). A zero variance (a zero input without bias) gives
 * k = 0, d = 0 (relu(0) = 0, step(0) = 0): what multiplies them is then 0 anyway.
 */
export function reluExpectations(s11: number, s12: number, s22: number): { k: number; d: number } {
  const den = s11 === s22 ? s11 : Math.sqrt(s11 * s22);
  if (!(den > 0)) return { k: 0, d: 0 };
  let rho = s12 >= den ? 1 : s12 / den;
  if (rho < -1) rho = -1;
  const t = rho === 1 ? 0 : Math.acos(rho);
  const sinT = Math.sqrt((1 - rho) * (1 + rho));
  // (pi - t)/(2 pi) written as 1/2 - t/(2 pi): exactly 1/2 at t = 0, so k = den/2 exactly too.
  const d = 0.5 - t / (2 * Math.PI);
  return { k: den * (sinT / (2 * Math.PI) + d * rho), d };
}

/** E[phi(u) phi(v)] and E[phi'(u) phi'(v)] for any activation. */
export function activationExpectations(act: Activation, s11: number, s12: number, s22: number): { k: number; d: number } {
  switch (act) {
    case 'linear':
      return { k: s12, d: 1 };
    case 'relu':
      return reluExpectations(s11, s12, s22);
    default:
      return gaussianExpectations(act, s11, s12, s22);
  }
}

/**
 * Apply an activation to a pair's maps in place: K <- E[phi phi], T <- Theta E[phi' phi'],
 * with the variances va[p] of example a and vb[p'] of example b.
 */
export function applyActivation(act: Activation, sigma: Float64Array, theta: Float64Array, va: Float64Array, vb: Float64Array, positions: number, box?: StageBox): void {
  if (act === 'linear') return;
  for (let p = 0; p < positions; p++) {
    for (let q = 0; q < positions; q++) {
      if (!inBox(box, p, q)) continue;
      const i = p * positions + q;
      const e = activationExpectations(act, va[p], sigma[i], vb[q]);
      sigma[i] = e.k;
      theta[i] = theta[i] * e.d;
    }
  }
}

/** The diagonal Sigma(x, p; x, p) of a self pair's map. */
export function mapDiagonal(sigma: Float64Array, positions: number): Float64Array {
  const v = new Float64Array(positions);
  for (let p = 0; p < positions; p++) v[p] = sigma[p * positions + p];
  return v;
}

/** Per-example variances at each op (null where the op needs none: linear, pool). */
export type ExampleVariances = (Float64Array | null)[];

/**
 * Run the recursion for one pair. With `vb` null the pair is a self pair (xa, xa) and its own
 * variances are recorded into `va` (op by op); otherwise both examples' variances are read.
 * Returns the last layer's Sigma (nngp) and Theta (ntk).
 */
export function runPair(plan: InfinitePlan, xa: ArrayLike<number>, xb: ArrayLike<number>, va: ExampleVariances, vb: ExampleVariances | null): { nngp: number; ntk: number } {
  let positions = plan.h * plan.w;
  let K = inputMap(xa, xb, plan.channels, positions, plan.boxes[0]);
  let T: Float64Array | null = null;
  for (let i = 0; i < plan.ops.length; i++) {
    const op = plan.ops[i];
    const box = plan.boxes[i + 1];
    if (op.kind === 'pool') {
      K = poolMap(op, K, box);
      T = T ? poolMap(op, T, box) : null;
      positions = op.hOut * op.wOut;
      continue;
    }
    const m: { sigma: Float64Array; theta: Float64Array } =
      op.kind === 'conv' ? convMaps(op, K, T, plan.sigmaW, plan.sigmaB, box) : denseMaps(K, T, positions, plan.sigmaW, plan.sigmaB);
    positions = op.kind === 'conv' ? op.hOut * op.wOut : 1;
    if (op.activation !== 'linear') {
      if (vb === null) va[i] = mapDiagonal(m.sigma, positions);
      applyActivation(op.activation, m.sigma, m.theta, va[i]!, (vb ?? va)[i]!, positions, box);
    }
    K = m.sigma;
    T = m.theta;
  }
  return { nngp: K[0], ntk: T ? T[0] : K[0] };
}

/** Example i of an input set (a view when possible). */
function example(set: InputSet, i: number, d: number): ArrayLike<number> {
  const x = set.x;
  return ArrayBuffer.isView(x) ? (x as Float64Array).subarray(i * d, (i + 1) * d) : Array.prototype.slice.call(x, i * d, (i + 1) * d);
}

/**
 * The analytic NNGP and NTK (n x n factors; the multi-output kernels are these (x) I_c) on the
 * training inputs, and m x n against each extra input set (test points, a grid, ...). The float64
 * twin of `infiniteKernels` (src/geometry/infinite-kernels.ts).
 */
export function infiniteKernelsRef(plan: InfinitePlan, train: InputSet, extras: InputSet[] = []): InfiniteKernels {
  const d = plan.inputSize;
  const sets = [train, ...extras];
  // Self pairs first: every example's variances (and the train diagonal).
  const variances: ExampleVariances[][] = sets.map((set) => Array.from({ length: set.n }, () => new Array(plan.ops.length).fill(null)));
  const n = train.n;
  const nngp = new Float64Array(n * n);
  const ntk = new Float64Array(n * n);
  sets.forEach((set, s) => {
    for (let i = 0; i < set.n; i++) {
      const x = example(set, i, d);
      const r = runPair(plan, x, x, variances[s][i], null);
      if (s === 0) {
        nngp[i * n + i] = r.nngp;
        ntk[i * n + i] = r.ntk;
      }
    }
  });
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const r = runPair(plan, example(train, i, d), example(train, j, d), variances[0][i], variances[0][j]);
      nngp[i * n + j] = nngp[j * n + i] = r.nngp;
      ntk[i * n + j] = ntk[j * n + i] = r.ntk;
    }
  }
  const cross = extras.map((set, e) => {
    const kg = new Float64Array(set.n * n);
    const kt = new Float64Array(set.n * n);
    for (let i = 0; i < set.n; i++) {
      for (let j = 0; j < n; j++) {
        const r = runPair(plan, example(set, i, d), example(train, j, d), variances[e + 1][i], variances[0][j]);
        kg[i * n + j] = r.nngp;
        kt[i * n + j] = r.ntk;
      }
    }
    return { nngp: kg, ntk: kt };
  });
  return { nngp, ntk, extras: cross };
}
