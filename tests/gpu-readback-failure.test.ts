/**
 * A failed readback (a lost device, an aborted buffer map) in the middle of a session's event
 * must not leak GPU tensors: every readback of a snapshot (training evaluations, the kernel
 * probe, the alignments, the grid maps) is made to fail in turn, and the live tensor count must
 * come back to where it was; then the session still works.
 */
import { describe, expect, it } from 'vitest';
import { gpuContext } from './helpers/gpu';
import { validateSpec } from '../src/api/validate';
import { createSession } from '../src/api/session/session';

describe('a failed readback frees what the event had allocated', () => {
  it('at every readback of a snapshot with a kernel probe and grid maps', async () => {
    const ctx = await gpuContext();
    const spec = validateSpec({
      model: { input: [2], layers: [{ type: 'dense', units: 8, activation: 'relu' }, { type: 'dense', units: 2, activation: 'linear' }], parameterization: 'ntk' },
      init: { seed: 1, scheme: 'ntk' },
      loss: 'cross_entropy',
      data: { dataset: 'moons', n: 16, n_test: 8, seed: 1 },
      train: { optimizer: 'gd', lr: 0.5, steps: 1000 },
    });
    const session = await createSession(ctx, spec, { metricsEvery: 5, kernelEvery: 1, gridEvery: 1, gridSize: 6, probeExamples: 8 });
    await session.advance(5);
    const readMany = ctx.readMany.bind(ctx);
    let failed = 0;
    for (let fail = 1; ; fail++) {
      let calls = 0;
      ctx.readMany = (reqs) => (++calls === fail ? Promise.reject(new Error('mapAsync aborted')) : readMany(reqs));
      const live = ctx.liveTensors;
      let threw = false;
      try {
        await session.snapshot();
      } catch (e) {
        threw = true;
        expect((e as Error).message).toBe('mapAsync aborted');
      }
      ctx.readMany = readMany;
      expect(ctx.liveTensors, `readback ${fail} failed`).toBe(live);
      if (!threw) break;
      failed++;
    }
    // the probe, the alignments, the evaluations and the grid each read at least once
    expect(failed).toBeGreaterThanOrEqual(3);
    const ev = await session.advance(5);
    expect(Number.isFinite(ev.at(-1)!.actual.loss)).toBe(true);
    session.dispose();
  });
});
