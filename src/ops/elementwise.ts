/** Wrappers of shaders/elementwise.wgsl. */
import type { GpuContext } from '../gpu/context';
import { kernel } from '../gpu/kernel';
import type { Tensor } from '../gpu/tensor';
import type { Activation } from '../experiment/types';
import { need, run1d } from './dispatch';

/** Every entry of shaders/elementwise.wgsl: x (read), out (read_write), one uniform block. */
const elementwise = (entry: string, constants: readonly string[] = []) =>
  kernel({
    shader: 'elementwise',
    preludes: ['activations'],
    entry,
    inputs: ['x'],
    outputs: ['out'],
    uniforms: { n: 'u32', len: 'u32', R: 'u32', a: 'f32', b: 'f32' },
    constants,
    workgroupSize: 256,
  });

export const ACT_FORWARD = elementwise('act_forward', ['ACT']);
export const ACT_GRAD_MUL = elementwise('act_grad_mul', ['ACT']);
export const FILL = elementwise('fill');
export const AXPBY = elementwise('axpby');
export const MUL = elementwise('mul');
export const ACT_AUGMENT = elementwise('act_augment', ['ACT']);

export const ACT_CODE: Record<Activation, number> = { linear: 0, tanh: 1, relu: 2, sigmoid: 3 };

/** out = act(x), elementwise over the first `n` elements. */
export function activationForward(ctx: GpuContext, act: Activation, x: Tensor, out: Tensor, n = x.size): void {
  need(x, n, 'activationForward');
  need(out, n, 'activationForward');
  run1d(ctx, ACT_FORWARD, { constants: { ACT: ACT_CODE[act] }, total: n, inputs: [x], outputs: [out], uniforms: { n, len: 1, R: 1, a: 0, b: 0 } });
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
  run1d(ctx, ACT_GRAD_MUL, {
    constants: { ACT: ACT_CODE[act] },
    total,
    inputs: [s],
    outputs: [g],
    uniforms: { n: total, len, R: rowsPerExample, a: 0, b: 0 },
  });
}

/** out[0:n] = value. */
export function fill(ctx: GpuContext, out: Tensor, value: number, n = out.size): void {
  need(out, n, 'fill');
  run1d(ctx, FILL, { total: n, inputs: [ctx.placeholder], outputs: [out], uniforms: { n, len: 1, R: 1, a: value, b: 0 } });
}

/** out = a x + b out. */
export function axpby(ctx: GpuContext, a: number, x: Tensor, b: number, out: Tensor, n = out.size): void {
  need(x, n, 'axpby');
  need(out, n, 'axpby');
  run1d(ctx, AXPBY, { total: n, inputs: [x], outputs: [out], uniforms: { n, len: 1, R: 1, a, b } });
}

/** out = x * out elementwise. */
export function mulInPlace(ctx: GpuContext, x: Tensor, out: Tensor, n = out.size): void {
  need(x, n, 'mul');
  need(out, n, 'mul');
  run1d(ctx, MUL, { total: n, inputs: [x], outputs: [out], uniforms: { n, len: 1, R: 1, a: 0, b: 0 } });
}

/**
 * The next dense layer's augmented input from this layer's pre-activations: out (rows x (len+1))
 * = [wMul * act(s) | bMul], fusing the activation and the augmentation.
 */
export function activationAugment(ctx: GpuContext, act: Activation, s: Tensor, out: Tensor, rows: number, len: number, wMul: number, bMul: number): void {
  const total = rows * (len + 1);
  need(s, rows * len, 'activationAugment input');
  need(out, total, 'activationAugment output');
  run1d(ctx, ACT_AUGMENT, {
    constants: { ACT: ACT_CODE[act] },
    total,
    inputs: [s],
    outputs: [out],
    uniforms: { n: total, len, R: 1, a: wMul, b: bMul },
  });
}
