/**
 * Per-example Jacobians and tangent kernels from the two signal sets of a batched backward pass
 * (augmented inputs / patches A~ and pre-activation signals S), on the GPU.
 *
 * Dense layer l: J_l[(i,r), (o,a)] = S[(i,r), o] A~[i, a], so its kernel block is
 *   K_l[(i,r),(j,s)] = (A~ A~^T)[i,j] * (S S^T)[(i,r),(j,s)]
 * computed from an n x n and an nR x nR Gram without forming J_l (the factorized NTK).
 * Conv layer l: J_l[(i,r), (o,a)] = sum_t S[(i,r), o, t] P[i, t, a]; its kernel is either the
 * patch-Gram sum  sum_{t,t'} (P P^T)[(i,t),(j,t')] (S S^T)[(i,r,t),(j,s,t')]  or J_l J_l^T with
 * J_l formed by a batched matmul. Conv layers have few parameters (out * (C k^2 + 1)) and many
 * positions, so the second is usually far cheaper; `convKernelRoute` picks by operation count
 * and memory. tests/gpu-ntk-routes.test.ts forces each route on conv models and compares both
 * with each other and with the f64 reference, and checks the choice by memory.
 */
import type { GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import { matmul } from '../ops/matmul';
import { denseJacobianBlock } from '../ops/jacobian';
import { centerKernel, hadamardAccumulate, patchGramAccumulate } from '../ops/ntk';
import { swapAxes } from '../ops/patches';
import { axpby } from '../ops/elementwise';
import type { ConvPlan, ModelPlan, ParamLayerPlan } from '../model/layout';
import type { ForwardState, Signals } from '../nn/gpu-model';

export type ConvRoute = 'jacobian' | 'patch-gram';

/**
 * Write the Jacobian columns of one layer for all n R signal rows into `J` (rows x ldJ) at column
 * `colOffset` (the layer's theta offset when J is the full Jacobian, 0 for a per-layer block).
 */
export function layerJacobian(
  ctx: GpuContext,
  layer: ParamLayerPlan,
  state: ForwardState,
  signals: Signals,
  J: Tensor,
  ldJ: number,
  colOffset: number,
): void {
  const { n, R } = signals;
  const rows = n * R;
  const m = layer.fanIn + 1;
  const S = signals.perLayer[layer.paramIndex];
  const A = state.patches[layer.paramIndex];
  if (layer.kind === 'dense') {
    denseJacobianBlock(ctx, S, A, J, rows, R, layer.out, m, ldJ, colOffset);
    return;
  }
  const T = layer.positions;
  // Row b = (i, r): (out x T) signals times example i's (T x m) patches; B shared by R rows.
  matmul(ctx, {
    a: { t: S, ld: T, stride: layer.out * T },
    b: { t: A, ld: m, stride: T * m },
    c: { t: J, offset: colOffset, ld: m, stride: ldJ },
    M: layer.out,
    N: m,
    K: T,
    batch: rows,
    bDiv: R,
  });
}

/** The full per-example Jacobian (n R x P) of the signal rows. */
export function fullJacobian(ctx: GpuContext, plan: ModelPlan, state: ForwardState, signals: Signals): Tensor {
  const rows = signals.n * signals.R;
  ctx.checkStorageBytes(rows * plan.P * 4, `the Jacobian (${rows} x ${plan.P})`);
  const J = ctx.tensor([rows, plan.P], 'J');
  for (const layer of plan.paramLayers) layerJacobian(ctx, layer, state, signals, J, plan.P, layer.offset);
  return J;
}

/** Estimated multiply-adds and largest temporary (elements) of each conv kernel route. */
export function convRouteCost(layer: ConvPlan, n: number, R: number): Record<ConvRoute, { flops: number; memory: number }> {
  const m = layer.fanIn + 1;
  const T = layer.positions;
  const N = n * R;
  return {
    jacobian: { flops: N * layer.out * m * T + N * N * layer.out * m, memory: N * layer.out * m },
    'patch-gram': { flops: (n * T) ** 2 * m + (N * T) ** 2 * layer.out + N * N * T * T, memory: (N * T) ** 2 },
  };
}

export function convKernelRoute(ctx: GpuContext, layer: ConvPlan, n: number, R: number): ConvRoute {
  const cost = convRouteCost(layer, n, R);
  const fits = (elems: number) => elems * 4 <= ctx.limits.maxStorageBufferBindingSize;
  if (!fits(cost['patch-gram'].memory)) return 'jacobian';
  if (!fits(cost.jacobian.memory)) return 'patch-gram';
  return cost.jacobian.flops <= cost['patch-gram'].flops ? 'jacobian' : 'patch-gram';
}

export interface KernelOptions {
  /** Force a conv route (tests); default: the cheaper one. */
  convRoute?: ConvRoute;
}

/**
 * One layer's tangent kernel over the signal rows: K_l (nR x nR). With `accumulate`, adds into K.
 */
export function layerKernel(
  ctx: GpuContext,
  layer: ParamLayerPlan,
  state: ForwardState,
  signals: Signals,
  K: Tensor,
  accumulate: boolean,
  opts: KernelOptions = {},
): void {
  const { n, R } = signals;
  const N = n * R;
  const m = layer.fanIn + 1;
  const S = signals.perLayer[layer.paramIndex];
  const A = state.patches[layer.paramIndex];
  if (layer.kind === 'dense') {
    const pg = ctx.tensor([n, n], 'A~A~^T');
    const sg = ctx.tensor([N, N], 'SS^T');
    matmul(ctx, { a: A, b: A, c: pg, M: n, N: n, K: m, transB: true });
    matmul(ctx, { a: S, b: S, c: sg, M: N, N: N, K: layer.out, transB: true });
    hadamardAccumulate(ctx, pg, sg, K, n, R, accumulate);
    pg.destroy();
    sg.destroy();
    return;
  }
  const route = opts.convRoute ?? convKernelRoute(ctx, layer, n, R);
  const T = layer.positions;
  if (route === 'jacobian') {
    const width = layer.out * m;
    ctx.checkStorageBytes(N * width * 4, `the conv layer's Jacobian block (${N} x ${width})`);
    const Jl = ctx.tensor([N, width], 'J_l');
    layerJacobian(ctx, layer, state, signals, Jl, width, 0);
    matmul(ctx, { a: Jl, b: Jl, c: K, M: N, N: N, K: width, transB: true, beta: accumulate ? 1 : undefined });
    Jl.destroy();
    return;
  }
  ctx.checkStorageBytes((N * T) ** 2 * 4, `the conv layer's signal Gram (${N * T} x ${N * T})`);
  const pg = ctx.tensor([n * T, n * T], 'PP^T');
  matmul(ctx, { a: A, b: A, c: pg, M: n * T, N: n * T, K: m, transB: true });
  // Signals (rows, out, T) -> (rows, T, out): one row per (example, seed, position).
  const St = ctx.tensor([N, T, layer.out], 'S per position');
  swapAxes(ctx, S, St, layer.out, T, 1, N);
  const sg = ctx.tensor([N * T, N * T], 'SS^T per position');
  matmul(ctx, { a: St, b: St, c: sg, M: N * T, N: N * T, K: layer.out, transB: true });
  patchGramAccumulate(ctx, pg, sg, K, n, R, T, accumulate);
  pg.destroy();
  St.destroy();
  sg.destroy();
}

/** Per-layer kernels K_l (each nR x nR) and their sum K. */
export function tangentKernels(
  ctx: GpuContext,
  plan: ModelPlan,
  state: ForwardState,
  signals: Signals,
  opts: KernelOptions & { perLayer?: boolean } = {},
): { total: Tensor; perLayer: Tensor[] } {
  const N = signals.n * signals.R;
  ctx.checkStorageBytes(N * N * 4, `the tangent kernel (${N} x ${N})`);
  const total = ctx.tensor([N, N], 'K');
  const perLayer: Tensor[] = [];
  plan.paramLayers.forEach((layer, l) => {
    if (opts.perLayer) {
      const Kl = ctx.tensor([N, N], `K_${l}`);
      layerKernel(ctx, layer, state, signals, Kl, false, opts);
      axpby(ctx, 1, Kl, l === 0 ? 0 : 1, total, N * N);
      perLayer.push(Kl);
    } else {
      layerKernel(ctx, layer, state, signals, total, l > 0, opts);
    }
  });
  return { total, perLayer };
}

/** Budgets of the exact centered-kernel route (`centeredTangentKernels`). */
export interface CenteringOptions extends KernelOptions {
  /** Largest centered layer Jacobian (n R x P_l floats), in bytes (default 64 MiB, capped by the device). */
  jacobianMaxBytes?: number;
  /** Largest Gram work (n R)^2 P_l, in multiply-adds (default 4e9: seconds on a software adapter). */
  maxWork?: number;
}

/**
 * The kernels of the Jacobian centered over examples, per output (fixture README sections 9 and
 * 11: K~ = J~ J~^T with J~ = J - mean over examples, which equals (H (x) I_R) K (H (x) I_R)),
 * per layer and in total (each nR x nR).
 *
 * Centering J first keeps float32 accuracy where centering K loses it: when a layer's inputs
 * have a large common part (sigmoid units, a bias-dominated input), K's entries are large and
 * nearly equal, and H K H cancels them down to a small remainder carrying K's absolute rounding
 * error (measured: 6e-5 relative on a dense layer after a sigmoid conv, against the README's
 * 1e-5). J~'s entries cancel only the mean of J, and its Gram is formed from them. A layer whose
 * Jacobian block exceeds the budgets falls back to H K_l H.
 */
export function centeredTangentKernels(
  ctx: GpuContext,
  plan: ModelPlan,
  state: ForwardState,
  signals: Signals,
  opts: CenteringOptions = {},
): { total: Tensor; perLayer: Tensor[] } {
  const { n, R } = signals;
  const N = n * R;
  ctx.checkStorageBytes(N * N * 4, `the centered tangent kernel (${N} x ${N})`);
  const maxBytes = Math.min(opts.jacobianMaxBytes ?? 64 << 20, ctx.limits.maxStorageBufferBindingSize);
  const maxWork = opts.maxWork ?? 4e9;
  // E (N x R): 1/n at (i R + r, r); E1 the same with ones. M = E^T J is the per-output mean row,
  // J - E1 M the centered Jacobian.
  const e = new Float32Array(N * R);
  const e1 = new Float32Array(N * R);
  for (let i = 0; i < n; i++)
    for (let r = 0; r < R; r++) {
      e[(i * R + r) * R + r] = 1 / n;
      e1[(i * R + r) * R + r] = 1;
    }
  const E = ctx.upload(e, [N, R], 'mean weights');
  const E1 = ctx.upload(e1, [N, R], 'mean spread');
  const total = ctx.tensor([N, N], 'K centered');
  const perLayer = plan.paramLayers.map((layer, l) => {
    const Kc = ctx.tensor([N, N], `K_${l} centered`);
    const width = layer.size;
    if (N * width * 4 <= maxBytes && N * N * width <= maxWork) {
      const J = ctx.tensor([N, width], 'J_l');
      layerJacobian(ctx, layer, state, signals, J, width, 0);
      const M = ctx.tensor([R, width], 'mean Jacobian rows');
      matmul(ctx, { a: E, b: J, c: M, M: R, N: width, K: N, transA: true });
      matmul(ctx, { a: E1, b: M, c: J, M: N, N: width, K: R, alpha: -1, beta: 1 });
      matmul(ctx, { a: J, b: J, c: Kc, M: N, N: N, K: width, transB: true });
      J.destroy();
      M.destroy();
    } else {
      const K = ctx.tensor([N, N], `K_${l}`);
      layerKernel(ctx, layer, state, signals, K, false, opts);
      centerKernel(ctx, K, Kc, n, R);
      K.destroy();
    }
    axpby(ctx, 1, Kc, l === 0 ? 0 : 1, total, N * N);
    return Kc;
  });
  E.destroy();
  E1.destroy();
  return { total, perLayer };
}
