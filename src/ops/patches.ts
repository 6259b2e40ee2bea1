/** Wrappers of shaders/patches.wgsl (augmented inputs, im2col, col2im), shaders/pool.wgsl and shaders/permute.wgsl. */
import type { GpuContext } from '../gpu/context';
import { kernel } from '../gpu/kernel';
import type { Tensor } from '../gpu/tensor';
import type { ConvPlan, DensePlan } from '../model/layout';
import { need, run1d } from './dispatch';

/** Every entry of shaders/patches.wgsl: src (read), dst (read_write), the conv geometry. */
const patches = (entry: string) =>
  kernel({
    shader: 'patches',
    entry,
    inputs: ['src'],
    outputs: ['dst'],
    uniforms: {
      total: 'u32', C: 'u32', H: 'u32', W: 'u32',
      k: 'u32', stride: 'u32', pad: 'u32', Hout: 'u32',
      Wout: 'u32', fanIn: 'u32', dstOffset: 'u32',
      wMul: 'f32', bMul: 'f32',
    },
    workgroupSize: 256,
  });

export const DENSE_AUGMENT = patches('dense_augment');
export const IM2COL = patches('im2col');
export const COL2IM = patches('col2im');

/** Every entry of shaders/pool.wgsl. */
const pool = (entry: string) =>
  kernel({
    shader: 'pool',
    entry,
    inputs: ['src'],
    outputs: ['dst'],
    uniforms: { total: 'u32', C: 'u32', H: 'u32', W: 'u32', q: 'u32', Hout: 'u32', Wout: 'u32' },
    workgroupSize: 256,
  });

export const AVGPOOL_FORWARD = pool('avgpool_forward');
export const AVGPOOL_BACKWARD = pool('avgpool_backward');

export const PERMUTE = kernel({ shader: 'permute', inputs: ['src'], outputs: ['dst'], uniforms: { total: 'u32', A: 'u32', B: 'u32', Cn: 'u32' }, workgroupSize: 256 });

function convUniforms(total: number, l: ConvPlan, dstOffset = 0) {
  return {
    total,
    C: l.cin,
    H: l.h,
    W: l.w,
    k: l.kernel,
    stride: l.stride,
    pad: l.padding,
    Hout: l.hOut,
    Wout: l.wOut,
    fanIn: l.fanIn,
    dstOffset,
    wMul: l.wMul,
    bMul: l.bMul,
  };
}

/** A~ (n x (fanIn+1)) = [wMul x | bMul] for a dense layer. */
export function denseAugment(ctx: GpuContext, l: DensePlan, x: Tensor, out: Tensor, n: number): void {
  const total = n * (l.fanIn + 1);
  need(x, n * l.fanIn, 'denseAugment input');
  need(out, total, 'denseAugment output');
  // Only total, fanIn, wMul and bMul are read by dense_augment.
  const uniforms = { total, C: 0, H: 0, W: 0, k: 0, stride: 0, pad: 0, Hout: 0, Wout: 0, fanIn: l.fanIn, dstOffset: 0, wMul: l.wMul, bMul: l.bMul };
  run1d(ctx, DENSE_AUGMENT, { total, inputs: [x], outputs: [out], uniforms });
}

/** Patch matrix P (n x T x (fanIn+1)) of a conv layer, from its NCHW input. */
export function im2col(ctx: GpuContext, l: ConvPlan, x: Tensor, out: Tensor, n: number): void {
  const total = n * l.positions * (l.fanIn + 1);
  need(x, n * l.cin * l.h * l.w, 'im2col input');
  need(out, total, 'im2col output');
  run1d(ctx, IM2COL, { total, inputs: [x], outputs: [out], uniforms: convUniforms(total, l) });
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
  run1d(ctx, COL2IM, { total, inputs: [dP], outputs: [dX], uniforms: convUniforms(total, l, offset) });
}

export interface PoolShape {
  channels: number;
  h: number;
  w: number;
  q: number;
}

function poolUniforms(total: number, s: PoolShape) {
  return { total, C: s.channels, H: s.h, W: s.w, q: s.q, Hout: Math.floor(s.h / s.q), Wout: Math.floor(s.w / s.q) };
}

/** Average pooling of `rows` NCHW images. */
export function avgPoolForward(ctx: GpuContext, s: PoolShape, x: Tensor, y: Tensor, rows: number): void {
  const total = rows * s.channels * Math.floor(s.h / s.q) * Math.floor(s.w / s.q);
  need(x, rows * s.channels * s.h * s.w, 'avgpool input');
  need(y, total, 'avgpool output');
  run1d(ctx, AVGPOOL_FORWARD, { total, inputs: [x], outputs: [y], uniforms: poolUniforms(total, s) });
}

/** Adjoint of average pooling. */
export function avgPoolBackward(ctx: GpuContext, s: PoolShape, dy: Tensor, dx: Tensor, rows: number): void {
  const total = rows * s.channels * s.h * s.w;
  need(dy, rows * s.channels * Math.floor(s.h / s.q) * Math.floor(s.w / s.q), 'avgpool grad input');
  need(dx, total, 'avgpool grad output');
  run1d(ctx, AVGPOOL_BACKWARD, { total, inputs: [dy], outputs: [dx], uniforms: poolUniforms(total, s) });
}

/** out[z, b, a, c] = in[z, a, b, c] for `in` of shape (batch, A, B, C). */
export function swapAxes(ctx: GpuContext, input: Tensor, out: Tensor, A: number, B: number, C: number, batch = 1): void {
  const total = batch * A * B * C;
  need(input, total, 'permute input');
  need(out, total, 'permute output');
  run1d(ctx, PERMUTE, { total, inputs: [input], outputs: [out], uniforms: { total, A, B, Cn: C } });
}
