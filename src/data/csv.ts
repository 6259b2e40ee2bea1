/**
 * CSV import for the lab: a header row, then one example per row. Column roles come from the
 * header names:
 *   - `label` (or `class`): an integer class label 0..k-1 -> classification (one column at most);
 *   - `target` or `target_<anything>`: real regression targets;
 *   - `split` (optional): `train` or `test` per row; without it a seeded 20 % of the rows is the test set;
 *   - every other column is a numeric feature.
 * Delimiters: comma, semicolon or tab (detected from the header). Double-quoted cells are
 * accepted. Nothing is evaluated: every cell goes through a strict number parse, and every
 * error names the line and the column so the user can fix the file.
 */
import { TangentError } from '../experiment/errors';
import { Rng } from '../util/rng';

export const CSV_LIMITS = {
  bytes: 4 << 20,
  rows: 5000,
  columns: 256,
  classes: 16,
};

export class CsvError extends TangentError {
  constructor(
    message: string,
    readonly line: number | null = null,
  ) {
    super('spec', line === null ? message : `line ${line}: ${message}`);
  }
}

export interface CsvOptions {
  /** Seed of the train/test split when the file has no `split` column. */
  seed?: number;
  /** Test fraction when the file has no `split` column (default 0.2). */
  testFraction?: number;
  /** Standardize features with the training rows' mean and standard deviation (default true). */
  standardize?: boolean;
}

export interface CsvDataset {
  kind: 'classification' | 'regression';
  features: string[];
  /** Target column names (regression) or the label column (classification). */
  targets: string[];
  /** Number of classes (classification) or target columns (regression). */
  classes: number;
  x: number[][];
  x_test: number[][];
  /** Integer labels (classification) or target rows (regression). */
  y: number[] | number[][];
  y_test: number[] | number[][];
  /** Notes for the user (split used, standardization). */
  notes: string[];
}

const LABEL_NAMES = ['label', 'class'];
const isTargetName = (h: string) => /^target(_.*)?$/i.test(h);

/** Split one line into cells, honouring double quotes ("" inside quotes is a quote). */
export function splitCsvLine(line: string, delim: string, lineNo: number): string[] {
  const cells: string[] = [];
  let cur = '';
  let quoted = false;
  let wasQuoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quoted) {
      if (ch === '"') {
        if (line[i + 1] === '"') {
          cur += '"';
          i++;
        } else quoted = false;
      } else cur += ch;
    } else if (ch === '"') {
      if (cur.trim() !== '') throw new CsvError('a quote in the middle of a cell', lineNo);
      quoted = true;
      wasQuoted = true;
      cur = '';
    } else if (ch === delim) {
      cells.push(wasQuoted ? cur : cur.trim());
      cur = '';
      wasQuoted = false;
    } else {
      if (wasQuoted && ch.trim() !== '') throw new CsvError('text after a closing quote', lineNo);
      cur += ch;
    }
  }
  if (quoted) throw new CsvError('an unclosed double quote', lineNo);
  cells.push(wasQuoted ? cur : cur.trim());
  return cells;
}

/** Strict decimal number parse (no hex, no empty string, no "Infinity"). */
export function parseNumber(s: string): number | null {
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(s)) return null;
  const v = Number(s);
  return Number.isFinite(v) ? v : null;
}

function detectDelimiter(header: string): string {
  const counts = [',', ';', '\t'].map((d) => [d, header.split(d).length - 1] as const);
  counts.sort((a, b) => b[1] - a[1]);
  return counts[0][1] > 0 ? counts[0][0] : ',';
}

const show = (s: string) => JSON.stringify(s.length > 24 ? s.slice(0, 24) + '…' : s);

/** Parse and validate CSV text into a train/test dataset (throws CsvError with a clear message). */
export function parseCsv(text: string, opts: CsvOptions = {}): CsvDataset {
  if (text.length > CSV_LIMITS.bytes) {
    throw new CsvError(`the file is too large (${(text.length / 1048576).toFixed(1)} MiB; at most ${CSV_LIMITS.bytes / 1048576} MiB)`);
  }
  const lines = text.replace(/^\uFEFF/, '').split(/\r\n|\n|\r/);
  const rows: { cells: string[]; line: number }[] = [];
  lines.forEach((l, i) => {
    if (l.trim() !== '' && !l.startsWith('#')) rows.push({ cells: [], line: i + 1 });
  });
  if (rows.length === 0) throw new CsvError('the file is empty: expected a header row and at least one data row');
  const delim = detectDelimiter(lines[rows[0].line - 1]);
  const header = splitCsvLine(lines[rows[0].line - 1], delim, rows[0].line);
  if (header.length > CSV_LIMITS.columns) {
    throw new CsvError(`too many columns: ${header.length} (at most ${CSV_LIMITS.columns})`, rows[0].line);
  }
  const dataRows = rows.slice(1);
  if (dataRows.length === 0) throw new CsvError('no data rows after the header');
  if (dataRows.length > CSV_LIMITS.rows) throw new CsvError(`too many rows: ${dataRows.length} (at most ${CSV_LIMITS.rows})`);
  header.forEach((h, j) => {
    if (h === '') throw new CsvError(`column ${j + 1} has an empty name in the header`, rows[0].line);
    if (parseNumber(h) !== null) {
      throw new CsvError(`the first row must be a header of column names; found the number ${show(h)} (add a header such as x1,x2,label)`, rows[0].line);
    }
    if (header.indexOf(h) !== j) throw new CsvError(`the column name ${show(h)} appears twice`, rows[0].line);
  });
  const lower = header.map((h) => h.toLowerCase());
  const labelCols = lower.map((h, j) => (LABEL_NAMES.includes(h) ? j : -1)).filter((j) => j >= 0);
  const targetCols = header.map((h, j) => (isTargetName(h) ? j : -1)).filter((j) => j >= 0);
  const splitCol = lower.indexOf('split');
  if (labelCols.length > 1) throw new CsvError('more than one label column (use one column named "label")', rows[0].line);
  if (labelCols.length === 1 && targetCols.length > 0) {
    throw new CsvError(`both a label column and target columns (${targetCols.map((j) => header[j]).join(', ')}): use one or the other`, rows[0].line);
  }
  if (labelCols.length === 0 && targetCols.length === 0) {
    throw new CsvError('no label or target column: name the class column "label" (integers 0..k-1) or the regression columns "target" / "target_1", …', rows[0].line);
  }
  const featureCols = header.map((_, j) => j).filter((j) => !labelCols.includes(j) && !targetCols.includes(j) && j !== splitCol);
  if (featureCols.length === 0) throw new CsvError('no feature columns (every column other than label/target/split is a feature)', rows[0].line);

  const kind = labelCols.length === 1 ? 'classification' : 'regression';
  const x: number[][] = [];
  const ys: number[][] = [];
  const isTest: boolean[] = [];
  for (const r of dataRows) {
    const cells = splitCsvLine(lines[r.line - 1], delim, r.line);
    if (cells.length !== header.length) {
      throw new CsvError(`${cells.length} cells, but the header has ${header.length} columns (ragged row)`, r.line);
    }
    const num = (j: number) => {
      const v = parseNumber(cells[j]);
      if (v === null) throw new CsvError(`column "${header[j]}": ${show(cells[j])} is not a finite number`, r.line);
      return v;
    };
    x.push(featureCols.map(num));
    if (kind === 'classification') {
      const v = num(labelCols[0]);
      if (!Number.isInteger(v) || v < 0) throw new CsvError(`column "${header[labelCols[0]]}": the label ${show(cells[labelCols[0]])} is not an integer 0..k-1`, r.line);
      if (v >= CSV_LIMITS.classes) throw new CsvError(`column "${header[labelCols[0]]}": label ${v} is too large (at most ${CSV_LIMITS.classes} classes)`, r.line);
      ys.push([v]);
    } else {
      ys.push(targetCols.map(num));
    }
    if (splitCol >= 0) {
      const s = cells[splitCol].toLowerCase();
      if (s !== 'train' && s !== 'test') throw new CsvError(`column "split": ${show(cells[splitCol])} is neither train nor test`, r.line);
      isTest.push(s === 'test');
    }
  }

  const notes: string[] = [];
  let order = x.map((_, i) => i);
  let testIdx: number[];
  let trainIdx: number[];
  if (splitCol >= 0) {
    trainIdx = order.filter((i) => !isTest[i]);
    testIdx = order.filter((i) => isTest[i]);
    notes.push(`split column: ${trainIdx.length} train, ${testIdx.length} test rows`);
  } else {
    const frac = opts.testFraction ?? 0.2;
    order = order.slice();
    new Rng(opts.seed ?? 0).shuffle(order);
    const nTest = x.length >= 5 ? Math.round(frac * x.length) : 0;
    testIdx = order.slice(0, nTest).sort((a, b) => a - b);
    trainIdx = order.slice(nTest).sort((a, b) => a - b);
    notes.push(`no split column: a seeded ${Math.round(frac * 100)} % of the rows (${testIdx.length}) form the test set`);
  }
  if (trainIdx.length === 0) throw new CsvError('no training rows (every row has split = test)');

  let classes: number;
  if (kind === 'classification') {
    const labels = new Set(ys.map((r) => r[0]));
    classes = Math.max(...labels) + 1;
    if (classes < 2) throw new CsvError('only one class: a classification file needs labels 0 and 1 at least');
    for (let k = 0; k < classes; k++) {
      if (!labels.has(k)) throw new CsvError(`labels must be 0..${classes - 1} with every class present; class ${k} is missing`);
    }
  } else {
    classes = targetCols.length;
  }

  if (opts.standardize ?? true) {
    const d = featureCols.length;
    for (let j = 0; j < d; j++) {
      let mean = 0;
      for (const i of trainIdx) mean += x[i][j];
      mean /= trainIdx.length;
      let v = 0;
      for (const i of trainIdx) v += (x[i][j] - mean) ** 2;
      const sd = Math.sqrt(v / trainIdx.length) || 1;
      for (const row of x) row[j] = (row[j] - mean) / sd;
    }
    notes.push('features standardized with the training rows’ mean and standard deviation');
  }

  const pickY = (idx: number[]) => (kind === 'classification' ? idx.map((i) => ys[i][0]) : idx.map((i) => ys[i]));
  return {
    kind,
    features: featureCols.map((j) => header[j]),
    targets: kind === 'classification' ? [header[labelCols[0]]] : targetCols.map((j) => header[j]),
    classes,
    x: trainIdx.map((i) => x[i]),
    x_test: testIdx.map((i) => x[i]),
    y: pickY(trainIdx) as number[] | number[][],
    y_test: pickY(testIdx) as number[] | number[][],
    notes,
  };
}
