/**
 * A GPU-side watch for the first non-finite training step: a u32 flag that shaders/update.wgsl
 * lowers (atomicMin) to the step whose update made the parameters non-finite, read back only
 * with the metrics.
 */
import type { GpuContext } from '../gpu/context';
import { kernel } from '../gpu/kernel';
import type { Tensor } from '../gpu/tensor';
import { need, run1d } from './dispatch';

export const UPDATE = kernel({
  shader: 'update',
  inputs: ['u', 'theta0'],
  outputs: ['delta', 'theta', 'flag'],
  uniforms: { n: 'u32', step: 'u32', lr: 'f32' },
  workgroupSize: 256,
});

const NONE = 0xffffffff;

export class NonFiniteWatch {
  /** One u32 (stored in a 4-element tensor): the first bad step, or 0xffffffff. */
  readonly flag: Tensor;

  /** The step held by a flag read back as f32 words, or null. */
  static decode(words: Float32Array): number | null {
    const v = new Uint32Array(words.buffer, words.byteOffset, 1)[0];
    return v === NONE ? null : v;
  }

  constructor(private readonly ctx: GpuContext) {
    this.flag = ctx.tensor([4], 'non-finite flag');
    ctx.write(this.flag, new Float32Array(new Uint32Array([NONE, 0, 0, 0]).buffer));
  }

  /**
   * One training update with the watch fused in (shaders/update.wgsl):
   * delta -= lr u; theta = theta0 + delta; record `step` if delta became non-finite.
   */
  update(u: Tensor, theta0: Tensor, delta: Tensor, theta: Tensor, lr: number, step: number, n = delta.size): void {
    for (const t of [u, theta0, theta]) need(t, n, 'parameter update');
    run1d(this.ctx, UPDATE, { total: n, inputs: [u, theta0], outputs: [delta, theta, this.flag], uniforms: { n, step, lr } });
  }

  /** The first recorded step, or null if everything stayed finite. */
  async firstBadStep(): Promise<number | null> {
    return NonFiniteWatch.decode(await this.ctx.read(this.flag, 0, 1));
  }

  destroy(): void {
    this.flag.destroy();
  }
}
