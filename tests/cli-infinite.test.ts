/**
 * The `infinite` key through the headless runner as users call it:
 * `npm run --silent lab -- run <spec> --out <result> --compute infinite`, `lab compare` against the
 * infinite_* fixtures, and bad input (one line naming the field or limit, no result file).
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(__dirname, '..');
const lab = (...args: string[]) => spawnSync(process.execPath, [join(root, 'scripts/lab.mjs'), ...args], { cwd: root, encoding: 'utf8', timeout: 300_000 });
const fixture = (name: string) => join(root, 'tests/fixtures', name);
const errorLines = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('error:'));

describe('lab run --compute infinite', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tangent-infinite-'));

  it('reproduces the CNN fixture; compare passes', () => {
    const out = join(dir, 'cnn.json');
    const r = lab('run', fixture('infinite_cnn_relu_ce.json'), '--out', out, '--compute', 'infinite');
    expect(r.status, r.stderr).toBe(0);
    const result = JSON.parse(readFileSync(out, 'utf8'));
    expect(Object.keys(result)).toEqual(['infinite']);
    expect(Object.keys(result.infinite)).toEqual(['nngp', 'ntk', 'nngp_test', 'ntk_test', 'train']);
    expect(result.infinite.train.steps).toEqual([0, 1, 5, 20, 40]);
    const c = lab('compare', out, fixture('infinite_cnn_relu_ce.json'));
    expect(c.stdout).toMatch(/PASS: 8 arrays checked, 0 problems/);
    expect(c.status).toBe(0);
  });

  it('a default run of the MLP fixture includes infinite; compare checks only that key', () => {
    const out = join(dir, 'mlp.json');
    const r = lab('run', fixture('infinite_mlp_relu_mse_train.json'), '--out', out);
    expect(r.status, r.stderr).toBe(0);
    const result = JSON.parse(readFileSync(out, 'utf8'));
    expect(Object.keys(result)).toContain('ntk');
    expect(Object.keys(result)).toContain('train');
    expect(Object.keys(result).at(-1)).toBe('infinite');
    const c = lab('compare', out, fixture('infinite_mlp_relu_mse_train.json'));
    expect(c.stdout).toMatch(/PASS: 8 arrays checked, 0 problems/);
  });

  const bad = (name: string, edit: (spec: Record<string, any>) => void, extra: string[] = ['--compute', 'infinite']) => {
    const spec = JSON.parse(readFileSync(fixture('infinite_mlp_relu_mse_train.json'), 'utf8')).spec;
    edit(spec);
    const file = join(dir, `${name}.json`);
    writeFileSync(file, typeof spec === 'string' ? spec : JSON.stringify(spec));
    const out = join(dir, `${name}-result.json`);
    const r = lab('run', file, '--out', out, ...extra);
    expect(r.status).toBe(1);
    expect(errorLines(r.stderr)).toHaveLength(1);
    expect(r.stderr.split('\n').filter((l) => l && !l.startsWith('adapter:') && !l.startsWith('Warning:'))).toHaveLength(1);
    expect(existsSync(out)).toBe(false);
    return errorLines(r.stderr)[0];
  };

  it('refuses bad input with one line naming the field or limit, and writes no file', () => {
    expect(bad('standard', (s) => (s.model.parameterization = 'standard'))).toMatch(/^error: model\.parameterization: expected "ntk"/);
    expect(bad('tanh-out', (s) => (s.model.layers[2].activation = 'tanh'))).toMatch(/^error: model\.layers\[2\]\.activation: expected "linear"/);
    expect(bad('sigma', (s) => (s.model.sigma_b = 'x'))).toMatch(/^error: model\.sigma_b: expected a finite number/);
    // A 1x512x512 image pooled globally: every pair of its positions is needed, and one example
    // pair's 512^2 x 512^2 map exceeds any storage binding.
    expect(
      bad('huge', (s) => {
        s.model.input = [1, 512, 512];
        s.model.layers = [{ type: 'avgpool2d', size: 512 }, { type: 'flatten' }, { type: 'dense', units: 2, activation: 'linear' }];
        s.data = { x: [[Array.from({ length: 512 }, () => Array(512).fill(0))]], y: [[0, 0]] };
        delete s.params;
        s.init = { seed: 0, scheme: 'ntk' };
        delete s.train;
      }),
    ).toMatch(/^error: the infinite-width kernel's map of one example pair \(262144 positions x 262144 partners\) needs .* above the device limit maxStorageBufferBindingSize/);
  });

  it('a non-finite sigma (1e999 in JSON) is refused at validation', () => {
    const spec = readFileSync(fixture('infinite_mlp_relu_mse_train.json'), 'utf8');
    const file = join(dir, 'inf-sigma.json');
    writeFileSync(file, JSON.stringify(JSON.parse(spec).spec).replace('"sigma_w":1.4', '"sigma_w":1e999'));
    const r = lab('run', file, '--out', join(dir, 'never.json'), '--compute', 'infinite');
    expect(r.status).toBe(1);
    expect(errorLines(r.stderr)).toEqual(['error: model.sigma_w: expected a finite number, found Infinity']);
    expect(existsSync(join(dir, 'never.json'))).toBe(false);
  });
});
