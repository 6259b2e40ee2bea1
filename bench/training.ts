/**
 * Training throughput of the Lazy vs Hasty toy (disk, MLP 2-60-60-60-1 relu, n = 100, full-batch
 * GD, actual + linearized side by side), through Dawn, against the float64 CPU engine measured in
 * the same run. Target (training-dynamics issue): >= 200 steps/s on lavapipe with metrics every
 * 10 steps.
 */
import type { GpuContext } from '../src/gpu/context';
import { validateSpec } from '../src/api/validate';
import { planOf } from '../src/model/layout';
import { Trainer } from '../src/dynamics/trainer';
import { createSession } from '../src/api/session/session';
import { createCpuSession } from '../src/api/session/cpu-session';
import type { SessionOptions } from '../src/api/session-types';

function toySpec(steps: number) {
  return validateSpec({
    model: {
      input: [2],
      layers: [
        { type: 'dense', units: 60, activation: 'relu' },
        { type: 'dense', units: 60, activation: 'relu' },
        { type: 'dense', units: 60, activation: 'relu' },
        { type: 'dense', units: 1, activation: 'linear' },
      ],
    },
    init: { seed: 0, scheme: 'standard' },
    loss: 'mse',
    data: { dataset: 'disk', n: 100, n_test: 100, seed: 0 },
    train: { optimizer: 'gd', lr: 0.1, steps, alpha: 1 },
  });
}

export async function benchTraining(ctx: GpuContext, args: string[]): Promise<string[]> {
  const quick = args.includes('--quick');
  const steps = quick ? 200 : 1000;
  const lines: string[] = [];
  const spec = toySpec(steps);

  const trainer = new Trainer(ctx, spec, planOf(spec), true);
  await trainer.advance(5);
  await ctx.sync();
  const d0 = ctx.dispatchCount;
  let t0 = performance.now();
  await trainer.advance(steps);
  await ctx.sync();
  const pure = steps / ((performance.now() - t0) / 1000);
  const perStep = (ctx.dispatchCount - d0) / steps;
  trainer.dispose();
  lines.push(`GPU, steps only (actual + linearized):            ${pure.toFixed(0)} steps/s (${perStep.toFixed(0)} dispatches per step)`);

  const configs: [string, SessionOptions][] = [
    ['losses, accuracy, gap every 10 steps', { metricsEvery: 10, kernelEvery: 0, gridEvery: 0, closedForm: false }],
    ['+ closed form, kernel probes (100 ex.) every 10 ev.', { metricsEvery: 10, kernelEvery: 10, gridEvery: 0 }],
    ['+ 40x40 grid maps every 10 events', { metricsEvery: 10, kernelEvery: 10, gridEvery: 10, gridSize: 40 }],
  ];
  const results: Record<string, number> = {};
  for (const [name, opts] of configs) {
    for (const engine of ['GPU', 'CPU f64'] as const) {
      if (engine === 'CPU f64' && quick && name !== configs[0][0]) continue;
      const s = engine === 'GPU' ? await createSession(ctx, spec, opts) : await createCpuSession(spec, opts);
      await s.advance(10);
      const n = engine === 'GPU' ? steps : Math.min(steps, 200);
      t0 = performance.now();
      await s.advance(n);
      const rate = n / ((performance.now() - t0) / 1000);
      s.dispose();
      results[`${engine} ${name}`] = rate;
      lines.push(`${engine.padEnd(8)} session, ${name.padEnd(48)} ${rate.toFixed(0)} steps/s`);
    }
  }
  const g = results[`GPU ${configs[0][0]}`];
  const c = results[`CPU f64 ${configs[0][0]}`];
  lines.push(`summary: ${g.toFixed(0)} steps/s with metrics every 10 steps (target >= 200), ${(g / c).toFixed(1)}x the f64 CPU engine`);
  return lines;
}
