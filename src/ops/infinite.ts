/**
 * Wrappers of shaders/infinite_maps.wgsl and shaders/infinite_act.wgsl: the steps of the
 * infinite-width recursion on a chunk of B example pairs (maps [B][P][P], float32). The float64
 * twins are the functions of the same names in src/reference/infinite.ts.
 */
import { Uniforms, type GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import type { Activation } from '../experiment/types';
import { fullBox, type InfiniteOp, type StageBox } from '../model/infinite-plan';
import { DEFAULT_RULE, type QuadratureRule } from '../math/infinite-quadrature';
import { need, run1d } from './dispatch';

type ConvOp = Extract<InfiniteOp, { kind: 'conv' }>;
type PoolOp = Extract<InfiniteOp, { kind: 'pool' }>;

/** Uniforms of infinite_maps.wgsl: count, channels, input height, kernel, stride, padding, pool size, sigma_w^2, sigma_b^2. */
function mapUniforms(count: number, o: { C?: number; hIn?: number; k?: number; stride?: number; pad?: number; q?: number; sigmaW?: number; sigmaB?: number } = {}): ArrayBuffer {
  const sw = o.sigmaW ?? 0;
  const sb = o.sigmaB ?? 0;
  return new Uniforms()
    .u32(count, o.C ?? 1, o.hIn ?? 1, o.k ?? 1)
    .u32(o.stride ?? 1, o.pad ?? 0, o.q ?? 1, 0)
    .f32(sw * sw, sb * sb, 0, 0)
    .bytes();
}

/** Override constants describing a stage's shape and layout (suffix _OUT or _IN, or none). */
function stageConstants(box: StageBox, suffix: '_OUT' | '_IN' | ''): Record<string, number | boolean> {
  return {
    [`P${suffix}`]: box.h * box.w,
    [`W${suffix}`]: box.w,
    [`ROW${suffix}`]: box.row,
    [`RY${suffix}`]: box.ry,
    [`RX${suffix}`]: box.rx,
    [`BANDED${suffix}`]: box.banded,
  };
}

/** Floats of one pair's map in a stage (P * row). */
export const stageFloats = (box: StageBox): number => box.h * box.w * box.row;

function runMaps(ctx: GpuContext, entry: string, total: number, constants: Record<string, number | boolean>, inputs: Tensor[], outputs: Tensor[], uniforms: ArrayBuffer): void {
  run1d(ctx, { shader: 'infinite_maps', entry, constants, total, inputs, outputs, uniforms });
}

/**
 * K, T of the input stage for B pairs: K = (1/C) x_a[:, p] . x_b[:, q], T = 0, on the stage's
 * layout `box` (default: every pair of positions, full rows on a 1 x P grid).
 */
export function infInputMap(ctx: GpuContext, pairs: Tensor, X: Tensor, K: Tensor, T: Tensor, B: number, channels: number, positions: number, box = fullBox(1, positions)): void {
  if (box.h * box.w !== positions) throw new Error(`infInputMap: stage grid ${box.h}x${box.w} does not have ${positions} positions`);
  const total = B * stageFloats(box);
  need(pairs, 2 * B, 'infInputMap pairs');
  need(K, total, 'infInputMap K');
  need(T, total, 'infInputMap T');
  runMaps(ctx, 'input_map', total, stageConstants(box, '_OUT'), [pairs, X, ctx.placeholder], [K, T], mapUniforms(total, { C: channels }));
}

/** Sigma, Theta of a conv layer (stage `out`) from K, T (stage `inp`). Defaults: full stages. */
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
  inp = fullBox(op.hIn, op.wIn),
  out = fullBox(op.hOut, op.wOut),
): void {
  const total = B * stageFloats(out);
  need(K, B * stageFloats(inp), 'infConvMap K');
  need(T, B * stageFloats(inp), 'infConvMap T');
  need(sigma, total, 'infConvMap Sigma');
  need(theta, total, 'infConvMap Theta');
  const u = mapUniforms(total, { hIn: op.hIn, k: op.kernel, stride: op.stride, pad: op.padding, sigmaW, sigmaB });
  runMaps(ctx, 'conv_map', total, { ...stageConstants(inp, '_IN'), ...stageConstants(out, '_OUT') }, [ctx.placeholder, K, T], [sigma, theta], u);
}

/** Sigma, Theta (B values) of a dense layer: means of the P same-position entries of stage `inp`. */
export function infDenseMap(ctx: GpuContext, K: Tensor, T: Tensor, sigma: Tensor, theta: Tensor, B: number, positions: number, sigmaW: number, sigmaB: number, inp = fullBox(1, positions)): void {
  need(K, B * stageFloats(inp), 'infDenseMap K');
  need(T, B * stageFloats(inp), 'infDenseMap T');
  need(sigma, B, 'infDenseMap Sigma');
  need(theta, B, 'infDenseMap Theta');
  runMaps(ctx, 'dense_map', B, stageConstants(inp, '_IN'), [ctx.placeholder, K, T], [sigma, theta], mapUniforms(B, { sigmaW, sigmaB }));
}

/** Window means of K and T (avgpool2d), stage `inp` to stage `out`. */
export function infPoolMap(ctx: GpuContext, op: PoolOp, K: Tensor, T: Tensor, outK: Tensor, outT: Tensor, B: number, inp = fullBox(op.hIn, op.wIn), out = fullBox(op.hOut, op.wOut)): void {
  const total = B * stageFloats(out);
  need(K, B * stageFloats(inp), 'infPoolMap K');
  need(outK, total, 'infPoolMap output');
  runMaps(ctx, 'pool_map', total, { ...stageConstants(inp, '_IN'), ...stageConstants(out, '_OUT') }, [ctx.placeholder, K, T], [outK, outT], mapUniforms(total, { q: op.size }));
}

/** vars[a, p] = sigma[b, p, p] for the self pairs b = (a, a) of the chunk (stage `inp`). */
export function infDiagonal(ctx: GpuContext, pairs: Tensor, sigma: Tensor, vars: Tensor, B: number, positions: number, inp = fullBox(1, positions)): void {
  need(sigma, B * stageFloats(inp), 'infDiagonal map');
  runMaps(ctx, 'diagonal', B * positions, stageConstants(inp, '_IN'), [pairs, sigma, ctx.placeholder], [vars, ctx.placeholderOut], mapUniforms(B * positions));
}

/**
 * Entries per dispatch of the quadrature kernel (each entry evaluates 2,500 to 10,000 nodes):
 * long dispatches are split so that none runs for seconds, which a hardware GPU's watchdog
 * may kill.
 */
export const QUADRATURE_ENTRIES_PER_DISPATCH = 1 << 15;

/**
 * K <- E[phi phi], T <- T E[phi' phi'] in place, for B pairs of maps in the layout `box` (default:
 * full P x P), linear: nothing.
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
  const total = B * stageFloats(box);
  need(K, total, 'infActivation K');
  need(T, total, 'infActivation T');
  need(pairs, 2 * B, 'infActivation pairs');
  const smooth = act === 'tanh' || act === 'sigmoid';
  const perDispatch = smooth ? QUADRATURE_ENTRIES_PER_DISPATCH : total;
  const layout = stageConstants(box, '');
  for (let offset = 0; offset < total; offset += perDispatch) {
    const count = Math.min(perDispatch, total - offset);
    run1d(ctx, {
      shader: 'infinite_act',
      entry: smooth ? 'quadrature' : 'relu',
      constants: smooth ? { ...layout, ACT: act === 'tanh' ? 1 : 3 } : layout,
      total: count,
      inputs: [pairs, vars],
      outputs: [K, T],
      uniforms: new Uniforms().u32(count, offset).f32(rule.h, rule.L).bytes(),
    });
  }
}
