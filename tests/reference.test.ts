/**
 * The float64 reference against every golden fixture (tests/fixtures/*.json): the same
 * key set, order and shapes, and every value within 2e-9 on the README's normalized
 * metrics (src/cli/compare.ts), for every key class, eigenvector-dependent EKFAC
 * quantities and 100-step trajectories included.
 *
 * The fixtures are rounded to 10 significant digits, i.e. up to 5e-10 relative; the
 * largest error observed on the public set is 4.7e-10, so 2e-9 leaves 4x headroom while
 * still catching anything but rounding. Run with DEBUG_REF=1 to print the max error per key.
 * `relu_sign_similarity` is compared with the README's count metric (one flip = 1/(nU)).
 */
import { describe, expect, it } from 'vitest';
import { basename } from 'node:path';
import { validateSpec } from '../src/api/validate';
import { compareResults } from '../src/cli/compare';
import { planModel, reluLayers } from '../src/model/layout';
import { computeReferenceResults } from '../src/reference/results';
import { toFixtureJson } from '../src/experiment/result';
import { fixtureFiles, isInfiniteOnly, loadFixture } from './helpers/fixtures';

// Every fixture directory, TANGENT_FIXTURES included (tests/helpers/fixtures.ts).
const files = fixtureFiles();

/** Uniform f64 tolerance on every normalized metric (see the header). */
const TOL = 2e-9;

describe('float64 reference vs golden fixtures', () => {
  it('finds the fixtures', () => {
    expect(files.length).toBeGreaterThanOrEqual(7);
  });

  for (const file of files) {
    it(basename(file), () => {
      const fixture = loadFixture(file);
      const spec = validateSpec(fixture.spec);
      const plan = planModel(spec.model);
      // The infinite_* fixtures store only `infinite` (README section 13): compute exactly that.
      const infiniteOnly = isInfiniteOnly(fixture);
      const result = computeReferenceResults(spec, infiniteOnly ? new Set(['infinite']) : undefined);
      // Round-trip through JSON so the comparison sees exactly what a result file would hold.
      const json = JSON.parse(JSON.stringify(toFixtureJson(result))) as unknown;
      const reluUnits = reluLayers(plan).reduce((u, l) => u + l.out * l.positions, 0);
      const cmp = compareResults(json, fixture.expected, { uniform: TOL, reluUnits, n: spec.data.n });
      if (process.env.DEBUG_REF) {
        const byKey = new Map<string, number>();
        for (const ch of cmp.checks) {
          const k = ch.path.replace(/\[\d+\]/g, '[]');
          byKey.set(k, Math.max(byKey.get(k) ?? 0, ch.error));
        }
        console.log(file, Object.fromEntries([...byKey].map(([k, v]) => [k, v.toExponential(2)])));
      }
      expect(cmp.failures).toEqual([]);
      expect(Object.keys(json as object)).toEqual(Object.keys(fixture.expected));
      expect(cmp.checks.length).toBeGreaterThan(infiniteOnly ? 1 : 20);
    });
  }
});
