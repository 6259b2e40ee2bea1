/**
 * Benchmark (b) of the curvature issue: KFAC + EKFAC end to end for an MLP 64-256-256-10 under
 * cross_entropy with n = 128 (seeded random inputs and labels), on the GPU.
 *
 * Stages (each timed as the median of `--reps` runs, the GPU queue drained before the clock
 * stops):
 *   signals      forward pass + one batched backward pass of the n c = 1280 metric seeds
 *   factors      A and G of the three layers (six matmuls)
 *   eigh gpu     the six factor eigendecompositions (65, 257, 257; 256, 256, 10) by the WGSL Jacobi
 *   eigh cpu     the same in float64 on the host (read back, eighSym, upload)
 *   ekfac diag   s = diag(Q^T F Q) of the three layers from projected signals
 *   precondition one KFAC / EKFAC direction P^-1 g (4 matmuls + 1 product per layer)
 *   step k=1     a full optimizer update (signals, factors, eigh, [diag], precondition), KFAC / EKFAC
 *   step k>1     an EKFAC update between decompositions (signals, diag, precondition)
 *   kfac key     the runner's `kfac` result for this model (factors, eigh, diagonals, Frobenius
 *                errors by the Gram identities for the two 16k / 66k-parameter layers)
 *
 * Usage: `npm run bench -- kfac [--reps 5] [--n 128] [--width 256] [--quick]` (bench/main.ts);
 * --quick: one rep, width 64, float64 eigensolver only (the WGSL Jacobi takes seconds per
 * 256-factor on a software adapter), no runner key (its exact Frobenius route is ~1e10
 * multiply-adds at width 64).
 */
import type { GpuContext } from '../src/gpu/context';
import type { Tensor } from '../src/gpu/tensor';
import { GpuModel } from '../src/nn/gpu-model';
import { planModel } from '../src/model/layout';
import { lossAndGrad } from '../src/ops/loss';
import { Rng } from '../src/util/rng';
import { gammaSignals, kfacFactors, releaseFactors } from '../src/curvature/kfac';
import { kroneckerBasisDiag } from '../src/curvature/ekfac';
import { factorEigen, releaseEigen, type EigenSolver } from '../src/curvature/eigen';
import { NaturalGradient } from '../src/curvature/optimizer';
import { kfacKey } from '../src/curvature/results';
import { argNumber, fmtMs, median } from './util';

async function time(ctx: GpuContext, reps: number, fn: () => Promise<void> | void): Promise<number> {
  await fn(); // warm-up: pipelines, caches
  await ctx.sync();
  const ts: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    await fn();
    await ctx.sync();
    ts.push(performance.now() - t0);
  }
  return median(ts);
}

export async function benchKfac(ctx: GpuContext, args: string[] = []): Promise<string[]> {
  const quick = args.includes('--quick');
  const reps = argNumber(args, '--reps', quick ? 1 : 5);
  const n = argNumber(args, '--n', 128);
  const width = argNumber(args, '--width', quick ? 64 : 256);
  // The WGSL Jacobi takes seconds per factor of 256 on a software adapter: --quick skips it.
  const solvers: EigenSolver[] = quick ? ['cpu'] : ['gpu', 'cpu'];
  const summary: Record<string, number> = {};
  const plan = planModel({
    input: [64],
    layers: [
      { type: 'dense', units: width, activation: 'tanh' },
      { type: 'dense', units: width, activation: 'tanh' },
      { type: 'dense', units: 10, activation: 'linear' },
    ],
    parameterization: 'standard',
    sigmaW: 1,
    sigmaB: 1,
  });
  const rng = new Rng(7);
  const P = plan.P;
  const c = plan.c;
  const theta0 = new Float32Array(P);
  for (const l of plan.paramLayers) {
    const b = 1 / Math.sqrt(l.fanIn);
    for (let i = 0; i < l.size; i++) theta0[l.offset + i] = b * (2 * rng.uniform() - 1);
  }
  const xs = Float32Array.from({ length: n * 64 }, () => rng.uniform());
  const labels = Float32Array.from({ length: n }, () => rng.int(c));
  const model = new GpuModel(ctx, plan);
  const theta = ctx.upload(theta0, [P], 'theta');
  const x = ctx.upload(xs, [n, 64], 'x');
  const y = ctx.upload(labels, [n], 'labels');
  const grad = ctx.tensor([P], 'grad');
  const dir = ctx.tensor([P], 'dir');
  const owned: Tensor[] = [theta, x, y, grad, dir];
  const lines: string[] = [];
  const row = (what: string, v: number, note = '') => {
    summary[what] = v;
    lines.push(`${what.padEnd(34)} ${fmtMs(v).padStart(11)}${note ? `  ${note}` : ''}`);
  };
  try {
    lines.push(`KFAC/EKFAC, MLP 64-${width}-${width}-10 (P = ${P}), cross_entropy, n = ${n}, n c = ${n * c} metric rows; median of ${reps}${quick ? ' (--quick)' : ''}`);
    const state = model.forward(x, n, theta);
    // Loss gradient (for the preconditioning stages).
    const perEx = ctx.tensor([n], 'l');
    const seeds = ctx.tensor([n, c], 's');
    lossAndGrad(ctx, 'cross_entropy', state.output, y, perEx, seeds, n, c, 1 / n);
    const sg = model.backward(state, seeds, 1, theta);
    model.gradient(state, sg, grad);
    model.releaseSignals(sg);
    perEx.destroy();
    seeds.destroy();

    row('signals (forward + metric backward)', await time(ctx, reps, () => {
      const st = model.forward(x, n, theta);
      const g = gammaSignals(ctx, model, st, theta, 'cross_entropy');
      model.releaseSignals(g);
      model.releaseForward(st);
    }));
    const gamma = gammaSignals(ctx, model, state, theta, 'cross_entropy');
    row('factors A, G', await time(ctx, reps, () => releaseFactors(kfacFactors(ctx, plan.paramLayers, state, gamma))));
    const factors = kfacFactors(ctx, plan.paramLayers, state, gamma);
    const mats = factors.flatMap((f) => [
      { t: f.A, n: f.layer.fanIn + 1 },
      { t: f.G, n: f.layer.out },
    ]);
    for (const solver of solvers) {
      row(`eigh ${solver} (6 factors)`, await time(ctx, reps, async () => {
        for (const e of await factorEigen(ctx, mats, { solver })) releaseEigen(e);
      }), solver === 'gpu' ? 'float32 Jacobi (shaders/eigh.wgsl)' : 'float64 eighSym on the host, incl. readback + upload');
    }
    const eig = await factorEigen(ctx, mats, { solver: 'cpu' });
    const s = plan.paramLayers.map((l) => ctx.tensor([l.out, l.fanIn + 1], 's'));
    row('ekfac diagonal s', await time(ctx, reps, () => {
      plan.paramLayers.forEach((l, i) => kroneckerBasisDiag(ctx, l, state, gamma, eig[2 * i + 1].vectors, eig[2 * i].vectors, s[i]));
    }));
    for (const kind of ['kfac', 'ekfac'] as const) {
      for (const solver of solvers) {
        const ng = new NaturalGradient(ctx, plan, { kind, damping: 1e-3, eigEvery: 1, loss: 'cross_entropy', solver });
        await ng.update(model, state, theta);
        if (solver === 'cpu') row(`precondition (${kind})`, await time(ctx, reps, () => ng.precondition(grad, dir)));
        row(`${kind} step k=1, eigh ${solver}`, await time(ctx, reps, async () => {
          const st = model.forward(x, n, theta);
          await ng.update(model, st, theta);
          ng.precondition(grad, dir);
          model.releaseForward(st);
        }), 'forward, signals, factors, eigh' + (kind === 'ekfac' ? ', diagonal' : '') + ', precondition');
        ng.dispose();
      }
    }
    {
      const ng = new NaturalGradient(ctx, plan, { kind: 'ekfac', damping: 1e-3, eigEvery: 1_000_000, loss: 'cross_entropy' });
      await ng.update(model, state, theta);
      row('ekfac step between eighs (k>1)', await time(ctx, reps, async () => {
        const st = model.forward(x, n, theta);
        await ng.update(model, st, theta);
        ng.precondition(grad, dir);
        model.releaseForward(st);
      }), 'forward, signals, diagonal, precondition');
      ng.dispose();
    }
    if (!quick) {
      row('runner kfac key (3 layers)', await time(ctx, Math.min(reps, 3), async () => {
        await kfacKey(ctx, plan.paramLayers, state, gamma, { blockMaxParams: 150 });
      }), width === 256 ? 'layers of 16k and 66k parameters: Frobenius errors by the Gram identities (work above 1e11)' : '');
    }
    lines.push(
      `summary: KFAC step ${fmtMs(summary['kfac step k=1, eigh cpu'])}, EKFAC step ${fmtMs(summary['ekfac step k=1, eigh cpu'])} ` +
        `(${fmtMs(summary['ekfac step between eighs (k>1)'])} between eigendecompositions), float64 host eigensolver`,
    );
    for (const e of eig) releaseEigen(e);
    for (const t of s) t.destroy();
    releaseFactors(factors);
    model.releaseSignals(gamma);
    model.releaseForward(state);
  } finally {
    for (const t of owned) t.destroy();
  }
  return lines;
}

