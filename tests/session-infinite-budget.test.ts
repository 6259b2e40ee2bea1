/**
 * The infinite-width network is computed once, at session creation; a spec whose analytic
 * kernels are too costly for a live session (a CNN's (n·H·W)² maps) or beyond a device limit
 * must not hang or fail the session: it runs without its third model and says why
 * (src/api/session/infinite.ts, `infiniteWork` and `INFINITE_WORK_BUDGET`).
 */
import { describe, expect, it } from 'vitest';
import { gpuContext } from './helpers/gpu';
import { validateSpec } from '../src/api/validate';
import { createSession } from '../src/api/session/session';
import { createCpuSession } from '../src/api/session/cpu-session';
import { InfiniteNetwork, INFINITE_WORK_BUDGET, infiniteWork } from '../src/api/session/infinite';
import { infinitePlan } from '../src/model/infinite-plan';
import { LimitError } from '../src/experiment/errors';
import type { DynamicsBackend } from '../src/dynamics/backend';
import type { ExperimentSpec } from '../src/experiment/types';

/** An NTK-parameterized CNN (conv 3x3 pad 1 relu, avgpool 2, dense) on n random side x side images. */
function cnnSpec(side: number, n: number, nTest = 0) {
  const img = (i: number) => [Array.from({ length: side }, (_, r) => Array.from({ length: side }, (_, c) => Math.sin(1 + i * 7 + r * side + c)))];
  return validateSpec({
    model: {
      input: [1, side, side],
      layers: [{ type: 'conv2d', filters: 2, kernel: 3, padding: 1, activation: 'relu' }, { type: 'avgpool2d', size: 2 }, { type: 'flatten' }, { type: 'dense', units: 2, activation: 'linear' }],
      parameterization: 'ntk',
    },
    init: { seed: 1, scheme: 'ntk' },
    loss: 'cross_entropy',
    data: {
      x: Array.from({ length: n }, (_, i) => img(i)),
      y: Array.from({ length: n }, (_, i) => i % 2),
      ...(nTest ? { x_test: Array.from({ length: nTest }, (_, i) => img(n + i)), y_test: Array.from({ length: nTest }, (_, i) => i % 2) } : {}),
    },
    train: { optimizer: 'gd', lr: 0.5, steps: 2 },
  } as ExperimentSpec);
}

function mlpSpec(n: number) {
  return validateSpec({
    model: { input: [2], layers: [{ type: 'dense', units: 16, activation: 'relu' }, { type: 'dense', units: 2, activation: 'linear' }], parameterization: 'ntk' },
    init: { seed: 1, scheme: 'ntk' },
    loss: 'cross_entropy',
    data: { dataset: 'moons', n, n_test: 10, seed: 1 },
    train: { optimizer: 'gd', lr: 0.5, steps: 2 },
  });
}

const opts = { metricsEvery: 1, kernelEvery: 1, gridEvery: 0, probeExamples: 8 };

describe('the infinite-width network within a work budget', () => {
  it('counts every example pair times the entries of its maps', () => {
    // 8x8 input map (C = 1), conv 8x8, pool 4x4, dense 1x1: 4096 + (4096 + 25) + (256 + 25) + (1 + 25) per pair.
    const cnn = infinitePlan(cnnSpec(8, 2).model);
    expect(infiniteWork(cnn, 10, 6)).toBe((10 + 6 + 45 + 60) * 8524);
    // An MLP on 2-D inputs: 2 + 2 x 26 per pair.
    expect(infiniteWork(infinitePlan(mlpSpec(4).model), 4, 0)).toBe((4 + 6) * 54);
  });

  it('leaves a too costly CNN out with the reason, and trains the other models (both engines)', async () => {
    const spec = cnnSpec(14, 100);
    expect(infiniteWork(infinitePlan(spec.model), 100, 0)).toBeGreaterThan(INFINITE_WORK_BUDGET);
    const ctx = await gpuContext();
    for (const session of [await createCpuSession(spec, opts), await createSession(ctx, spec, opts)]) {
      expect(session.info.infinite).toBeNull();
      expect(session.info.infiniteReason).toMatch(/^its kernels are too costly to compute live: .* above the session's budget of 2\.0e8/);
      const ev = await session.advance(2);
      expect(ev.map((e) => e.step)).toEqual([0, 1, 2]);
      for (const e of ev) {
        expect(e.infinite).toBeNull();
        expect(e.gapToInfinite).toBeNull();
        expect(e.movement!.ntkDistanceToInfinite).toBeNull();
        expect(Number.isFinite(e.actual.loss) && Number.isFinite(e.linearized!.loss)).toBe(true);
      }
      session.dispose();
    }
  });

  it('a CNN within the budget has it (both engines agree)', async () => {
    const spec = cnnSpec(6, 12, 4);
    const ctx = await gpuContext();
    const losses: number[][] = [];
    for (const session of [await createCpuSession(spec, opts), await createSession(ctx, spec, opts)]) {
      expect(session.info.infiniteReason).toBeNull();
      const ev = await session.advance(2);
      losses.push(ev.map((e) => e.infinite!.loss));
      expect(ev[0].movement!.ntkDistanceToInfinite).toBeGreaterThan(0);
      session.dispose();
    }
    losses[0].forEach((l, k) => expect(Math.abs(l - losses[1][k]) / l).toBeLessThan(1e-4));
  });

  it('turns a device limit into the reason; other failures still fail the session', async () => {
    const spec = mlpSpec(12);
    const backend = (fail: Error) => ({ infiniteKernels: () => Promise.reject(fail) }) as unknown as DynamicsBackend;
    const o = { probeExamples: 8, grid: null, topEigenvalues: 10 };
    const limit = new LimitError('maxStorageBufferBindingSize', 1 << 30, 1 << 27, "the infinite-width kernel's map of one example pair");
    const r = await InfiniteNetwork.create(backend(limit), spec, o);
    expect(r.network).toBeNull();
    expect(r.reason).toBe(`its kernels exceed a device limit: ${limit.message}`);
    await expect(InfiniteNetwork.create(backend(new Error('boom')), spec, o)).rejects.toThrow('boom');
    // A budget below the work: refused before any kernel is computed.
    const cheap = await InfiniteNetwork.create(backend(new Error('not called')), spec, { ...o, workBudget: 10 });
    expect(cheap.reason).toMatch(/too costly/);
  });
});

describe('the infinite-width network diverges on its own bound', () => {
  // A width-2 network whose empirical NTK at theta_0 has a smaller top eigenvalue than Theta:
  // its stability bound 2n/lambda_max is 1.44, Theta's 1.00, so lr = 1.2 trains the actual and
  // linearized models and diverges in function space only.
  const spec = () =>
    validateSpec({
      model: { input: [2], layers: [{ type: 'dense', units: 2, activation: 'relu' }, { type: 'dense', units: 2, activation: 'linear' }], parameterization: 'ntk' },
      init: { seed: 4, scheme: 'ntk' },
      loss: 'mse',
      data: { dataset: 'moons', n: 12, seed: 1 },
      train: { optimizer: 'gd', lr: 1.2, steps: 400 },
    });

  it('the session goes on without it and says why, with the analytic NTK bound (both engines)', async () => {
    const ctx = await gpuContext();
    const finals: number[] = [];
    for (const make of [(o: object) => createCpuSession(spec(), o), (o: object) => createSession(ctx, spec(), o)]) {
      const session = await make({ metricsEvery: 10 });
      expect(session.info.stableLr).toBeGreaterThan(1.3);
      expect(session.info.infinite).not.toBeNull();
      const ev = await session.advance(400);
      const at = ev.findIndex((e) => e.infiniteStopped);
      expect(at).toBeGreaterThan(0);
      const reason = ev[at].infiniteStopped!;
      expect(reason).toMatch(/^it diverged at step \d+ \(its training loss grew from 0\.500 to .*\): learning rate 1\.2 is above its stability bound 1\.00, 2n\/lambda_max of the analytic NTK \(the network's own at theta_0 is 1\.44\)$/);
      expect(session.info).toMatchObject({ infinite: null, infiniteReason: reason });
      // finite before, absent from then on; the finite networks train to the end
      expect(ev.slice(0, at).every((e) => e.infinite !== null && Number.isFinite(e.infinite.loss))).toBe(true);
      expect(ev.slice(at).every((e) => e.infinite === null && e.gapToInfinite === null)).toBe(true);
      expect(ev.filter((e) => e.infiniteStopped)).toHaveLength(1);
      expect(ev.at(-1)!.step).toBe(400);
      expect(ev.at(-1)!.actual.loss).toBeLessThan(ev[0].actual.loss);
      finals.push(ev.at(-1)!.actual.loss);
      session.dispose();
    }
    expect(Math.abs(finals[0] - finals[1]) / finals[0]).toBeLessThan(1e-3);
  });
});
