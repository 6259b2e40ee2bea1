/**
 * The fused MLP training path (src/nn/fused-mlp.ts, shaders/fused_mlp_*.wgsl) against the general
 * path and the float64 CPU engine: randomized trajectories of both models over 100 steps (depths
 * 1-4, widths 1-256 including non-multiples of the tile, c = 1..10, mse and cross-entropy,
 * alpha = 1 and != 1, GD / SGD / momentum / weight decay, both parameterizations, a leading
 * flatten), the other workgroup shapes of the kernels, and the fallback to the general path with
 * its reason when a model or device does not fit.
 */
import { describe, expect, it } from 'vitest';
import { gpuContext } from './helpers/gpu';
import { normalizedMaxError } from './helpers/random';
import { validateSpec } from '../src/api/validate';
import { planOf } from '../src/model/layout';
import { Trainer, type TrainerOptions } from '../src/dynamics/trainer';
import { CpuBackend } from '../src/dynamics/cpu-backend';
import { createSession } from '../src/api/session/session';
import { runExperiment } from '../src/api/runner';
import { fusedMlpSupport, fusedVariantFor, type FusedVariant } from '../src/nn/fused-mlp';
import type { GpuContext } from '../src/gpu/context';
import type { ResolvedSpec } from '../src/experiment/types';
import { Rng } from '../src/util/rng';

type Act = 'linear' | 'tanh' | 'relu' | 'sigmoid';

interface Case {
  name: string;
  input: number[];
  hidden: { units: number; act: Act }[];
  lastAct?: Act;
  c: number;
  loss: 'mse' | 'cross_entropy';
  n: number;
  train: Record<string, unknown>;
  parameterization?: 'standard' | 'ntk';
  flatten?: boolean;
  /** Also compare with the float64 CPU engine (small models). */
  f64?: boolean;
}

function makeSpec(cs: Case, seed: number): ResolvedSpec {
  const rng = new Rng(seed);
  const inSize = cs.input.reduce((a, b) => a * b, 1);
  const row = () => Array.from({ length: inSize }, () => rng.normal());
  const shaped = (v: number[]): unknown => {
    if (cs.input.length === 1) return v;
    const [C, H, W] = cs.input;
    return Array.from({ length: C }, (_, ch) => Array.from({ length: H }, (_, y) => v.slice((ch * H + y) * W, (ch * H + y + 1) * W)));
  };
  const x = Array.from({ length: cs.n }, () => shaped(row()));
  const nTest = 7;
  const xt = Array.from({ length: nTest }, () => shaped(row()));
  const y = cs.loss === 'mse' ? x.map(() => Array.from({ length: cs.c }, () => rng.normal())) : x.map((_, i) => (i * 3 + 1) % cs.c);
  const yt = cs.loss === 'mse' ? xt.map(() => Array.from({ length: cs.c }, () => rng.normal())) : xt.map((_, i) => i % cs.c);
  const layers: Record<string, unknown>[] = [];
  if (cs.flatten) layers.push({ type: 'flatten' });
  for (const h of cs.hidden) layers.push({ type: 'dense', units: h.units, activation: h.act });
  layers.push({ type: 'dense', units: cs.c, activation: cs.lastAct ?? 'linear' });
  return validateSpec({
    model: { input: cs.input, layers, ...(cs.parameterization ? { parameterization: cs.parameterization } : {}) },
    init: { seed, scheme: cs.parameterization === 'ntk' ? 'ntk' : 'standard', gain: 1.2 },
    loss: cs.loss,
    data: { x, y, x_test: xt, y_test: yt },
    train: { steps: 100, ...cs.train },
  });
}

const CASES: Case[] = [
  { name: 'depth 1 (linear model), mse, c = 3, GD', input: [5], hidden: [], c: 3, loss: 'mse', n: 12, train: { optimizer: 'gd', lr: 0.1, alpha: 1 }, f64: true },
  { name: 'depth 2, width 1, cross-entropy c = 2, GD', input: [3], hidden: [{ units: 1, act: 'tanh' }], c: 2, loss: 'cross_entropy', n: 17, train: { optimizer: 'gd', lr: 0.5, alpha: 1 }, f64: true },
  {
    name: 'depth 2, width 7, mse c = 1, alpha 10, SGD with a short last batch',
    input: [4],
    hidden: [{ units: 7, act: 'sigmoid' }],
    c: 1,
    loss: 'mse',
    n: 30,
    train: { optimizer: 'sgd', batch_size: 8, lr: 0.05, alpha: 10, seed: 5 },
    f64: true,
  },
  {
    name: 'depth 3, widths 13 / 29, cross-entropy c = 10, momentum',
    input: [6],
    hidden: [{ units: 13, act: 'relu' }, { units: 29, act: 'tanh' }],
    c: 10,
    loss: 'cross_entropy',
    n: 33,
    train: { optimizer: 'sgd', batch_size: 33, momentum: 0.9, lr: 0.05, alpha: 1 },
    f64: true,
  },
  {
    name: 'depth 4, widths 60 / 61 / 33, mse c = 4, alpha 0.5, SGD + momentum + weight decay',
    input: [2],
    hidden: [{ units: 60, act: 'relu' }, { units: 61, act: 'relu' }, { units: 33, act: 'tanh' }],
    c: 4,
    loss: 'mse',
    n: 40,
    train: { optimizer: 'sgd', batch_size: 16, momentum: 0.5, weight_decay: 1e-3, lr: 0.02, alpha: 0.5, seed: 11 },
  },
  {
    name: 'depth 3, widths 100 / 129, cross-entropy c = 5, alpha 3, GD + weight decay',
    input: [8],
    hidden: [{ units: 100, act: 'tanh' }, { units: 129, act: 'relu' }],
    c: 5,
    loss: 'cross_entropy',
    n: 25,
    train: { optimizer: 'gd', lr: 0.2, alpha: 3, weight_decay: 1e-2 },
  },
  {
    name: 'depth 2, width 256, mse c = 2, SGD + momentum, sigmoid output',
    input: [3],
    hidden: [{ units: 256, act: 'relu' }],
    lastAct: 'sigmoid',
    c: 2,
    loss: 'mse',
    n: 48,
    train: { optimizer: 'sgd', batch_size: 20, momentum: 0.9, lr: 0.1, alpha: 1, seed: 3 },
  },
  {
    name: 'NTK parameterization, depth 4, widths 17 / 9 / 250, cross-entropy c = 3, alpha 100',
    input: [5],
    hidden: [{ units: 17, act: 'sigmoid' }, { units: 9, act: 'tanh' }, { units: 250, act: 'relu' }],
    c: 3,
    loss: 'cross_entropy',
    n: 21,
    parameterization: 'ntk',
    train: { optimizer: 'gd', lr: 1, alpha: 100 },
  },
  {
    name: 'leading flatten of a 1 x 3 x 3 input, mse c = 6, alpha 2, GD',
    input: [1, 3, 3],
    flatten: true,
    hidden: [{ units: 24, act: 'tanh' }],
    c: 6,
    loss: 'mse',
    n: 19,
    train: { optimizer: 'gd', lr: 0.05, alpha: 2 },
    f64: true,
  },
];

interface Run {
  delta: Record<'actual' | 'linearized', Float32Array>;
  loss: Record<'actual' | 'linearized', number[]>;
  outputs: Record<'actual' | 'linearized', ArrayLike<number>>;
}

/** 100 steps in uneven chunks (several submissions, batches spanning them), losses at each. */
async function trainGpu(ctx: GpuContext, spec: ResolvedSpec, options: TrainerOptions): Promise<Run & { path: string }> {
  const tr = new Trainer(ctx, spec, planOf(spec), true, {}, options);
  const loss: Run['loss'] = { actual: [], linearized: [] };
  try {
    for (const k of [1, 36, 63]) {
      await tr.advance(k);
      const snap = await tr.snapshot();
      expect(snap.divergence).toBeNull();
      loss.actual.push(snap.actual.train.loss);
      loss.linearized.push(snap.linearized!.train.loss);
    }
    const snap = await tr.snapshot();
    const [da, dl] = await ctx.readMany([{ tensor: tr.delta('actual') }, { tensor: tr.delta('linearized') }]);
    return {
      path: tr.path.kind,
      delta: { actual: da, linearized: dl },
      loss,
      outputs: { actual: snap.actual.test!.outputs, linearized: snap.linearized!.test!.outputs },
    };
  } finally {
    tr.dispose();
  }
}

async function trainF64(spec: ResolvedSpec): Promise<Run> {
  const cpu = new CpuBackend(spec, true, 4);
  const loss: Run['loss'] = { actual: [], linearized: [] };
  for (const k of [1, 36, 63]) {
    await cpu.advance(k);
    const snap = await cpu.snapshot();
    loss.actual.push(snap.actual.train.loss);
    loss.linearized.push(snap.linearized!.train.loss);
  }
  const snap = await cpu.snapshot();
  const theta0 = spec.theta;
  const delta = (t: Float64Array) => Float32Array.from(t, (v, i) => v - theta0[i]);
  return {
    delta: { actual: delta(await cpu.parameters('actual')), linearized: delta(await cpu.parameters('linearized')) },
    loss,
    outputs: { actual: snap.actual.test!.outputs, linearized: snap.linearized!.test!.outputs },
  };
}

const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-6);

/** Largest disagreement between two runs: displacements, training losses, test outputs. */
function disagreement(a: Run, b: Run): number {
  let e = 0;
  for (const kind of ['actual', 'linearized'] as const) {
    e = Math.max(e, normalizedMaxError(a.delta[kind], b.delta[kind]));
    a.loss[kind].forEach((l, i) => (e = Math.max(e, rel(l, b.loss[kind][i]))));
    e = Math.max(e, normalizedMaxError(a.outputs[kind], b.outputs[kind]));
  }
  return e;
}

describe('fused MLP training reproduces the general path and the float64 engine over 100 steps', () => {
  CASES.forEach((cs, i) => {
    it(cs.name, async () => {
      const ctx = await gpuContext();
      const live = ctx.liveTensors;
      const spec = makeSpec(cs, 100 + i);
      const fused = await trainGpu(ctx, spec, {});
      expect(fused.path).toBe('fused');
      const general = await trainGpu(ctx, spec, { path: 'general' });
      expect(general.path).toBe('general');
      // Same batches, same float32 arithmetic up to the order of a few sums: float32 agreement.
      expect(disagreement(fused, general)).toBeLessThan(2e-5);
      if (cs.f64) {
        // Against float64: the float32 trajectory's rounding, as in the fixtures' training tolerance.
        expect(disagreement(fused, await trainF64(spec))).toBeLessThan(3e-4);
      }
      expect(ctx.liveTensors).toBe(live);
      // The first test compiles the kernels of both paths: minutes on a cold, loaded CPU adapter.
    }, 600_000);
  });
});

describe('the fused kernels in every workgroup shape', () => {
  it('per-lane loads (no subgroups) and the GPU shape (64 invocations, 4 x 4 blocks) agree with the general path', async () => {
    const ctx = await gpuContext();
    const auto = fusedVariantFor(ctx);
    const variants: FusedVariant[] = [
      { ...auto, name: 'cpu, per-lane loads', wg: 8, lr: 1, te: 16, to: 8, uwg: 8, uto: 16, utk: 8, sg: 0 },
      { name: 'gpu', wg: 64, lr: 4, te: 4, to: 4, uwg: 64, uto: 4, utk: 1, sg: 0, strides: [64] },
    ];
    const spec = makeSpec(CASES[4], 7);
    const general = await trainGpu(ctx, spec, { path: 'general' });
    for (const v of variants) {
      const run = await trainGpu(ctx, spec, { fusedVariant: v });
      expect(run.path).toBe('fused');
      expect(disagreement(run, general)).toBeLessThan(2e-5);
    }
    // Two more pipeline pairs to compile: tens of seconds each on a cold, loaded CPU adapter.
  }, 600_000);
});

describe('the general path is taken, and reported, where the fused kernels do not apply', () => {
  it('a width that does not fit workgroup memory', async () => {
    const ctx = await gpuContext();
    const live = ctx.liveTensors;
    // The smallest width whose 2 activation tiles of B = 16 rows (every variant's, fusedVariantFor)
    // exceed this device's workgroup memory: 257 on lavapipe's 32768 bytes, 385 on a 49152-byte GPU.
    const limit = ctx.limits.maxComputeWorkgroupStorageSize;
    expect(fusedVariantFor(ctx).lr * fusedVariantFor(ctx).te).toBe(16);
    const units = Math.floor(limit / (2 * 16 * 4)) + 1;
    const spec = makeSpec({ name: '', input: [3], hidden: [{ units, act: 'relu' }], c: 2, loss: 'cross_entropy', n: 10, train: { optimizer: 'gd', lr: 0.1, alpha: 1 } }, 1);
    const plan = planOf(spec);
    const support = fusedMlpSupport(ctx, plan);
    expect(support.ok).toBe(false);
    const tr = new Trainer(ctx, spec, plan, true);
    expect(tr.path.kind).toBe('general');
    expect(tr.path.reason).toMatch(new RegExp(`width ${units} .*maxComputeWorkgroupStorageSize = ${limit}$`));
    await tr.advance(2);
    const snap = await tr.snapshot();
    expect(Number.isFinite(snap.actual.train.loss)).toBe(true);
    tr.dispose();
    // The session reports it, and so does the runner (as a note).
    const session = await createSession(ctx, spec, { kernelEvery: 0, gridEvery: 0 });
    expect(session.info.trainingPath).toEqual(tr.path);
    session.dispose();
    const notes: string[] = [];
    await runExperiment(ctx, { ...spec, compute: ['train'] }, { onNote: (m) => notes.push(m) });
    expect(notes).toContain(`training: general path (${tr.path.reason})`);
    expect(ctx.liveTensors).toBe(live);
  }, 300_000);

  it('conv layers, KFAC / EKFAC, and an explicit request', async () => {
    const ctx = await gpuContext();
    const live = ctx.liveTensors;
    const conv = validateSpec({
      model: { input: [1, 4, 4], layers: [{ type: 'conv2d', filters: 2, kernel: 3, activation: 'relu' }, { type: 'flatten' }, { type: 'dense', units: 2, activation: 'linear' }] },
      init: { seed: 1, scheme: 'standard' },
      loss: 'mse',
      data: { x: [[[[1, 0, 0, 1], [0, 1, 1, 0], [1, 1, 0, 0], [0, 0, 1, 1]]]], y: [[1, 0]] },
      train: { optimizer: 'gd', lr: 0.1, steps: 2, alpha: 1 },
    });
    let tr = new Trainer(ctx, conv, planOf(conv), true);
    expect(tr.path).toEqual({ kind: 'general', reason: expect.stringMatching(/layer 0 is conv2d/) });
    tr.dispose();
    const mlp = makeSpec(CASES[1], 2);
    for (const optimizer of ['kfac', 'ekfac']) {
      const spec = { ...mlp, train: { ...mlp.train!, optimizer: optimizer as 'kfac' | 'ekfac' } };
      tr = new Trainer(ctx, spec, planOf(spec), true);
      expect(tr.path.kind).toBe('general');
      expect(tr.path.reason).toMatch(new RegExp(`optimizer ${optimizer}: the natural-gradient preconditioner`));
      tr.dispose();
    }
    tr = new Trainer(ctx, mlp, planOf(mlp), true, {}, { path: 'general' });
    expect(tr.path).toEqual({ kind: 'general', reason: 'general path requested' });
    tr.dispose();
    tr = new Trainer(ctx, mlp, planOf(mlp), true);
    expect(tr.path.kind).toBe('fused');
    tr.dispose();
    expect(ctx.liveTensors).toBe(live);
  });
});
