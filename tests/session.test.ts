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
    // kernelEvery 1: every event of both engines carries the kernel metrics.
    expect(rel(g.alignment!.ntk_centered, c.alignment!.ntk_centered)).toBeLessThan(50 * tol);
    expect(Math.abs(g.movement!.ntkSimilarityToInit - c.movement!.ntkSimilarityToInit)).toBeLessThan(50 * tol);
    expect(rel(g.spectrum!.stableLr, c.spectrum!.stableLr)).toBeLessThan(50 * tol);
    expect(rel(g.spectrum!.effectiveRank, c.spectrum!.effectiveRank)).toBeLessThan(50 * tol);
  }
}

describe('training sessions', () => {
  const cases: [string, Parameters<typeof toySpec>][] = [
    ['GD cross-entropy', [{}, {}]],
    ['GD mse alpha 10 (lazy) with closed form', [{ loss: 'mse', data: { dataset: 'disk', n: 40, n_test: 20, seed: 1 } }, { alpha: 10, lr: 0.3 }]],
    ['SGD + momentum + weight decay, alpha 3', [{}, { optimizer: 'sgd', batch_size: 16, momentum: 0.9, weight_decay: 1e-3, alpha: 3, lr: 0.2, seed: 7 }]],
    ['KFAC, eigendecompositions every 4 steps', [{}, { optimizer: 'kfac', lr: 0.2, damping: 0.05, eig_every: 4 }]],
    ['EKFAC with momentum, alpha 2, mse', [{ loss: 'mse', data: { dataset: 'disk', n: 40, n_test: 20, seed: 1 } }, { optimizer: 'ekfac', lr: 0.1, damping: 0.05, eig_every: 3, momentum: 0.5, alpha: 2 }]],
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
      if (spec.loss === 'mse' && spec.train!.optimizer === 'gd') {
        // The closed form is the linearized GD trajectory (README section 12).
        for (const e of ge) expect(rel(e.closedForm!.loss, e.linearized!.loss)).toBeLessThan(1e-4);
      } else {
        // It describes plain full-batch GD only: other optimizers get none.
        for (const e of [...ge, ...ce]) expect(e.closedForm).toBeNull();
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

describe('sessions: values against the float64 engine', () => {
  it('grid maps, the Delta-loss map and its milestone agree with the CPU engine', async () => {
    const ctx = await gpuContext();
    const spec = toySpec({ loss: 'mse', data: { dataset: 'disk', n: 40, n_test: 0, seed: 1 } }, { lr: 0.5, steps: 60 });
    const opts = { metricsEvery: 5, kernelEvery: 0, gridEvery: 3, gridSize: 10 };
    const g = await createSession(ctx, spec, opts);
    const c = await createCpuSession(spec, opts);
    const ge = (await g.advance(60)).filter((e) => e.grid);
    const ce = (await c.advance(60)).filter((e) => e.grid);
    expect(ge.map((e) => e.step)).toEqual(ce.map((e) => e.step));
    expect(ge.length).toBeGreaterThan(3);
    const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => Math.max(...Array.from(a, (v, i) => Math.abs(v - b[i])));
    const scale = (a: ArrayLike<number>) => Math.max(...Array.from(a, Math.abs));
    for (let k = 0; k < ge.length; k++) {
      const a = ge[k].grid!;
      const b = ce[k].grid!;
      expect(a.size).toBe(10);
      expect(a.extent).toEqual(b.extent);
      expect(maxDiff(a.actual, b.actual) / scale(b.actual)).toBeLessThan(1e-4);
      expect(maxDiff(a.linearized!, b.linearized!) / scale(b.linearized!)).toBeLessThan(1e-4);
      if (b.milestone === null) expect(a.milestone).toBeNull();
      else expect(rel(a.milestone!, b.milestone)).toBeLessThan(1e-6);
      if (b.deltaLoss) expect(maxDiff(a.deltaLoss!, b.deltaLoss) / scale(b.deltaLoss)).toBeLessThan(1e-3);
      else expect(a.deltaLoss).toBeNull();
    }
    // The last map was taken at a matched training loss (a milestone), and both engines reached one.
    expect(ge[ge.length - 1].grid!.deltaLoss).not.toBeNull();
    expect(ge[ge.length - 1].grid!.milestone).toBeGreaterThan(0);
    g.dispose();
    c.dispose();
  });

  it('curvature reports agree with the CPU engine and with EKFAC <= KFAC', async () => {
    const ctx = await gpuContext();
    const spec = toySpec();
    const g = await createSession(ctx, spec, { metricsEvery: 10, kernelEvery: 0, gridEvery: 0 });
    const c = await createCpuSession(spec, { metricsEvery: 10, kernelEvery: 0, gridEvery: 0 });
    await g.advance(10);
    await c.advance(10);
    const rg = await g.curvature();
    const rc = await c.curvature();
    expect(rg.layers.map((l) => l.index)).toEqual(rc.layers.map((l) => l.index));
    rg.layers.forEach((l, i) => {
      const r = rc.layers[i];
      // Both are float64 computations at parameters that differ by float32 training drift.
      expect(rel(l.frobExact, r.frobExact)).toBeLessThan(1e-3);
      expect(Math.abs(l.frobErrKfac - r.frobErrKfac) / r.frobExact).toBeLessThan(1e-3);
      expect(Math.abs(l.frobErrEkfac - r.frobErrEkfac) / r.frobExact).toBeLessThan(1e-3);
      expect(l.spectra!.exact.length).toBe(l.spectra!.kfac.length);
    });
    g.dispose();
    c.dispose();
  });

  it("the spectrum's stability bound is the metric-weighted one: at step 0 it equals the session's", async () => {
    const ctx = await gpuContext();
    for (const alpha of [1, 4]) {
      const spec = toySpec({}, { alpha });
      const g = await createSession(ctx, spec, { metricsEvery: 10, kernelEvery: 1, gridEvery: 0, probeExamples: 40 });
      const [e0] = await g.advance(0);
      // Same kernel (all 40 examples at theta0), same metric (softmax at h0): the same bound.
      expect(rel(e0.spectrum!.stableLr, g.info.stableLr)).toBeLessThan(1e-4);
      g.dispose();
    }
  });

  it('stops at the first event whose loss grew a millionfold, before the parameters overflow', async () => {
    const spec = toySpec({ loss: 'mse', data: { dataset: 'disk', n: 40, n_test: 0, seed: 1 } }, { lr: 4, steps: 400 });
    const c = await createCpuSession(spec, { metricsEvery: 5, kernelEvery: 0, gridEvery: 0 });
    const events: MetricEvent[] = [await c.snapshot()];
    let err: unknown = null;
    try {
      while (c.step < 400) events.push(...(await c.advance(5)));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DivergenceError);
    const d = err as DivergenceError;
    // Every event before it was below the threshold, and it came at an event step.
    const initial = events[0].actual.loss;
    for (const e of events) expect(e.actual.loss).toBeLessThanOrEqual(1e6 * initial);
    expect(d.step % 5).toBe(0);
    expect(d.step).toBeLessThan(100);
    expect(d.message).toMatch(/loss grew from .* to .*; try a learning rate below/);
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
