/**
 * Training sessions (src/dynamics): the WebGPU engine against the float64 CPU engine on the same
 * spec (GD, SGD with momentum and weight decay, alpha != 1, mse and cross-entropy), determinism,
 * cancellation, divergence, difficulty groups and grid maps.
 */
import { describe, expect, it } from 'vitest';
import { gpuContext } from './helpers/gpu';
import { validateSpec } from '../src/api/validate';
import { createSession } from '../src/api/session/session';
import { createCpuSession } from '../src/api/session/cpu-session';
import { DivergenceError, type MetricEvent } from '../src/api/session-types';

function toySpec(over: Record<string, unknown> = {}, train: Record<string, unknown> = {}) {
  return validateSpec({
    model: {
      input: [2],
      layers: [
        { type: 'dense', units: 12, activation: 'relu' },
        { type: 'dense', units: 12, activation: 'tanh' },
        { type: 'dense', units: 2, activation: 'linear' },
      ],
    },
    init: { seed: 3, scheme: 'standard' },
    loss: 'cross_entropy',
    data: { dataset: 'disk', n: 40, n_test: 20, seed: 1, label_noise: 0.1 },
    train: { optimizer: 'gd', lr: 0.5, steps: 30, alpha: 1, ...train },
    ...over,
  });
}

const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-12);

function expectEventsClose(gpu: MetricEvent[], cpu: MetricEvent[], tol: number) {
  expect(gpu.map((e) => e.step)).toEqual(cpu.map((e) => e.step));
  for (let i = 0; i < gpu.length; i++) {
    const g = gpu[i];
    const c = cpu[i];
    expect(rel(g.actual.loss, c.actual.loss)).toBeLessThan(tol);
    expect(rel(g.linearized!.loss, c.linearized!.loss)).toBeLessThan(tol);
    expect(rel(g.actual.lossTest!, c.actual.lossTest!)).toBeLessThan(tol);
    expect(rel(g.actual.paramDistance! + 1e-6, c.actual.paramDistance! + 1e-6)).toBeLessThan(tol);
    expect(rel(g.linearized!.paramDistance! + 1e-6, c.linearized!.paramDistance! + 1e-6)).toBeLessThan(tol);
    if (g.alignment && c.alignment) expect(rel(g.alignment.ntk_centered, c.alignment.ntk_centered)).toBeLessThan(50 * tol);
    if (g.movement && c.movement) expect(Math.abs(g.movement.ntkSimilarityToInit - c.movement.ntkSimilarityToInit)).toBeLessThan(50 * tol);
  }
}

describe('training sessions', () => {
  const cases: [string, Parameters<typeof toySpec>][] = [
    ['GD cross-entropy', [{}, {}]],
    ['GD mse alpha 10 (lazy) with closed form', [{ loss: 'mse', data: { dataset: 'disk', n: 40, n_test: 20, seed: 1 } }, { alpha: 10, lr: 0.3 }]],
    ['SGD + momentum + weight decay, alpha 3', [{}, { optimizer: 'sgd', batch_size: 16, momentum: 0.9, weight_decay: 1e-3, alpha: 3, lr: 0.2, seed: 7 }]],
  ];
  for (const [name, args] of cases) {
    it(`GPU and float64 CPU engines agree: ${name}`, async () => {
      const ctx = await gpuContext();
      const spec = toySpec(...args);
      const opts = { metricsEvery: 10, kernelEvery: 1, gridEvery: 0 };
      const g = await createSession(ctx, spec, opts);
      const c = await createCpuSession(spec, opts);
      const ge = await g.advance(30);
      const ce = await c.advance(30);
      expect(ge.length).toBe(4);
      expectEventsClose(ge, ce, 2e-4);
      if (spec.loss === 'mse') {
        // The closed form is the linearized GD trajectory (README section 12).
        for (const e of ge) expect(rel(e.closedForm!.loss, e.linearized!.loss)).toBeLessThan(1e-4);
      }
      g.dispose();
      c.dispose();
      expect(ctx.liveTensors).toBe(0);
    });
  }

  it('is deterministic, steps in chunks like in one go, and can be cancelled', async () => {
    const ctx = await gpuContext();
    const spec = toySpec({}, { optimizer: 'sgd', batch_size: 8, seed: 2 });
    const a = await createSession(ctx, spec, { metricsEvery: 5, kernelEvery: 0, gridEvery: 0 });
    const b = await createSession(ctx, spec, { metricsEvery: 5, kernelEvery: 0, gridEvery: 0 });
    const ea = await a.advance(30);
    const eb = [...(await b.advance(7)), ...(await b.advance(23))];
    expect(eb.map((e) => e.step)).toEqual([0, 5, 7, 10, 15, 20, 25, 30]);
    const at = (events: MetricEvent[], s: number) => events.find((e) => e.step === s)!.actual.loss;
    for (const s of [5, 10, 30]) expect(at(eb, s)).toBe(at(ea, s));
    const controller = new AbortController();
    controller.abort();
    const c = await createSession(ctx, spec, { metricsEvery: 5, kernelEvery: 0, gridEvery: 0 });
    const ec = await c.advance(30, controller.signal);
    expect(c.step).toBe(0);
    expect(ec.map((e) => e.step)).toEqual([0]);
    for (const s of [a, b, c]) s.dispose();
    await expect(a.advance(1)).rejects.toThrow(/disposed/);
  });

  it('stops a diverging run with the step and the stability bound', async () => {
    const ctx = await gpuContext();
    const spec = toySpec({ loss: 'mse', data: { dataset: 'disk', n: 40, n_test: 0, seed: 1 } }, { lr: 400, steps: 200 });
    const s = await createSession(ctx, spec, { metricsEvery: 50, kernelEvery: 0, gridEvery: 0 });
    const err = await s.advance(200).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DivergenceError);
    const d = err as DivergenceError;
    expect(d.step).toBeGreaterThan(0);
    expect(d.step).toBeLessThanOrEqual(50);
    expect(d.message).toMatch(/diverged at step \d+/);
    expect(d.message).toMatch(/below [0-9.]+/);
    expect(d.stableLr).toBeCloseTo(s.info.stableLr);
    s.dispose();
    // The CPU engine also stops, later: float64 overflows long after float32 does.
    const c = await createCpuSession(spec, { metricsEvery: 50, kernelEvery: 0, gridEvery: 0 });
    const errCpu = (await c.advance(200).catch((e: unknown) => e)) as DivergenceError;
    expect(errCpu).toBeInstanceOf(DivergenceError);
    expect(errCpu.step).toBeGreaterThanOrEqual(d.step);
  });

  it('reports difficulty groups, grid maps and a Delta-loss map at matched training loss', async () => {
    const ctx = await gpuContext();
    const spec = toySpec(
      {
        loss: 'mse',
        data: { dataset: 'disk', n: 40, n_test: 0, seed: 1 },
        model: {
          input: [2],
          layers: [
            { type: 'dense', units: 12, activation: 'relu' },
            { type: 'dense', units: 12, activation: 'tanh' },
            { type: 'dense', units: 1, activation: 'linear' },
          ],
        },
      },
      { lr: 0.5, steps: 100 },
    );
    const s = await createSession(ctx, spec, { metricsEvery: 5, kernelEvery: 4, gridEvery: 2, gridSize: 12 });
    expect(s.info.groups.map((g) => g.size)).toEqual([10, 10, 10, 10]);
    expect(s.info.points2d!.x.length).toBe(40);
    const ev = await s.advance(100);
    const grids = ev.filter((e) => e.grid);
    expect(grids.length).toBeGreaterThan(3);
    const last = grids[grids.length - 1].grid!;
    expect(last.actual.length).toBe(144);
    expect(last.linearized!.length).toBe(144);
    expect([...last.actual].every((v) => Number.isFinite(v))).toBe(true);
    expect(last.deltaLoss).not.toBeNull();
    expect(last.milestone).toBeGreaterThan(0);
    expect(ev.every((e) => e.actual.groupLoss!.length === 4)).toBe(true);
    // Kernel probes on every 4th event only.
    expect(ev.filter((e) => e.alignment).length).toBe(Math.ceil(ev.length / 4));
    const spectrum = ev[0].spectrum!;
    expect(spectrum.eigenvalues.length).toBeLessThanOrEqual(50);
    expect(spectrum.effectiveRank).toBeGreaterThan(1);
    s.dispose();
  });

  it('trains with KFAC and EKFAC preconditioning (each model its own curvature), faster per step than GD', async () => {
    const ctx = await gpuContext();
    const losses: Record<string, number[]> = {};
    for (const optimizer of ['gd', 'kfac', 'ekfac']) {
      const spec = toySpec({}, { optimizer, lr: optimizer === 'gd' ? 0.5 : 0.2, damping: 0.05, eig_every: 5, steps: 20 });
      const s = await createSession(ctx, spec, { metricsEvery: 10, kernelEvery: 0, gridEvery: 0 });
      const ev = await s.advance(20);
      losses[optimizer] = ev.map((e) => e.actual.loss);
      expect(ev.every((e) => Number.isFinite(e.linearized!.loss))).toBe(true);
      s.dispose();
    }
    expect(losses.kfac[2]).toBeLessThan(losses.gd[2]);
    expect(losses.ekfac[2]).toBeLessThan(losses.gd[2]);
    // Between eigendecompositions EKFAC refreshes its diagonal and KFAC does not: they differ.
    expect(losses.ekfac[2]).not.toBe(losses.kfac[2]);
    expect(ctx.liveTensors).toBe(0);
    // The CPU fallback refuses natural-gradient optimizers instead of silently using GD.
    await expect(createCpuSession(toySpec({}, { optimizer: 'kfac' }))).rejects.toThrow(/needs WebGPU/);
  });

  it('reports per-layer KFAC and EKFAC errors against the exact Fisher', async () => {
    const ctx = await gpuContext();
    const s = await createSession(ctx, toySpec(), { metricsEvery: 10, kernelEvery: 0, gridEvery: 0 });
    await s.advance(10);
    const r = await s.curvature();
    expect(r.step).toBe(10);
    expect(r.layers.length).toBe(3);
    for (const l of r.layers) {
      expect(l.frobErrEkfac).toBeLessThanOrEqual(l.frobErrKfac * (1 + 1e-9));
      expect(l.frobExact).toBeGreaterThan(0);
    }
    s.dispose();
  });
});

describe('difficulty groups', () => {
  it('are never empty: all-flipped labels fall back to boundary groups, tiny sets get none', async () => {
    const { difficultyGroups } = await import('../src/api/session/groups');
    const spec = (n: number, labelNoise: number) =>
      validateSpec({
        model: { input: [2], layers: [{ type: 'dense', units: 4, activation: 'tanh' }, { type: 'dense', units: 2, activation: 'linear' }] },
        init: { seed: 0, scheme: 'standard' },
        loss: 'cross_entropy',
        data: { dataset: 'disk', n, seed: 2, label_noise: labelNoise },
      });
    const noisy = difficultyGroups(spec(40, 0.25), 2)!;
    expect(noisy.names).toEqual(['clean labels', 'flipped labels']);
    expect(noisy.sizes).toEqual([30, 10]);
    const all = difficultyGroups(spec(40, 1), 2)!;
    expect(all.names[0]).toMatch(/distance to boundary/);
    expect(all.sizes.every((s) => s > 0)).toBe(true);
    expect(difficultyGroups(spec(6, 0), 2)).toBeNull();
  });
});
