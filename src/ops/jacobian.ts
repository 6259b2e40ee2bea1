/** Wrapper of shaders/jacobian.wgsl. */
import type { GpuContext } from '../gpu/context';
import { kernel } from '../gpu/kernel';
import type { Tensor } from '../gpu/tensor';
import { need, run1d } from './dispatch';

export const DENSE_OUTER = kernel({
  shader: 'jacobian',
  entry: 'dense_outer',
  inputs: ['S', 'A'],
  outputs: ['J'],
  uniforms: { rows: 'u32', R: 'u32', outDim: 'u32', m: 'u32', P: 'u32', offset: 'u32' },
  workgroupSize: 256,
});

/**
 * J[row, offset + o*m + a] = S[row, o] * A~[row / R, a]: a dense layer's Jacobian columns.
 * J has `P` columns; `rows` = n * R.
 */
export function denseJacobianBlock(ctx: GpuContext, S: Tensor, Aug: Tensor, J: Tensor, rows: number, R: number, out: number, m: number, P: number, offset: number): void {
  need(S, rows * out, 'jacobian signals');
  need(Aug, (rows / R) * m, 'jacobian inputs');
  need(J, rows * P, 'jacobian');
  run1d(ctx, DENSE_OUTER, { total: rows * out * m, inputs: [S, Aug], outputs: [J], uniforms: { rows, R, outDim: out, m, P, offset } });
}
