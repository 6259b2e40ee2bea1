/** Wrappers of shaders/patches.wgsl (augmented inputs, im2col, col2im) and shaders/pool.wgsl. */
import { Uniforms, type GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import type { ConvPlan, DensePlan } from '../model/layout';
import { need, run1d } from './dispatch';

function convUniforms(total: number, l: ConvPlan, dstOffset = 0): ArrayBuffer {
  return new Uniforms()
    .u32(total, l.cin, l.h, l.w)
    .u32(l.kernel, l.stride, l.padding, l.hOut)
    .u32(l.wOut, l.fanIn, dstOffset, 0)
    .f32(l.wMul, l.bMul)
    .bytes();
}

/** A~ (n x (fanIn+1)) = [wMul x | bMul] for a dense layer. */
export function denseAugment(ctx: GpuContext, l: DensePlan, x: Tensor, out: Tensor, n: number): void {
  const total = n * (l.fanIn + 1);
  need(x, n * l.fanIn, 'denseAugment input');
  need(out, total, 'denseAugment output');
  const u = new Uniforms().u32(total, 0, 0, 0).u32(0, 0, 0, 0).u32(0, l.fanIn, 0, 0).f32(l.wMul, l.bMul).bytes();
  run1d(ctx, { shader: 'patches', entry: 'dense_augment', total, inputs: [x], outputs: [out], uniforms: u });
}

/** Patch matrix P (n x T x (fanIn+1)) of a conv layer, from its NCHW input. */
export function im2col(ctx: GpuContext, l: ConvPlan, x: Tensor, out: Tensor, n: number): void {
  const total = n * l.positions * (l.fanIn + 1);
  need(x, n * l.cin * l.h * l.w, 'im2col input');
  need(out, total, 'im2col output');
  run1d(ctx, { shader: 'patches', entry: 'im2col', total, inputs: [x], outputs: [out], uniforms: convUniforms(total, l) });
}

/**
 * dX (rows x C x H x W) from patch gradients dP (rows x T x fanIn): the adjoint of im2col.
 * Writes rows `firstRow ..` of dX (dP holds only those rows), for chunked backward passes.
 */
export function col2im(ctx: GpuContext, l: ConvPlan, dP: Tensor, dX: Tensor, rows: number, firstRow = 0): void {
  const total = rows * l.cin * l.h * l.w;
  const offset = firstRow * l.cin * l.h * l.w;
  need(dP, rows * l.positions * l.fanIn, 'col2im input');
  need(dX, offset + total, 'col2im output');
  run1d(ctx, { shader: 'patches', entry: 'col2im', total, inputs: [dP], outputs: [dX], uniforms: convUniforms(total, l, offset) });
}

export interface PoolShape {
  channels: number;
  h: number;
  w: number;
  q: number;
}

function poolUniforms(total: number, s: PoolShape): ArrayBuffer {
  return new Uniforms().u32(total, s.channels, s.h, s.w).u32(s.q, Math.floor(s.h / s.q), Math.floor(s.w / s.q), 0).bytes();
}

/** Average pooling of `rows` NCHW images. */
export function avgPoolForward(ctx: GpuContext, s: PoolShape, x: Tensor, y: Tensor, rows: number): void {
  const total = rows * s.channels * Math.floor(s.h / s.q) * Math.floor(s.w / s.q);
  need(x, rows * s.channels * s.h * s.w, 'avgpool input');
  need(y, total, 'avgpool output');
  run1d(ctx, { shader: 'pool', entry: 'avgpool_forward', total, inputs: [x], outputs: [y], uniforms: poolUniforms(total, s) });
}

/** Adjoint of average pooling. */
export function avgPoolBackward(ctx: GpuContext, s: PoolShape, dy: Tensor, dx: Tensor, rows: number): void {
  const total = rows * s.channels * s.h * s.w;
  need(dy, rows * s.channels * Math.floor(s.h / s.q) * Math.floor(s.w / s.q), 'avgpool grad input');
  need(dx, total, 'avgpool grad output');
  run1d(ctx, { shader: 'pool', entry: 'avgpool_backward', total, inputs: [dy], outputs: [dx], uniforms: poolUniforms(total, s) });
}

/** out[z, b, a, c] = in[z, a, b, c] for `in` of shape (batch, A, B, C). */
export function swapAxes(ctx: GpuContext, input: Tensor, out: Tensor, A: number, B: number, C: number, batch = 1): void {
  const total = batch * A * B * C;
  need(input, total, 'permute input');
  need(out, total, 'permute output');
  run1d(ctx, { shader: 'permute', total, inputs: [input], outputs: [out], uniforms: new Uniforms().u32(total, A, B, C).bytes() });
}
