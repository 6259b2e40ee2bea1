/**
 * Wrappers of shaders/infinite_maps.wgsl and shaders/infinite_act.wgsl: the steps of the
 * infinite-width recursion on a chunk of B example pairs (maps [B][P][P], float32). The float64
 * twins are the functions of the same names in src/reference/infinite.ts.
 */
import { Uniforms, type GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import type { Activation } from '../spec/types';
import type { InfiniteOp, StageBox } from '../model/infinite-plan';
import { DEFAULT_RULE, type QuadratureRule } from '../math/infinite-quadrature';
import { need, run1d } from './dispatch';

type ConvOp = Extract<InfiniteOp, { kind: 'conv' }>;
type PoolOp = Extract<InfiniteOp, { kind: 'pool' }>;

/** Uniforms of infinite_maps.wgsl: count, channels, input height, kernel, stride, padding, pool size, sigma_w^2, sigma_b^2. */
function mapUniforms(
  count: number,
  box: StageBox | null,
  o: { C?: number; hIn?: number; k?: number; stride?: number; pad?: number; q?: number; sigmaW?: number; sigmaB?: number } = {},
): ArrayBuffer {
  const sw = o.sigmaW ?? 0;
  const sb = o.sigmaB ?? 0;
  return new Uniforms()
    .u32(count, o.C ?? 1, o.hIn ?? 1, o.k ?? 1)
    .u32(o.stride ?? 1, o.pad ?? 0, o.q ?? 1, 0)
    .f32(sw * sw, sb * sb)
    .u32(box?.ry ?? 0, box?.rx ?? 0)
    .bytes();
}

/** Every entry of an h x w grid's map (no restriction). */
export function fullBox(h: number, w: number): StageBox {
  return { h, w, ry: h - 1, rx: w - 1 };
}

/** Map sizes of a kernel, compiled in as override constants (one pipeline per layer shape). */
type MapGeometry = Partial<Record<'P_IN' | 'P_OUT' | 'W_IN' | 'W_OUT', number>>;

function runMaps(ctx: GpuContext, entry: string, total: number, geometry: MapGeometry, inputs: Tensor[], outputs: Tensor[], uniforms: ArrayBuffer): void {
  run1d(ctx, { shader: 'infinite_maps', entry, constants: geometry, total, inputs, outputs, uniforms });
}

/**
 * K, T (B x P x P) of the input: K = (1/C) x_a . x_b per position pair, T = 0; only the entries
 * within `box` (the input grid and its needed offsets; default: all).
 */
export function infInputMap(ctx: GpuContext, pairs: Tensor, X: Tensor, K: Tensor, T: Tensor, B: number, channels: number, positions: number, box = fullBox(1, positions)): void {
  const total = B * positions * positions;
  need(pairs, 2 * B, 'infInputMap pairs');
  need(K, total, 'infInputMap K');
  need(T, total, 'infInputMap T');
  if (box.h * box.w !== positions) throw new Error(`infInputMap: box grid ${box.h}x${box.w} does not have ${positions} positions`);
  runMaps(ctx, 'input_map', total, { P_OUT: positions, W_OUT: box.w }, [pairs, X, ctx.placeholder], [K, T], mapUniforms(total, box, { C: channels }));
}

/** Sigma, Theta (B x Po x Po) of a conv layer from K, T (B x Pi x Pi). */
export function infConvMap(
  ctx: GpuContext,
  op: ConvOp,
  K: Tensor,
  T: Tensor,
  sigma: Tensor,
  theta: Tensor,
  B: number,
  sigmaW: number,
  sigmaB: number,
  box = fullBox(op.hOut, op.wOut),
): void {
  const pIn = op.hIn * op.wIn;
  const pOut = op.hOut * op.wOut;
  const total = B * pOut * pOut;
  need(K, B * pIn * pIn, 'infConvMap K');
  need(T, B * pIn * pIn, 'infConvMap T');
  need(sigma, total, 'infConvMap Sigma');
  need(theta, total, 'infConvMap Theta');
  const u = mapUniforms(total, box, { hIn: op.hIn, k: op.kernel, stride: op.stride, pad: op.padding, sigmaW, sigmaB });
  runMaps(ctx, 'conv_map', total, { P_IN: pIn, P_OUT: pOut, W_IN: op.wIn, W_OUT: op.wOut }, [ctx.placeholder, K, T], [sigma, theta], u);
}

/** Sigma, Theta (B values) of a dense layer: means of the P same-position entries. */
export function infDenseMap(ctx: GpuContext, K: Tensor, T: Tensor, sigma: Tensor, theta: Tensor, B: number, positions: number, sigmaW: number, sigmaB: number): void {
  need(K, B * positions * positions, 'infDenseMap K');
  need(T, B * positions * positions, 'infDenseMap T');
  need(sigma, B, 'infDenseMap Sigma');
  need(theta, B, 'infDenseMap Theta');
  runMaps(ctx, 'dense_map', B, { P_IN: positions }, [ctx.placeholder, K, T], [sigma, theta], mapUniforms(B, null, { sigmaW, sigmaB }));
}

/** Window means of K and T (avgpool2d). */
export function infPoolMap(ctx: GpuContext, op: PoolOp, K: Tensor, T: Tensor, outK: Tensor, outT: Tensor, B: number, box = fullBox(op.hOut, op.wOut)): void {
  const pIn = op.hIn * op.wIn;
  const pOut = op.hOut * op.wOut;
  const total = B * pOut * pOut;
  need(K, B * pIn * pIn, 'infPoolMap K');
  need(outK, total, 'infPoolMap output');
  runMaps(ctx, 'pool_map', total, { P_IN: pIn, P_OUT: pOut, W_IN: op.wIn, W_OUT: op.wOut }, [ctx.placeholder, K, T], [outK, outT], mapUniforms(total, box, { q: op.size }));
}

/** vars[a, p] = sigma[b, p, p] for the self pairs b = (a, a) of the chunk. */
export function infDiagonal(ctx: GpuContext, pairs: Tensor, sigma: Tensor, vars: Tensor, B: number, positions: number): void {
  need(sigma, B * positions * positions, 'infDiagonal map');
  runMaps(ctx, 'diagonal', B * positions, { P_IN: positions }, [pairs, sigma, ctx.placeholder], [vars, ctx.placeholderOut], mapUniforms(B * positions, null));
}

/**
 * Entries per dispatch of the quadrature kernel (each entry evaluates 2,500 to 10,000 nodes):
 * long dispatches are split so that none runs for seconds, which a hardware GPU's watchdog
 * may kill.
 */
export const QUADRATURE_ENTRIES_PER_DISPATCH = 1 << 15;

/**
 * K <- E[phi phi], T <- T E[phi' phi'] in place, for B pairs of P x P maps (linear: nothing), on
 * the entries within `box` (default: all).
 */
export function infActivation(
  ctx: GpuContext,
  act: Activation,
  pairs: Tensor,
  vars: Tensor,
  K: Tensor,
  T: Tensor,
  B: number,
  positions: number,
  rule: QuadratureRule = DEFAULT_RULE,
  box = fullBox(1, positions),
): void {
  if (act === 'linear') return;
  const total = B * positions * positions;
  need(K, total, 'infActivation K');
  need(T, total, 'infActivation T');
  need(pairs, 2 * B, 'infActivation pairs');
  const smooth = act === 'tanh' || act === 'sigmoid';
  const perDispatch = smooth ? QUADRATURE_ENTRIES_PER_DISPATCH : total;
  for (let offset = 0; offset < total; offset += perDispatch) {
    const count = Math.min(perDispatch, total - offset);
    run1d(ctx, {
      shader: 'infinite_act',
      entry: smooth ? 'quadrature' : 'relu',
      constants: smooth ? { ACT: act === 'tanh' ? 1 : 3, P: positions, W: box.w } : { P: positions, W: box.w },
      total: count,
      inputs: [pairs, vars],
      outputs: [K, T],
      uniforms: new Uniforms().u32(count, offset).f32(rule.h, rule.L).u32(box.ry, box.rx).bytes(),
    });
  }
}
