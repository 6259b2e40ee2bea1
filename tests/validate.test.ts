/** Bad input gives a clear error naming the field (issue: engine core, "Bad input"). */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseSpecText, validateSpec } from '../src/api/validate';
import { SpecError } from '../src/experiment/errors';
import { planOf } from '../src/model/layout';

const tiny = JSON.parse(readFileSync(resolve(__dirname, 'fixtures/mlp_tiny_tanh_mse.json'), 'utf8')).spec;
const cnn = JSON.parse(readFileSync(resolve(__dirname, 'fixtures/cnn_8x8_relu_ce.json'), 'utf8')).spec;
const clone = <T>(x: T): T => JSON.parse(JSON.stringify(x));

function expectSpecError(raw: unknown, field: RegExp, message?: RegExp) {
  let err: unknown;
  try {
    validateSpec(raw);
  } catch (e) {
    err = e;
  }
  expect(err, 'expected a SpecError').toBeInstanceOf(SpecError);
  expect((err as SpecError).field).toMatch(field);
  if (message) expect((err as Error).message).toMatch(message);
}

describe('spec validation', () => {
  it('accepts every fixture spec', () => {
    for (const s of [tiny, cnn]) expect(() => validateSpec(s)).not.toThrow();
  });

  it('resolves the parameter layout of the fixture README', () => {
    const spec = validateSpec(tiny);
    const plan = planOf(spec);
    expect(plan.P).toBe(51);
    expect(plan.paramLayers.map((l) => [l.offset, l.size])).toEqual([
      [0, 24],
      [24, 27],
    ]);
    // theta[3o + j] = W1[o, j], theta[3o + 2] = b1[o]
    expect(spec.theta[3 * 5 + 1]).toBe(tiny.params[0].weight[5][1]);
    expect(spec.theta[3 * 5 + 2]).toBe(tiny.params[0].bias[5]);
    expect(spec.theta[24 + 9 * 2 + 8]).toBe(tiny.params[1].bias[2]);
  });

  it('rejects text that is not JSON', () => {
    expect(() => parseSpecText('{"model": ', 'spec.json')).toThrow(/spec.json: expected a JSON document/);
  });

  it('names unknown layer types and activations', () => {
    const a = clone(tiny);
    a.model.layers[0].type = 'lstm';
    expectSpecError(a, /^model\.layers\[0\]\.type$/, /dense, conv2d, avgpool2d, flatten/);
    const b = clone(tiny);
    b.model.layers[1].activation = 'gelu';
    expectSpecError(b, /^model\.layers\[1\]\.activation$/, /linear, tanh, relu, sigmoid/);
  });

  it('names params whose shapes disagree with the model', () => {
    const a = clone(tiny);
    a.params[0].weight.pop();
    expectSpecError(a, /^params\[0\]\.weight$/, /length 8/);
    const b = clone(tiny);
    b.params[1].bias.push(0);
    expectSpecError(b, /^params\[1\]\.bias$/);
    const c = clone(tiny);
    c.params.pop();
    expectSpecError(c, /^params$/, /2 entries/);
  });

  it('names labels out of range and non-integer labels', () => {
    const a = clone(cnn);
    a.data.y[3] = 3;
    expectSpecError(a, /^data\.y\[3\]$/, /0\.\.2/);
    const b = clone(cnn);
    b.data.y_test[0] = 1.5;
    expectSpecError(b, /^data\.y_test\[0\]$/);
  });

  it('names NaN and Infinity in data and params (as they arrive from JS, or as null from JSON)', () => {
    const a = clone(tiny);
    a.data.x[1][0] = NaN;
    expectSpecError(a, /^data\.x\[1\]\[0\]$/, /finite number, found NaN/);
    const b = clone(tiny);
    b.params[0].weight[2][1] = Infinity;
    expectSpecError(b, /^params\[0\]\.weight\[2\]\[1\]$/);
    const c = clone(tiny);
    c.params[0].bias[0] = null;
    expectSpecError(c, /^params\[0\]\.bias\[0\]$/, /found null/);
  });

  it('names zero or negative sizes', () => {
    const a = clone(tiny);
    a.model.layers[0].units = 0;
    expectSpecError(a, /^model\.layers\[0\]\.units$/, /positive integer/);
    const b = clone(cnn);
    b.model.layers[0].kernel = -3;
    expectSpecError(b, /^model\.layers\[0\]\.kernel$/);
    const c = clone(tiny);
    c.model.input = [0];
    expectSpecError(c, /^model\.input\[0\]$/);
    const d = clone(tiny);
    d.data.x = [];
    expectSpecError(d, /^data\.x$/, /at least one example/);
  });

  it('names a kernel larger than the padded input', () => {
    const a = clone(cnn);
    a.model.layers[0].kernel = 11;
    expectSpecError(a, /^model\.layers\[0\]\.kernel$/, /padded input 10x10/);
  });

  it('names train settings that cannot work', () => {
    const base = { ...clone(tiny), train: { optimizer: 'gd', lr: 0.1, steps: 10 } };
    expectSpecError({ ...base, train: { ...base.train, alpha: 0 } }, /^train\.alpha$/, /> 0/);
    expectSpecError({ ...base, train: { ...base.train, alpha: -1 } }, /^train\.alpha$/);
    expectSpecError({ ...base, train: { ...base.train, batch_size: 5 } }, /^train\.batch_size$/, /at most n = 4/);
    expectSpecError({ ...base, train: { ...base.train, batch_size: 2 } }, /^train\.batch_size$/, /full-batch gd/);
    expect(() => validateSpec({ ...base, train: { ...base.train, optimizer: 'sgd', batch_size: 2 } })).not.toThrow();
    expectSpecError({ ...base, train: { ...base.train, checkpoints: [0, 5, 3] } }, /^train\.checkpoints\[2\]$/, /increasing/);
    expectSpecError({ ...base, train: { ...base.train, checkpoints: [0, 11] } }, /^train\.checkpoints\[1\]$/, /between 0 and/);
    expectSpecError({ ...base, train: { ...base.train, lr: 0 } }, /^train\.lr$/);
    expectSpecError({ ...base, train: { ...base.train, damping: 0 } }, /^train\.damping$/);
    expectSpecError({ ...base, train: { ...base.train, optimizer: 'adam' } }, /^train\.optimizer$/);
  });

  it('rejects unknown keys and wrong shapes instead of ignoring them', () => {
    expectSpecError({ ...clone(tiny), modle: {} }, /^spec\.modle$/);
    expectSpecError({ ...clone(tiny), model: [] }, /^model$/);
    expectSpecError({ ...clone(tiny), loss: 'hinge' }, /^loss$/);
    expectSpecError(42, /^spec$/);
    expectSpecError({ ...clone(tiny), compute: ['ntk', 'everything'] }, /^compute\[1\]$/);
  });

  it('needs params or init, and at least two outputs for cross-entropy', () => {
    const a = clone(tiny);
    delete a.params;
    expectSpecError(a, /^params$/, /init/);
    const b = clone(tiny);
    b.loss = 'cross_entropy';
    b.model.layers[1].units = 1;
    delete b.params;
    b.init = { seed: 0, scheme: 'standard' };
    b.data.y = [0, 0, 0, 0];
    b.data.y_test = [0, 0];
    expectSpecError(b, /^model\.layers$/, /at least 2 outputs/);
  });

  it('generates seeded datasets and initializations reproducibly', () => {
    const raw = {
      model: { input: [2], layers: [{ type: 'dense', units: 5, activation: 'tanh' }, { type: 'dense', units: 2, activation: 'linear' }] },
      init: { seed: 9, scheme: 'ntk' },
      loss: 'cross_entropy',
      data: { dataset: 'spirals', n: 30, n_test: 10, seed: 4, label_noise: 0.2, classes: 2 },
    };
    const a = validateSpec(raw);
    const b = validateSpec(clone(raw));
    expect(Array.from(a.theta)).toEqual(Array.from(b.theta));
    expect(Array.from(a.data.x)).toEqual(Array.from(b.data.x));
    expect(a.model.parameterization).toBe('ntk');
    expect(a.data.meta.flipped!.reduce((s, v) => s + v, 0)).toBe(6);
    expectSpecError({ ...raw, data: { ...raw.data, dataset: 'mnist-9000' } }, /^data\.dataset$/);
    expectSpecError({ ...raw, data: { ...raw.data, label_noise: 2 } }, /^data\.label_noise$/);
  });
});
