/** The headless runner as users call it: `npm run --silent lab -- run spec.json --out result.json`. */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(__dirname, '..');
const lab = (...args: string[]) => spawnSync(process.execPath, [join(root, 'scripts/lab.mjs'), ...args], { cwd: root, encoding: 'utf8', timeout: 120_000 });
const fixture = (name: string) => join(root, 'tests/fixtures', name);

describe('lab CLI', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tangent-cli-'));

  it('runs a spec and writes exactly the fixture keys; compare accepts the result', () => {
    const specFile = join(dir, 'spec.json');
    writeFileSync(specFile, JSON.stringify(JSON.parse(readFileSync(fixture('mlp_tiny_tanh_mse.json'), 'utf8')).spec));
    const out = join(dir, 'result.json');
    const r = lab('run', specFile, '--out', out);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^adapter: /m);
    const result = JSON.parse(readFileSync(out, 'utf8'));
    expect(Object.keys(result)).toContain('ntk');
    const c = lab('compare', out, fixture('mlp_tiny_tanh_mse.json'));
    expect(c.stdout).toMatch(/PASS/);
    expect(c.status).toBe(0);
  });

  it('accepts a fixture file directly and honours --compute', () => {
    const out = join(dir, 'ntk.json');
    const r = lab('run', fixture('cnn_8x8_relu_ce.json'), '--out', out, '--compute', 'ntk,ntk_trace');
    expect(r.status, r.stderr).toBe(0);
    expect(Object.keys(JSON.parse(readFileSync(out, 'utf8')))).toEqual(['ntk', 'ntk_trace']);
  });

  it('fails with a one-line reason naming the field, and writes no file', () => {
    const bad = JSON.parse(readFileSync(fixture('mlp_tiny_tanh_mse.json'), 'utf8')).spec;
    bad.model.layers[0].activation = 'swish';
    const specFile = join(dir, 'bad.json');
    writeFileSync(specFile, JSON.stringify(bad));
    const out = join(dir, 'never.json');
    const r = lab('run', specFile, '--out', out);
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/error: model\.layers\[0\]\.activation: expected one of linear, tanh, relu, sigmoid, found "swish"/);
    expect(existsSync(out)).toBe(false);
  });

  it('rejects text that is not JSON, missing files and bad usage', () => {
    const specFile = join(dir, 'notjson.json');
    writeFileSync(specFile, '{"model": [1, 2');
    const r = lab('run', specFile, '--out', join(dir, 'x.json'));
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/expected a JSON document/);
    expect(existsSync(join(dir, 'x.json'))).toBe(false);
    const missing = lab('run', join(dir, 'nope.json'));
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/cannot read spec .*ENOENT/);
    const usage = lab('frobnicate');
    expect(usage.status).toBe(2);
    expect(usage.stderr).toMatch(/unknown command/);
  });
});
