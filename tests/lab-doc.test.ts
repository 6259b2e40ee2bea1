// The lab document: presets validate, every control of the parameter table produces valid
// documents at its bounds, architectures round-trip, and image data resolves from the committed files.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { PRESETS } from '../src/lab/presets';
import { PARAMS, bound, withDataset, withLoss } from '../src/lab/params';
import { checkDoc, validateLabSpec } from '../src/lab/doc/check';
import { conform, readArch, buildLayers } from '../src/lab/doc/architecture';
import { DEFAULT_DOC, type LabDoc } from '../src/lab/doc/document';
import { expandRuns, parseCompareValues } from '../src/lab/doc/compare';
import { sessionOptionsFor } from '../src/lab/doc/session-options';
import { dataFacts } from '../src/lab/doc/data-facts';
import { runRequests } from '../src/lab/store';

import { decodeImageSet, IMAGE_SETS, resolveImageSpec, placeholderImageSpec } from '../src/data/images';
import { validateSpec } from '../src/api/validate';
import { DATASETS } from '../src/data/datasets';

const image = (name: string) => decodeImageSet(name, new Uint8Array(readFileSync(`public/datasets/${IMAGE_SETS[name].file}`)));

describe('presets', () => {
  for (const p of PRESETS) {
    it(`${p.title} validates, with every comparison run`, () => {
      const doc = checkDoc(p.doc);
      expect(doc).toEqual(p.doc);
      const runs = expandRuns(doc);
      expect(runs.length).toBeGreaterThanOrEqual(2);
      for (const r of runs) validateLabSpec(r.spec);
      const reqs = runRequests(doc);
      for (const r of reqs) expect(r.options.metricsEvery).toBeGreaterThanOrEqual(1);
    });
  }
  it('cover the four experiments of the issue', () => {
    expect(PRESETS.map((p) => p.id)).toEqual(['lazy-vs-hasty', 'ntk-alignment', 'ekfac-vs-kfac', 'wider-is-lazier']);
    expect(PRESETS[0].doc.compare).toEqual({ param: 'alpha', values: [1, 100] });
    expect((PRESETS[0].doc.spec.data as { dataset: string }).dataset).toBe('disk');
    expect((PRESETS[1].doc.spec.data as { dataset: string }).dataset in IMAGE_SETS).toBe(true);
  });
});

describe('parameter table', () => {
  const docs: [string, LabDoc][] = [['default', DEFAULT_DOC], ...PRESETS.map((p) => [p.id, p.doc] as [string, LabDoc])];
  for (const [name, doc] of docs) {
    it(`every visible control of ${name} yields a valid document at its bounds`, () => {
      for (const p of PARAMS) {
        if (p.visible && !p.visible(doc)) continue;
        const values: (number | string)[] = [];
        if (p.control === 'select') values.push(...p.options!(doc).map((o) => o.value).filter((v) => v !== '__explicit' && v !== 'custom'));
        else if (p.control !== 'toggle') values.push(bound(p.min, doc, 0), bound(p.max, doc, 1));
        for (const v of values) {
          const next = p.set(doc, v);
          expect(() => checkDoc(next), `${p.id} = ${v}`).not.toThrow();
          if (p.control !== 'select' && p.id !== 'lr' && p.id !== 'alpha' && p.id !== 'damping' && p.id !== 'gain') expect(p.get(next)).toBe(v);
        }
      }
    });
  }

  it('switching dataset keeps a consistent model (toys, regression, images)', () => {
    let spec = DEFAULT_DOC.spec;
    for (const name of [...Object.keys(DATASETS), ...Object.keys(IMAGE_SETS), 'disk']) {
      spec = withDataset(spec, name);
      const doc = checkDoc({ ...DEFAULT_DOC, spec });
      expect(doc.spec.model.input).toEqual(dataFacts(doc.spec).input);
      for (const loss of ['mse', 'cross_entropy'] as const) {
        if (loss === 'cross_entropy' && dataFacts(spec).task === 'regression') continue;
        checkDoc({ ...DEFAULT_DOC, spec: withLoss(spec, loss) });
      }
    }
  });

  it('a toy class count does not carry over to an image set (spirals 3 → digits 10)', () => {
    const cls = (spec: typeof DEFAULT_DOC.spec) => (spec.data as unknown as { classes?: number }).classes;
    const spirals = withDataset(DEFAULT_DOC.spec, 'spirals');
    expect(cls(spirals)).toBe(3);
    const digits = withDataset(spirals, 'digits');
    expect(cls(digits) ?? 10).toBe(10);
    expect(digits.model.layers.at(-1)).toMatchObject({ units: 10 });
    const fashion = withDataset({ ...digits, data: { ...(digits.data as object), classes: 4 } as unknown as typeof digits.data }, 'fashion');
    expect(cls(fashion)).toBe(4);
    expect(cls(withDataset(fashion, 'blobs'))).toBe(3);
  });

  it('comparison values: a word among numbers is named, not reported as null', () => {
    expect(() => parseCompareValues('alpha', '1, abc')).toThrow(/compare\.values: "abc" is not a number/);
    expect(parseCompareValues('alpha', '1, 100')).toEqual([1, 100]);
    expect(parseCompareValues('optimizer', 'SGD ekfac')).toEqual(['sgd', 'ekfac']);
    expect(() => checkDoc({ ...DEFAULT_DOC, compare: { param: 'alpha', values: [1, NaN] } })).toThrow(/found NaN/);
  });

  it('rejected edits name the field', () => {
    expect(() => checkDoc({ ...DEFAULT_DOC, spec: { ...DEFAULT_DOC.spec, train: { optimizer: 'sgd', lr: 0.1, steps: 10, batch_size: 1000 } } })).toThrow(/train\.batch_size/);
  });
});

describe('architectures', () => {
  it('round-trip through the layer list', () => {
    for (const arch of [
      { kind: 'mlp', depth: 3, width: 17, activation: 'tanh' },
      { kind: 'mlp', depth: 0, width: 32, activation: 'relu' },
      { kind: 'cnn', convLayers: 2, filters: 5, kernel: 3, padding: 1, pool: 2, activation: 'relu' },
      { kind: 'cnn', convLayers: 1, filters: 2, kernel: 5, padding: 0, pool: 1, activation: 'sigmoid' },
    ] as const) {
      const input = arch.kind === 'cnn' ? [1, 14, 14] : [2];
      expect(readArch(buildLayers(arch, input, 3))).toEqual(arch);
    }
    expect(readArch([{ type: 'dense', units: 4, activation: 'relu' }, { type: 'dense', units: 5, activation: 'tanh' }, { type: 'dense', units: 1, activation: 'linear' }])).toBeNull();
  });
});

describe('image subsets', () => {
  it('decode, match their metadata and resolve into valid specs', () => {
    for (const name of Object.keys(IMAGE_SETS)) {
      const set = image(name);
      const [C, H, W] = IMAGE_SETS[name].shape;
      expect(set.pixels.length).toBe((set.trainPool + set.testPool) * C * H * W);
      expect(set.pixels.every((v) => v >= 0 && v <= 1)).toBe(true);
      const spec = withDataset(DEFAULT_DOC.spec, name);
      const withNoise = conform({ ...spec, data: { ...(spec.data as object), n: 50, n_test: 20, label_noise: 0.2, classes: 4 } as unknown as typeof spec.data });
      const { spec: explicit, flipped } = resolveImageSpec(withNoise as typeof spec, set);
      const r = validateSpec(explicit);
      expect(r.data.n).toBe(50);
      expect(r.data.nTest).toBe(20);
      expect(r.data.c).toBe(4);
      expect(flipped.filter(Boolean)).toHaveLength(10);
      expect(r.data.labels!.every((l) => l < 4)).toBe(true);
      // placeholder validation gives the same shapes without the pixels
      const ph = validateSpec(placeholderImageSpec(withNoise as typeof spec));
      expect([ph.data.n, ph.data.nTest, ph.data.c]).toEqual([50, 20, 4]);
      // deterministic for a seed
      expect(resolveImageSpec(withNoise as typeof spec, set).spec).toEqual(explicit);
    }
  });

  it('rejects corrupted files and bad options', () => {
    const bytes = new Uint8Array(readFileSync('public/datasets/digits-8x8.bin'));
    expect(() => decodeImageSet('digits', bytes.subarray(1))).toThrow(/expected \d+ bytes/);
    expect(() => checkDoc({ ...DEFAULT_DOC, spec: { ...withDataset(DEFAULT_DOC.spec, 'digits'), data: { dataset: 'digits', n: 5000 } } })).toThrow(/data\.n/);
    expect(() => checkDoc({ ...DEFAULT_DOC, spec: { ...withDataset(DEFAULT_DOC.spec, 'digits'), data: { dataset: 'digits', n: 10, evil: 1 } } })).toThrow(/data\.evil/);
  });

  it('session options scale with the experiment', () => {
    const r = validateLabSpec(DEFAULT_DOC.spec);
    const o = sessionOptionsFor(r);
    expect(o.gridEvery).toBeGreaterThan(0);
    expect(o.closedForm).toBe(true);
  });
});
