import { describe, expect, it } from 'vitest';
import { gpuContext } from './helpers/gpu';
import { f32, normalizedMaxError, randomArray } from './helpers/random';
import { matmul } from '../src/ops/matmul';
import { matmulRef } from '../src/reference/ops';

describe('matmul kernel vs f64 reference', () => {
  const shapes: [number, number, number][] = [
    [1, 1, 1],
    [1, 7, 1],
    [3, 5, 7],
    [64, 64, 64],
    [65, 63, 17],
    [130, 1, 70],
    [17, 129, 0],
    [0, 5, 5],
  ];
  for (const [M, N, K] of shapes) {
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        it(`M=${M} N=${N} K=${K} transA=${transA} transB=${transB}`, async () => {
          const ctx = await gpuContext();
          const A = f32(randomArray(M * K, 1 + M + 3 * K));
          const B = f32(randomArray(K * N, 2 + N));
          const ta = ctx.upload(A, [Math.max(M * K, 1)]);
          const tb = ctx.upload(B, [Math.max(K * N, 1)]);
          const tc = ctx.tensor([Math.max(M * N, 1)]);
          matmul(ctx, { a: ta, b: tb, c: tc, M, N, K, transA, transB });
          const got = await ctx.read(tc, 0, M * N);
          const ref = new Float64Array(M * N);
          matmulRef(A, B, ref, { M, N, K, transA, transB });
          expect(normalizedMaxError(got, ref)).toBeLessThan(1e-6);
          ta.destroy();
          tb.destroy();
          tc.destroy();
        });
      }
    }
  }
});
