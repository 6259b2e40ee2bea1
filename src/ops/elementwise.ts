/** Wrappers of shaders/elementwise.wgsl. */
import { Uniforms, type GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import type { Activation } from '../experiment/types';
import { need, run1d } from './dispatch';

export const ACT_CODE: Record<Activation, number> = { linear: 0, tanh: 1, relu: 2, sigmoid: 3 };

/** out = act(x), elementwise over the first `n` elements. */
export function activationForward(ctx: GpuContext, act: Activation, x: Tensor, out: Tensor, n = x.size): void {
  need(x, n, 'activationForward');
  need(out, n, 'activationForward');
  run1d(ctx, {
    shader: 'elementwise',
    entry: 'act_forward',
    constants: { ACT: ACT_CODE[act] },
    total: n,
    inputs: [x],
    outputs: [out],
    uniforms: new Uniforms().u32(n, 1, 1, 0).f32(0, 0).bytes(),
  });
}

/**
 * g *= act'(s) for backward signals: `g` holds `rowsPerExample` rows of `len` values for each
 * example, `s` holds the example's pre-activations (one row of `len`).
 */
export function activationGradMul(ctx: GpuContext, act: Activation, s: Tensor, g: Tensor, len: number, rowsPerExample: number, n: number): void {
  if (act === 'linear') return;
  const total = n * rowsPerExample * len;
  need(g, total, 'activationGradMul');
  need(s, n * len, 'activationGradMul');
  run1d(ctx, {
    shader: 'elementwise',
    entry: 'act_grad_mul',
    constants: { ACT: ACT_CODE[act] },
    total,
    inputs: [s],
    outputs: [g],
    uniforms: new Uniforms().u32(total, len, rowsPerExample, 0).f32(0, 0).bytes(),
  });
}

/** out[0:n] = value. */
export function fill(ctx: GpuContext, out: Tensor, value: number, n = out.size): void {
  need(out, n, 'fill');
  run1d(ctx, { shader: 'elementwise', entry: 'fill', total: n, inputs: [ctx.placeholder], outputs: [out], uniforms: new Uniforms().u32(n, 1, 1, 0).f32(value, 0).bytes() });
}

/** out = a x + b out. */
export function axpby(ctx: GpuContext, a: number, x: Tensor, b: number, out: Tensor, n = out.size): void {
  need(x, n, 'axpby');
  need(out, n, 'axpby');
  run1d(ctx, { shader: 'elementwise', entry: 'axpby', total: n, inputs: [x], outputs: [out], uniforms: new Uniforms().u32(n, 1, 1, 0).f32(a, b).bytes() });
}

/** out = x * out elementwise. */
export function mulInPlace(ctx: GpuContext, x: Tensor, out: Tensor, n = out.size): void {
  need(x, n, 'mul');
  need(out, n, 'mul');
  run1d(ctx, { shader: 'elementwise', entry: 'mul', total: n, inputs: [x], outputs: [out], uniforms: new Uniforms().u32(n, 1, 1, 0).f32(0, 0).bytes() });
}

/**
 * The next dense layer's augmented input from this layer's pre-activations: out (rows x (len+1))
 * = [wMul * act(s) | bMul], fusing the activation and the augmentation.
 */
export function activationAugment(ctx: GpuContext, act: Activation, s: Tensor, out: Tensor, rows: number, len: number, wMul: number, bMul: number): void {
  const total = rows * (len + 1);
  need(s, rows * len, 'activationAugment input');
  need(out, total, 'activationAugment output');
  run1d(ctx, {
    shader: 'elementwise',
    entry: 'act_augment',
    constants: { ACT: ACT_CODE[act] },
    total,
    inputs: [s],
    outputs: [out],
    uniforms: new Uniforms().u32(total, len, 1, 0).f32(wMul, bMul).bytes(),
  });
}
