/**
 * Conversion of flat row-major arrays into the nested plain-number arrays of the result
 * JSON (fixture README "File format": matrices are lists of rows).
 */

/** Nested array of the given shape from a flat row-major array (a 0-d shape gives a number). */
export function nest(a: ArrayLike<number>, shape: readonly number[]): unknown {
  const size = shape.reduce((x, y) => x * y, 1);
  if (a.length !== size) throw new Error(`nest: ${a.length} values do not fill shape [${shape.join(', ')}]`);
  const build = (offset: number, depth: number): unknown => {
    if (depth === shape.length) return a[offset];
    const stride = shape.slice(depth + 1).reduce((x, y) => x * y, 1);
    const out: unknown[] = new Array(shape[depth]);
    for (let i = 0; i < shape[depth]; i++) out[i] = build(offset + i * stride, depth + 1);
    return out;
  };
  if (shape.length === 0) return a[0];
  return build(0, 0);
}

/** Plain number array from a typed array. */
export const list = (a: ArrayLike<number>): number[] => Array.from(a);
