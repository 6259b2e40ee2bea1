/**
 * The runner's `kfac` key (fixture README sections 5 and 6): per parametrized layer the factors
 * A and G, their eigenvalues, the EKFAC diagonal, the diagonals of the exact / KFAC / EKFAC
 * blocks, the dense blocks when `param_size <= options.block_max_params`, and the Frobenius
 * norm of the exact block with the KFAC and EKFAC errors against it.
 *
 * Everything is computed on the GPU from the forward state and the metric-weighted signals Gamma
 * that the Fisher keys use (one forward and one batched backward pass for all of them); only the
 * factors (for their float64 eigendecomposition, see `KfacKeyOptions.solver`) and the results are
 * read back. Norms finish in float64 (GPU partial sums of 1024 elements, added on the host).
 *
 * Frobenius errors, three routes by layer size (all norms finish in float64):
 * - explicit (P_l <= `explicitMaxParams`, default 2048: a 16 MiB block): the exact, KFAC and EKFAC
 *   blocks are formed and the norms of the differences taken directly.
 * - eigenbasis (larger layers whose projected per-row gradients, n c x P_l floats, fit
 *   `eigenbasisMaxBytes`, default 128 MiB, and whose work n c P_l^2 is at most
 *   `eigenbasisMaxWork`, default 1e11 multiply-adds): in the basis Q = U_G (x) U_A both approximations
 *   are diagonal, so with B = Q^T F Q = (1/n) Ghat^T Ghat (Ghat: the rows of Gamma projected
 *   on Q, formed like the Jacobian from projected signals and patches):
 *     ||F - EKFAC||^2 = ||offdiag B||^2,   ||F - KFAC||^2 = ||offdiag B||^2 + ||s - g (x) a||^2,
 *     ||F||^2 = ||offdiag B||^2 + ||s||^2,
 *   a sum of non-negative terms (no cancellation: exact to float32 round-off even when an error
 *   is 0), which also makes frob_err_ekfac <= frob_err_kfac hold exactly. B is reduced tile by
 *   tile (2048 x 2048, diagonal zeroed), never stored whole: O(P_l^2 n c) work, O(n c P_l) memory.
 * - Gram identities (beyond that): ||F||^2 = ||Gamma_l Gamma_l^T||^2 / n^2,
 *   ||F - G (x) A||^2 = ||F||^2 - 2 <F, G (x) A> + ||G||^2 ||A||^2, ||F - EKFAC||^2 = ||F||^2 - ||s||^2,
 *   O((n c)^2) memory, but they lose about sqrt(eps32) ||F|| absolute accuracy to cancellation
 *   when an error is far below ||F|| (measured: up to 3e-4 ||F|| on a 5-40-40-3 mse net, where
 *   the README's tolerance is 1e-5): a documented fallback for layers too large for the rest.
 * The three thresholds default to the context's `config.curvature` (src/gpu/config.ts, where the
 * defaults above are set) and can be overridden per call (`KfacKeyOptions`).
 */
import type { GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import type { ForwardState, Signals } from '../nn/gpu-model';
import type { ParamLayerPlan } from '../model/layout';
import { matmul } from '../ops/matmul';
import { axpby } from '../ops/elementwise';
import { dot, sumOfSquares } from '../ops/reduce';
import { layerKernel, layerJacobian } from '../geometry/kernels';
import { list, nest } from '../util/nested';
import type { KfacLayerResult } from '../experiment/result';
import { kfacBlockDiag, kfacFactors, releaseFactors } from './kfac';
import { chunkRows, ekfacBlock, ekfacBlockDiag, exactBlock, kroneckerBasisDiag, projectedSlice, releaseSlice, sliceExamples } from './ekfac';
import { factorEigen, releaseEigen, type EigenSolver, type FactorEigen } from './eigen';
import { diagEmbed, kronProduct, rowsDot } from '../ops/kfac';

export interface KfacKeyOptions {
  /** Dense blocks are returned for layers with param_size <= this (fixtures: 150). */
  blockMaxParams: number;
  /** Largest P_l whose Frobenius errors use explicit blocks (default: ctx.config.curvature, 2048). */
  explicitMaxParams?: number;
  /** Largest projected-gradient matrix (n c x P_l floats, in bytes) of the eigenbasis route (default: ctx.config.curvature, 128 MiB; capped by the device). */
  eigenbasisMaxBytes?: number;
  /** Largest work n c P_l^2 (multiply-adds) of the eigenbasis route (default: ctx.config.curvature, 1e11: tens of seconds on a software adapter, milliseconds on a discrete GPU). */
  eigenbasisMaxWork?: number;
  /**
   * Eigensolver of the factors. Default `cpu` (float64 eighSym of the float32 factors): measured
   * against the f64 reference on a 10-w-w-4 MLP (n = 40), the float32 GPU Jacobi's EKFAC errors
   * grow with the width (ekfac_block_diag 1.6e-5 at w = 32, 3.6e-5 at 64, 6.9e-5 at 120, above
   * the README's 3e-5) while the f64 solver stays at 4e-7 at every width, and it is also faster
   * on these sizes. `gpu` is the optimizer's choice (speed, eigenvectors stay on the device).
   */
  solver?: EigenSolver;
}

const TILE = 2048;

/** ||X - Y||_F of two N-element tensors (float64 finish). */
async function normDiff(ctx: GpuContext, X: Tensor, Y: Tensor, N: number): Promise<number> {
  const d = ctx.tensor([N], 'block difference');
  ctx.copy(X, d, N);
  axpby(ctx, -1, Y, 1, d, N);
  const v = await sumOfSquares(ctx, d, N);
  d.destroy();
  return Math.sqrt(v);
}

/** <F_l, G (x) A> * n = sum_rows tr(Gamma_b^T G Gamma_b A), without forming F_l. */
async function kroneckerInner(ctx: GpuContext, layer: ParamLayerPlan, state: ForwardState, gamma: Signals, A: Tensor, G: Tensor): Promise<number> {
  const { n, R } = gamma;
  const out = layer.out;
  const m = layer.fanIn + 1;
  const p = layer.paramIndex;
  if (layer.kind === 'dense') {
    // Gamma_b = s_b a~_i^T, so tr(...) = (s_b^T G s_b)(a~_i^T A a~_i).
    const S = gamma.perLayer[p];
    const P = state.patches[p];
    const SG = ctx.tensor([n * R, out], 'S G');
    const PA = ctx.tensor([n, m], 'P A');
    const u = ctx.tensor([n], 's^T G s');
    const w = ctx.tensor([n], 'a^T A a');
    matmul(ctx, { a: S, b: G, c: SG, M: n * R, N: out, K: out });
    matmul(ctx, { a: P, b: A, c: PA, M: n, N: m, K: m });
    rowsDot(ctx, SG, S, u, n, R, out);
    rowsDot(ctx, PA, P, w, n, 1, m);
    const v = await dot(ctx, u, w, n);
    for (const t of [SG, PA, u, w]) t.destroy();
    return v;
  }
  // Conv: the per-row gradients Gamma_b (out x m), chunk by chunk.
  const size = out * m;
  const perChunk = chunkRows(ctx, n * R, R, size) / R;
  const rowsMax = Math.min(n, perChunk) * R;
  const J = ctx.tensor([rowsMax, size], 'Gamma_l');
  const GJ = ctx.tensor([rowsMax, size], 'G Gamma');
  const JA = ctx.tensor([rowsMax, size], 'Gamma A');
  let total = 0;
  for (let i0 = 0; i0 < n; i0 += perChunk) {
    const i1 = Math.min(n, i0 + perChunk);
    const rows = (i1 - i0) * R;
    const sl = sliceExamples(ctx, layer, state, gamma, i0, i1);
    layerJacobian(ctx, layer, sl.state, sl.gamma, J, size, 0);
    matmul(ctx, { a: { t: G, stride: 0 }, b: { t: J, stride: size }, c: { t: GJ, stride: size }, M: out, N: m, K: out, batch: rows });
    matmul(ctx, { a: { t: J, stride: size }, b: { t: A, stride: 0 }, c: { t: JA, stride: size }, M: out, N: m, K: m, batch: rows });
    total += await dot(ctx, GJ, JA, rows * size);
    releaseSlice(sl);
  }
  for (const t of [J, GJ, JA]) t.destroy();
  return total;
}

/**
 * ||offdiag(Q^T F_l Q)||_F^2 from the projected per-row gradients, tile by tile (see the module
 * comment, eigenbasis route).
 */
async function offDiagonalSquared(ctx: GpuContext, layer: ParamLayerPlan, state: ForwardState, gamma: Signals, UG: Tensor, UA: Tensor): Promise<number> {
  const { n, R } = gamma;
  const rows = n * R;
  const size = layer.size;
  const pr = projectedSlice(ctx, layer, state, gamma, UG, UA);
  const Jh = ctx.tensor([rows, size], 'projected gradients');
  layerJacobian(ctx, layer, pr.state, pr.gamma, Jh, size, 0);
  releaseSlice(pr);
  const tb = Math.min(TILE, size);
  const tile = ctx.tensor([tb, tb], 'Q^T F Q tile');
  const zeros = ctx.tensor([tb], 'zeros');
  let total = 0;
  try {
    for (let i0 = 0; i0 < size; i0 += tb) {
      const bi = Math.min(tb, size - i0);
      for (let j0 = i0; j0 < size; j0 += tb) {
        const bj = Math.min(tb, size - j0);
        matmul(ctx, { a: { t: Jh, offset: i0, ld: size }, b: { t: Jh, offset: j0, ld: size }, c: { t: tile, ld: bj }, M: bi, N: bj, K: rows, transA: true, alpha: 1 / n });
        if (i0 === j0) diagEmbed(ctx, zeros, bi, tile, bi, 0);
        total += (i0 === j0 ? 1 : 2) * (await sumOfSquares(ctx, tile, bi * bj));
      }
    }
  } finally {
    Jh.destroy();
    tile.destroy();
    zeros.destroy();
  }
  return total;
}

/**
 * The `kfac` list of the fixture format, one entry per parametrized layer, from the forward
 * state and the metric-weighted signals `gamma` (R = c rows per example).
 */
export async function kfacKey(
  ctx: GpuContext,
  layers: readonly ParamLayerPlan[],
  state: ForwardState,
  gamma: Signals,
  opts: KfacKeyOptions,
): Promise<KfacLayerResult[]> {
  const n = gamma.n;
  const budget = ctx.config.curvature;
  const explicitMax = opts.explicitMaxParams ?? budget.explicitMaxParams;
  const factors = kfacFactors(ctx, layers, state, gamma);
  const owned: Tensor[] = [];
  const keep = (t: Tensor) => {
    owned.push(t);
    return t;
  };
  let eig: FactorEigen[] = [];
  try {
    eig = await factorEigen(
      ctx,
      factors.flatMap((f) => [
        { t: f.A, n: f.layer.fanIn + 1 },
        { t: f.G, n: f.layer.out },
      ]),
      { solver: opts.solver ?? 'cpu' },
    );
    const entries: KfacLayerResult[] = [];
    for (let li = 0; li < layers.length; li++) {
      const layer = layers[li];
      const { A, G } = factors[li];
      const eA = eig[2 * li];
      const eG = eig[2 * li + 1];
      const m = layer.fanIn + 1;
      const out = layer.out;
      const size = layer.size;
      const withBlocks = size <= opts.blockMaxParams;
      const s = keep(ctx.tensor([out, m], 'ekfac s'));
      const exactDiag = keep(ctx.tensor([size], 'exact diag'));
      const kfacDiag = keep(ctx.tensor([size], 'kfac diag'));
      const ekfacDiag = keep(ctx.tensor([size], 'ekfac diag'));
      kroneckerBasisDiag(ctx, layer, state, gamma, eG.vectors, eA.vectors, s);
      kroneckerBasisDiag(ctx, layer, state, gamma, null, null, exactDiag);
      kfacBlockDiag(ctx, A, m, G, out, kfacDiag);
      ekfacBlockDiag(ctx, layer, eG.vectors, eA.vectors, s, ekfacDiag);

      let frobExact = 0;
      let frobErrKfac = 0;
      let frobErrEkfac = 0;
      let offDiag2: number | null = null;
      let blocks: Tensor[] = [];
      const rows = n * gamma.R;
      const eigenbasisBytes = Math.min(opts.eigenbasisMaxBytes ?? budget.eigenbasisMaxBytes, ctx.limits.maxStorageBufferBindingSize);
      if (withBlocks || size <= explicitMax) {
        const F = keep(exactBlock(ctx, layer, state, gamma));
        const K = keep(ctx.tensor([size, size], 'kfac block'));
        kronProduct(ctx, G, out, A, m, K);
        const E = keep(ekfacBlock(ctx, layer, eG.vectors, eA.vectors, s));
        frobExact = Math.sqrt(await sumOfSquares(ctx, F, size * size));
        frobErrKfac = await normDiff(ctx, F, K, size * size);
        frobErrEkfac = await normDiff(ctx, F, E, size * size);
        if (withBlocks) blocks = [F, K, E];
      } else if (rows * size * 4 <= eigenbasisBytes && rows * size * size <= (opts.eigenbasisMaxWork ?? budget.eigenbasisMaxWork)) {
        offDiag2 = await offDiagonalSquared(ctx, layer, state, gamma, eG.vectors, eA.vectors);
      } else {
        const N = rows;
        ctx.checkStorageBytes(N * N * 4, `the layer Gram of layer ${layer.layerIndex} (${N} x ${N})`);
        const Kl = keep(ctx.tensor([N, N], 'layer Gram'));
        layerKernel(ctx, layer, state, gamma, Kl, false);
        const f2 = (await sumOfSquares(ctx, Kl, N * N)) / (n * n);
        const fk = (await kroneckerInner(ctx, layer, state, gamma, A, G)) / n;
        const k2 = (await sumOfSquares(ctx, G, out * out)) * (await sumOfSquares(ctx, A, m * m));
        const s2 = await sumOfSquares(ctx, s, out * m);
        frobExact = Math.sqrt(f2);
        frobErrKfac = Math.sqrt(Math.max(0, f2 - 2 * fk + k2));
        frobErrEkfac = Math.sqrt(Math.max(0, f2 - s2));
      }
      const reads = await ctx.readMany([
        { tensor: A, count: m * m },
        { tensor: G, count: out * out },
        { tensor: s, count: out * m },
        { tensor: exactDiag },
        { tensor: kfacDiag },
        { tensor: ekfacDiag },
        ...blocks.map((b) => ({ tensor: b, count: size * size })),
      ]);
      if (offDiag2 !== null) {
        // Eigenbasis route: the diagonal terms exactly, in float64, from s and the eigenvalues.
        const sv = reads[2];
        let s2 = 0;
        let d2 = 0;
        for (let o = 0; o < out; o++)
          for (let a = 0; a < m; a++) {
            const v = sv[o * m + a];
            const d = v - eG.values[o] * eA.values[a];
            s2 += v * v;
            d2 += d * d;
          }
        frobExact = Math.sqrt(offDiag2 + s2);
        frobErrEkfac = Math.sqrt(offDiag2);
        frobErrKfac = Math.sqrt(offDiag2 + d2);
      }
      const entry: KfacLayerResult = {
        layer_index: layer.layerIndex,
        type: layer.kind,
        param_offset: layer.offset,
        param_size: size,
        out,
        fan_in_plus_1: m,
        spatial_positions: layer.positions,
        A: nest(list(reads[0]), [m, m]) as number[][],
        G: nest(list(reads[1]), [out, out]) as number[][],
        eig_A: list(eA.values),
        eig_G: list(eG.values),
        ekfac_s: nest(list(reads[2]), [out, m]) as number[][],
        exact_block_diag: list(reads[3]),
        kfac_block_diag: list(reads[4]),
        ekfac_block_diag: list(reads[5]),
        frob_exact: frobExact,
        frob_err_kfac: frobErrKfac,
        frob_err_ekfac: frobErrEkfac,
      };
      if (withBlocks) {
        entry.exact_block = nest(list(reads[6]), [size, size]) as number[][];
        entry.kfac_block = nest(list(reads[7]), [size, size]) as number[][];
        entry.ekfac_block = nest(list(reads[8]), [size, size]) as number[][];
      }
      entries.push(entry);
      for (const t of owned.splice(0)) t.destroy();
    }
    return entries;
  } finally {
    for (const t of owned) t.destroy();
    for (const e of eig) releaseEigen(e);
    releaseFactors(factors);
  }
}
