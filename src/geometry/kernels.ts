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
import { hadamardAccumulate, patchGramAccumulate } from '../ops/ntk';
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
