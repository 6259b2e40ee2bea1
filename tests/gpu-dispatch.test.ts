/**
 * The dispatcher and the engine configuration (src/gpu/context.ts, src/gpu/config.ts):
 * - every dispatch is checked against its kernel descriptor before anything is recorded;
 * - the 2-D workgroup grid used when a 1-D dispatch exceeds maxComputeWorkgroupsPerDimension
 *   (`grid()`): every 1-D kernel family, the eigensolver's grids and matmul's batch chunks run
 *   on a context whose per-dimension limit is capped at 4 workgroups, so that almost every
 *   dispatch is split, and are compared with their float64 definitions; then the same at the
 *   device's real limit (65535) with one 2-D fill of 16.8 M elements and a matmul batch of 131075;
 * - ContextOptions: validated before a device exists, scoped to their context.
 */
import { describe, expect, it } from 'vitest';
import { gpuContext, gpuContextWith } from './helpers/gpu';
import { f32, normalizedMaxError, randomArray } from './helpers/random';
import * as ref from '../src/reference/kernels';
import { GpuContext, grid, LimitError } from '../src/gpu/context';
import { createNodeGpu } from '../src/gpu/node';
import { activationForward, axpby, fill, AXPBY, ACT_FORWARD, FILL } from '../src/ops/elementwise';
import { avgPoolForward, im2col, swapAxes } from '../src/ops/patches';
import { identitySeeds, lossAndGrad } from '../src/ops/loss';
import { sum, sumOfSquares } from '../src/ops/reduce';
import { hadamardAccumulate } from '../src/ops/ntk';
import { denseJacobianBlock } from '../src/ops/jacobian';
import { NonFiniteWatch } from '../src/ops/update';
import { crossEntropyMetricMv, kronProduct, setBlock, square } from '../src/ops/kfac';
import { eighBatched } from '../src/ops/eigh';
import { MATMUL_VARIANTS, matmul, matmulVariantFor } from '../src/ops/matmul';
import { eighSym } from '../src/math/linalg';
import type { ConvPlan } from '../src/model/layout';
import type { Tensor } from '../src/gpu/tensor';

const U = 2 ** -24;
/** The per-dimension cap of the split-grid context. */
const CAP = 4;
const capped = () => gpuContextWith({ limits: { maxComputeWorkgroupsPerDimension: CAP } });

async function read(ctx: GpuContext, t: Tensor, count?: number): Promise<Float64Array> {
  return Float64Array.from(await ctx.read(t, 0, count));
}

describe('grid()', () => {
  it('splits a 1-D workload into an (x, y) grid that covers it within the limit', () => {
    expect(grid(0)).toEqual([0, 1, 1]);
    expect(grid(65535)).toEqual([65535, 1, 1]);
    expect(grid(65536)).toEqual([32768, 2, 1]);
    for (const [groups, max] of [
      [5, 4],
      [13, 4],
      [16, 4],
      [1_000_003, 65535],
    ]) {
      const [x, y, z] = grid(groups, max);
      expect(x * y, `${groups} in ${max}`).toBeGreaterThanOrEqual(groups);
      expect(x * (y - 1), `${groups}: no wholly idle row`).toBeLessThan(groups);
      expect(Math.max(x, y), `${groups}`).toBeLessThanOrEqual(max);
      expect(z).toBe(1);
    }
    // Beyond max^2 the grid cannot fit, and the dispatcher refuses it (see below).
    expect(grid(17, 4)[1]).toBeGreaterThan(4);
  });
});

describe('dispatch checks the call against the descriptor', () => {
  it('binding counts, uniform presence and fields, constants, destroyed tensors, grid limit', async () => {
    const ctx = await gpuContext();
    const live = ctx.liveTensors;
    const x = ctx.tensor([8]);
    const out = ctx.tensor([8]);
    const u = { n: 8, len: 1, R: 1, a: 1, b: 0 };
    const any = ctx as unknown as { dispatch: (k: unknown, a: unknown) => void };
    const before = ctx.dispatchCount;
    expect(() => any.dispatch(AXPBY, { inputs: [x, x], outputs: [out], uniforms: u, workgroups: [1] })).toThrow(/elementwise\.axpby: 2 inputs and 1 outputs given, the kernel binds 1 \(x\) and 1 \(out\)/);
    expect(() => any.dispatch(AXPBY, { inputs: [x], outputs: [], uniforms: u, workgroups: [1] })).toThrow(/0 outputs given/);
    expect(() => any.dispatch(AXPBY, { inputs: [x], outputs: [out], workgroups: [1] })).toThrow(/elementwise\.axpby: no uniform values given/);
    expect(() => any.dispatch(AXPBY, { inputs: [x], outputs: [out], uniforms: { ...u, b: undefined }, workgroups: [1] })).toThrow(/no value for b/);
    expect(() => any.dispatch(AXPBY, { inputs: [x], outputs: [out], uniforms: { ...u, c: 1 }, workgroups: [1] })).toThrow(/unknown field c/);
    expect(() => any.dispatch(FILL, { inputs: [x], outputs: [out], uniforms: u, constants: { ACT: 1 }, workgroups: [1] })).toThrow(/elementwise\.fill: unknown constant ACT \(declared: none\)/);
    expect(() => any.dispatch(ACT_FORWARD, { inputs: [x], outputs: [out], uniforms: u, constants: { ACTIVATION: 1 }, workgroups: [1] })).toThrow(/unknown constant ACTIVATION \(declared: ACT\)/);
    const max = ctx.limits.maxComputeWorkgroupsPerDimension;
    expect(() => any.dispatch(AXPBY, { inputs: [x], outputs: [out], uniforms: u, workgroups: [max + 1] })).toThrow(LimitError);
    const gone = ctx.tensor([8]);
    gone.destroy();
    expect(() => any.dispatch(AXPBY, { inputs: [gone], outputs: [out], uniforms: u, workgroups: [1] })).toThrow(/destroyed tensor/);
    expect(ctx.dispatchCount).toBe(before); // nothing was recorded
    // A well-formed call runs.
    ctx.dispatch(AXPBY, { inputs: [x], outputs: [out], uniforms: u, workgroups: [1] });
    expect(ctx.dispatchCount).toBe(before + 1);
    await ctx.sync();
    x.destroy();
    out.destroy();
    expect(ctx.liveTensors).toBe(live);
  });
});

describe(`1-D kernels on a 2-D grid (maxComputeWorkgroupsPerDimension capped at ${CAP})`, () => {
  it('the capped context plans with the cap', async () => {
    const ctx = await capped();
    expect(ctx.limits.maxComputeWorkgroupsPerDimension).toBe(CAP);
    expect((await gpuContext()).limits.maxComputeWorkgroupsPerDimension).toBeGreaterThanOrEqual(65535);
    const t = ctx.tensor([256 * 17]);
    // 17 workgroups do not fit a 4 x 4 grid: refused with the limit named, nothing recorded.
    expect(() => fill(ctx, t, 1)).toThrow(/maxComputeWorkgroupsPerDimension/);
    t.destroy();
  });

  it('elementwise, patches, pool, permute, loss, jacobian, ntk, update', async () => {
    const ctx = await capped();
    const live = ctx.liveTensors;
    // elementwise: 3001 elements = 12 workgroups of 256 on a (3, 4) grid.
    const n = 3001;
    const xs = f32(randomArray(n, 1, 4));
    const ys = f32(randomArray(n, 2));
    const [tx, ty] = [ctx.upload(xs, [n]), ctx.upload(ys, [n])];
    const ta = ctx.tensor([n]);
    activationForward(ctx, 'tanh', tx, ta);
    expect(normalizedMaxError(await read(ctx, ta), Array.from(xs, (v) => ref.actRef('tanh', v)))).toBeLessThan(2e-6);
    axpby(ctx, 2, tx, -0.5, ty);
    expect(normalizedMaxError(await read(ctx, ty), Array.from(xs, (v, i) => 2 * v - 0.5 * ys[i]))).toBeLessThan(2e-7);
    fill(ctx, ta, 3.5);
    expect((await read(ctx, ta)).every((v) => v === 3.5)).toBe(true);

    // im2col: n T m = 2 * 64 * 19 = 2432 elements, 10 workgroups.
    const g: ref.ConvGeom = { C: 2, H: 8, W: 8, k: 3, stride: 1, pad: 1, wMul: 0.5, bMul: 1 };
    const plan = { kind: 'conv2d', cin: 2, h: 8, w: 8, kernel: 3, stride: 1, padding: 1, hOut: 8, wOut: 8, fanIn: 18, positions: 64, wMul: 0.5, bMul: 1 } as ConvPlan;
    const img = f32(randomArray(2 * 2 * 64, 3));
    const timg = ctx.upload(img, [img.length]);
    const P = ctx.tensor([2 * 64 * 19]);
    im2col(ctx, plan, timg, P, 2);
    expect(Array.from(await read(ctx, P))).toEqual(Array.from(f32(ref.im2colRef(img, 2, g))));
    // Pooling: 6 x 2 x 16 x 16 images, 768 outputs (3 workgroups); permute 3001 elements.
    const pimg = f32(randomArray(6 * 2 * 256, 4));
    const tp = ctx.upload(pimg, [pimg.length]);
    const pooled = ctx.tensor([6 * 2 * 64]);
    avgPoolForward(ctx, { channels: 2, h: 16, w: 16, q: 2 }, tp, pooled, 6);
    expect(normalizedMaxError(await read(ctx, pooled), ref.avgPoolRef(pimg, 6, 2, 16, 16, 2))).toBeLessThan(1e-6);
    const tperm = ctx.tensor([n]);
    swapAxes(ctx, tx, tperm, 7, 3, 1, 142); // 2982 elements, 12 workgroups
    expect(Array.from(await read(ctx, tperm, 7 * 3 * 142))).toEqual(Array.from(ref.swapAxesRef(xs, 7, 3, 1, 142)));

    // Loss (64 invocations per workgroup): 700 examples, 11 workgroups; identity seeds of 100
    // examples, 900 values, 15 workgroups.
    const m = 700;
    const c = 3;
    const f = f32(randomArray(m * c, 5, 3));
    const yt = f32(randomArray(m * c, 6));
    const [tf, tyt] = [ctx.upload(f, [f.length]), ctx.upload(yt, [yt.length])];
    const [per, grad] = [ctx.tensor([m]), ctx.tensor([m * c])];
    lossAndGrad(ctx, 'mse', tf, tyt, per, grad, m, c, 1 / m);
    const want = ref.lossRef('mse', f, yt, m, c, 1 / m);
    expect(normalizedMaxError(await read(ctx, per), want.per)).toBeLessThan(1e-6);
    expect(normalizedMaxError(await read(ctx, grad), want.grad)).toBeLessThan(1e-6);
    const seeds = ctx.tensor([100 * c * c]);
    identitySeeds(ctx, seeds, 100, c);
    const sd = await read(ctx, seeds);
    expect(sd.every((v, e) => v === (e % c === Math.floor(e / c) % c ? 1 : 0))).toBe(true);

    // Dense Jacobian block: rows 60 x out 5 x m 11 = 3300 invocations; NTK Hadamard 60 x 60.
    const R = 3;
    const ne = 20;
    const S = f32(randomArray(ne * R * 5, 7));
    const A = f32(randomArray(ne * 11, 8));
    const [tS, tA] = [ctx.upload(S, [S.length]), ctx.upload(A, [A.length])];
    const J = ctx.tensor([ne * R * 60]);
    denseJacobianBlock(ctx, tS, tA, J, ne * R, R, 5, 11, 60, 2);
    const wantJ = new Float64Array(ne * R * 60);
    ref.denseJacobianBlockRef(S, A, wantJ, ne * R, R, 5, 11, 60, 2);
    expect(normalizedMaxError(await read(ctx, J), wantJ)).toBeLessThan(1e-6);
    const pg = f32(randomArray(ne * ne, 9));
    const sg = f32(randomArray(ne * R * ne * R, 10));
    const [tpg, tsg] = [ctx.upload(pg, [pg.length]), ctx.upload(sg, [sg.length])];
    const K = ctx.tensor([ne * R * ne * R]);
    hadamardAccumulate(ctx, tpg, tsg, K, ne, R, false);
    const wantK = new Float64Array(K.size);
    ref.hadamardAccRef(pg, sg, wantK, ne, R, false);
    expect(normalizedMaxError(await read(ctx, K), wantK)).toBeLessThan(1e-6);

    // The fused update over 3001 parameters.
    const theta0 = ctx.upload(ys, [n]);
    const delta = ctx.tensor([n]);
    const theta = ctx.tensor([n]);
    const watch = new NonFiniteWatch(ctx);
    watch.update(tx, theta0, delta, theta, 0.25, 1);
    expect(normalizedMaxError(await read(ctx, theta), Array.from(ys, (v, i) => v + Math.fround(-0.25 * xs[i])))).toBeLessThan(2e-7);
    expect(await watch.firstBadStep()).toBeNull();
    watch.destroy();
    for (const t of [tx, ty, ta, timg, P, tp, pooled, tperm, tf, tyt, per, grad, seeds, tS, tA, J, tpg, tsg, K, theta0, delta, theta]) t.destroy();
    expect(ctx.liveTensors).toBe(live);
  });

  it('reductions over 9 blocks, and the KFAC helpers', async () => {
    const ctx = await capped();
    const live = ctx.liveTensors;
    const n = 1024 * 9 - 5;
    const x = f32(randomArray(n, 11));
    const tx = ctx.upload(x, [n]);
    const s = x.reduce((a, v) => a + v, 0);
    const abs = x.reduce((a, v) => a + Math.abs(v), 0);
    expect(Math.abs((await sum(ctx, tx)) - s)).toBeLessThan(1e-6 * abs);
    expect(Math.abs((await sumOfSquares(ctx, tx)) - x.reduce((a, v) => a + v * v, 0))).toBeLessThan(1e-6 * x.reduce((a, v) => a + v * v, 0));
    const sq = ctx.tensor([4000]);
    square(ctx, tx, sq, 4000); // 16 workgroups: the full 4 x 4 grid
    expect(normalizedMaxError(await read(ctx, sq), ref.squareRef(x, 4000))).toBeLessThan(U);
    const [p, q] = [5, 7]; // kron: 1225 elements, 5 workgroups
    const X = f32(randomArray(p * p, 12));
    const Y = f32(randomArray(q * q, 13));
    const [tX, tY] = [ctx.upload(X, [X.length]), ctx.upload(Y, [Y.length])];
    const Kr = ctx.tensor([p * q * p * q]);
    kronProduct(ctx, tX, p, tY, q, Kr);
    expect(normalizedMaxError(await read(ctx, Kr), ref.kronProductRef(X, p, Y, q))).toBeLessThan(U);
    const B = f32(randomArray(40 * 40, 14)); // set_block: 1600 values, 7 workgroups
    const tB = ctx.upload(B, [B.length]);
    const big = ctx.tensor([45 * 45]);
    setBlock(ctx, tB, 40, big, 45, 3);
    const wantBig = new Float64Array(45 * 45);
    ref.setBlockRef(B, 40, wantBig, 45, 3);
    expect(Array.from(await read(ctx, big))).toEqual(Array.from(wantBig));
    const logits = f32(randomArray(1500 * 2, 15, 3)); // metric: 1500 examples, 6 workgroups
    const v = f32(randomArray(1500 * 2, 16));
    const [tl, tv] = [ctx.upload(logits, [logits.length]), ctx.upload(v, [v.length])];
    const mv = ctx.tensor([3000]);
    crossEntropyMetricMv(ctx, tl, tv, mv, 1500, 2, 1);
    expect(normalizedMaxError(await read(ctx, mv), ref.crossEntropyMetricMvRef(logits, v, 1500, 2, 1))).toBeLessThan(1e-5);
    for (const t of [tx, sq, tX, tY, Kr, tB, big, tl, tv, mv]) t.destroy();
    expect(ctx.liveTensors).toBe(live);
  });

  it('eigh: the check and one-workgroup grids over a batch of 9, the blocked path\'s grids, its batch limit', async () => {
    const ctx = await capped();
    const live = ctx.liveTensors;
    const solveAndCompare = async (n: number, batch: number, method: 'workgroup' | 'blocked') => {
      const mats = Array.from({ length: batch }, (_, b) => {
        const r = randomArray(n * n, 100 * n + b);
        return f32(Array.from({ length: n * n }, (_, e) => r[Math.floor(e / n) * n + (e % n)] + r[(e % n) * n + Math.floor(e / n)]));
      });
      const flat = new Float32Array(batch * n * n);
      mats.forEach((M, b) => flat.set(M, b * n * n));
      const tA = ctx.upload(flat, [flat.length]);
      const r = await eighBatched(ctx, tA, n, batch, { method });
      expect(r.method).toBe(method);
      expect(r.converged.every(Boolean)).toBe(true);
      const V = await ctx.read(r.vectors);
      mats.forEach((M, b) => {
        const want = eighSym(Float64Array.from(M), n).values;
        let norm2 = 0;
        for (const l of want) norm2 = Math.max(norm2, Math.abs(l));
        const fro = Math.sqrt(M.reduce((a, v) => a + v * v, 0));
        for (let i = 0; i < n; i++) expect(Math.abs(r.values[b * n + i] - want[i]), `matrix ${b}, eigenvalue ${i}`).toBeLessThanOrEqual(10 * n * U * norm2);
        // The vectors too (written through the gather's grid): ||A V - V Lambda||_F <= 10 n u ||A||_F.
        let res = 0;
        for (let i = 0; i < n; i++)
          for (let j = 0; j < n; j++) {
            let av = 0;
            for (let k = 0; k < n; k++) av += M[i * n + k] * V[b * n * n + k * n + j];
            res += (av - r.values[b * n + j] * V[b * n * n + i * n + j]) ** 2;
          }
        expect(Math.sqrt(res), `matrix ${b}: residual`).toBeLessThanOrEqual(10 * n * U * fro);
      });
      r.vectors.destroy();
      tA.destroy();
    };
    await solveAndCompare(6, 9, 'workgroup'); // check and small: 9 workgroups on a (3, 3) grid
    // n = 40 (N = 64): big_init 16 workgroups (4 x 4), big_apply 6 tiles (3 x 2), big_gather 7 (4 x 2).
    await solveAndCompare(40, 2, 'blocked');
    const t = ctx.tensor([5 * 40 * 40]);
    await expect(eighBatched(ctx, t, 40, 5, { method: 'blocked' })).rejects.toThrow(/maxComputeWorkgroupsPerDimension/);
    t.destroy();
    expect(ctx.liveTensors).toBe(live);
  });

  it('matmul: batches split into chunks of at most 4, aligned to bDiv, for both kernels', async () => {
    const ctx = await capped();
    const live = ctx.liveTensors;
    for (const variant of MATMUL_VARIANTS) {
      for (const bDiv of [1, 2, 3]) {
        const [M, N, K, batch] = [5, 9, 7, 11];
        const nB = Math.ceil(batch / bDiv);
        const A = f32(randomArray(batch * M * K, bDiv));
        const B = f32(randomArray(nB * K * N, bDiv + 10));
        const C0 = f32(randomArray(batch * M * N, bDiv + 20));
        const [ta, tb, tc] = [ctx.upload(A, [A.length]), ctx.upload(B, [B.length]), ctx.upload(C0, [C0.length])];
        const before = ctx.dispatchCount;
        matmul(ctx, { a: ta, b: tb, c: tc, M, N, K, batch, bDiv, alpha: 0.5, beta: 2, variant });
        // Chunks: 4, 4, 3 batches (bDiv 1, 2) or 3, 3, 3, 2 (bDiv 3).
        expect(ctx.dispatchCount - before, `${variant} bDiv ${bDiv}`).toBe(bDiv === 3 ? 4 : 3);
        const want = Float64Array.from(C0);
        ref.matmulRef(A, B, want, { M, N, K, batch, bDiv, alpha: 0.5, beta: 2 });
        expect(normalizedMaxError(await read(ctx, tc), want), `${variant} bDiv ${bDiv}`).toBeLessThan(1e-6);
        for (const t of [ta, tb, tc]) t.destroy();
      }
      // bDiv beyond the limit cannot be chunked (B is shared by bDiv consecutive batches): refused.
      const [t, o] = [ctx.tensor([5]), ctx.tensor([5])];
      expect(() => matmul(ctx, { a: t, b: t, c: o, M: 1, N: 1, K: 1, batch: 5, bDiv: 5, variant })).toThrow(/maxComputeWorkgroupsPerDimension/);
      t.destroy();
      o.destroy();
    }
    expect(ctx.liveTensors).toBe(live);
  });
});

describe('at the device limit (65535 workgroups per dimension)', () => {
  it('a 1-D dispatch of 65535 * 256 + 1000 elements runs on a 2-row grid and writes every element', async () => {
    const ctx = await gpuContext();
    const live = ctx.liveTensors;
    const max = ctx.limits.maxComputeWorkgroupsPerDimension;
    const n = max * 256 + 1000;
    expect(grid(Math.ceil(n / 256), max)[1]).toBe(2);
    const t = ctx.tensor([n + 3]);
    fill(ctx, t, 0.5, n);
    const got = await ctx.read(t);
    let wrong = 0;
    for (let i = 0; i < n; i++) if (got[i] !== 0.5) wrong++;
    expect(wrong).toBe(0);
    expect(Array.from(got.subarray(n))).toEqual([0, 0, 0]); // nothing past n
    t.destroy();
    expect(ctx.liveTensors).toBe(live);
  });

  it('a matmul batch of 65541 1 x 1 products (bDiv 3) is split into chunks within the limit', async () => {
    // The adapter's own variant only: 65535 workgroups of the tiled kernel take about a minute
    // on a software adapter (the other variant's chunking is tested at the capped limit above).
    const ctx = await gpuContext();
    const live = ctx.liveTensors;
    const max = ctx.limits.maxComputeWorkgroupsPerDimension;
    const bDiv = 3;
    const batch = max + 6;
    const A = f32(randomArray(batch, 30));
    const B = f32(randomArray(Math.ceil(batch / bDiv), 31));
    for (const variant of [matmulVariantFor(ctx)]) {
      const [ta, tb, tc] = [ctx.upload(A, [batch]), ctx.upload(B, [B.length]), ctx.tensor([batch])];
      const before = ctx.dispatchCount;
      matmul(ctx, { a: ta, b: tb, c: tc, M: 1, N: 1, K: 1, batch, bDiv, variant });
      // Chunks of floor(max / 3) * 3 batches: 65535 + 6 with the WebGPU default limit.
      expect(ctx.dispatchCount - before).toBe(Math.ceil(batch / (Math.floor(max / bDiv) * bDiv)));
      expect(ctx.dispatchCount - before).toBeGreaterThanOrEqual(2);
      const got = await ctx.read(tc);
      let worst = 0;
      for (let b = 0; b < batch; b++) worst = Math.max(worst, Math.abs(got[b] - A[b] * B[Math.floor(b / bDiv)]) / Math.abs(A[b] * B[Math.floor(b / bDiv)] || 1));
      expect(worst, variant).toBeLessThanOrEqual(U);
      for (const t of [ta, tb, tc]) t.destroy();
    }
    expect(ctx.liveTensors).toBe(live);
  });
});

describe('context options', () => {
  it('are validated before a device is requested, naming the option', async () => {
    const gpu = await createNodeGpu();
    await expect(GpuContext.create(gpu, { curvature: { chunkBytes: 0 } })).rejects.toThrow(/context option curvature.chunkBytes must be a positive integer, got 0/);
    await expect(GpuContext.create(gpu, { curvature: { chunkBytes: 1.5 } })).rejects.toThrow(/curvature.chunkBytes/);
    await expect(GpuContext.create(gpu, { curvature: { explicitMaxParams: -1 } })).rejects.toThrow(/curvature.explicitMaxParams must be a non-negative integer/);
    await expect(GpuContext.create(gpu, { curvature: { nope: 1 } as never })).rejects.toThrow(/unknown context option curvature.nope/);
    await expect(GpuContext.create(gpu, { limits: { maxBufferSize: 0 } })).rejects.toThrow(/limits.maxBufferSize must be a positive integer/);
    await expect(GpuContext.create(gpu, { limits: { maxTextureDimension2D: 4 } as never })).rejects.toThrow(/unknown context option limits.maxTextureDimension2D/);
    await expect(GpuContext.create(gpu, { matmul: 'fast' as never })).rejects.toThrow(/matmul must be auto, tiled or blocked/);
  });

  it('belong to their context: matmul variant, caps, curvature budgets, label', async () => {
    const a = await gpuContextWith({ matmul: 'tiled', label: 'forced tiled', limits: { maxStorageBufferBindingSize: 1 << 20 }, curvature: { explicitMaxParams: 7 } });
    const b = await gpuContext();
    expect(matmulVariantFor(a)).toBe('tiled');
    expect(a.config.label).toBe('forced tiled');
    expect(a.config.curvature.explicitMaxParams).toBe(7);
    expect(b.config.curvature.explicitMaxParams).toBe(2048);
    expect(a.limits.maxStorageBufferBindingSize).toBe(1 << 20);
    expect(b.limits.maxStorageBufferBindingSize).toBeGreaterThan(1 << 20);
    // The cap is enforced by the engine: a 2 MiB tensor is refused on `a` with the limit named.
    expect(() => a.tensor([1 << 19])).toThrow(/maxStorageBufferBindingSize/);
    expect(() => Object.assign(a.config.curvature, { chunkBytes: 1 })).toThrow(); // frozen
  });
});
