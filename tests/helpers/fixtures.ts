/**
 * The golden fixtures (tests/fixtures, a verbatim copy of ../shared/fixtures). Set
 * TANGENT_FIXTURES=dir1:dir2 to run the same tests on more fixture files in that format.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { planModel, numel } from '../../src/model/layout';
import type { ResolvedSpec } from '../../src/experiment/types';

export interface Fixture {
  file: string;
  name: string;
  spec: unknown;
  expected: Record<string, unknown>;
}

export function fixtureDirs(): string[] {
  const dirs = [resolve(__dirname, '../fixtures')];
  for (const d of (process.env.TANGENT_FIXTURES ?? '').split(':').filter(Boolean)) dirs.push(resolve(d));
  return dirs;
}

export function fixtureFiles(): string[] {
  const files: string[] = [];
  for (const dir of fixtureDirs()) {
    if (!existsSync(dir)) throw new Error(`fixture directory ${dir} does not exist`);
    for (const f of readdirSync(dir).sort()) if (f.endsWith('.json')) files.push(join(dir, f));
  }
  if (files.length === 0) throw new Error('no fixtures found');
  return files;
}

export function loadFixture(file: string): Fixture {
  const raw = JSON.parse(readFileSync(file, 'utf8')) as Fixture;
  return { ...raw, file };
}

/** Total relu units U (for the relu_sign_similarity tolerance 1/(nU)). */
export function reluUnits(spec: ResolvedSpec): number {
  return planModel(spec.model)
    .paramLayers.filter((l) => l.activation === 'relu')
    .reduce((s, l) => s + numel(l.outShape), 0);
}

/** The infinite_* fixtures (README section 13) store only `expected.infinite`. */
export function isInfiniteOnly(fx: { expected: Record<string, unknown> }): boolean {
  const keys = Object.keys(fx.expected);
  return keys.length === 1 && keys[0] === 'infinite';
}
