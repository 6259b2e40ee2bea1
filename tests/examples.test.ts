/**
 * Smoke test of every example in examples/ at reduced size (same code paths as the full runs
 * recorded in the README: `lab session` for specs, scripts/optimizer-race.mjs for the race).
 */
import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { gpuContext } from './helpers/gpu';
import { validateSpec } from '../src/spec/validate';
import { loadImageSetFromDisk } from '../src/data/image-files';
import { createSession } from '../src/dynamics/session';
import { resolveRaceSpec, runRace, type RaceFile } from '../src/curvature/race';
import { runConvergence, validateConvergence } from '../src/experiments/infinite-convergence';

const dir = resolve(__dirname, '../examples');
const files = readdirSync(dir).filter((f) => f.endsWith('.json')).sort();

/** The same experiment, smaller: fewer examples, narrower layers, a few steps. */
function shrink(spec: Record<string, any>, steps: number): Record<string, any> {
  const s = JSON.parse(JSON.stringify(spec));
  s.model.layers = s.model.layers.map((l: Record<string, any>, i: number, all: unknown[]) =>
    l.type === 'dense' && i < all.length - 1 ? { ...l, units: Math.min(l.units, 16) } : l,
  );
  if (s.data.n !== undefined) s.data.n = Math.min(s.data.n, 24);
  if (s.data.n_test !== undefined) s.data.n_test = Math.min(s.data.n_test, 8);
  if (s.train) {
    s.train.steps = Math.min(s.train.steps, steps);
    if (s.train.batch_size) s.train.batch_size = Math.min(s.train.batch_size, 8);
    if (s.train.checkpoints) s.train.checkpoints = s.train.checkpoints.filter((t: number) => t <= s.train.steps);
  }
  return s;
}

describe('examples run (reduced size)', () => {
  it('has examples', () => expect(files.length).toBeGreaterThanOrEqual(5));
  for (const f of files) {
    it(f, async () => {
      const ctx = await gpuContext();
      const raw = JSON.parse(readFileSync(join(dir, f), 'utf8'));
      if (raw.race) {
        const race = raw as RaceFile;
        const small: RaceFile = {
          ...race,
          spec: resolveRaceSpec(shrink(race.spec as Record<string, any>, 1) as RaceFile['spec'], (file) => readFileSync(resolve(__dirname, '../public/datasets', file))),
          race: { ...race.race, epochs: 1, time_budget_s: 0, max_epochs: 1 },
        };
        const res = await runRace(ctx, small);
        expect(res.contestants.length).toBe(race.race.contestants.length);
        for (const c of res.contestants) expect(c.records.every((r) => Number.isFinite(r.loss))).toBe(true);
      } else if (raw.convergence) {
        // The empirical NTK against the analytic one at two small widths, one seed.
        expect(() => validateConvergence(raw)).not.toThrow();
        const small = validateConvergence({ ...raw, convergence: { widths: [8, 32], seeds: 1 }, spec: shrink(raw.spec, 0) });
        const res = await runConvergence(ctx, small, { imageSet: loadImageSetFromDisk });
        expect(res.rows.map((r) => r.width)).toEqual([8, 32]);
        for (const r of res.rows) expect(r.mean > 0 && Number.isFinite(r.mean)).toBe(true);
      } else {
        // The full-size spec validates as written.
        expect(() => validateSpec(raw, { imageSet: loadImageSetFromDisk })).not.toThrow();
        const spec = validateSpec(shrink(raw, 6), { imageSet: loadImageSetFromDisk });
        const s = await createSession(ctx, spec, { metricsEvery: 3, kernelEvery: 1, gridEvery: 1, gridSize: 6, probeExamples: 12 });
        const events = await s.advance(spec.train!.steps);
        s.dispose();
        expect(events.length).toBeGreaterThanOrEqual(2);
        for (const e of events) {
          expect(Number.isFinite(e.actual.loss) && Number.isFinite(e.linearized!.loss)).toBe(true);
          expect(Number.isFinite(e.alignment!.ntk_centered)).toBe(true);
        }
      }
      expect(ctx.liveTensors).toBe(0);
    });
  }
});
