/**
 * The PyTorch export (src/export/pytorch.ts), run with Debian's python3-torch:
 * - every public fixture (those without an `infinite` key) through its exported script, in
 *   float64 (1000x tighter than the README's float32 tolerances) and in float32 (the README's);
 * - generated toys and image subsets embedded exactly (script = f64 reference);
 * - the script's port of the lab's generator: minibatch order and seeded init, number for number;
 * - the script's argument validation and its divergence message;
 * - refusals, key selection (= the runner's), a hostile spec name, and the CLI.
 * All scripts of the file run in one batch through two Python processes (tests/helpers/python.ts).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fixtureFiles, loadFixture, reluUnits, type Fixture } from './helpers/fixtures';
import { PYTHON, pythonJson, requireTorch, runScripts, type ScriptJob, type ScriptRun } from './helpers/python';
import { validateSpec } from '../src/api/validate';
import { compareResults } from '../src/cli/compare';
import { computeReferenceResults } from '../src/reference/results';
import type { ResultKey } from '../src/experiment/keys';
import { loadImageSetFromDisk } from '../src/data/image-files';
import { requestedKeys } from '../src/experiment/keys';
import { infiniteProblem } from '../src/model/infinite-plan';
import { toFixtureJson } from '../src/experiment/result';
import { BatchSchedule, stableLearningRate } from '../src/math/training';
import { initParams } from '../src/model/init';
import { planModel } from '../src/model/layout';
import { ExportError, exportPlan, exportPytorch, pyFloat, pyStr } from '../src/export/pytorch';
import type { ResolvedSpec } from '../src/experiment/types';

const root = resolve(__dirname, '..');
const dir = mkdtempSync(join(tmpdir(), 'tangent-export-'));
const fixtures: Fixture[] = fixtureFiles()
  .map(loadFixture)
  .filter((fx) => !('infinite' in fx.expected));
const fixtureSpec = (fx: Fixture): ResolvedSpec => validateSpec({ ...(fx.spec as object), name: fx.name });
const tiny = () => structuredClone(fixtures.find((f) => f.name === 'mlp_tiny_tanh_mse')!.spec) as Record<string, unknown>;
const readJson = (path: string) => JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;

function writeScript(spec: ResolvedSpec, name: string): string {
  const path = join(dir, `${name}.py`);
  writeFileSync(path, exportPytorch(spec).script);
  return path;
}

// ---- the batch of scripts (started once, awaited by the tests) -----------------------------

const jobs: ScriptJob[] = [];
const job = (script: string, args: string[]): number => jobs.push({ script, args }) - 1;
let batch: Promise<ScriptRun[]>;
const result = async (index: number): Promise<ScriptRun> => (await batch)[index];

const HOSTILE_NAME =
  'a"b\'c\\d\n"""\nimport os; open(' + JSON.stringify(join(dir, 'pwned')) + ', "w")  # \'\'\'\r\t\u0000\u2028 é 😀 ${x} \\" \ud800 end';

/** Seeded specs with generated data: a toy (moons, SGD) and an image subset (digits, a CNN). */
const toySpec = () =>
  validateSpec({
    name: 'moons toy',
    model: { input: [2], layers: [{ type: 'dense', units: 9, activation: 'tanh' }, { type: 'dense', units: 2, activation: 'linear' }] },
    init: { seed: 11, scheme: 'standard', gain: 1.2 },
    loss: 'cross_entropy',
    data: { dataset: 'moons', n: 20, n_test: 7, seed: 3, noise: 0.1 },
    train: { optimizer: 'sgd', lr: 0.3, steps: 5, batch_size: 6, momentum: 0.5, seed: 4 },
  });
const imageSpec = () =>
  validateSpec(
    {
      name: 'digits subset',
      model: {
        input: [1, 8, 8],
        layers: [
          { type: 'conv2d', filters: 2, kernel: 3, stride: 2, padding: 1, activation: 'relu' },
          { type: 'flatten' },
          { type: 'dense', units: 3, activation: 'linear' },
        ],
      },
      init: { seed: 2, scheme: 'standard' },
      loss: 'mse',
      data: { dataset: 'digits', n: 12, n_test: 5, seed: 1, classes: 3, label_noise: 0.25 },
      train: { optimizer: 'gd', lr: 0.1, steps: 4, alpha: 3 },
    },
    { imageSet: loadImageSetFromDisk },
  );

const fixtureJobs = fixtures.map((fx) => {
  const script = writeScript(fixtureSpec(fx), fx.name);
  return {
    fx,
    f64: job(script, ['--out', join(dir, `${fx.name}.f64.json`)]),
    f32: job(script, ['--dtype', 'float32', '--out', join(dir, `${fx.name}.f32.json`)]),
  };
});
const cnn = fixtureJobs.find((f) => f.fx.name === 'cnn_8x8_relu_ce')!;
const cnnScript = join(dir, 'cnn_8x8_relu_ce.py');
const chunked = job(cnnScript, ['--chunk', '5', '--compute', 'jacobian,ntk,kfac,fisher', '--out', join(dir, 'cnn.chunked.json')]);
/** No test set, mse training with alpha != 1 (closed form without test outputs), relu. */
const noTestSpec = () =>
  validateSpec({
    ...tiny(),
    name: 'no test set',
    model: { input: [2], layers: [{ type: 'dense', units: 8, activation: 'relu' }, { type: 'dense', units: 3, activation: 'linear' }] },
    data: { ...(tiny().data as object), x_test: undefined, y_test: undefined },
    train: { optimizer: 'gd', lr: 0.3, steps: 6, alpha: 2, checkpoints: [0, 1, 6] },
  });
const noTestJob = job(writeScript(noTestSpec(), 'notest'), ['--out', join(dir, 'notest.json')]);
const toyJob = job(writeScript(toySpec(), 'toy'), ['--compute', 'theta,outputs,outputs_test,loss,jacobian,ntk,alignment,kfac', '--out', join(dir, 'toy.json')]);
const imageJob = job(writeScript(imageSpec(), 'image'), ['--out', join(dir, 'image.json')]);
/** A layer above 2048 parameters (KFAC's Frobenius errors through the N x N Gram route). */
const wideSpec = () =>
  validateSpec({
    name: 'wide layer',
    model: { input: [3], layers: [{ type: 'dense', units: 40, activation: 'relu' }, { type: 'dense', units: 60, activation: 'tanh' }, { type: 'dense', units: 2, activation: 'linear' }] },
    init: { seed: 8, scheme: 'standard', gain: 1.5 },
    loss: 'mse',
    data: { x: [[0.1, -1, 2], [1, 0.5, -0.3], [-0.7, 0.2, 0.9], [0.4, 1.1, -1.2], [-1.5, -0.2, 0.3]], y: [[1, 0], [0, 1], [0.5, -0.5], [-1, 2], [0.3, 0.3]] },
    compute: ['kfac', 'fisher_frobenius'],
  });
const wideJob = job(writeScript(wideSpec(), 'wide'), ['--out', join(dir, 'wide.json')]);
const hostileScript = writeScript(validateSpec({ ...tiny(), name: HOSTILE_NAME }), 'hostile');
const hostileJob = job(hostileScript, ['--compute', 'loss', '--out', join(dir, 'hostile.json')]);
const initSpec = validateSpec({ ...tiny(), params: undefined, init: { seed: 77, scheme: 'standard', gain: 1 } });
const initJob = job(writeScript(initSpec, 'init'), ['--init', 'standard', '--init-seed', '77', '--compute', 'theta', '--out', join(dir, 'init.json')]);
const divergeSpec = validateSpec({ ...(structuredClone(fixtures.find((f) => f.name === 'mlp_tanh_mse_train_alpha1')!.spec) as object), train: { optimizer: 'gd', lr: 1e4, steps: 200 } });
const divergeJob = job(writeScript(divergeSpec, 'diverge'), ['--compute', 'train', '--out', join(dir, 'diverge.json')]);
// Cross-entropy with alpha != 1: the bound's metric is taken at h0 = 0, not at f(theta0).
const ceDivergeSpec = validateSpec({
  ...(structuredClone(fixtures.find((f) => f.name === 'mlp_relu_ce_train')!.spec) as object),
  train: { optimizer: 'gd', lr: 1e300, steps: 20, alpha: 10 }, // cross-entropy only overflows
});
const ceDivergeJob = job(writeScript(ceDivergeSpec, 'diverge_ce'), ['--compute', 'train', '--out', join(dir, 'diverge_ce.json')]);
const badArgs: [string[], RegExp][] = [
  [['--device', 'tpu'], /--device: expected cpu, cuda or cuda:N, found 'tpu'/],
  [['--dtype', 'float16'], /argument --dtype: invalid choice: 'float16'/],
  [['--chunk', '0'], /--chunk: expected a positive number of examples, found 0/],
  [['--compute', 'loss,bogus'], /--compute: unknown key 'bogus'/],
  [['--compute', 'train'], /--compute: "train" needs a TRAIN section/],
  [['--init-seed', '-1'], /--init-seed: expected an integer in 0 \.\. 4294967295/],
  [['--out', join(dir, 'no-such-dir', 'r.json')], /--out: the directory .*no-such-dir does not exist/],
];
const badArgJobs = badArgs.map(([args]) => job(hostileScript, args));
const cudaJob = job(hostileScript, ['--device', 'cuda', '--compute', 'loss', '--out', join(dir, 'cuda.json')]);
const scaleJob = job(hostileScript, ['--scale']);

beforeAll(() => {
  requireTorch();
  batch = runScripts(jobs);
  batch.catch(() => {}); // reported by the tests that await it
});

// ---- fixtures ----------------------------------------------------------------------------

describe('exported scripts reproduce every public fixture', () => {
  it('covers the public fixtures', () => {
    expect(fixtures.length).toBeGreaterThanOrEqual(7);
  });
  for (const { fx, f64, f32 } of fixtureJobs) {
    for (const [precision, index, scale] of [
      ['float64', f64, 1e-3],
      ['float32', f32, 1],
    ] as const) {
      it(`${fx.name} in ${precision}`, { timeout: 600_000 }, async () => {
        const run = await result(index);
        expect(run.code, run.stderr).toBe(0);
        const spec = fixtureSpec(fx);
        const got = readJson(join(dir, `${fx.name}.${precision === 'float64' ? 'f64' : 'f32'}.json`));
        // float64 against 1000x tighter tolerances (the fixtures are rounded to 10 digits).
        const cmp = compareResults(got, fx.expected, { f64Norms: true, n: spec.data.n, reluUnits: reluUnits(spec), scale });
        expect(cmp.failures).toEqual([]);
        expect(cmp.checks.length).toBeGreaterThan(50);
      });
    }
  }

  it('per-example gradients in chunks give the same Jacobian, kernel and KFAC', async () => {
    const run = await result(chunked);
    expect(run.code, run.stderr).toBe(0);
    const got = readJson(join(dir, 'cnn.chunked.json'));
    expect(Object.keys(got)).toEqual(['jacobian', 'ntk', 'fisher', 'kfac']);
    const spec = fixtureSpec(cnn.fx);
    const cmp = compareResults(got, cnn.fx.expected, { f64Norms: true, n: spec.data.n, scale: 1e-3, skip: Object.keys(cnn.fx.expected).filter((k) => !(k in got)) });
    expect(cmp.failures).toEqual([]);
  });
});

describe('scripts equal the float64 reference: generated data embedded exactly, no test set', () => {
  for (const [what, make, index, file] of [
    ['no test set, mse training at alpha 2 (closed form on the training set only)', noTestSpec, noTestJob, 'notest.json'],
    ['a generated toy (moons), SGD spec', toySpec, toyJob, 'toy.json'],
    ['an image subset (digits, 3 classes, label noise), CNN, mse, alpha 3', imageSpec, imageJob, 'image.json'],
  ] as const) {
    it(`${what}: the script equals the float64 reference`, { timeout: 600_000 }, async () => {
      const run = await result(index);
      expect(run.code, run.stderr).toBe(0);
      const spec = make();
      const got = readJson(join(dir, file));
      const ref = toFixtureJson(computeReferenceResults(spec, Object.keys(got) as ResultKey[]));
      expect(Object.keys(ref).sort()).toEqual(Object.keys(got).sort());
      const cmp = compareResults(got, ref, { f64Norms: true, n: spec.data.n, reluUnits: reluUnits(spec), uniform: 1e-9 });
      expect(cmp.failures).toEqual([]);
      expect(cmp.checks.length).toBeGreaterThan(10);
    });
  }
});

describe('KFAC of a layer above 2048 parameters', () => {
  it('the Gram route of the Frobenius errors equals the float64 reference', { timeout: 600_000 }, async () => {
    const run = await result(wideJob);
    expect(run.code, run.stderr).toBe(0);
    const spec = wideSpec();
    expect(planModel(spec.model).paramLayers[1].size).toBeGreaterThan(2048);
    const got = readJson(join(dir, 'wide.json'));
    const cmp = compareResults(got, toFixtureJson(computeReferenceResults(spec)), { n: spec.data.n, uniform: 1e-9 });
    expect(cmp.failures).toEqual([]);
    const layer = (got.kfac as { frob_err_ekfac: number; frob_err_kfac: number; frob_exact: number }[])[1];
    expect(layer.frob_err_ekfac).toBeGreaterThan(1e-3 * layer.frob_exact);
    expect(layer.frob_err_ekfac).toBeLessThanOrEqual(layer.frob_err_kfac);
  });
});

// ---- the script's port of the lab's generator ------------------------------------------------

const INSPECT = `
import importlib.util, json, sys
import torch
q = json.load(sys.stdin)
spec = importlib.util.spec_from_file_location("exported", q["script"])
m = importlib.util.module_from_spec(spec)
spec.loader.exec_module(m)
out = {"name": m.SPEC_NAME, "cuda": torch.cuda.is_available(), "batches": [], "init": []}
for n, size, seed, count in q["schedules"]:
    s = m.BatchSchedule(n, size, seed)
    out["batches"].append([s.next() for _ in range(count)])
for scheme, seed, gain in q["inits"]:
    out["init"].append(m.init_theta(scheme, seed, gain))
json.dump(out, sys.stdout)
`;

describe("the script's port of the lab's generator", () => {
  const schedules: [number, number, number, number][] = [
    [10, 3, 0, 9],
    [7, 2, 0xfffffff0, 12],
    [50, 16, 123456789, 10],
    [5, 5, 1, 2],
    [33, 1, 2 ** 31 + 5, 40],
  ];
  const inits: [string, number, number][] = [
    ['standard', 77, 1],
    ['standard', 0xffffffff, 1.7],
    ['ntk', 9, 0.8],
  ];
  let inspected: Promise<{ name: string; cuda: boolean; batches: number[][][]; init: number[][] }>;
  beforeAll(() => {
    inspected = pythonJson(INSPECT, { script: hostileScript, schedules, inits });
    inspected.catch(() => {});
  });

  it('draws the same minibatch order as the trainer (xoshiro128** BatchSchedule)', { timeout: 300_000 }, async () => {
    const { batches } = await inspected;
    schedules.forEach(([n, size, seed, count], i) => {
      const s = new BatchSchedule(n, size, seed);
      expect(batches[i]).toEqual(Array.from({ length: count }, () => s.next()));
    });
  });

  it('draws the same seeded initial parameters (standard: bitwise; ntk: to the last bit of log / cos)', { timeout: 300_000 }, async () => {
    const { init } = await inspected;
    const plan = planModel(validateSpec(tiny()).model);
    inits.forEach(([scheme, seed, gain], i) => {
      const ts = initParams(plan, { scheme: scheme as 'standard' | 'ntk', seed, gain });
      expect(init[i]).toHaveLength(ts.length);
      if (scheme === 'standard') expect(init[i]).toEqual(Array.from(ts));
      else init[i].forEach((v, p) => expect(Math.abs(v - ts[p])).toBeLessThanOrEqual(1e-14 * Math.max(1, Math.abs(ts[p]))));
    });
  });

  it('--init standard reproduces a spec initialized with the same seed exactly', { timeout: 300_000 }, async () => {
    const run = await result(initJob);
    expect(run.code, run.stderr).toBe(0);
    expect(readJson(join(dir, 'init.json')).theta).toEqual(Array.from(initSpec.theta));
  });
});

// ---- strings from the spec, arguments, divergence --------------------------------------------

describe('the exported program', () => {
  it('keeps a hostile spec name a quoted literal (quotes, backslashes, newlines, triple quotes, NUL, surrogates)', { timeout: 600_000 }, async () => {
    const { script } = exportPytorch(validateSpec({ ...tiny(), name: HOSTILE_NAME }));
    // The name never reaches the text raw: the script is printable ASCII lines, and the name's
    // text appears only inside its two escaped literals (the header comment and SPEC_NAME).
    expect(/^[\x20-\x7e\n]*$/.test(script)).toBe(true);
    expect(script.split('\n').filter((l) => l.includes('import os; open('))).toEqual([`#   spec:        ${pyStr(HOSTILE_NAME)}`, `SPEC_NAME = ${pyStr(HOSTILE_NAME)}`]);
    expect(script.split('\n').filter((l) => l.startsWith('SPEC_NAME = '))).toEqual([`SPEC_NAME = ${pyStr(HOSTILE_NAME)}`]);
    const run = await result(hostileJob);
    expect(run.code, run.stderr).toBe(0);
    expect(existsSync(join(dir, 'pwned'))).toBe(false);
    const { name } = await pythonJson<{ name: string }>(INSPECT, { script: hostileScript, schedules: [], inits: [] });
    expect(name).toBe(HOSTILE_NAME);
  });

  it('writes Python literals that parse to the same numbers', () => {
    expect(pyFloat(1)).toBe('1.0');
    expect(pyFloat(-0)).toBe('-0.0');
    expect(pyFloat(1e21)).toBe('1e+21');
    expect(pyFloat(5e-324)).toBe('5e-324');
    expect(pyFloat(0.1 + 0.2)).toBe('0.30000000000000004');
    expect(() => pyFloat(NaN)).toThrow(ExportError);
    expect(pyStr('x"\\\n\u00e9\u{1f600}')).toBe('"x\\"\\\\\\x0a\\xe9\\U0001f600"');
  });

  it('validates its arguments (exit 2, one message each) and documents how to scale', { timeout: 600_000 }, async () => {
    for (let i = 0; i < badArgs.length; i++) {
      const run = await result(badArgJobs[i]);
      expect(run.code, badArgs[i][0].join(' ')).toBe(2);
      expect(run.stderr).toMatch(badArgs[i][1]);
    }
    // --device cuda: refused where torch sees no CUDA device (CI), computed where it does.
    const cuda = await result(cudaJob);
    if (cuda.code === 0) expect(readJson(join(dir, 'cuda.json')).loss).toBeCloseTo(fixtures.find((f) => f.name === 'mlp_tiny_tanh_mse')!.expected.loss as number, 9);
    else {
      expect(cuda.code).toBe(2);
      expect(cuda.stderr).toMatch(/--device cuda: this PyTorch sees no CUDA device \(torch\.cuda\.is_available\(\) is False\)/);
    }
    const scale = await result(scaleJob);
    expect(scale.code).toBe(0);
    expect(scale.stdout).toMatch(/How to grow this experiment/);
    expect(scale.stdout).toMatch(/--init standard/);
  });

  it('stops with the runner\'s divergence message and writes no file', { timeout: 600_000 }, async () => {
    const run = await result(divergeJob);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(
      /error: learning rate 10000 diverged at step \d+: the (actual|linearized) model's loss or parameters became non-finite; try a learning rate below [0-9.e+-]+ \(the NTK's stability bound 2n\/lambda_max\)/,
    );
    expect(existsSync(join(dir, 'diverge.json'))).toBe(false);
    // The bound is the runner's: 2n / lambda_max of the metric-weighted NTK with the metric at
    // h0 (0 when alpha != 1), here for cross-entropy, where the metric depends on h0.
    const ce = await result(ceDivergeJob);
    expect(ce.code).toBe(1);
    const { n, c } = ceDivergeSpec.data;
    const ntk = computeReferenceResults(ceDivergeSpec, ['ntk']).ntk!;
    const bound = stableLearningRate(Float64Array.from(ntk.data), new Float64Array(n * c), n, c, 'cross_entropy');
    expect(ce.stderr).toContain(`try a learning rate below ${bound.toPrecision(3)} (the NTK's stability bound`);
    expect(existsSync(join(dir, 'diverge_ce.json'))).toBe(false);
  });
});

// ---- key selection and refusals ----------------------------------------------------------------

describe('what the exporter computes and refuses', () => {
  it('computes the runner\'s keys: every key that applies, or spec.compute', () => {
    const specs = [
      ...fixtures.map(fixtureSpec),
      validateSpec({ ...tiny(), data: { ...(tiny().data as object), x_test: undefined, y_test: undefined } }),
      validateSpec({ ...tiny(), compute: ['kfac', 'loss', 'outputs_test'] }),
      toySpec(),
    ];
    for (const spec of specs) {
      const runner = requestedKeys(spec, planModel(spec.model).P, infiniteProblem(spec) === null).keys;
      // The one runner key the script does not compute is noted, not silently dropped.
      expect([...exportPlan(spec).keys].sort()).toEqual(runner.filter((k) => k !== 'infinite').sort());
      if (runner.includes('infinite')) expect(exportPlan(spec).notes.some((m) => /^infinite skipped: the PyTorch export does not compute "infinite"/.test(m))).toBe(true);
    }
    expect(exportPlan(specs[specs.length - 2]).keys).toEqual(['outputs_test', 'loss', 'kfac']);
  });

  it('drops fisher above options.fisher_max_params with the runner\'s note, and refuses it when compute asks', () => {
    const spec = validateSpec({ ...tiny(), options: { fisher_max_params: 50 } });
    const plan = exportPlan(spec);
    expect(plan.keys).not.toContain('fisher');
    expect(plan.keys).toContain('fisher_trace');
    expect(plan.notes).toEqual(['fisher skipped: P = 51 > options.fisher_max_params = 50 (fisher_trace and fisher_frobenius are still computed)']);
    expect(() => exportPlan(validateSpec({ ...tiny(), options: { fisher_max_params: 50 }, compute: ['fisher'] }))).toThrow(
      'fisher: P = 51 parameters exceeds options.fisher_max_params = 50; raise it (at most 8192) or drop "fisher"',
    );
  });

  it('refuses natural-gradient training and keys it does not compute, in one line', () => {
    const spec = { ...tiny(), train: { optimizer: 'kfac', lr: 0.1, steps: 3 } };
    expect(() => exportPytorch(validateSpec(spec))).toThrow(
      /^train\.optimizer: the PyTorch export trains with "gd" or "sgd" \(with momentum and weight decay\), not "kfac"; use the lab or the headless runner/,
    );
    // Without "train" in compute the optimizer does not matter.
    expect(exportPlan(validateSpec({ ...spec, compute: ['ntk'] })).keys).toEqual(['ntk']);
    // A key the runner knows and the exporter does not (e.g. "infinite", being added): refused when asked for, skipped otherwise.
    const future = { ...validateSpec(tiny()), compute: ['loss', 'infinite'] };
    expect(() => exportPlan(future)).toThrow(/^compute: the PyTorch export does not compute "infinite" yet \(it computes theta, .*, train\)$/);
    expect(exportPlan({ ...validateSpec(tiny()), compute: null, train: null }).notes).toEqual([]);
  });
});

// ---- the CLI -----------------------------------------------------------------------------------

const lab = (...args: string[]) => spawnSync(process.execPath, [join(root, 'scripts/lab.mjs'), ...args], { cwd: root, encoding: 'utf8', timeout: 120_000 });

describe('lab export pytorch', () => {
  it('writes a script from a fixture file, which runs as a program', { timeout: 300_000 }, () => {
    const out = join(dir, 'cli.py');
    const r = lab('export', 'pytorch', join(root, 'tests/fixtures/mlp_tiny_tanh_mse.json'), '--out', out);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/wrote .*cli\.py: computes theta, outputs, .*kfac/);
    const script = readFileSync(out, 'utf8');
    expect(script.startsWith('#!/usr/bin/env python3\n')).toBe(true);
    expect(script).toContain('#   spec:        "mlp_tiny_tanh_mse"');
    expect(script).toMatch(/#   lab version: tangent-lab \d+\.\d+\.\d+/);
    requireTorch();
    const res = join(dir, 'cli-result.json');
    const py = spawnSync(PYTHON, [out, '--compute', 'loss,ntk_trace', '--out', res], { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '1' } });
    expect(py.status, py.stderr).toBe(0);
    expect(Object.keys(readJson(res))).toEqual(['loss', 'ntk_trace']);
  });

  it('refuses bad input with the runner\'s one-line message and writes no file', () => {
    const bad = tiny();
    (bad.model as { layers: { activation: string }[] }).layers[0].activation = 'swish';
    const specFile = join(dir, 'bad.json');
    writeFileSync(specFile, JSON.stringify(bad));
    const out = join(dir, 'never.py');
    const r = lab('export', 'pytorch', specFile, '--out', out);
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^error: model\.layers\[0\]\.activation: expected one of linear, tanh, relu, sigmoid, found "swish"$/m);
    expect(lab('run', specFile, '--out', join(dir, 'never.json')).stderr).toBe(r.stderr);
    expect(existsSync(out)).toBe(false);

    const kfacFile = join(dir, 'kfac.json');
    writeFileSync(kfacFile, JSON.stringify({ ...tiny(), train: { optimizer: 'ekfac', lr: 0.1, steps: 2 } }));
    const k = lab('export', 'pytorch', kfacFile, '--out', out);
    expect(k.status).toBe(1);
    expect(k.stderr.trim().split('\n')).toHaveLength(1);
    expect(k.stderr).toMatch(/^error: train\.optimizer: .*not "ekfac"/);
    expect(existsSync(out)).toBe(false);
  });

  it('rejects bad usage with exit code 2', () => {
    expect(lab('export').status).toBe(2);
    const onnx = lab('export', 'onnx', 'x.json');
    expect(onnx.status).toBe(2);
    expect(onnx.stderr).toMatch(/unknown export format "onnx" \(only pytorch\)/);
  });
});
