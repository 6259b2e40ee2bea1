/** Random and adversarial test inputs, seeded. */
import { Rng } from '../../src/util/rng';

export function randomArray(n: number, seed: number, scale = 1): Float64Array {
  const rng = new Rng(seed);
  const a = new Float64Array(n);
  for (let i = 0; i < n; i++) a[i] = scale * (2 * rng.uniform() - 1);
  return a;
}

/** Round to float32, so GPU inputs and the f64 reference see the same values. */
export function f32(a: ArrayLike<number>): Float64Array {
  return Float64Array.from(Float32Array.from(a as ArrayLike<number>));
}

/** max|x - ref| / max|ref| (0/0 = 0). */
export function normalizedMaxError(x: ArrayLike<number>, ref: ArrayLike<number>): number {
  if (x.length !== ref.length) throw new Error(`length ${x.length} vs ${ref.length}`);
  let e = 0;
  let r = 0;
  for (let i = 0; i < ref.length; i++) {
    const d = Math.abs(x[i] - ref[i]);
    e = Number.isNaN(d) ? Infinity : Math.max(e, d);
    r = Math.max(r, Math.abs(ref[i]));
  }
  return r > 0 ? e / r : e;
}
