/**
 * Every WGSL kernel family (except matmul, which has its own file) against its float64 twin in
 * src/reference/kernels.ts, on random and adversarial inputs: sizes that are not multiples of the
 * workgroup, single elements, zero rows, large and small magnitudes.
 */
import { describe, expect, it } from 'vitest';
import { gpuContext } from './helpers/gpu';
import { f32, normalizedMaxError, randomArray } from './helpers/random';
import { activationAugment, activationForward, activationGradMul, axpby, fill, mulInPlace } from '../src/ops/elementwise';
import { avgPoolBackward, avgPoolForward, col2im, im2col, swapAxes } from '../src/ops/patches';
import { crossEntropyMetricSeeds, identitySeeds, lossAndGrad } from '../src/ops/loss';
import { countNonFinite, dot, signAgreement, sum, sumOfSquares, trace } from '../src/ops/reduce';
import { centerKernel, hadamardAccumulate, patchGramAccumulate, traceOutputs } from '../src/ops/ntk';
import { denseJacobianBlock } from '../src/ops/jacobian';
import { NonFiniteWatch } from '../src/ops/update';
import * as ref from '../src/reference/kernels';
import type { ConvPlan } from '../src/model/layout';
import type { GpuContext } from '../src/gpu/context';

const ACTS: ref.ActName[] = ['linear', 'tanh', 'relu', 'sigmoid'];

/** Values spanning what activations meet: zeros, tiny, moderate, saturated, huge, both signs. */
function adversarial(): Float64Array {
  const v = [0, -0, 1e-30, -1e-30, 1e-7, -3e-6, 4e-4, 6.2e-4, -0.3, 0.624, 0.626, 1, -2.5, 9.9, 10.1, -15, 40, -88, 1e4, -1e4, 3e30];
  return f32(Float64Array.from([...v, ...randomArray(300, 11, 6)]));
}

/** Elementwise check: |x - ref| <= rtol |ref| + atol. */
function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, rtol: number, atol: number) {
  expect(got.length).toBe(want.length);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < want.length; i++) {
    const e = got[i] === want[i] ? 0 : Math.abs(got[i] - want[i]) / (rtol * Math.abs(want[i]) + atol);
    if (!(e <= worst)) {
      worst = Number.isNaN(e) ? Infinity : e;
      at = i;
    }
  }
  expect(worst, `worst at ${at}: got ${got[at]}, want ${want[at]}`).toBeLessThanOrEqual(1);
}

async function readF64(ctx: GpuContext, t: Parameters<GpuContext['read']>[0], count?: number) {
  return Float64Array.from(await ctx.read(t, 0, count));
}

describe('elementwise kernels', () => {
  for (const act of ACTS) {
    it(`${act}: forward and derivative, elementwise to a few ulp`, async () => {
      const ctx = await gpuContext();
      const s = adversarial();
      const ts = ctx.upload(s, [s.length]);
      const ta = ctx.tensor([s.length]);
      activationForward(ctx, act, ts, ta);
      // WGSL allows exp an error of 3 + 2|x| ulp, so exp-based values get a 12-ulp budget (1.5e-6).
      expectClose(await readF64(ctx, ta), Array.from(s, (x) => ref.actRef(act, x)), 1.5e-6, 1e-37);
      // Backward signals: R = 3 rows per example of len 7, for 5 examples (odd sizes).
      const n = 5;
      const len = 7;
      const R = 3;
      const pre = f32(Float64Array.from({ length: n * len }, (_, i) => s[(i * 7) % s.length]));
      const g = f32(randomArray(n * R * len, 5));
      const tpre = ctx.upload(pre, [pre.length]);
      const tg = ctx.upload(g, [g.length]);
      activationGradMul(ctx, act, tpre, tg, len, R, n);
      const want = Float64Array.from(g);
      ref.actGradMulRef(act, pre, want, len, R);
      expectClose(await readF64(ctx, tg), want, 1.5e-6, 1e-37);
      for (const t of [ts, ta, tpre, tg]) t.destroy();
    });
  }

  it('activation written into the next layer\'s augmented input', async () => {
    const ctx = await gpuContext();
    const rows = 7;
    const len = 37;
    const s = adversarial().subarray(0, rows * len);
    const ts = ctx.upload(s, [s.length]);
    const tout = ctx.tensor([rows * (len + 1)]);
    for (const act of ACTS) {
      activationAugment(ctx, act, ts, tout, rows, len, 0.3, 0.7);
      const want = new Float64Array(rows * (len + 1));
      for (let r = 0; r < rows; r++) {
        for (let j = 0; j < len; j++) want[r * (len + 1) + j] = 0.3 * ref.actRef(act, s[r * len + j]);
        want[r * (len + 1) + len] = 0.7;
      }
      expectClose(await readF64(ctx, tout), want, 1.5e-6, 1e-37);
    }
    ts.destroy();
    tout.destroy();
  });

  it('fill, axpby and mul over 1, 255, 257 and 70000 elements', async () => {
    const ctx = await gpuContext();
    for (const n of [1, 255, 257, 70_000]) {
      const x = f32(randomArray(n, n, 1e3));
      const y = f32(randomArray(n, n + 1, 1e-3));
      const tx = ctx.upload(x, [n]);
      const ty = ctx.upload(y, [n]);
      axpby(ctx, -2.5, tx, 0.5, ty);
      expectClose(await readF64(ctx, ty), Array.from(x, (v, i) => -2.5 * v + 0.5 * y[i]), 2e-7, 1e-30);
      mulInPlace(ctx, tx, ty);
      const prod = Array.from(x, (v, i) => v * Math.fround(-2.5 * v + 0.5 * y[i]));
      expectClose(await readF64(ctx, ty), prod, 3e-7, 1e-30);
      fill(ctx, ty, 7.25);
      expect([...(await ctx.read(ty))].every((v) => v === 7.25)).toBe(true);
      tx.destroy();
      ty.destroy();
    }
  });
});

describe('conv patches, col2im, pooling, permutes', () => {
  const geoms: ref.ConvGeom[] = [
    { C: 1, H: 8, W: 8, k: 3, stride: 1, pad: 1, wMul: 1, bMul: 1 },
    { C: 3, H: 7, W: 5, k: 3, stride: 2, pad: 2, wMul: 0.4, bMul: 0.1 },
    { C: 2, H: 5, W: 6, k: 5, stride: 1, pad: 0, wMul: 1, bMul: 1 },
    { C: 2, H: 4, W: 4, k: 1, stride: 3, pad: 0, wMul: 1, bMul: 1 },
    { C: 1, H: 1, W: 1, k: 1, stride: 1, pad: 0, wMul: 1, bMul: 1 },
    { C: 2, H: 3, W: 3, k: 4, stride: 1, pad: 3, wMul: 2, bMul: 1 },
  ];
  for (const g of geoms) {
    it(`im2col and col2im for C=${g.C} ${g.H}x${g.W} k=${g.k} s=${g.stride} p=${g.pad}`, async () => {
      const ctx = await gpuContext();
      const { Hout, Wout } = ref.convOut(g);
      const plan = {
        kind: 'conv2d',
        cin: g.C,
        h: g.H,
        w: g.W,
        kernel: g.k,
        stride: g.stride,
        padding: g.pad,
        hOut: Hout,
        wOut: Wout,
        fanIn: g.C * g.k * g.k,
        positions: Hout * Wout,
        wMul: g.wMul,
        bMul: g.bMul,
      } as ConvPlan;
      const n = 3;
      const x = f32(randomArray(n * g.C * g.H * g.W, 21, 1e3));
      const tx = ctx.upload(x, [x.length]);
      const P = ref.im2colRef(x, n, g);
      const tp = ctx.tensor([P.length]);
      im2col(ctx, plan, tx, tp, n);
      expectClose(await readF64(ctx, tp), P, 1e-7, 0);
      const rows = 4;
      const dP = f32(randomArray(rows * plan.positions * plan.fanIn, 22));
      const tdp = ctx.upload(dP, [dP.length]);
      const tdx = ctx.tensor([rows * g.C * g.H * g.W]);
      col2im(ctx, plan, tdp, tdx, rows);
      expect(normalizedMaxError(await ctx.read(tdx), ref.col2imRef(dP, rows, g))).toBeLessThan(1e-6);
      for (const t of [tx, tp, tdp, tdx]) t.destroy();
    });
  }

  it('average pooling forward and backward, including dropped rows and columns', async () => {
    const ctx = await gpuContext();
    for (const [C, H, W, q] of [
      [3, 8, 8, 2],
      [2, 7, 5, 2],
      [1, 6, 6, 3],
      [1, 1, 1, 1],
    ]) {
      const rows = 3;
      const x = f32(randomArray(rows * C * H * W, q + H));
      const tx = ctx.upload(x, [x.length]);
      const y = ref.avgPoolRef(x, rows, C, H, W, q);
      const ty = ctx.tensor([y.length]);
      avgPoolForward(ctx, { channels: C, h: H, w: W, q }, tx, ty, rows);
      expect(normalizedMaxError(await ctx.read(ty), y)).toBeLessThan(1e-6);
      const dy = f32(randomArray(y.length, 5));
      const tdy = ctx.upload(dy, [dy.length]);
      const tdx = ctx.tensor([x.length]);
      avgPoolBackward(ctx, { channels: C, h: H, w: W, q }, tdy, tdx, rows);
      expect(normalizedMaxError(await ctx.read(tdx), ref.avgPoolBackwardRef(dy, rows, C, H, W, q))).toBeLessThan(1e-6);
      for (const t of [tx, ty, tdy, tdx]) t.destroy();
    }
  });

  it('swaps axes of batched 3-D arrays', async () => {
    const ctx = await gpuContext();
    for (const [A, B, C, batch] of [
      [5, 3, 7, 1],
      [4, 9, 1, 6],
      [1, 1, 1, 1],
    ]) {
      const x = f32(randomArray(A * B * C * batch, A + B));
      const tx = ctx.upload(x, [x.length]);
      const ty = ctx.tensor([x.length]);
      swapAxes(ctx, tx, ty, A, B, C, batch);
      expect(Array.from(await ctx.read(ty))).toEqual(Array.from(ref.swapAxesRef(x, A, B, C, batch)));
      tx.destroy();
      ty.destroy();
    }
  });
});

describe('losses and seeds', () => {
  it('mse and softmax cross-entropy: losses and gradients, with huge and tiny logits', async () => {
    const ctx = await gpuContext();
    const n = 67;
    const c = 5;
    const f = f32(randomArray(n * c, 3, 4));
    f[0] = 80; // saturating logits: the log-sum-exp must stay finite
    f[1] = -80;
    f[5 * c + 2] = 1e-8;
    const yMse = f32(randomArray(n * c, 4));
    const labels = Float64Array.from({ length: n }, (_, i) => (i * 7) % c);
    for (const [loss, t] of [
      ['mse', yMse],
      ['cross_entropy', labels],
    ] as const) {
      const tf = ctx.upload(f, [n, c]);
      const tt = ctx.upload(t, [t.length]);
      const per = ctx.tensor([n]);
      const grad = ctx.tensor([n, c]);
      lossAndGrad(ctx, loss, tf, tt, per, grad, n, c, 1 / n);
      const want = ref.lossRef(loss, f, t, n, c, 1 / n);
      expect(normalizedMaxError(await ctx.read(per), want.per)).toBeLessThan(1e-6);
      expect(normalizedMaxError(await ctx.read(grad), want.grad)).toBeLessThan(1e-6);
      for (const x of [tf, tt, per, grad]) x.destroy();
    }
  });

  it('identity seeds and the exact square root of the softmax metric', async () => {
    const ctx = await gpuContext();
    const n = 9;
    const c = 4;
    const seeds = ctx.tensor([n * c, c]);
    identitySeeds(ctx, seeds, n, c);
    const id = await ctx.read(seeds);
    for (let r = 0; r < n * c; r++) for (let k = 0; k < c; k++) expect(id[r * c + k]).toBe(k === r % c ? 1 : 0);
    const f = f32(randomArray(n * c, 8, 3));
    const tf = ctx.upload(f, [n, c]);
    crossEntropyMetricSeeds(ctx, tf, seeds, n, c);
    const L = await ctx.read(seeds);
    expect(normalizedMaxError(L, ref.ceMetricSeedsRef(f, n, c))).toBeLessThan(1e-6);
    // L_i L_i^T = diag(p) - p p^T.
    const p = ref.lossRef('cross_entropy', f, new Float64Array(n), n, c, 1).grad.map((v, i) => v + (i % c === 0 ? 1 : 0));
    for (let i = 0; i < n; i++)
      for (let a = 0; a < c; a++)
        for (let b = 0; b < c; b++) {
          let s = 0;
          for (let r = 0; r < c; r++) s += L[(i * c + r) * c + a] * L[(i * c + r) * c + b];
          const M = (a === b ? p[i * c + a] : 0) - p[i * c + a] * p[i * c + b];
          expect(Math.abs(s - M)).toBeLessThan(1e-6);
        }
    seeds.destroy();
    tf.destroy();
  });
});

describe('reductions', () => {
  it('sum, sum of squares, dot, trace: f64-finished block sums stay accurate on large and mixed-scale inputs', async () => {
    const ctx = await gpuContext();
    for (const n of [1, 1000, 1025, 300_000]) {
      const x = f32(randomArray(n, n, 1));
      const y = f32(randomArray(n, n + 2, 1));
      if (n > 10) {
        x[3] = 1e6; // one large entry among many small ones
        x[4] = -1e6;
        y[7] = 1e-9;
      }
      const tx = ctx.upload(x, [n]);
      const ty = ctx.upload(y, [n]);
      let s = 0;
      let ss = 0;
      let d = 0;
      let sign = 0;
      for (let i = 0; i < n; i++) {
        s += x[i];
        ss += x[i] * x[i];
        d += x[i] * y[i];
        sign += x[i] > 0 === y[i] > 0 ? 1 : 0;
      }
      const abs = x.reduce((a, v) => a + Math.abs(v), 0);
      expect(Math.abs((await sum(ctx, tx)) - s)).toBeLessThan(1e-6 * abs);
      expect(Math.abs((await sumOfSquares(ctx, tx)) - ss) / ss).toBeLessThan(2e-6);
      expect(Math.abs((await dot(ctx, tx, ty)) - d)).toBeLessThan(1e-6 * ss ** 0.5 * n ** 0.5);
      expect(await signAgreement(ctx, tx, ty)).toBe(sign);
      tx.destroy();
      ty.destroy();
    }
    const N = 37;
    const A = f32(randomArray(N * N, 99));
    const tA = ctx.upload(A, [N * N]);
    let tr = 0;
    for (let i = 0; i < N; i++) tr += A[i * N + i];
    expect(Math.abs((await trace(ctx, tA, N)) - tr)).toBeLessThan(1e-5);
    tA.destroy();
  });

  it('fused parameter update: delta -= lr u, theta = theta0 + delta, first non-finite step', async () => {
    const ctx = await gpuContext();
    const n = 1000;
    const u = f32(randomArray(n, 31));
    const t0 = f32(randomArray(n, 32, 3));
    const d0 = f32(randomArray(n, 33, 0.1));
    const [tu, tt0, td] = [ctx.upload(u, [n]), ctx.upload(t0, [n]), ctx.upload(d0, [n])];
    const tth = ctx.tensor([n]);
    const watch = new NonFiniteWatch(ctx);
    watch.update(tu, tt0, td, tth, 0.25, 4);
    const d = Array.from(d0, (v, i) => Math.fround(v - Math.fround(0.25 * u[i])));
    expectClose(await readF64(ctx, td), d, 2e-7, 1e-9);
    expectClose(await readF64(ctx, tth), Array.from(t0, (v, i) => v + d[i]), 2e-7, 1e-9);
    expect(await watch.firstBadStep()).toBeNull();
    const huge = new Float32Array(n).fill(3e38);
    ctx.write(tu, huge);
    watch.update(tu, tt0, td, tth, -10, 5);
    watch.update(tu, tt0, td, tth, -10, 6);
    expect(await watch.firstBadStep()).toBe(5);
    for (const t of [tu, tt0, td, tth]) t.destroy();
    watch.destroy();
  });

  it('counts non-finite values', async () => {
    const ctx = await gpuContext();
    const x = new Float32Array(2000).fill(1);
    const tx = ctx.upload(x, [x.length]);
    expect(await countNonFinite(ctx, tx)).toBe(0);
    x[1999] = Infinity;
    x[5] = NaN;
    ctx.write(tx, x);
    expect(await countNonFinite(ctx, tx)).toBe(2);
    tx.destroy();
  });
});

describe('NTK assembly and Jacobian blocks', () => {
  it('Hadamard and patch-Gram accumulation, output trace, block centering, dense Jacobian blocks', async () => {
    const ctx = await gpuContext();
    const n = 7;
    const R = 3;
    const T = 5;
    const N = n * R;
    const pg = f32(randomArray(n * n, 1));
    const sg = f32(randomArray(N * N, 2));
    const K0 = f32(randomArray(N * N, 3));
    const tpg = ctx.upload(pg, [n * n]);
    const tsg = ctx.upload(sg, [N * N]);
    const tK = ctx.upload(K0, [N * N]);
    hadamardAccumulate(ctx, tpg, tsg, tK, n, R, true);
    const want = Float64Array.from(K0);
    ref.hadamardAccRef(pg, sg, want, n, R, true);
    expect(normalizedMaxError(await ctx.read(tK), want)).toBeLessThan(1e-6);

    const ppg = f32(randomArray((n * T) ** 2, 4));
    const psg = f32(randomArray((N * T) ** 2, 5));
    const tppg = ctx.upload(ppg, [ppg.length]);
    const tpsg = ctx.upload(psg, [psg.length]);
    patchGramAccumulate(ctx, tppg, tpsg, tK, n, R, T, false);
    const want2 = new Float64Array(N * N);
    ref.patchGramAccRef(ppg, psg, want2, n, R, T, false);
    expect(normalizedMaxError(await ctx.read(tK), want2)).toBeLessThan(1e-6);

    // Symmetric kernel for tracing and centering; a large common offset tests the cancellation.
    const B = f32(randomArray(N * 11, 6));
    const sym = new Float64Array(N * N);
    for (let a = 0; a < N; a++) for (let b = 0; b < N; b++) for (let k = 0; k < 11; k++) sym[a * N + b] += B[a * 11 + k] * B[b * 11 + k];
    const symf = f32(sym.map((v) => v + 50));
    const tS = ctx.upload(symf, [N * N]);
    const tT = ctx.tensor([n * n]);
    traceOutputs(ctx, tS, tT, n, R);
    expect(normalizedMaxError(await ctx.read(tT), ref.traceOutputsRef(symf, n, R))).toBeLessThan(1e-6);
    const tC = ctx.tensor([N * N]);
    centerKernel(ctx, tS, tC, n, R);
    // Error relative to the kernel's magnitude (50): float32 centering of a large offset.
    const wantC = ref.centerKernelRef(symf, n, R);
    const got = await ctx.read(tC);
    let err = 0;
    for (let i = 0; i < got.length; i++) err = Math.max(err, Math.abs(got[i] - wantC[i]));
    expect(err / 60).toBeLessThan(1e-6);

    const rows = n * R;
    const out = 4;
    const m = 6;
    const P = 50;
    const S = f32(randomArray(rows * out, 7));
    const A = f32(randomArray(n * m, 8));
    const tSs = ctx.upload(S, [S.length]);
    const tAa = ctx.upload(A, [A.length]);
    const tJ = ctx.tensor([rows * P]);
    denseJacobianBlock(ctx, tSs, tAa, tJ, rows, R, out, m, P, 13);
    const wantJ = new Float64Array(rows * P);
    ref.denseJacobianBlockRef(S, A, wantJ, rows, R, out, m, P, 13);
    expect(normalizedMaxError(await ctx.read(tJ), wantJ)).toBeLessThan(1e-6);
    for (const t of [tpg, tsg, tK, tppg, tpsg, tS, tT, tC, tSs, tAa, tJ]) t.destroy();
  });
});
