/**
 * The curvature helper kernels (src/ops/kfac.ts: shaders/kfac_moments, kfac_kron, kfac_blocks,
 * kfac_damping and metric.wgsl) against their float64 definitions in src/reference/kernels.ts, on
 * random and adversarial inputs: sizes that are not multiples of the workgroup and span several
 * workgroups, single elements, zero rows, magnitudes from 1e-15 to 1e15 in one array, negative
 * round-off eigenvalues, ill-conditioned spectra, extreme logits, outputs that hold NaN or
 * sentinels before the kernel runs (checking what a kernel must overwrite and what it must keep).
 *
 * Tolerances, elementwise |got - want| <= rtol |want| + atol, from the float32 arithmetic of
 * each kernel (u = 2^-24): one rounding for products and squares (rtol 1.2e-7); a sum of k
 * non-negative terms accumulated in f32, k u relative; the damped inverses, a few roundings of
 * sqrt and division (rtol 1e-6); the metric, softmax through exp (WGSL allows exp 3 + 2|x| ulp).
 */
import { describe, expect, it } from 'vitest';
import { gpuContext } from './helpers/gpu';
import { f32, randomArray } from './helpers/random';
import * as ref from '../src/reference/kernels';
import {
  colsSumSq,
  crossEntropyMetricMv,
  diagEmbed,
  diagonal,
  divDamped,
  invDamped,
  kfacInverseEigenvalues,
  kronProduct,
  outerCols,
  rowsDot,
  rowsSumSq,
  scaleCols,
  setBlock,
  square,
} from '../src/ops/kfac';
import type { GpuContext } from '../src/gpu/context';
import type { Tensor } from '../src/gpu/tensor';

const U = 2 ** -24;

/** |got - want| <= rtol |want| + atol elementwise (NaN never passes unless both are NaN). */
function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, rtol: number, atol = 0, what = '') {
  expect(got.length, what).toBe(want.length);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < want.length; i++) {
    if (Object.is(got[i], want[i]) || (Number.isNaN(got[i]) && Number.isNaN(want[i]))) continue;
    const e = Math.abs(got[i] - want[i]) / (rtol * Math.abs(want[i]) + atol);
    if (!(e <= worst)) {
      worst = Number.isNaN(e) ? Infinity : e;
      at = i;
    }
  }
  expect(worst, `${what} worst at ${at}: got ${got[at]}, want ${want[at]}`).toBeLessThanOrEqual(1);
}

/** Random values whose magnitudes span 1e-15 .. 1e15 (squares stay within f32), with zeros and signs. */
function wideRange(n: number, seed: number): Float64Array {
  const r = randomArray(2 * n, seed);
  return f32(Array.from({ length: n }, (_, i) => (i % 17 === 5 ? 0 : r[i] * 10 ** Math.round(15 * r[n + i]))));
}

async function read(ctx: GpuContext, t: Tensor, count?: number): Promise<Float64Array> {
  return Float64Array.from(await ctx.read(t, 0, count));
}

describe('kfac_moments.wgsl', () => {
  it('rows_sumsq and rows_dot: per-example sums over R rows, zero rows, wide magnitudes, several workgroups', async () => {
    const ctx = await gpuContext();
    const live = ctx.liveTensors;
    for (const [n, R, W] of [
      [1, 1, 1],
      [37, 3, 11], // n W = 407: two workgroups of rows_sumsq
      [300, 2, 1], // rows_dot over 300 examples: two workgroups
      [5, 10, 64],
    ]) {
      const x = wideRange(n * R * W, n + R);
      const y = f32(randomArray(n * R * W, n + W, 3));
      // A zero example (all R rows) and, when there are several, one example of a single huge row.
      for (let k = 0; k < R * W; k++) x[k] = 0;
      if (n > 1) for (let k = 0; k < W; k++) x[R * W + k] = 3e15;
      const [tx, ty] = [ctx.upload(x, [x.length]), ctx.upload(y, [y.length])];
      const o1 = ctx.tensor([n * W]);
      rowsSumSq(ctx, tx, o1, n, R, W, 0.5);
      // A sum of R non-negative f32 squares: R + 1 roundings at most.
      expectClose(await read(ctx, o1), ref.rowsSumSqRef(x, n, R, W, 0.5), (R + 2) * U, 0, `rows_sumsq ${n}x${R}x${W}`);
      const o2 = ctx.tensor([n]);
      rowsDot(ctx, tx, ty, o2, n, R, W, 2);
      // Signed terms: the error is relative to the sum of |terms|, not to the (cancelling) sum.
      const absSum = ref.rowsDotRef(x.map(Math.abs), y.map(Math.abs), n, R, W, 2);
      const got = await read(ctx, o2);
      const want = ref.rowsDotRef(x, y, n, R, W, 2);
      for (let i = 0; i < n; i++) expect(Math.abs(got[i] - want[i]), `rows_dot ${i}`).toBeLessThanOrEqual((R * W + 2) * U * absSum[i]);
      expect(got[0]).toBe(0); // the zero example
      for (const t of [tx, ty, o1, o2]) t.destroy();
    }
    expect(ctx.liveTensors).toBe(live);
  });

  it('cols_sumsq: beta = 0 overwrites whatever out holds (NaN included), beta = 1 accumulates', async () => {
    const ctx = await gpuContext();
    const live = ctx.liveTensors;
    const B = 9;
    const W = 300;
    const x = wideRange(B * W, 7);
    const tx = ctx.upload(x, [x.length]);
    const out = ctx.upload(new Float32Array(W).fill(NaN), [W]);
    colsSumSq(ctx, tx, out, B, W, 0.25, 0);
    const want = new Float64Array(W).fill(NaN);
    ref.colsSumSqRef(x, want, B, W, 0.25, 0);
    expectClose(await read(ctx, out), want, (B + 2) * U, 0, 'beta = 0');
    expect(want.every(Number.isFinite)).toBe(true);
    // Second chunk accumulated on top of the first, as the conv EKFAC diagonal does.
    const x2 = wideRange(B * W, 8);
    const tx2 = ctx.upload(x2, [x2.length]);
    colsSumSq(ctx, tx2, out, B, W, 0.25, 1);
    ref.colsSumSqRef(x2, want, B, W, 0.25, 1);
    expectClose(await read(ctx, out), want, (2 * B + 4) * U, 0, 'beta = 1');
    for (const t of [tx, tx2, out]) t.destroy();
    expect(ctx.liveTensors).toBe(live);
  });

  it('square: exact to one rounding over -0, tiny, huge and 1-element inputs', async () => {
    const ctx = await gpuContext();
    const live = ctx.liveTensors;
    for (const n of [1, 255, 257, 1000]) {
      const x = wideRange(n, n);
      if (n > 1) x[1] = -0;
      const tx = ctx.upload(x, [n]);
      const out = ctx.upload(new Float32Array(n + 1).fill(-7), [n + 1]);
      square(ctx, tx, out, n);
      const got = await read(ctx, out);
      expectClose(got.subarray(0, n), ref.squareRef(x), U, 0, `square n=${n}`);
      expect(got[n]).toBe(-7); // nothing written past n
      tx.destroy();
      out.destroy();
    }
    expect(ctx.liveTensors).toBe(live);
  });
});

describe('kfac_kron.wgsl', () => {
  it('kron, scale_cols, outer_cols: products of f32 values, to one rounding', async () => {
    const ctx = await gpuContext();
    const live = ctx.liveTensors;
    for (const [p, q] of [
      [1, 1],
      [5, 7],
      [17, 16], // kron: 73984 elements, 289 workgroups
    ]) {
      const X = wideRange(p * p, p);
      const Y = f32(wideRange(q * q, q + 1).map((v) => v / 1e8)); // products stay within f32
      const Z = f32(randomArray(p * q, p + q, 1e3));
      const Yq = wideRange(q * q, q + 2);
      const [tX, tY, tZ, tYq] = [ctx.upload(X, [X.length]), ctx.upload(Y, [Y.length]), ctx.upload(Z, [Z.length]), ctx.upload(Yq, [Yq.length])];
      const K = ctx.tensor([p * q * p * q]);
      kronProduct(ctx, tX, p, tY, q, K);
      // Products below f32's normal range (1.2e-38) may be flushed to 0 (WGSL allows it): atol 1e-37.
      expectClose(await read(ctx, K), ref.kronProductRef(X, p, Y, q), U, 1e-37, `kron ${p}x${q}`);
      const S = ctx.tensor([p * q * q]);
      scaleCols(ctx, tYq, tZ, S, p, q);
      expectClose(await read(ctx, S), ref.scaleColsRef(Yq, Z, p, q), U, 1e-37, `scale_cols ${p}x${q}`);
      const O = ctx.tensor([p * p * p]);
      outerCols(ctx, tX, O, p);
      expectClose(await read(ctx, O), ref.outerColsRef(X, p), U, 1e-37, `outer_cols ${p}`);
      for (const t of [tX, tY, tZ, tYq, K, S, O]) t.destroy();
    }
    expect(ctx.liveTensors).toBe(live);
  });
});

describe('kfac_blocks.wgsl', () => {
  /** An N x N matrix of sentinels: every entry a kernel must not write keeps its value. */
  const sentinels = (N: number) => f32(Array.from({ length: N * N }, (_, i) => -1000 - i));

  it('set_block writes exactly the p x p block at (offset, offset), including the last one and p = 1', async () => {
    const ctx = await gpuContext();
    const live = ctx.liveTensors;
    for (const [p, N, offset] of [
      [1, 1, 0],
      [3, 10, 0],
      [4, 10, 6], // ends at the last row and column
      [20, 45, 13], // 400 values: two workgroups
    ]) {
      const X = wideRange(p * p, p + N);
      const tX = ctx.upload(X, [X.length]);
      const init = sentinels(N);
      const out = ctx.upload(init, [N * N]);
      setBlock(ctx, tX, p, out, N, offset);
      const want = Float64Array.from(init);
      ref.setBlockRef(X, p, want, N, offset);
      expect(Array.from(await read(ctx, out)), `set_block p=${p} N=${N} at ${offset}`).toEqual(Array.from(want));
      tX.destroy();
      out.destroy();
    }
    const t = ctx.tensor([4]);
    const o = ctx.tensor([9]);
    expect(() => setBlock(ctx, t, 2, o, 3, 2)).toThrow(/overflows 3x3/);
    t.destroy();
    o.destroy();
    expect(ctx.liveTensors).toBe(live);
  });

  it('diag_embed writes p diagonal entries from (offset, offset); diag reads a diagonal into out[offset ..]', async () => {
    const ctx = await gpuContext();
    const live = ctx.liveTensors;
    for (const [p, N, offset] of [
      [1, 1, 0],
      [5, 9, 4],
      [300, 310, 7], // 300 values: two workgroups
    ]) {
      const x = wideRange(p, p);
      const tx = ctx.upload(x, [p]);
      const init = sentinels(N);
      const out = ctx.upload(init, [N * N]);
      diagEmbed(ctx, tx, p, out, N, offset);
      const want = Float64Array.from(init);
      ref.diagEmbedRef(x, p, want, N, offset);
      expect(Array.from(await read(ctx, out)), `diag_embed p=${p} N=${N} at ${offset}`).toEqual(Array.from(want));
      // diag of a p x p matrix into a longer vector at an offset; the rest keeps its values.
      const X = wideRange(p * p, p + 1);
      const tX = ctx.upload(X, [X.length]);
      const initD = f32(Array.from({ length: p + offset + 2 }, (_, i) => -i - 0.5));
      const d = ctx.upload(initD, [initD.length]);
      diagonal(ctx, tX, d, p, offset);
      const wantD = Float64Array.from(initD);
      ref.diagonalRef(X, p, wantD, offset);
      expect(Array.from(await read(ctx, d)), `diag p=${p} at ${offset}`).toEqual(Array.from(wantD));
      for (const t of [tx, out, tX, d]) t.destroy();
    }
    expect(ctx.liveTensors).toBe(live);
  });
});

describe('kfac_damping.wgsl', () => {
  it('kfac_inv: clamped negative eigenvalues, zero traces, ill-conditioned spectra, tiny and large damping', async () => {
    const ctx = await gpuContext();
    const live = ctx.liveTensors;
    const cases: [string, number[], number[], number][] = [
      ['negative eigenvalues (clamped)', [-1e-9, 0.5, 2], [-0.05, 0, 0.1, 3, 4], 1e-2],
      ['zero traces (pi = 1)', [0, 0, 0], [0, 0, 0, 0], 4],
      ['one zero trace', [0, -1e-12], [1, 2, 3], 1e-3],
      ['ill-conditioned', Array.from({ length: 40 }, (_, i) => 10 ** (4 - (12 * i) / 39)), Array.from({ length: 23 }, (_, i) => 10 ** (2 - (10 * i) / 22)), 1e-6],
      ['large damping', [1, 2], [3], 1e6],
    ];
    for (const [what, eG, eA, damping] of cases) {
      const [G, A] = [f32(eG), f32(eA)];
      const [tG, tA] = [ctx.upload(G, [G.length]), ctx.upload(A, [A.length])];
      const out = ctx.upload(new Float32Array(G.length * A.length).fill(NaN), [G.length * A.length]);
      kfacInverseEigenvalues(ctx, tG, G.length, tA, A.length, damping, out);
      // Traces of up to 40 terms, a sqrt, two sums, a product and a division in f32.
      expectClose(await read(ctx, out), ref.kfacInverseEigenvaluesRef(G, G.length, A, A.length, damping), 1e-5, 0, what);
      for (const t of [tG, tA, out]) t.destroy();
    }
    expect(ctx.liveTensors).toBe(live);
  });

  it('inv_damped clamps negatives to 0; div_damped divides by d + damping; both over several workgroups', async () => {
    const ctx = await gpuContext();
    const live = ctx.liveTensors;
    const n = 700;
    const d = f32(Array.from({ length: n }, (_, i) => (i % 5 === 0 ? -1e-7 * i : i % 7 === 0 ? 0 : Math.abs(wideRange(1, i)[0]))));
    const v = wideRange(n, 3);
    const [td, tv] = [ctx.upload(d, [n]), ctx.upload(v, [n])];
    for (const damping of [1e-8, 1e-3, 10]) {
      const o = ctx.tensor([n]);
      invDamped(ctx, td, damping, o);
      expectClose(await read(ctx, o), ref.invDampedRef(d, damping), 3 * U, 0, `inv_damped ${damping}`);
      // div_damped's divisor is not clamped: keep it positive.
      const dp = d.map(Math.abs);
      const tdp = ctx.upload(dp, [n]);
      divDamped(ctx, tdp, tv, damping, o);
      expectClose(await read(ctx, o), ref.divDampedRef(dp, v, damping), 3 * U, 0, `div_damped ${damping}`);
      o.destroy();
      tdp.destroy();
    }
    td.destroy();
    tv.destroy();
    expect(ctx.liveTensors).toBe(live);
  });
});

describe('metric.wgsl', () => {
  it('ce_metric_mv: (diag p - p p^T) v with huge, equal and one-class logits', async () => {
    const ctx = await gpuContext();
    const live = ctx.liveTensors;
    for (const [n, c] of [
      [2, 4],
      [300, 3], // two workgroups
      [7, 1], // one class: p = 1, the metric is 0
      [5, 10],
    ]) {
      const logits = f32(randomArray(n * c, n + c, 5));
      if (c === 4) logits.set([1e4, 1e4 - 1, -1e4, 3], 0); // stabilized by the max
      if (n > 2 && c > 1) for (let k = 0; k < c; k++) logits[c + k] = 2.5; // equal logits
      const v = f32(randomArray(n * c, n * c, 2));
      const [tl, tv] = [ctx.upload(logits, [logits.length]), ctx.upload(v, [v.length])];
      const o = ctx.tensor([n * c]);
      crossEntropyMetricMv(ctx, tl, tv, o, n, c, 0.5);
      const got = await read(ctx, o);
      const want = ref.crossEntropyMetricMvRef(logits, v, n, c, 0.5);
      // Absolute error relative to scale * max|v| (terms cancel): exp's error is a few ulp.
      expectClose(got, want, 0, 2e-6 * 0.5 * 2, `ce_metric_mv n=${n} c=${c}`);
      if (c === 1) expect(Array.from(got).every((g) => g === 0)).toBe(true);
      for (const t of [tl, tv, o]) t.destroy();
    }
    expect(ctx.liveTensors).toBe(live);
  });
});
