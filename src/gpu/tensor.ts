/**
 * A GPU tensor: a storage buffer plus a row-major shape. Float32 everywhere (the engine's
 * compute precision); index data uses the same 4-byte words. Lifetime is explicit:
 * `destroy()` frees the buffer, and the owning context counts live tensors so tests can
 * check that nothing leaks.
 */
export class Tensor {
  private destroyed = false;

  constructor(
    readonly buffer: GPUBuffer,
    readonly shape: readonly number[],
    private readonly onDestroy: (t: Tensor) => void,
    readonly label = '',
  ) {}

  /** Number of elements. */
  get size(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }

  get byteLength(): number {
    return this.size * 4;
  }

  get isDestroyed(): boolean {
    return this.destroyed;
  }

  /** A view of the same buffer with another shape of equal size (no copy). */
  reshape(shape: readonly number[]): Tensor {
    const size = shape.reduce((a, b) => a * b, 1);
    if (size !== this.size) throw new Error(`reshape of ${this.label || 'tensor'} [${this.shape}] to [${shape}]: sizes differ`);
    return new TensorView(this, shape);
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.onDestroy(this);
  }
}

/** A reshaped view; destroying it destroys nothing (the base owns the buffer). */
class TensorView extends Tensor {
  constructor(
    readonly base: Tensor,
    shape: readonly number[],
  ) {
    super(base.buffer, shape, () => {}, base.label);
  }
  override get isDestroyed(): boolean {
    return this.base.isDestroyed;
  }
}
