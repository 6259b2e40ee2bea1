/** Wrapper of shaders/jacobian.wgsl. */
import { Uniforms, type GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import { need, run1d } from './dispatch';

/**
 * J[row, offset + o*m + a] = S[row, o] * A~[row / R, a]: a dense layer's Jacobian columns.
 * J has `P` columns; `rows` = n * R.
 */
export function denseJacobianBlock(ctx: GpuContext, S: Tensor, Aug: Tensor, J: Tensor, rows: number, R: number, out: number, m: number, P: number, offset: number): void {
  need(S, rows * out, 'jacobian signals');
  need(Aug, (rows / R) * m, 'jacobian inputs');
  need(J, rows * P, 'jacobian');
  run1d(ctx, {
    shader: 'jacobian',
    entry: 'dense_outer',
    total: rows * out * m,
    inputs: [S, Aug],
    outputs: [J],
    uniforms: new Uniforms().u32(rows, R, out, m).u32(P, offset, 0, 0).bytes(),
  });
}
