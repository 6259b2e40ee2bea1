/**
 * Wrappers of shaders/conv_fused.wgsl: a conv2d layer's forward pass (im2col + product + bias +
 * activation), the backward pass to its input (product with W + col2im) and its JVP, one dispatch
 * each. Layouts as in ops/patches.ts and model/layout.ts.
 */
import type { GpuContext } from '../gpu/context';
import { kernel } from '../gpu/kernel';
import type { Tensor } from '../gpu/tensor';
import type { ConvPlan } from '../model/layout';
import { ACT_CODE } from './elementwise';
import { need, run1d } from './dispatch';

const CONV_UNIFORMS = {
  total: 'u32',
  C: 'u32',
  H: 'u32',
  W: 'u32',
  k: 'u32',
  stride: 'u32',
  pad: 'u32',
  Hout: 'u32',
  Wout: 'u32',
  fanIn: 'u32',
  out: 'u32',
  wOff: 'u32',
  wMul: 'f32',
  bMul: 'f32',
} as const;
const convKernel = (entry: string, constants: string[]) =>
  kernel({ shader: 'conv_fused', preludes: ['activations'], entry, inputs: ['in0', 'in1', 'in2', 'in3'], outputs: ['out0', 'out1', 'out2'], uniforms: CONV_UNIFORMS, constants, workgroupSize: 64 });

export const CONV_FORWARD = convKernel('forward', ['ACT']);
export const CONV_BACKWARD_DATA = convKernel('backward_data', []);
export const CONV_JVP = convKernel('jvp', ['ACT', 'HAS_TANGENT']);

function uniforms(total: number, l: ConvPlan) {
  return { total, C: l.cin, H: l.h, W: l.w, k: l.kernel, stride: l.stride, pad: l.padding, Hout: l.hOut, Wout: l.wOut, fanIn: l.fanIn, out: l.out, wOff: l.offset, wMul: l.wMul, bMul: l.bMul };
}

/**
 * Patches P (n x T x m), pre-activations s (n x out x T) and, unless the activation is linear,
 * activations y = act(s) (same shape) of `n` NCHW inputs at parameters `theta`.
 */
export function convForward(ctx: GpuContext, l: ConvPlan, x: Tensor, theta: Tensor, patches: Tensor, pre: Tensor, activated: Tensor | null, n: number): void {
  const T = l.positions;
  need(x, n * l.cin * l.h * l.w, 'conv forward input');
  need(theta, l.offset + l.size, 'conv forward parameters');
  need(patches, n * T * (l.fanIn + 1), 'conv forward patches');
  need(pre, n * l.out * T, 'conv forward pre-activations');
  if (l.activation !== 'linear') need(activated ?? ctx.placeholder, n * l.out * T, 'conv forward activations');
  run1d(ctx, CONV_FORWARD, {
    constants: { ACT: ACT_CODE[l.activation] },
    total: n * T,
    inputs: [x, theta, ctx.placeholder, ctx.placeholder],
    outputs: [patches, pre, l.activation === 'linear' ? ctx.placeholderOut : activated!],
    uniforms: uniforms(n * T, l),
  });
}

/** dX (rows x cin x h x w) = the input gradient of signals S (rows x out x T) at the layer's weights. */
export function convBackwardData(ctx: GpuContext, l: ConvPlan, S: Tensor, theta: Tensor, dX: Tensor, rows: number): void {
  const total = rows * l.cin * l.h * l.w;
  need(S, rows * l.out * l.positions, 'conv backward signals');
  need(theta, l.offset + l.size, 'conv backward parameters');
  need(dX, total, 'conv backward output');
  run1d(ctx, CONV_BACKWARD_DATA, {
    total,
    inputs: [S, theta, ctx.placeholder, ctx.placeholder],
    outputs: [dX, ctx.placeholderOut, ctx.placeholderOut2],
    uniforms: uniforms(total, l),
  });
}

/**
 * JVP through the layer frozen at its forward state: ds (n x out x T) = act'(pre) o (V~ P^T +
 * W (wMul tangent patches)), with V~ the layer's slice of `v` and `tangent` the tangent of the
 * layer input (null: the input is constant).
 */
export function convJvp(ctx: GpuContext, l: ConvPlan, patches: Tensor, theta: Tensor, v: Tensor, tangent: Tensor | null, pre: Tensor, ds: Tensor, n: number): void {
  const T = l.positions;
  need(patches, n * T * (l.fanIn + 1), 'conv jvp patches');
  need(v, l.offset + l.size, 'conv jvp direction');
  if (tangent) need(tangent, n * l.cin * l.h * l.w, 'conv jvp input tangent');
  need(pre, n * l.out * T, 'conv jvp pre-activations');
  need(ds, n * l.out * T, 'conv jvp output');
  run1d(ctx, CONV_JVP, {
    constants: { ACT: ACT_CODE[l.activation], HAS_TANGENT: tangent !== null },
    total: n * T,
    inputs: [patches, theta, v, tangent ?? ctx.placeholder],
    outputs: [ds, pre, ctx.placeholderOut],
    uniforms: uniforms(n * T, l),
  });
}
