/**
 * The infinite-width network in training sessions (issue 11, item 3): the third model is the
 * runner's infinite-width predictor (fixture README section 13) stepped with the session's
 * batches; GPU and float64 engines agree; the NTK's distance to Theta and the decision map are
 * reported; specs without an infinite-width limit say why they have none.
 */
import { describe, expect, it } from 'vitest';
import { gpuContext } from './helpers/gpu';
import { validateSpec } from '../src/api/validate';
import { createSession } from '../src/api/session/session';
import { createCpuSession } from '../src/api/session/cpu-session';
import { infiniteReference } from '../src/reference/infinite-result';
import { infiniteKernelsRef } from '../src/reference/infinite';
import { infinitePlan } from '../src/model/infinite-plan';
import { computeReferenceResults } from '../src/reference/results';
import { ntkRelativeDistance } from '../src/math/kernel-distance';
import { BatchSchedule } from '../src/math/training';
import type { ExperimentSpec } from '../src/experiment/types';

const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-12);

function ntkSpec(train: Record<string, unknown>, over: Partial<ExperimentSpec> = {}) {
  return validateSpec({
    model: {
      input: [2],
      layers: [
        { type: 'dense', units: 64, activation: 'relu' },
        { type: 'dense', units: 64, activation: 'tanh' },
        { type: 'dense', units: 2, activation: 'linear' },
      ],
      parameterization: 'ntk',
      sigma_w: 1.3,
      sigma_b: 0.2,
    },
    init: { seed: 4, scheme: 'ntk' },
    loss: 'cross_entropy',
    data: { dataset: 'moons', n: 24, n_test: 10, seed: 2, noise: 0.1 },
    train: { optimizer: 'gd', lr: 1, steps: 30, ...train },
    ...over,
  } as ExperimentSpec);
}

describe('the infinite-width network in sessions', () => {
  it('is the runner predictor: the same train and test losses at every event (GD), on both engines', async () => {
    const ctx = await gpuContext();
    const spec = ntkSpec({ checkpoints: [0, 10, 20, 30] });
    const opts = { metricsEvery: 10, kernelEvery: 0, gridEvery: 0 };
    const ref = infiniteReference(spec) as { train: { loss: number[]; loss_test: number[] } };
    for (const session of [await createSession(ctx, spec, opts), await createCpuSession(spec, opts)]) {
      expect(session.info.infinite).not.toBeNull();
      expect(session.info.infiniteReason).toBeNull();
      const ev = await session.advance(30);
      expect(ev.map((e) => e.step)).toEqual([0, 10, 20, 30]);
      ev.forEach((e, k) => {
        expect(rel(e.infinite!.loss, ref.train.loss[k])).toBeLessThan(1e-4);
        expect(rel(e.infinite!.lossTest!, ref.train.loss_test[k])).toBeLessThan(1e-4);
        expect(e.infinite!.paramDistance).toBeNull();
      });
      // h = 0 at step 0: the gaps to the infinite-width model are the models' own output sizes.
      expect(ev[0].gapToInfinite!.actual.train).toBeGreaterThan(0);
      expect(ev[3].gapToInfinite!.linearized!.test).not.toBeNull();
      session.dispose();
    }
    expect(ctx.liveTensors).toBe(0);
  });

  it('follows the same minibatches and momentum as the other models', async () => {
    const spec = ntkSpec({ optimizer: 'sgd', batch_size: 5, momentum: 0.7, seed: 3, lr: 0.5, steps: 16, checkpoints: [0, 8, 16] });
    const session = await createCpuSession(spec, { metricsEvery: 8, kernelEvery: 0, gridEvery: 0 });
    const ev = await session.advance(16);
    const schedule = new BatchSchedule(spec.data.n, 5, 3);
    const ref = infiniteReference(spec, () => schedule.next()) as { train: { loss: number[] } };
    ev.forEach((e, k) => expect(rel(e.infinite!.loss, ref.train.loss[k])).toBeLessThan(1e-9));
    session.dispose();
  });

  it("reports the empirical NTK's distance to Theta on the probe examples, Theta's spectrum and the decision map", async () => {
    const ctx = await gpuContext();
    const spec = ntkSpec({ steps: 4 });
    const session = await createSession(ctx, spec, { metricsEvery: 4, kernelEvery: 1, gridEvery: 1, gridSize: 8, probeExamples: 12 });
    const [e0] = await session.advance(0);
    // At theta0: the probe kernel is the f64 NTK of the first 12 examples.
    const probe = { ...spec, data: { ...spec.data, n: 12, x: spec.data.x.subarray(0, 24), y: spec.data.y.subarray(0, 24), labels: spec.data.labels!.subarray(0, 12) } };
    const K = Float64Array.from(computeReferenceResults(probe, ['ntk']).ntk!.data);
    const theta = infiniteKernelsRef(infinitePlan(spec.model), { x: probe.data.x, n: 12 }).ntk;
    expect(rel(e0.movement!.ntkDistanceToInfinite!, ntkRelativeDistance(K, theta, 12, 2))).toBeLessThan(1e-4);
    expect(e0.movement!.ntkDistanceToInfinite!).toBeGreaterThan(0);
    // Theta (x) I_2: every eigenvalue twice, descending.
    const s = session.info.infinite!.spectrum;
    expect(s[0]).toBeCloseTo(s[1], 10);
    expect(s[0]).toBeGreaterThanOrEqual(s[2]);
    // h = 0 everywhere at step 0: P(class 1) = 1/2 on the whole grid.
    expect(e0.grid!.infinite!.length).toBe(64);
    expect([...e0.grid!.infinite!].every((p) => Math.abs(p - 0.5) < 1e-12)).toBe(true);
    const [e4] = (await session.advance(4)).slice(-1);
    expect([...e4.grid!.infinite!].some((p) => Math.abs(p - 0.5) > 1e-3)).toBe(true);
    session.dispose();
  });

  it('is absent, with the reason, where the model has no infinite-width limit or the optimizer has no function-space form', async () => {
    const standard = validateSpec({
      model: { input: [2], layers: [{ type: 'dense', units: 8, activation: 'relu' }, { type: 'dense', units: 2, activation: 'linear' }] },
      init: { seed: 1, scheme: 'standard' },
      loss: 'cross_entropy',
      data: { dataset: 'moons', n: 12, seed: 1 },
      train: { optimizer: 'gd', lr: 0.5, steps: 2 },
    });
    const a = await createCpuSession(standard, { metricsEvery: 1, kernelEvery: 0, gridEvery: 0 });
    expect(a.info.infinite).toBeNull();
    expect(a.info.infiniteReason).toMatch(/parameterization/);
    expect((await a.advance(1))[0].infinite).toBeNull();
    const kfac = await createCpuSession(ntkSpec({ optimizer: 'kfac', damping: 0.1, steps: 2 }), { metricsEvery: 1, kernelEvery: 0, gridEvery: 0 });
    expect(kfac.info.infiniteReason).toMatch(/^train\.optimizer/);
    const off = await createCpuSession(ntkSpec({ steps: 2 }), { metricsEvery: 1, kernelEvery: 0, gridEvery: 0, infinite: false });
    expect(off.info.infinite).toBeNull();
  });
});
