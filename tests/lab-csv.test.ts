// CSV import of the lab: parsing, roles of columns, splits, and clear errors for bad files.
import { describe, expect, it } from 'vitest';
import { CSV_LIMITS, CsvError, parseCsv, parseNumber } from '../src/data/csv';
import { checkDoc } from '../src/lab/doc/check';
import { DEFAULT_DOC } from '../src/lab/doc/document';
import { csvSpec } from '../src/lab/csv-spec';

const rows = (n: number, f: (i: number) => string) => Array.from({ length: n }, (_, i) => f(i)).join('\n');

describe('CSV import', () => {
  it('reads a classification file with a split column', () => {
    const text = 'x1,x2,label,split\n' + rows(10, (i) => `${i},${-i},${i % 2},${i < 8 ? 'train' : 'test'}`);
    const d = parseCsv(text, { standardize: false });
    expect(d.kind).toBe('classification');
    expect(d.features).toEqual(['x1', 'x2']);
    expect(d.classes).toBe(2);
    expect(d.x).toHaveLength(8);
    expect(d.x_test).toHaveLength(2);
    expect(d.y).toEqual([0, 1, 0, 1, 0, 1, 0, 1]);
    expect(d.x_test[0]).toEqual([8, -8]);
  });

  it('reads a regression file, semicolons, quotes, comments and CRLF', () => {
    const text = '# my data\r\n"a";b;target\r\n' + rows(20, (i) => `"${i / 10}";${i};${Math.sin(i)}`).replace(/\n/g, '\r\n');
    const d = parseCsv(text, { seed: 3 });
    expect(d.kind).toBe('regression');
    expect(d.classes).toBe(1);
    expect(d.x.length + d.x_test.length).toBe(20);
    expect(d.x_test).toHaveLength(4);
    // standardized on the training rows
    const mean = d.x.reduce((s, r) => s + r[0], 0) / d.x.length;
    expect(Math.abs(mean)).toBeLessThan(1e-12);
  });

  it('is deterministic for a seed', () => {
    const text = 'x,label\n' + rows(30, (i) => `${i},${i % 3}`);
    expect(parseCsv(text, { seed: 1 })).toEqual(parseCsv(text, { seed: 1 }));
    expect(parseCsv(text, { seed: 1 }).x_test).not.toEqual(parseCsv(text, { seed: 2 }).x_test);
  });

  const bad: [string, string, RegExp][] = [
    ['empty', '', /empty/],
    ['header only', 'x,label\n', /no data rows/],
    ['ragged row', 'x,y,label\n1,2,0\n3,1\n', /line 3: 2 cells, but the header has 3 columns/],
    ['non-numeric cell', 'x,y,label\n1,2,0\n3,abc,1\n', /line 3: column "y": "abc" is not a finite number/],
    ['hex number', 'x,label\n0x10,0\n1,1\n', /"0x10" is not a finite number/],
    ['Infinity', 'x,label\nInfinity,0\n1,1\n', /not a finite number/],
    ['empty cell', 'x,y,label\n1,,0\n1,2,1\n', /line 2: column "y": "" is not a finite number/],
    ['no header', '1,2,0\n3,4,1\n', /header of column names/],
    ['no label or target', 'a,b\n1,2\n', /no label or target column/],
    ['no features', 'label\n0\n1\n', /no feature columns/],
    ['fractional label', 'x,label\n1,0.5\n2,1\n', /not an integer/],
    ['negative label', 'x,label\n1,-1\n2,1\n', /not an integer/],
    ['missing class', 'x,label\n1,0\n2,2\n', /class 1 is missing/],
    ['one class', 'x,label\n1,0\n2,0\n', /only one class/],
    ['bad split', 'x,label,split\n1,0,train\n2,1,validation\n', /neither train nor test/],
    ['duplicate column', 'x,x,label\n1,2,0\n', /appears twice/],
    ['unclosed quote', 'x,label\n"1,0\n', /unclosed double quote/],
    ['too many columns', Array.from({ length: CSV_LIMITS.columns + 1 }, (_, i) => `c${i}`).join(',') + ',label\n', /too many columns/],
    ['too many rows', 'x,label\n' + rows(CSV_LIMITS.rows + 1, (i) => `${i},${i % 2}`), /too many rows/],
    ['label and target', 'x,label,target\n1,0,1\n', /both a label column and target/],
  ];
  for (const [what, text, message] of bad) {
    it(`rejects ${what} with a clear message`, () => {
      expect(() => parseCsv(text)).toThrow(CsvError);
      expect(() => parseCsv(text)).toThrow(message);
    });
  }

  it('parses numbers strictly', () => {
    expect(parseNumber('1e-3')).toBe(0.001);
    expect(parseNumber('-.5')).toBe(-0.5);
    expect(parseNumber('1.')).toBe(1);
    for (const s of ['', ' ', 'NaN', '1,5', '1e', '--1', 'Infinity', '0b1', '1e999']) expect(parseNumber(s)).toBeNull();
  });

  it('turns a CSV file into a valid lab document (classification and regression)', () => {
    const cls = 'x1,x2,label\n' + rows(40, (i) => `${Math.cos(i)},${Math.sin(i)},${i % 3}`);
    const { spec } = csvSpec(DEFAULT_DOC, cls);
    const doc = checkDoc({ ...DEFAULT_DOC, spec });
    expect(doc.spec.loss).toBe('cross_entropy');
    expect(doc.spec.model.input).toEqual([2]);
    const last = doc.spec.model.layers[doc.spec.model.layers.length - 1];
    expect(last).toMatchObject({ type: 'dense', units: 3 });
    const reg = 'a,b,c,target_1,target_2\n' + rows(30, (i) => `${i},${i * i},${-i},${i / 2},${i / 3}`);
    const r = checkDoc({ ...DEFAULT_DOC, spec: csvSpec(DEFAULT_DOC, reg).spec });
    expect(r.spec.loss).toBe('mse');
    expect(r.spec.model.input).toEqual([3]);
    expect(r.spec.model.layers[r.spec.model.layers.length - 1]).toMatchObject({ units: 2 });
  });
});
