/**
 * Every fixture through the runner's code path (runExperiment, as `lab run` uses it) on real
 * WebGPU through Dawn, compared with the fixture README's float32 tolerances and exact key sets.
 */
import { describe, expect, it } from 'vitest';
import { basename } from 'node:path';
import { gpuContext } from './helpers/gpu';
import { fixtureFiles, isInfiniteOnly, loadFixture, reluUnits } from './helpers/fixtures';
import { validateSpec } from '../src/api/validate';
import { runExperiment } from '../src/api/runner';
import { compareResults } from '../src/cli/compare';
import { toFixtureJson } from '../src/experiment/result';

describe('runner reproduces every fixture within the README tolerances', () => {
  for (const file of fixtureFiles()) {
    it(basename(file), async () => {
      const ctx = await gpuContext();
      const fx = loadFixture(file);
      // The infinite_* fixtures store only `infinite` (README section 13): ask for exactly that.
      const infiniteOnly = isInfiniteOnly(fx);
      const spec = validateSpec(infiniteOnly ? { ...(fx.spec as object), compute: ['infinite'] } : fx.spec);
      const result = toFixtureJson(await runExperiment(ctx, spec));
      expect(Object.keys(result)).toEqual(Object.keys(fx.expected));
      const cmp = compareResults(result, fx.expected, { f64Norms: true, n: spec.data.n, reluUnits: reluUnits(spec) });
      expect(cmp.failures).toEqual([]);
      expect(cmp.checks.length).toBeGreaterThan(infiniteOnly ? 1 : 20);
      expect(ctx.liveTensors).toBe(0);
    });
  }
});
