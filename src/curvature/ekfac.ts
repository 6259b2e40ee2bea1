/**
 * EKFAC on the GPU (fixture README section 6; George, Laurent et al. 2018): KFAC's eigenbasis
 * Q = U_G (x) U_A with the eigenvalues replaced by the second moments of the per-example
 * gradients in that basis,
 *
 *   s[o', a'] = (1/n) sum_i sum_r ( sum_t (u_{G,o'}^T S_{i,r,t}) (u_{A,a'}^T a~_{i,t}) )^2.
 *
 * The signals and patches are projected first (S U_G, P U_A), then squared and summed, so no
 * per-example gradient matrix is ever formed in the original basis:
 * - dense (T = 1): the square factorizes, s = (1/n) (sum_r (S U_G)^2)^T ((P U_A)^2): two
 *   projections, two elementwise squares and one (out x n)(n x m) product;
 * - conv: the sum over positions sits inside the square, so the projected per-example gradients
 *   U_G^T S_{i,r} P_i U_A (out x m each) are formed in chunks of rows that fit the device
 *   limits and their squares summed (cols_sumsq), as NNGeometry's kfe_diag does.
 * With no bases (identity) the same routine gives the exact diagonal of the layer's Fisher block.
 *
 * Also here: the diagonal of the EKFAC block, (U_G o U_G) s (U_A o U_A)^T, and the dense EKFAC
 * block Q diag(s) Q^T (on request), formed as
 *   E[(o,a),(o',a')] = sum_p U_G[o,p] U_G[o',p] H_p[a,a'],  H_p = U_A diag(s_p) U_A^T,
 * in O(out m^3 + out^3 m^2) instead of the O((out m)^3) of forming Q.
 */
import type { GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import type { ForwardState, Signals } from '../nn/gpu-model';
import type { ParamLayerPlan } from '../model/layout';
import { matmul } from '../ops/matmul';
import { swapAxes } from '../ops/patches';
import { layerJacobian } from '../geometry/kernels';
import { colsSumSq, outerCols, rowsSumSq, scaleCols, square } from '../ops/kfac';

/**
 * Rows per chunk (a multiple of R) so that `rows * width` floats fit the working budget of the
 * chunked routines (conv diagonals, exact blocks, conv Gram terms): the context's
 * `config.curvature.chunkBytes`, capped by the device's storage binding limit.
 */
export function chunkRows(ctx: GpuContext, totalRows: number, R: number, width: number): number {
  const budget = Math.min(ctx.config.curvature.chunkBytes, ctx.limits.maxStorageBufferBindingSize);
  const perExample = R * width * 4;
  if (perExample > budget) {
    ctx.checkStorageBytes(perExample, `one example's projected gradients (${R} x ${width})`);
  }
  return Math.max(R, Math.min(totalRows, Math.floor(budget / perExample) * R));
}

/**
 * diag(Q^T F_l Q) as an out x m matrix (row o' for U_G column o', column a' for U_A column a'),
 * written to `dst` at `dstOffset`. With `UG = UA = null` (Q = I) this is the exact diagonal of
 * the layer's Fisher block in the [W | b] layout. `gamma` are the metric-weighted signals.
 */
export function kroneckerBasisDiag(
  ctx: GpuContext,
  layer: ParamLayerPlan,
  state: ForwardState,
  gamma: Signals,
  UG: Tensor | null,
  UA: Tensor | null,
  dst: Tensor,
  dstOffset = 0,
): void {
  const { n, R } = gamma;
  const rows = n * R;
  const out = layer.out;
  const m = layer.fanIn + 1;
  const T = layer.positions;
  const S = gamma.perLayer[layer.paramIndex];
  const P = state.patches[layer.paramIndex];
  const owned: Tensor[] = [];
  const tmp = (shape: number[], label: string) => {
    const t = ctx.tensor(shape, label);
    owned.push(t);
    return t;
  };
  let Ph = P;
  if (UA) {
    Ph = tmp([n * T, m], 'P U_A');
    matmul(ctx, { a: P, b: UA, c: Ph, M: n * T, N: m, K: m });
  }
  if (T === 1) {
    let Sh = S;
    if (UG) {
      Sh = tmp([rows, out], 'S U_G');
      matmul(ctx, { a: S, b: UG, c: Sh, M: rows, N: out, K: out });
    }
    const q = tmp([n, out], 'sum_r (S U_G)^2');
    rowsSumSq(ctx, Sh, q, n, R, out);
    const p2 = tmp([n, m], '(P U_A)^2');
    square(ctx, Ph, p2, n * m);
    matmul(ctx, { a: q, b: p2, c: { t: dst, offset: dstOffset }, M: out, N: m, K: n, transA: true, alpha: 1 / n });
  } else {
    let Sh = S;
    if (UG) {
      // U_G^T S_b for every row b: (out x out)^T (out x T), U_G broadcast.
      Sh = tmp([rows, out, T], 'U_G^T S');
      matmul(ctx, { a: { t: UG, stride: 0 }, b: { t: S, stride: out * T }, c: { t: Sh, stride: out * T }, M: out, N: T, K: out, transA: true, batch: rows });
    }
    const width = out * m;
    const chunk = chunkRows(ctx, rows, R, width);
    const acc = dstOffset === 0 ? dst : tmp([width], 'diag');
    const buf = tmp([chunk, width], 'projected gradients');
    for (let b0 = 0; b0 < rows; b0 += chunk) {
      const nb = Math.min(chunk, rows - b0);
      matmul(ctx, {
        a: { t: Sh, offset: b0 * out * T, ld: T, stride: out * T },
        b: { t: Ph, offset: (b0 / R) * T * m, ld: m, stride: T * m },
        c: { t: buf, stride: width },
        M: out,
        N: m,
        K: T,
        batch: nb,
        bDiv: R,
      });
      colsSumSq(ctx, buf, acc, nb, width, 1 / n, b0 === 0 ? 0 : 1);
    }
    if (acc !== dst) ctx.copy(acc, dst, width, 0, dstOffset);
  }
  // Destruction waits for the next submit, after the recorded work.
  for (const t of owned) t.destroy();
}

/** diag(Q diag(s) Q^T) = (U_G o U_G) s (U_A o U_A)^T, out x m, written to `dst` at `dstOffset`. */
export function ekfacBlockDiag(ctx: GpuContext, layer: ParamLayerPlan, UG: Tensor, UA: Tensor, s: Tensor, dst: Tensor, dstOffset = 0): void {
  const out = layer.out;
  const m = layer.fanIn + 1;
  const g2 = ctx.tensor([out, out], 'U_G^2');
  const a2 = ctx.tensor([m, m], 'U_A^2');
  const t = ctx.tensor([out, m], 'U_G^2 s');
  square(ctx, UG, g2, out * out);
  square(ctx, UA, a2, m * m);
  matmul(ctx, { a: g2, b: s, c: t, M: out, N: m, K: out });
  matmul(ctx, { a: t, b: a2, c: { t: dst, offset: dstOffset }, M: out, N: m, K: m, transB: true });
  g2.destroy();
  a2.destroy();
  t.destroy();
}

/** The dense EKFAC block Q diag(s) Q^T (P_l x P_l, o*m + a order); a new tensor. */
export function ekfacBlock(ctx: GpuContext, layer: ParamLayerPlan, UG: Tensor, UA: Tensor, s: Tensor): Tensor {
  const out = layer.out;
  const m = layer.fanIn + 1;
  const size = out * m;
  ctx.checkStorageBytes(size * size * 4, `the EKFAC block of layer ${layer.layerIndex} (${size} x ${size})`);
  // H_p = U_A diag(s[p, :]) U_A^T for every p (out x m x m).
  const Ys = ctx.tensor([out, m, m], 'U_A diag(s_p)');
  scaleCols(ctx, UA, s, Ys, out, m);
  const H = ctx.tensor([out, m, m], 'H_p');
  matmul(ctx, { a: { t: Ys, stride: m * m }, b: { t: UA, stride: 0 }, c: { t: H, stride: m * m }, M: m, N: m, K: m, transB: true, batch: out });
  // W[(o, o'), p] = U_G[o, p] U_G[o', p]; E'[(o, o'), (a, a')] = W H.
  const W = ctx.tensor([out * out, out], 'U_G outer');
  outerCols(ctx, UG, W, out);
  const E1 = ctx.tensor([out, out, m, m], 'EKFAC (o, o\', a, a\')');
  matmul(ctx, { a: W, b: H, c: E1, M: out * out, N: m * m, K: out });
  const E = ctx.tensor([size, size], `EKFAC block ${layer.paramIndex}`);
  swapAxes(ctx, E1, E, out, m, m, out);
  for (const t of [Ys, H, W, E1]) t.destroy();
  return E;
}

/**
 * Examples [i0, i1) of one layer's patches and signals, copied into a small state/signals pair
 * that the per-layer routines (layerJacobian, ...) accept. Release with `releaseSlice`.
 */
export function sliceExamples(ctx: GpuContext, layer: ParamLayerPlan, state: ForwardState, gamma: Signals, i0: number, i1: number): { state: ForwardState; gamma: Signals } {
  const p = layer.paramIndex;
  const m = layer.fanIn + 1;
  const T = layer.positions;
  const R = gamma.R;
  const k = i1 - i0;
  const P = ctx.tensor([k, T, m], 'patches slice');
  ctx.copy(state.patches[p], P, k * T * m, i0 * T * m, 0);
  const S = ctx.tensor([k * R, layer.out, T], 'signals slice');
  ctx.copy(gamma.perLayer[p], S, k * R * layer.out * T, i0 * R * layer.out * T, 0);
  const patches: Tensor[] = [];
  const perLayer: Tensor[] = [];
  patches[p] = P;
  perLayer[p] = S;
  return { state: { n: k, patches, pre: [], output: P, temps: [] }, gamma: { n: k, R, perLayer } };
}

/**
 * The layer's patches and signals projected on the eigenbases, P U_A and U_G^T S_b, as a
 * state/signals pair: layerJacobian of it gives the per-row gradients in the basis
 * Q = U_G (x) U_A (rows of Gamma Q). Release with `releaseSlice`.
 */
export function projectedSlice(ctx: GpuContext, layer: ParamLayerPlan, state: ForwardState, gamma: Signals, UG: Tensor, UA: Tensor): { state: ForwardState; gamma: Signals } {
  const { n, R } = gamma;
  const p = layer.paramIndex;
  const out = layer.out;
  const m = layer.fanIn + 1;
  const T = layer.positions;
  const Ph = ctx.tensor([n, T, m], 'P U_A');
  matmul(ctx, { a: state.patches[p], b: UA, c: Ph, M: n * T, N: m, K: m });
  const Sh = ctx.tensor([n * R, out, T], 'U_G^T S');
  matmul(ctx, { a: { t: UG, stride: 0 }, b: { t: gamma.perLayer[p], stride: out * T }, c: { t: Sh, stride: out * T }, M: out, N: T, K: out, transA: true, batch: n * R });
  const patches: Tensor[] = [];
  const perLayer: Tensor[] = [];
  patches[p] = Ph;
  perLayer[p] = Sh;
  return { state: { n, patches, pre: [], output: Ph, temps: [] }, gamma: { n, R, perLayer } };
}

export function releaseSlice(s: { state: ForwardState; gamma: Signals }): void {
  for (const t of s.state.patches) t?.destroy();
  for (const t of s.gamma.perLayer) t?.destroy();
}

/**
 * The exact block F_l = Gamma_l^T Gamma_l / n (P_l x P_l) from the layer's rows of Gamma (the
 * metric-weighted per-example gradients), accumulated over chunks of examples that fit the
 * working budget; a new tensor.
 */
export function exactBlock(ctx: GpuContext, layer: ParamLayerPlan, state: ForwardState, gamma: Signals): Tensor {
  const { n, R } = gamma;
  const size = layer.size;
  ctx.checkStorageBytes(size * size * 4, `the exact Fisher block of layer ${layer.layerIndex} (${size} x ${size})`);
  const F = ctx.tensor([size, size], `exact block ${layer.paramIndex}`);
  const perChunk = chunkRows(ctx, n * R, R, size) / R;
  const J = ctx.tensor([Math.min(n, perChunk) * R, size], 'Gamma_l');
  for (let i0 = 0; i0 < n; i0 += perChunk) {
    const i1 = Math.min(n, i0 + perChunk);
    const whole = i0 === 0 && i1 === n;
    const sl = whole ? { state, gamma } : sliceExamples(ctx, layer, state, gamma, i0, i1);
    layerJacobian(ctx, layer, sl.state, sl.gamma, J, size, 0);
    matmul(ctx, { a: J, b: J, c: F, M: size, N: size, K: (i1 - i0) * R, transA: true, alpha: 1 / n, beta: i0 === 0 ? undefined : 1 });
    if (!whole) releaseSlice(sl);
  }
  J.destroy();
  return F;
}
