/**
 * Training throughput (issue 10): the Lazy vs Hasty toy of examples/lazy-vs-hasty-alpha1.json
 * (disk, MLP 2-60-60-60-2 relu, n = 100 with 400 test points, softmax cross-entropy, full-batch GD
 * lr 0.5), trained by
 *   - the fused path (src/nn/fused-mlp.ts) and the general path (src/nn/gpu-model.ts) of the
 *     Trainer, actual + linearized: the steps alone, and a session with losses, accuracy and the
 *     function-space gap on both splits every 10 steps;
 *   - TF.js WebGPU (tfjs-core + tfjs-backend-webgpu, same adapter, same process): the same
 *     network, actual model only, `tf.train.sgd`, the training loss read every 10 steps; and our
 *     fused path in the same configuration (actual only, training loss read every 10 steps);
 *   - the float64 CPU engine (src/dynamics/cpu-backend.ts), the same session;
 * plus dispatches per step, also for a 2-256-256-256-2 MLP. Contenders run in interleaved rounds
 * (median per contender), so load from other processes on a shared machine hits all alike.
 * Targets: fused session >= 5x TF.js, >= 300 steps/s, >= 3x the float64 engine, <= 8 dispatches
 * per step for MLPs up to width 256.
 */
import type * as TF from '@tensorflow/tfjs-core';
import type { GpuContext } from '../src/gpu/context';
import { validateSpec } from '../src/api/validate';
import { planOf } from '../src/model/layout';
import { Trainer } from '../src/dynamics/trainer';
import { createSession } from '../src/api/session/session';
import { createCpuSession } from '../src/api/session/cpu-session';
import type { SessionOptions } from '../src/api/session-types';
import type { ResolvedSpec } from '../src/experiment/types';
import { argNumber, median, tfjsWebGpu } from './util';

function toySpec(width = 60, steps = 1_000_000): ResolvedSpec {
  return validateSpec({
    model: {
      input: [2],
      layers: [
        { type: 'dense', units: width, activation: 'relu' },
        { type: 'dense', units: width, activation: 'relu' },
        { type: 'dense', units: width, activation: 'relu' },
        { type: 'dense', units: 2, activation: 'linear' },
      ],
    },
    init: { seed: 0, scheme: 'standard' },
    loss: 'cross_entropy',
    data: { dataset: 'disk', n: 100, n_test: 400, seed: 0 },
    train: { optimizer: 'gd', lr: 0.5, steps, alpha: 1 },
  });
}

/** Metrics every 10 steps: losses, accuracy, gap (no kernel probes, grids or closed form). */
const EVENTS: SessionOptions = { metricsEvery: 10, kernelEvery: 0, gridEvery: 0, closedForm: false };

interface Contender {
  name: string;
  /** Steps per timed run. */
  steps: number;
  setup(): Promise<void>;
  /** Run `steps` steps; resolves when the results are back on the host. */
  run(steps: number): Promise<void>;
  dispose(): void;
  /** Final training loss of the actual model (a sanity check that everyone trains the same thing). */
  loss?(): Promise<number>;
}

/** Trainer steps only (one submission per call), both models or the actual model alone. */
function trainerSteps(ctx: GpuContext, spec: ResolvedSpec, path: 'auto' | 'general', name: string, steps: number, dispatches: Record<string, number>): Contender {
  let tr: Trainer;
  return {
    name,
    steps,
    async setup() {
      tr = new Trainer(ctx, spec, planOf(spec), true, {}, { path });
      for (let i = 0; i < 3; i++) {
        await tr.advance(20);
        await ctx.sync();
      }
      const d0 = ctx.dispatchCount;
      await tr.advance(10);
      dispatches[name] = (ctx.dispatchCount - d0) / 10;
      await ctx.sync();
    },
    async run(k) {
      await tr.advance(k);
      await ctx.sync();
    },
    dispose: () => tr.dispose(),
    loss: async () => (await tr.evaluate('actual', 'train')).loss,
  };
}

/** The actual model alone, its training loss read every 10 steps (TF.js's configuration). */
function actualWithLoss(ctx: GpuContext, spec: ResolvedSpec, name: string, steps: number): Contender {
  let tr: Trainer;
  return {
    name,
    steps,
    async setup() {
      tr = new Trainer(ctx, spec, planOf(spec), false);
      for (let i = 0; i < 3; i++) {
        await tr.advance(10);
        await tr.evaluate('actual', 'train');
      }
    },
    async run(k) {
      for (let s = 0; s < k; s += 10) {
        await tr.advance(Math.min(10, k - s));
        await tr.evaluate('actual', 'train');
      }
    },
    dispose: () => tr.dispose(),
    loss: async () => (await tr.evaluate('actual', 'train')).loss,
  };
}

function sessionContender(name: string, steps: number, make: () => ReturnType<typeof createSession>, counter?: { ctx: GpuContext; dispatches: Record<string, number> }): Contender {
  let s: Awaited<ReturnType<typeof createSession>>;
  let last = NaN;
  return {
    name,
    steps,
    async setup() {
      s = await make();
      await s.advance(30);
      if (counter) {
        const d0 = counter.ctx.dispatchCount;
        await s.advance(100);
        counter.dispatches[name] = (counter.ctx.dispatchCount - d0) / 100;
      }
    },
    async run(k) {
      const ev = await s.advance(k);
      last = ev[ev.length - 1].actual.loss;
    },
    dispose: () => s.dispose(),
    loss: async () => last,
  };
}

/** TF.js WebGPU: the same network and initialization, actual model only, tf.train.sgd. */
function tfjsContender(spec: ResolvedSpec, steps: number): Contender & { adapter?: string } {
  let tf: typeof TF;
  let vars: TF.Variable[] = [];
  let x: TF.Tensor2D;
  let y: TF.Tensor2D;
  let opt: TF.SGDOptimizer;
  let sync: () => Promise<void>;
  let last = NaN;
  const plan = planOf(spec);
  const c: Contender & { adapter?: string } = {
    name: 'TF.js WebGPU, actual only, loss read every 10 steps',
    steps,
    async setup() {
      const t = await tfjsWebGpu();
      tf = t.tf;
      sync = t.sync;
      c.adapter = t.adapter;
      vars = [];
      for (const l of plan.paramLayers) {
        const m = l.fanIn + 1;
        const W = new Float32Array(l.out * l.fanIn);
        const b = new Float32Array(l.out);
        for (let o = 0; o < l.out; o++) {
          for (let a = 0; a < l.fanIn; a++) W[o * l.fanIn + a] = spec.theta[l.offset + o * m + a];
          b[o] = spec.theta[l.offset + o * m + l.fanIn];
        }
        vars.push(tf.variable(tf.tensor2d(W, [l.out, l.fanIn]), true), tf.variable(tf.tensor1d(b), true));
      }
      x = tf.tensor2d(Float32Array.from(spec.data.x), [spec.data.n, plan.inputSize]);
      y = tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(Int32Array.from(spec.data.labels!), 'int32'), plan.c), 'float32') as TF.Tensor2D);
      opt = tf.train.sgd(spec.train!.lr);
      await c.run(20);
    },
    async run(k) {
      const layers = plan.paramLayers;
      const f = () =>
        tf.losses.softmaxCrossEntropy(
          y,
          layers.reduce<TF.Tensor2D>((h, l, i) => {
            const s = tf.add(tf.matMul(h, vars[2 * i] as TF.Tensor2D, false, true), vars[2 * i + 1]) as TF.Tensor2D;
            return l.activation === 'relu' ? tf.relu(s) : s;
          }, x),
        ) as TF.Scalar;
      for (let s = 0; s < k; s++) {
        const read = s % 10 === 9 || s === k - 1;
        const cost = opt.minimize(f, read, vars);
        if (cost) {
          last = (await cost.data())[0];
          cost.dispose();
        }
      }
      await sync();
    },
    dispose() {
      tf.dispose([...vars, x, y]);
      opt.dispose();
    },
    loss: async () => last,
  };
  return c;
}

export async function benchTraining(ctx: GpuContext, args: string[]): Promise<string[]> {
  const quick = args.includes('--quick');
  const rounds = argNumber(args, '--rounds', quick ? 1 : 3);
  const scale = quick ? 0.25 : 1;
  const spec = toySpec();
  const dispatches: Record<string, number> = {};
  const contenders: Contender[] = [
    trainerSteps(ctx, spec, 'auto', 'fused path, steps only (actual + linearized)', Math.round(2000 * scale), dispatches),
    trainerSteps(ctx, spec, 'general', 'general path, steps only (actual + linearized)', Math.round(400 * scale), dispatches),
    sessionContender('fused path, session, metrics every 10 steps', Math.round(2000 * scale), () => createSession(ctx, spec, EVENTS), { ctx, dispatches }),
    sessionContender('general path, session, metrics every 10 steps', Math.round(400 * scale), () => createSession(ctx, spec, { ...EVENTS, trainingPath: 'general' }), { ctx, dispatches }),
    sessionContender('float64 CPU engine, session, metrics every 10 steps', Math.round(400 * scale), () => createCpuSession(spec, EVENTS)),
    actualWithLoss(ctx, spec, 'fused path, actual only, loss read every 10 steps', Math.round(2000 * scale)),
    tfjsContender(spec, Math.round(300 * scale)),
  ];
  for (const c of contenders) await c.setup();
  const rates: number[][] = contenders.map(() => []);
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < contenders.length; i++) {
      const t0 = performance.now();
      await contenders[i].run(contenders[i].steps);
      rates[i].push(contenders[i].steps / ((performance.now() - t0) / 1000));
    }
  }
  // Steps each contender has trained in all (its loss below is after that many steps).
  const trained = contenders.map((c) => rounds * c.steps);
  const rate = rates.map(median);
  const lines: string[] = [];
  const tf = contenders[contenders.length - 1] as ReturnType<typeof tfjsContender>;
  lines.push(`Lazy vs Hasty toy: MLP 2-60-60-60-2 relu, n = 100 (400 test), cross-entropy, full-batch GD lr 0.5; median of ${rounds} interleaved round(s)`);
  lines.push(`TF.js adapter: ${tf.adapter}`);
  for (let i = 0; i < contenders.length; i++) {
    const c = contenders[i];
    const d = dispatches[c.name] !== undefined ? `, ${dispatches[c.name].toFixed(1)} dispatches/step` : '';
    const loss = c.loss ? await c.loss() : NaN;
    lines.push(`${c.name.padEnd(56)} ${rate[i].toFixed(0).padStart(5)} steps/s${d}   (training loss ${loss.toExponential(2)} after ${trained[i]} timed steps)`);
  }
  for (const c of contenders) c.dispose();

  // Dispatches per step at width 256 (2-256-256-256-2, actual + linearized).
  const wide = toySpec(256);
  const wideSteps = trainerSteps(ctx, wide, 'auto', 'fused path, 2-256-256-256-2, steps only', Math.round(300 * scale), dispatches);
  await wideSteps.setup();
  const t0 = performance.now();
  await wideSteps.run(wideSteps.steps);
  const wideRate = wideSteps.steps / ((performance.now() - t0) / 1000);
  wideSteps.dispose();
  lines.push(`${wideSteps.name.padEnd(56)} ${wideRate.toFixed(0).padStart(5)} steps/s, ${dispatches[wideSteps.name].toFixed(1)} dispatches/step`);

  const [fusedSteps, , fusedSession, generalSession, cpuSession, fusedActual, tfjs] = rate;
  const ok = (b: boolean) => (b ? 'met' : 'NOT met');
  const maxDispatches = Math.max(dispatches[contenders[0].name], dispatches[wideSteps.name]);
  lines.push(
    `targets: fused session ${fusedSession.toFixed(0)} steps/s >= 300: ${ok(fusedSession >= 300)}; ` +
      `vs TF.js ${(fusedSession / tfjs).toFixed(1)}x >= 5x: ${ok(fusedSession / tfjs >= 5)} (actual only vs actual only: ${(fusedActual / tfjs).toFixed(1)}x); ` +
      `vs float64 engine ${(fusedSession / cpuSession).toFixed(1)}x >= 3x: ${ok(fusedSession / cpuSession >= 3)}; ` +
      `${maxDispatches.toFixed(1)} dispatches/step <= 8: ${ok(maxDispatches <= 8)}`,
  );
  lines.push(`summary: fused ${fusedSession.toFixed(0)} steps/s with metrics every 10 steps (${(fusedSession / generalSession).toFixed(1)}x the general path), ${fusedSteps.toFixed(0)} steps/s steps only`);
  return lines;
}
