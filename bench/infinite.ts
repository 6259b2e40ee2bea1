/**
 * Infinite-width kernels (fixture README section 13) on the GPU against the float64 CPU twin, in
 * the same run:
 *
 *  1. the CNTK of a CNN on 8x8 digits (issue 11): 1x8x8, conv 3x3 pad 1 relu, conv 3x3 pad 1 relu,
 *     avgpool 2, flatten, dense 10, on 256 training + 64 test digits: 256x256 and 64x256 NNGP and
 *     NTK, i.e. 320 self pairs and 49,280 cross pairs of 64x64-position maps;
 *  2. the quadrature path: an MLP 64-inf-inf-10 with tanh on the same digits (every activation
 *     expectation by the mapped trapezoidal rule, ~2,500 to 10,000 nodes each).
 *
 * GPU times are the median of `--reps` runs after a warm-up (pipelines compiled); the f64 twin
 * runs once. Accuracy is the README's normalized max error against the twin. `--quick` uses 64 +
 * 16 digits.
 */
import type { GpuContext } from '../src/gpu/context';
import { validateSpec } from '../src/api/validate';
import { loadImageSetFromDisk } from '../src/data/image-files';
import { infinitePlan } from '../src/model/infinite-plan';
import { infiniteKernels } from '../src/geometry/infinite-kernels';
import { infiniteKernelsRef } from '../src/reference/infinite';
import { argNumber, fmtMs, fmtRatio, median } from './util';

function digitsSpec(layers: unknown[], n: number, nTest: number) {
  return validateSpec(
    {
      model: { input: [1, 8, 8], layers, parameterization: 'ntk', sigma_w: 1.4, sigma_b: 0.1 },
      init: { seed: 0, scheme: 'ntk' },
      loss: 'cross_entropy',
      data: { dataset: 'digits', n, n_test: nTest, seed: 0 },
    },
    { imageSet: loadImageSetFromDisk },
  );
}

const CNN = [
  { type: 'conv2d', filters: 16, kernel: 3, stride: 1, padding: 1, activation: 'relu' },
  { type: 'conv2d', filters: 16, kernel: 3, stride: 1, padding: 1, activation: 'relu' },
  { type: 'avgpool2d', size: 2 },
  { type: 'flatten' },
  { type: 'dense', units: 10, activation: 'linear' },
];

const MLP_TANH = [
  { type: 'flatten' },
  { type: 'dense', units: 64, activation: 'tanh' },
  { type: 'dense', units: 64, activation: 'tanh' },
  { type: 'dense', units: 10, activation: 'linear' },
];

function normErr(a: Float64Array, b: Float64Array): number {
  let e = 0;
  let m = 0;
  for (let i = 0; i < b.length; i++) {
    e = Math.max(e, Math.abs(a[i] - b[i]));
    m = Math.max(m, Math.abs(b[i]));
  }
  return m > 0 ? e / m : e;
}

async function compare(ctx: GpuContext, name: string, layers: unknown[], n: number, nTest: number, reps: number, lines: string[]): Promise<{ gpu: number; cpu: number }> {
  const spec = digitsSpec(layers, n, nTest);
  const plan = infinitePlan(spec.model);
  const train = { x: spec.data.x, n };
  const extras = [{ x: spec.data.xTest, n: nTest }];
  // Warm-up: compile the pipelines on a small problem.
  await infiniteKernels(ctx, plan, { x: spec.data.x, n: 4 }, [{ x: spec.data.xTest, n: 2 }]);
  const times: number[] = [];
  let gpu = null as Awaited<ReturnType<typeof infiniteKernels>> | null;
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    gpu = await infiniteKernels(ctx, plan, train, extras);
    times.push(performance.now() - t0);
  }
  const tg = median(times);
  const t0 = performance.now();
  const ref = infiniteKernelsRef(plan, train, extras);
  const tc = performance.now() - t0;
  const err = Math.max(normErr(gpu!.nngp, ref.nngp), normErr(gpu!.ntk, ref.ntk), normErr(gpu!.extras[0].nngp, ref.extras[0].nngp), normErr(gpu!.extras[0].ntk, ref.extras[0].ntk));
  const pairs = n + nTest + (n * (n - 1)) / 2 + nTest * n;
  lines.push(`${name}: ${n} + ${nTest} digits, ${pairs} example pairs, maps of up to ${plan.maxPositions} positions, ${plan.maxMapFloats} floats per pair`);
  lines.push(`  GPU (median of ${reps}):  ${fmtMs(tg)}   [${times.map((t) => fmtMs(t)).join(', ')}]`);
  lines.push(`  f64 CPU twin:        ${fmtMs(tc)}`);
  lines.push(`  ratio:               ${fmtRatio(tc / tg)}   max normalized error vs f64 (nngp, ntk, test): ${err.toExponential(1)} (README tolerance 1e-4)`);
  return { gpu: tg, cpu: tc };
}

export async function benchInfinite(ctx: GpuContext, args: string[]): Promise<string[]> {
  const quick = args.includes('--quick');
  const reps = argNumber(args, '--reps', quick ? 1 : 3);
  const [n, nTest] = quick ? [64, 16] : [256, 64];
  const lines: string[] = [];
  const cnn = await compare(ctx, 'CNTK, CNN 1x8x8: conv 3x3 pad 1 relu, conv 3x3 pad 1 relu, avgpool 2, flatten, dense 10', CNN, n, nTest, reps, lines);
  const mlp = await compare(ctx, 'NNGP/NTK, MLP 64-inf-inf-10 tanh (quadrature)', MLP_TANH, n, nTest, reps, lines);
  lines.push(`summary: CNTK ${fmtMs(cnn.gpu)} on the GPU vs ${fmtMs(cnn.cpu)} f64 (${fmtRatio(cnn.cpu / cnn.gpu)}); tanh MLP ${fmtMs(mlp.gpu)} vs ${fmtMs(mlp.cpu)} (${fmtRatio(mlp.cpu / mlp.gpu)})`);
  return lines;
}
