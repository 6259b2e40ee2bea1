/**
 * Float64 geometry of the parameter-to-output map: NTK (full, traced, per layer), the
 * Fisher / GGN, kernel-target and NTK-target alignments, NTK spectra, and KFAC / EKFAC
 * per layer (fixture README sections 2, 4, 5, 6, 7, 9, 10).
 *
 * The output-space metric `M_i` (identity for mse, `diag p - p p^T` for cross_entropy)
 * enters everything through one factorization `M_i = L_i L_i^T`: the "whitened" rows
 * `Z_i = L_i^T X_i` of any per-output quantity X (Jacobian rows, backward signals) give
 * `X_i^T M_i X_i = Z_i^T Z_i`. For cross_entropy we use the square factor
 * `L_i^T[r, k] = sqrt(p_r) (delta_rk - p_k)`, i.e. `Z_i[r] = sqrt(p_r) (X_i[r] - sum_k p_k X_i[k])`:
 * a weighted centering that never subtracts two large Gram terms (so F stays PSD to
 * round-off), and the README shows that no result depends on the choice of L_i.
 */
import type { ModelPlan, ParamLayerPlan } from '../model/layout';
import {
  dot,
  eighSym,
  frobenius,
  frobeniusDiff,
  gramCols,
  gramRows,
  kron,
  kronCongruence,
} from '../math/linalg';
import { augWidth, layerGradients, type Forward } from './model';

/** Full NTK `K = J J^T` (n*c x n*c) of a Jacobian J (n*c x P), optionally restricted to columns [c0, c1). */
export function ntkFromJacobian(J: Float64Array, rows: number, P: number, c0 = 0, c1 = P): Float64Array {
  return gramRows(J, rows, P, c0, c1);
}

/** Per-layer full NTKs `J_l J_l^T`, one per parametrized layer. */
export function ntkPerLayer(J: Float64Array, plan: ModelPlan, rows: number): Float64Array[] {
  return plan.paramLayers.map((l) => gramRows(J, rows, plan.P, l.offset, l.offset + l.size));
}

/**
 * Full NTK and per-layer NTKs together: `K = sum_l J_l J_l^T`, so each Gram product over the
 * Jacobian is done once (the dominant cost of the reference on large N and P).
 */
export function ntkWithLayers(J: Float64Array, plan: ModelPlan, rows: number): { K: Float64Array; Kl: Float64Array[] } {
  const Kl = ntkPerLayer(J, plan, rows);
  const K = new Float64Array(rows * rows);
  for (const k of Kl) for (let i = 0; i < K.length; i++) K[i] += k[i];
  return { K, Kl };
}

/**
 * Full and per-layer NTKs from the per-example backward signals, without the Jacobian
 * (DESIGN.md "Factorized NTK"): for a dense layer
 * `K_l[(i,k), (j,l')] = (ã_i . ã_j) (S_{ik} . S_{jl'})`, i.e. `(Ã Ã^T)[ex, ex'] ⊙ (S S^T)`,
 * which costs O(N^2 out + n^2 m) instead of O(N^2 out m). A conv layer would need the
 * double sum over positions `t, t'` (O(N^2 T^2 out)), which is worse than forming its
 * Jacobian block (O(N^2 out m)) for the usual T^2 > m, so conv layers use the block.
 *
 * `signals` are the backward signals of unit cotangents (`jacobianSignals`), rows `i*c + k`.
 */
export function ntkFromSignals(fw: Forward, signals: Float64Array[]): { K: Float64Array; Kl: Float64Array[] } {
  const { n } = fw;
  const c = fw.plan.c;
  const rows = n * c;
  const Kl = fw.plan.paramLayers.map((l) => {
    if (l.kind === 'conv2d') {
      return gramRows(layerGradients(fw, l, signals[l.paramIndex], rows, c), rows, l.size);
    }
    const AA = gramRows(fw.patches[l.paramIndex], n, augWidth(l));
    const Kd = gramRows(signals[l.paramIndex], rows, l.out);
    for (let r = 0; r < rows; r++) {
      const ar = Math.floor(r / c) * n;
      for (let q = 0; q < rows; q++) Kd[r * rows + q] *= AA[ar + Math.floor(q / c)];
    }
    return Kd;
  });
  const K = new Float64Array(rows * rows);
  for (const k of Kl) for (let i = 0; i < K.length; i++) K[i] += k[i];
  return { K, Kl };
}

/** Output-traced NTK `K_tr[i, j] = sum_k K[i*c+k, j*c+k]` (n x n) of a full NTK (README section 2). */
export function ntkTrace(K: Float64Array, n: number, c: number): Float64Array {
  const N = n * c;
  const T = new Float64Array(n * n);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let k = 0; k < c; k++) s += K[(i * c + k) * N + j * c + k];
      T[i * n + j] = s;
    }
  return T;
}

/** Fisher / GGN `F = (1/n) Z^T Z` (P x P) from the whitened Jacobian Z (n*c x P) (README section 4). */
export function fisherFromWhitened(Z: Float64Array, n: number, c: number, P: number): Float64Array {
  const F = gramCols(Z, n * c, P);
  for (let i = 0; i < F.length; i++) F[i] /= n;
  return F;
}

/** `H K H` for a square K (N x N), `H = I - 11^T/N` (double centering). */
export function doubleCenter(K: Float64Array, N: number): Float64Array {
  const out = Float64Array.from(K);
  centerBlocks(out, N, 1);
  return out;
}

/**
 * In-place `(H (x) I_c) K (H (x) I_c)` on an (n*c x n*c) K with index `i*c + k`: every
 * `n x n` output block `K_(k,l)` becomes `H K_(k,l) H` (README section 9). `c = 1` is
 * plain double centering.
 */
function centerBlocks(K: Float64Array, n: number, c: number): void {
  const N = n * c;
  // Left factor: subtract, in every column, the mean over i of the rows (i, k) for each k.
  for (let col = 0; col < N; col++)
    for (let k = 0; k < c; k++) {
      let s = 0;
      for (let i = 0; i < n; i++) s += K[(i * c + k) * N + col];
      const mean = s / n;
      for (let i = 0; i < n; i++) K[(i * c + k) * N + col] -= mean;
    }
  // Right factor: the same over the columns of every row.
  for (let row = 0; row < N; row++)
    for (let l = 0; l < c; l++) {
      let s = 0;
      for (let j = 0; j < n; j++) s += K[row * N + j * c + l];
      const mean = s / n;
      for (let j = 0; j < n; j++) K[row * N + j * c + l] -= mean;
    }
}

/** `K~ = (H (x) I_c) K (H (x) I_c)`: the NTK of the Jacobian centered over examples per output. */
export function centerNtk(K: Float64Array, n: number, c: number): Float64Array {
  const out = Float64Array.from(K);
  centerBlocks(out, n, c);
  return out;
}

/** Targets with their column means removed: `Y~ = Y - 1 m^T` (n x c). */
export function centerTargets(Y: Float64Array, n: number, c: number): Float64Array {
  const Yc = Float64Array.from(Y);
  for (let k = 0; k < c; k++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += Y[i * c + k];
    const mean = s / n;
    for (let i = 0; i < n; i++) Yc[i * c + k] -= mean;
  }
  return Yc;
}

/**
 * Kernel-target alignment on an n x n kernel (README section 7):
 * `<K, Y Y^T>_F / (||K||_F ||Y Y^T||_F)`; centered: with `H K H` and `(HY)(HY)^T`.
 * A zero kernel or zero targets give 0/0 = NaN, as the formula does.
 */
export function kernelTargetAlignment(K: Float64Array, Y: Float64Array, n: number, c: number, centered: boolean): number {
  const Kc = centered ? doubleCenter(K, n) : K;
  const Yc = centered ? centerTargets(Y, n, c) : Y;
  const YY = gramRows(Yc, n, c);
  return dot(Kc, YY) / (frobenius(Kc) * frobenius(YY));
}

/**
 * NTK-target alignment of Baratin et al. on the full NTK (README section 9):
 * `A(K, v) = v^T K v / (||K||_F ||v||^2)` with `v = vec(Y)` (index i*c+k); centered:
 * K~ (Jacobian centered over examples per output) and v~ = vec(Y~).
 */
export function ntkTargetAlignment(K: Float64Array, Y: Float64Array, n: number, c: number, centered: boolean): number {
  const N = n * c;
  const Kc = centered ? centerNtk(K, n, c) : K;
  const v = centered ? centerTargets(Y, n, c) : Y;
  let vKv = 0;
  for (let a = 0; a < N; a++) {
    if (v[a] === 0) continue;
    let s = 0;
    for (let b = 0; b < N; b++) s += Kc[a * N + b] * v[b];
    vKv += v[a] * s;
  }
  return vKv / (frobenius(Kc) * dot(v, v));
}

/** Every alignment of README sections 7 and 9 for one kernel state. */
export interface Alignments {
  uncentered: number;
  centered: number;
  per_layer_uncentered: number[];
  per_layer_centered: number[];
  ntk_centered: number;
  ntk_uncentered: number;
  per_layer_ntk_centered: number[];
  per_layer_ntk_uncentered: number[];
}

/**
 * All alignments from the full NTK `K` and the per-layer full NTKs `Kl` (all n*c x n*c)
 * against targets Y (n x c: mse targets or one-hot labels).
 */
export function alignments(K: Float64Array, Kl: Float64Array[], Y: Float64Array, n: number, c: number): Alignments {
  const Ktr = ntkTrace(K, n, c);
  const Kltr = Kl.map((k) => ntkTrace(k, n, c));
  return {
    uncentered: kernelTargetAlignment(Ktr, Y, n, c, false),
    centered: kernelTargetAlignment(Ktr, Y, n, c, true),
    per_layer_uncentered: Kltr.map((k) => kernelTargetAlignment(k, Y, n, c, false)),
    per_layer_centered: Kltr.map((k) => kernelTargetAlignment(k, Y, n, c, true)),
    ntk_centered: ntkTargetAlignment(K, Y, n, c, true),
    ntk_uncentered: ntkTargetAlignment(K, Y, n, c, false),
    per_layer_ntk_centered: Kl.map((k) => ntkTargetAlignment(k, Y, n, c, true)),
    per_layer_ntk_uncentered: Kl.map((k) => ntkTargetAlignment(k, Y, n, c, false)),
  };
}

/** Cosine similarity of two kernels `<A, B>_F / (||A||_F ||B||_F)` (README section 11). */
export function kernelSimilarity(A: Float64Array, B: Float64Array): number {
  return dot(A, B) / (frobenius(A) * frobenius(B));
}

/** KFAC / EKFAC results of one parametrized layer (README sections 5 and 6), flat arrays. */
export interface KfacLayer {
  layer: ParamLayerPlan;
  /** m x m, `(1/n) sum_{i,t} ã ã^T` (sum over positions). */
  A: Float64Array;
  /** out x out, `(1/(nT)) sum_{i,t} S^T M S` (mean over positions). */
  G: Float64Array;
  eigA: Float64Array;
  eigG: Float64Array;
  /** Eigenvectors (columns) of A and G, ascending order. */
  UA: Float64Array;
  UG: Float64Array;
  /** out x m, row o' for eig_G[o'], column a' for eig_A[a']. */
  ekfacS: Float64Array;
  exactDiag: Float64Array;
  kfacDiag: Float64Array;
  ekfacDiag: Float64Array;
  frobExact: number;
  frobErrKfac: number;
  frobErrEkfac: number;
  /** Dense P_l x P_l blocks, present only when requested (`withBlocks`). */
  exactBlock?: Float64Array;
  kfacBlock?: Float64Array;
  ekfacBlock?: Float64Array;
}

/** Default of `KfacOptions.explicitMaxParams` (a 2048^2 block is 32 MiB). */
export const DEFAULT_EXPLICIT_MAX = 2048;

export interface KfacOptions {
  /** Return the dense blocks (the fixtures store them when P_l <= block_max_params). */
  withBlocks: boolean;
  /**
   * Largest P_l for which the P_l x P_l exact/KFAC/EKFAC blocks are formed to compute the
   * Frobenius errors directly. Larger layers use the Gram identities
   * `||F_l||^2 = ||Z_l Z_l^T||^2 / n^2`, `||F - kron(G,A)||^2 = ||F||^2 - 2<F, G(x)A> + ||G||^2 ||A||^2`,
   * `||F - EKFAC||^2 = ||F||^2 - ||s||^2`, which never form a block but lose about
   * `sqrt(eps) ||F||` absolute accuracy to cancellation when the error is tiny.
   */
  explicitMaxParams?: number;
  /**
   * The layer's whitened kernel `Z_l Z_l^T` (n*c x n*c), if the caller has it (from
   * `whitenKernel` of the per-layer NTK): the Gram path then needs no O(N^2 P_l) product.
   */
  whitenedLayerKernel?: Float64Array;
}

/** KFAC's input factor `A = (1/n) sum_{i,t} a~ a~^T` (m x m) from a layer's patches (n*T rows). */
export function kfacFactorA(P: Float64Array, n: number, l: ParamLayerPlan): Float64Array {
  const A = gramCols(P, n * l.positions, augWidth(l));
  for (let i = 0; i < A.length; i++) A[i] /= n;
  return A;
}

/**
 * KFAC's output factor `G = (1/(n T)) sum_{r,t} s_{r,t} s_{r,t}^T` (out x out) from a layer's
 * whitened signals (n*c rows, columns `o*T + t`).
 */
export function kfacFactorG(Sw: Float64Array, n: number, c: number, l: ParamLayerPlan): Float64Array {
  const out = l.out;
  const T = l.positions;
  const G = new Float64Array(out * out);
  for (let r = 0; r < n * c; r++) {
    const base = r * out * T;
    for (let o = 0; o < out; o++)
      for (let o2 = o; o2 < out; o2++) {
        let s = 0;
        for (let t = 0; t < T; t++) s += Sw[base + o * T + t] * Sw[base + o2 * T + t];
        G[o * out + o2] += s;
      }
  }
  for (let o = 0; o < out; o++)
    for (let o2 = o; o2 < out; o2++) {
      const v = G[o * out + o2] / (n * T);
      G[o * out + o2] = v;
      G[o2 * out + o] = v;
    }
  return G;
}

/**
 * KFAC, EKFAC and exact-block quantities of parametrized layer `l`.
 *
 * - `fw`: forward pass at theta0 (for the patches Ã);
 * - `Sw`: the layer's **whitened** backward signals (n*c x out*T), `L_i^T S_i`;
 * - `Z`: the whitened Jacobian (n*c x P), `L_i^T J_i`.
 *
 * The EKFAC diagonal uses `Z` directly: row r of the layer's columns, reshaped `(out, m)`,
 * is `Gamma_{i,r} = sum_t S^T l ã^T` (the sum over positions is already inside), and
 * `s = (1/n) sum_r (U_G^T Gamma U_A)^2`, which is `diag(Q^T F_l Q)`.
 */
export function kfacLayer(fw: Forward, l: ParamLayerPlan, Sw: Float64Array, Z: Float64Array, opts: KfacOptions): KfacLayer {
  const { n } = fw;
  const { c, P } = fw.plan;
  const rows = n * c;
  const m = augWidth(l);
  const out = l.out;
  const size = l.size;

  const A = kfacFactorA(fw.patches[l.paramIndex], n, l);
  const G = kfacFactorG(Sw, n, c, l);
  const explicit = opts.withBlocks || size <= (opts.explicitMaxParams ?? DEFAULT_EXPLICIT_MAX);
  const ea = eighSym(A, m);
  const eg = eighSym(G, out);
  const UA = ea.vectors;
  const UG = eg.vectors;

  // EKFAC diagonal s[o', a'] = (1/n) sum_r (U_G^T Zr U_A)[o', a']^2, and exact diag / KFAC inner product.
  const s = new Float64Array(out * m);
  const exactDiag = new Float64Array(size);
  let fKron = 0; // <F_l, G (x) A> (only needed by the Gram path)
  const tmp = new Float64Array(out * m);
  const GZ = new Float64Array(out * m);
  const ZA = new Float64Array(out * m);
  for (let r = 0; r < rows; r++) {
    const zr = r * P + l.offset;
    for (let u = 0; u < size; u++) exactDiag[u] += Z[zr + u] * Z[zr + u];
    // tmp = Zr U_A (out x m)
    tmp.fill(0);
    for (let o = 0; o < out; o++)
      for (let a = 0; a < m; a++) {
        const z = Z[zr + o * m + a];
        if (z === 0) continue;
        for (let b = 0; b < m; b++) tmp[o * m + b] += z * UA[a * m + b];
      }
    // s += (U_G^T tmp)^2
    for (let p = 0; p < out; p++)
      for (let b = 0; b < m; b++) {
        let acc = 0;
        for (let o = 0; o < out; o++) acc += UG[o * out + p] * tmp[o * m + b];
        s[p * m + b] += acc * acc;
      }
    if (!explicit) {
      // tr(G Zr A Zr^T) = sum (G Zr) ∘ (Zr A)
      GZ.fill(0);
      ZA.fill(0);
      for (let o = 0; o < out; o++)
        for (let a = 0; a < m; a++) {
          const z = Z[zr + o * m + a];
          if (z === 0) continue;
          for (let o2 = 0; o2 < out; o2++) GZ[o2 * m + a] += G[o2 * out + o] * z;
          for (let a2 = 0; a2 < m; a2++) ZA[o * m + a2] += z * A[a * m + a2];
        }
      fKron += dot(GZ, ZA);
    }
  }
  for (let i = 0; i < s.length; i++) s[i] /= n;
  for (let i = 0; i < size; i++) exactDiag[i] /= n;
  fKron /= n;

  const kfacDiag = new Float64Array(size);
  for (let o = 0; o < out; o++) for (let a = 0; a < m; a++) kfacDiag[o * m + a] = G[o * out + o] * A[a * m + a];
  // diag(Q diag(s) Q^T)[(o,a)] = sum_{p,b} U_G[o,p]^2 U_A[a,b]^2 s[p,b]
  const ekfacDiag = new Float64Array(size);
  for (let o = 0; o < out; o++)
    for (let a = 0; a < m; a++) {
      let acc = 0;
      for (let p = 0; p < out; p++) {
        const g2 = UG[o * out + p] * UG[o * out + p];
        if (g2 === 0) continue;
        for (let b = 0; b < m; b++) acc += g2 * UA[a * m + b] * UA[a * m + b] * s[p * m + b];
      }
      ekfacDiag[o * m + a] = acc;
    }

  const result: KfacLayer = {
    layer: l,
    A,
    G,
    eigA: ea.values,
    eigG: eg.values,
    UA,
    UG,
    ekfacS: s,
    exactDiag,
    kfacDiag,
    ekfacDiag,
    frobExact: 0,
    frobErrKfac: 0,
    frobErrEkfac: 0,
  };

  if (explicit) {
    const exact = gramCols(Z, rows, P, l.offset, l.offset + size);
    for (let i = 0; i < exact.length; i++) exact[i] /= n;
    const kfacB = kron(G, out, A, m);
    const D = new Float64Array(size * size);
    for (let i = 0; i < size; i++) D[i * size + i] = s[i];
    const ekfacB = kronCongruence(D, UG, out, UA, m);
    result.frobExact = frobenius(exact);
    result.frobErrKfac = frobeniusDiff(exact, kfacB);
    result.frobErrEkfac = frobeniusDiff(exact, ekfacB);
    if (opts.withBlocks) {
      result.exactBlock = exact;
      result.kfacBlock = kfacB;
      result.ekfacBlock = ekfacB;
    }
  } else {
    const ZZ =
      opts.whitenedLayerKernel ??
      (size < rows ? gramCols(Z, rows, P, l.offset, l.offset + size) : gramRows(Z, rows, P, l.offset, l.offset + size));
    const f2 = dot(ZZ, ZZ) / (n * n);
    const k2 = dot(G, G) * dot(A, A);
    result.frobExact = Math.sqrt(f2);
    result.frobErrKfac = Math.sqrt(Math.max(0, f2 - 2 * fKron + k2));
    result.frobErrEkfac = Math.sqrt(Math.max(0, f2 - dot(s, s)));
  }
  return result;
}

/** Trace of the Fisher from the whitened Jacobian without forming F: `||Z||_F^2 / n`. */
export function fisherTraceFromWhitened(Z: Float64Array, n: number): number {
  return dot(Z, Z) / n;
}

/**
 * `tr F` and `||F||_F` from the whitened kernel `W = Z Z^T` (see `whitenKernel`):
 * `tr F = tr W / n` and `||F||_F = ||Z^T Z||_F / n = ||W||_F / n`. O(N^2) given W.
 */
export function fisherNormsFromWhitenedKernel(W: Float64Array, n: number, c: number): { trace: number; frobenius: number } {
  const N = n * c;
  let tr = 0;
  for (let i = 0; i < N; i++) tr += W[i * N + i];
  return { trace: tr / n, frobenius: frobenius(W) / n };
}

/** `||F||_F` without forming F: `||Z Z^T||_F / n` (Z is n*c x P). */
export function fisherFrobeniusFromWhitened(Z: Float64Array, n: number, c: number, P: number): number {
  // ||Z^T Z||_F = ||Z Z^T||_F: take the smaller Gram matrix.
  const rows = n * c;
  return frobenius(P < rows ? gramCols(Z, rows, P) : gramRows(Z, rows, P)) / n;
}
