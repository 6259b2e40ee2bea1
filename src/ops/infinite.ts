/**
 * Wrappers of shaders/infinite_maps.wgsl and shaders/infinite_act.wgsl: the steps of the
 * infinite-width recursion on a chunk of B example pairs (maps [B][P][row], float32: per
 * position, its partners in the stage's `StageBox`, src/model/infinite-plan.ts). The float64
 * twins are the functions of the same names in src/reference/infinite.ts.
 */
import type { GpuContext } from '../gpu/context';
import { kernel, type KernelDescriptor } from '../gpu/kernel';
import type { Tensor } from '../gpu/tensor';
import type { Activation } from '../experiment/types';
import { fullBox, type InfiniteOp, type StageBox } from '../model/infinite-plan';
import { DEFAULT_RULE, type QuadratureRule } from '../math/infinite-quadrature';
import { need, run1d } from './dispatch';
import { ACT_CODE } from './elementwise';

type ConvOp = Extract<InfiniteOp, { kind: 'conv' }>;
type PoolOp = Extract<InfiniteOp, { kind: 'pool' }>;

const STAGE = (suffix: '_OUT' | '_IN' | '') => ['P', 'W', 'ROW', 'RY', 'RX', 'BANDED'].map((c) => c + suffix);
const MAP_UNIFORMS = { count: 'u32', C: 'u32', h_in: 'u32', k: 'u32', stride: 'u32', pad: 'u32', q: 'u32', sw2: 'f32', sb2: 'f32' } as const;
const mapKernel = (entry: string, constants: string[]) =>
  kernel({ shader: 'infinite_maps', entry, inputs: ['pairs', 'src0', 'src1'], outputs: ['dst0', 'dst1'], uniforms: MAP_UNIFORMS, constants, workgroupSize: 256 });

export const INF_INPUT_MAP = mapKernel('input_map', STAGE('_OUT'));
export const INF_CONV_MAP = mapKernel('conv_map', [...STAGE('_IN'), ...STAGE('_OUT')]);
export const INF_DENSE_MAP = mapKernel('dense_map', STAGE('_IN'));
export const INF_POOL_MAP = mapKernel('pool_map', [...STAGE('_IN'), ...STAGE('_OUT')]);
export const INF_DIAGONAL = mapKernel('diagonal', STAGE('_IN'));

const ACT_UNIFORMS = { count: 'u32', offset: 'u32', h: 'f32', L: 'f32' } as const;
export const INF_RELU = kernel({ shader: 'infinite_act', preludes: ['activations'], entry: 'relu', inputs: ['pairs', 'vars'], outputs: ['K', 'T'], uniforms: ACT_UNIFORMS, constants: STAGE(''), workgroupSize: 256 });
export const INF_QUADRATURE = kernel({
  shader: 'infinite_act',
  preludes: ['activations'],
  entry: 'quadrature',
  inputs: ['pairs', 'vars'],
  outputs: ['K', 'T'],
  uniforms: ACT_UNIFORMS,
  constants: [...STAGE(''), 'ACT'],
  workgroupSize: 256,
});

/** Uniforms of infinite_maps.wgsl: count, channels, input height, kernel, stride, padding, pool size, sigma_w^2, sigma_b^2. */
function mapUniforms(count: number, o: { C?: number; hIn?: number; k?: number; stride?: number; pad?: number; q?: number; sigmaW?: number; sigmaB?: number } = {}) {
  const sw = o.sigmaW ?? 0;
  const sb = o.sigmaB ?? 0;
  return { count, C: o.C ?? 1, h_in: o.hIn ?? 1, k: o.k ?? 1, stride: o.stride ?? 1, pad: o.pad ?? 0, q: o.q ?? 1, sw2: sw * sw, sb2: sb * sb };
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

function runMaps(
  ctx: GpuContext,
  k: KernelDescriptor<typeof MAP_UNIFORMS>,
  total: number,
  constants: Record<string, number | boolean>,
  inputs: [Tensor, Tensor, Tensor],
  outputs: [Tensor, Tensor],
  uniforms: ReturnType<typeof mapUniforms>,
): void {
  run1d(ctx, k, { constants, total, inputs, outputs, uniforms });
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
  runMaps(ctx, INF_INPUT_MAP, total, stageConstants(box, '_OUT'), [pairs, X, ctx.placeholder], [K, T], mapUniforms(total, { C: channels }));
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
  runMaps(ctx, INF_CONV_MAP, total, { ...stageConstants(inp, '_IN'), ...stageConstants(out, '_OUT') }, [ctx.placeholder, K, T], [sigma, theta], u);
}

/** Sigma, Theta (B values) of a dense layer: means of the P same-position entries of stage `inp`. */
export function infDenseMap(ctx: GpuContext, K: Tensor, T: Tensor, sigma: Tensor, theta: Tensor, B: number, positions: number, sigmaW: number, sigmaB: number, inp = fullBox(1, positions)): void {
  need(K, B * stageFloats(inp), 'infDenseMap K');
  need(T, B * stageFloats(inp), 'infDenseMap T');
  need(sigma, B, 'infDenseMap Sigma');
  need(theta, B, 'infDenseMap Theta');
  runMaps(ctx, INF_DENSE_MAP, B, stageConstants(inp, '_IN'), [ctx.placeholder, K, T], [sigma, theta], mapUniforms(B, { sigmaW, sigmaB }));
}

/** Window means of K and T (avgpool2d), stage `inp` to stage `out`. */
export function infPoolMap(ctx: GpuContext, op: PoolOp, K: Tensor, T: Tensor, outK: Tensor, outT: Tensor, B: number, inp = fullBox(op.hIn, op.wIn), out = fullBox(op.hOut, op.wOut)): void {
  const total = B * stageFloats(out);
  need(K, B * stageFloats(inp), 'infPoolMap K');
  need(outK, total, 'infPoolMap output');
  runMaps(ctx, INF_POOL_MAP, total, { ...stageConstants(inp, '_IN'), ...stageConstants(out, '_OUT') }, [ctx.placeholder, K, T], [outK, outT], mapUniforms(total, { q: op.size }));
}

/** vars[a, p] = sigma[b, p, p] for the self pairs b = (a, a) of the chunk (stage `inp`). */
export function infDiagonal(ctx: GpuContext, pairs: Tensor, sigma: Tensor, vars: Tensor, B: number, positions: number, inp = fullBox(1, positions)): void {
  need(sigma, B * stageFloats(inp), 'infDiagonal map');
  runMaps(ctx, INF_DIAGONAL, B * positions, stageConstants(inp, '_IN'), [pairs, sigma, ctx.placeholder], [vars, ctx.placeholderOut], mapUniforms(B * positions));
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
    run1d(ctx, smooth ? INF_QUADRATURE : INF_RELU, {
      constants: smooth ? { ...layout, ACT: ACT_CODE[act] } : layout,
      total: count,
      inputs: [pairs, vars],
      outputs: [K, T],
      uniforms: { count, offset, h: rule.h, L: rule.L },
    });
  }
}
