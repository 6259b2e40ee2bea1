/**
 * Metric series of one run: the session's MetricEvents flattened into columns the plots read
 * (one array per quantity, null where a quantity was not measured at that event), plus the few
 * heavy snapshots kept only as "latest" (decision grids, spectra). Pure data; appending returns
 * a new Series object (the column arrays are shared and grown in place, so appending is O(k)).
 */
import type { MetricEvent, ModelMetrics } from '../api/session-types';
import type { AlignmentDef } from './doc/document';
import { ALIGNMENT_DEFS } from './doc/document';

export const COLUMNS = [
  'step',
  'wallTime',
  'loss.actual',
  'loss.actualTest',
  'loss.linearized',
  'loss.linearizedTest',
  'loss.closedForm',
  'loss.closedFormTest',
  'loss.infinite',
  'loss.infiniteTest',
  'acc.actual',
  'acc.actualTest',
  'acc.linearized',
  'acc.linearizedTest',
  'acc.infinite',
  'acc.infiniteTest',
  'dist.actual',
  'dist.linearized',
  'gap.train',
  'gap.test',
  'gapInf.actual',
  'gapInf.actualTest',
  'gapInf.linearized',
  'gapInf.linearizedTest',
  'align.ntk_centered',
  'align.ntk_uncentered',
  'align.centered',
  'align.uncentered',
  'rank',
  'stableLr',
  'sim',
  'simCentered',
  'relu',
  'ntkDistInf',
] as const;
export type Column = (typeof COLUMNS)[number];

export interface Series {
  /** Bumped on every append (plots compare it to know whether to redraw). */
  version: number;
  length: number;
  cols: Record<Column, (number | null)[]>;
  /** Per-layer alignment per definition, one array per event (null when not measured). */
  perLayer: Record<AlignmentDef, (number[] | null)[]>;
  /** Per-group loss of the actual and the linearized model, one array per event. */
  groupLoss: { actual: (number[] | null)[]; linearized: (number[] | null)[] };
  /** The first event with a spectrum (theta0) and the latest one. */
  spectrumInit: number[] | null;
  spectrumNow: number[] | null;
  /** The latest decision grid. */
  grid: MetricEvent['grid'];
  gridStep: number | null;
  /** The first (theta0) and the latest output-traced kernel of the actual model on the probe examples. */
  kernelInit: (NonNullable<MetricEvent['kernel']> & { step: number }) | null;
  kernelNow: (NonNullable<MetricEvent['kernel']> & { step: number }) | null;
}

/**
 * The models a session trains or predicts, and their columns: the headline numbers, the loss
 * plot and the CSV read this table, so a further model is one more entry here and in `row`.
 */
export interface ModelColumns {
  id: 'actual' | 'linearized' | 'closedForm' | 'infinite';
  label: string;
  loss: Column;
  lossTest: Column;
  acc: Column | null;
  accTest: Column | null;
  dist: Column | null;
  /** Line style of this model in every plot. */
  dash: string;
  /** Line style of its test loss (null: no test line drawn). */
  testDash: string | null;
}

export const MODELS: readonly ModelColumns[] = [
  { id: 'actual', label: 'actual', loss: 'loss.actual', lossTest: 'loss.actualTest', acc: 'acc.actual', accTest: 'acc.actualTest', dist: 'dist.actual', dash: 'solid', testDash: 'dot' },
  { id: 'linearized', label: 'linearized', loss: 'loss.linearized', lossTest: 'loss.linearizedTest', acc: 'acc.linearized', accTest: 'acc.linearizedTest', dist: 'dist.linearized', dash: 'dash', testDash: 'longdashdot' },
  { id: 'closedForm', label: 'closed form', loss: 'loss.closedForm', lossTest: 'loss.closedFormTest', acc: null, accTest: null, dist: null, dash: 'dashdot', testDash: null },
  // The infinite-width network (NTK-parameterized models with an infinite-width limit): the mean
  // predictor of the limit, trained in function space from h = 0 (no parameters: no distance).
  { id: 'infinite', label: 'infinite width', loss: 'loss.infinite', lossTest: 'loss.infiniteTest', acc: 'acc.infinite', accTest: 'acc.infiniteTest', dist: null, dash: 'longdash', testDash: '8px,3px,2px,3px,2px,3px' },
];

export function emptySeries(): Series {
  const cols = {} as Series['cols'];
  for (const c of COLUMNS) cols[c] = [];
  const perLayer = {} as Series['perLayer'];
  for (const a of ALIGNMENT_DEFS) perLayer[a] = [];
  return { version: 0, length: 0, cols, perLayer, groupLoss: { actual: [], linearized: [] }, spectrumInit: null, spectrumNow: null, grid: null, gridStep: null, kernelInit: null, kernelNow: null };
}

const fin = (v: number | null | undefined): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

function row(e: MetricEvent): Record<Column, number | null> {
  const m = (x: ModelMetrics | null) => x ?? null;
  const a = e.alignment;
  return {
    step: e.step,
    wallTime: fin(e.wallTime),
    'loss.actual': fin(e.actual.loss),
    'loss.actualTest': fin(e.actual.lossTest),
    'loss.linearized': fin(m(e.linearized)?.loss),
    'loss.linearizedTest': fin(m(e.linearized)?.lossTest),
    'loss.closedForm': fin(m(e.closedForm)?.loss),
    'loss.closedFormTest': fin(m(e.closedForm)?.lossTest),
    'loss.infinite': fin(m(e.infinite)?.loss),
    'loss.infiniteTest': fin(m(e.infinite)?.lossTest),
    'acc.actual': fin(e.actual.accuracy),
    'acc.actualTest': fin(e.actual.accuracyTest),
    'acc.linearized': fin(m(e.linearized)?.accuracy),
    'acc.linearizedTest': fin(m(e.linearized)?.accuracyTest),
    'acc.infinite': fin(m(e.infinite)?.accuracy),
    'acc.infiniteTest': fin(m(e.infinite)?.accuracyTest),
    'dist.actual': fin(e.actual.paramDistance),
    'dist.linearized': fin(m(e.linearized)?.paramDistance),
    'gap.train': fin(e.gap?.train),
    'gap.test': fin(e.gap?.test),
    'gapInf.actual': fin(e.gapToInfinite?.actual.train),
    'gapInf.actualTest': fin(e.gapToInfinite?.actual.test),
    'gapInf.linearized': fin(e.gapToInfinite?.linearized?.train),
    'gapInf.linearizedTest': fin(e.gapToInfinite?.linearized?.test),
    'align.ntk_centered': fin(a?.ntk_centered),
    'align.ntk_uncentered': fin(a?.ntk_uncentered),
    'align.centered': fin(a?.centered),
    'align.uncentered': fin(a?.uncentered),
    rank: fin(e.spectrum?.effectiveRank),
    stableLr: fin(e.spectrum?.stableLr),
    sim: fin(e.movement?.ntkSimilarityToInit),
    simCentered: fin(e.movement?.ntkSimilarityToInitCentered),
    relu: fin(e.movement?.reluSignSimilarity),
    ntkDistInf: fin(e.movement?.ntkDistanceToInfinite),
  };
}

/**
 * Append events (in step order; an event for a step already present replaces nothing, it is
 * skipped). The store only appends events of the run's own load (protocol.ts), so a skipped event
 * is a duplicate, never a row of another run.
 */
export function appendEvents(s: Series, events: readonly MetricEvent[]): Series {
  let { spectrumInit, spectrumNow, grid, gridStep, kernelInit, kernelNow, length } = s;
  const lastStep = length > 0 ? (s.cols.step[length - 1] as number) : -1;
  let last = lastStep;
  for (const e of events) {
    if (e.step <= last) continue;
    last = e.step;
    const r = row(e);
    for (const c of COLUMNS) s.cols[c].push(r[c]);
    const a = e.alignment;
    s.perLayer.ntk_centered.push(a ? a.per_layer_ntk_centered.slice() : null);
    s.perLayer.ntk_uncentered.push(a ? a.per_layer_ntk_uncentered.slice() : null);
    s.perLayer.centered.push(a ? a.per_layer_centered.slice() : null);
    s.perLayer.uncentered.push(a ? a.per_layer_uncentered.slice() : null);
    s.groupLoss.actual.push(e.actual.groupLoss ? e.actual.groupLoss.slice() : null);
    s.groupLoss.linearized.push(e.linearized?.groupLoss ? e.linearized.groupLoss.slice() : null);
    if (e.spectrum) {
      if (spectrumInit === null) spectrumInit = e.spectrum.eigenvalues.slice();
      spectrumNow = e.spectrum.eigenvalues.slice();
    }
    if (e.grid) {
      grid = e.grid;
      gridStep = e.step;
    }
    if (e.kernel) {
      kernelNow = { ...e.kernel, step: e.step };
      if (kernelInit === null) kernelInit = kernelNow;
    }
    length++;
  }
  return { ...s, version: s.version + 1, length, spectrumInit, spectrumNow, grid, gridStep, kernelInit, kernelNow };
}

/** The last non-null value of a column. */
export function lastValue(s: Series, c: Column): number | null {
  const col = s.cols[c];
  for (let i = col.length - 1; i >= 0; i--) if (col[i] !== null) return col[i];
  return null;
}

/** The step of the last event (0 before any). */
export function lastStep(s: Series): number {
  return s.length ? (s.cols.step[s.length - 1] as number) : 0;
}

/**
 * Columns as CSV (one row per event; per-layer and per-group values as extra columns; with
 * ||theta0|| known, the parameter movement relative to it, `reldist.<model>`).
 * Difficulty groups are numbered as the session lists them (SessionInfo.groups: boundary groups
 * from the nearest quarter, 0, to the farthest, 3; label-noise groups clean 0, flipped 1).
 */
export function seriesToCsv(runs: { label: string; series: Series; theta0Norm?: number | null }[]): string {
  const maxLayers = Math.max(0, ...runs.flatMap((r) => r.series.perLayer.ntk_centered.map((v) => v?.length ?? 0)));
  const maxGroups = Math.max(0, ...runs.flatMap((r) => r.series.groupLoss.actual.map((v) => v?.length ?? 0)));
  const header = [
    'run',
    ...COLUMNS,
    'reldist.actual',
    'reldist.linearized',
    ...Array.from({ length: maxLayers }, (_, l) => `align.ntk_centered.layer${l}`),
    ...Array.from({ length: maxGroups }, (_, g) => `groupLoss.actual.${g}`),
    ...Array.from({ length: maxGroups }, (_, g) => `groupLoss.linearized.${g}`),
  ];
  const quote = (s: string) => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
  const lines = [header.join(',')];
  for (const r of runs) {
    for (let i = 0; i < r.series.length; i++) {
      const cells: string[] = [quote(r.label)];
      for (const c of COLUMNS) cells.push(fmt(r.series.cols[c][i]));
      for (const c of ['dist.actual', 'dist.linearized'] as const) {
        const v = r.series.cols[c][i];
        cells.push(fmt(v !== null && r.theta0Norm ? v / r.theta0Norm : null));
      }
      const pl = r.series.perLayer.ntk_centered[i];
      for (let l = 0; l < maxLayers; l++) cells.push(fmt(pl?.[l]));
      const ga = r.series.groupLoss.actual[i];
      const gl = r.series.groupLoss.linearized[i];
      for (let g = 0; g < maxGroups; g++) cells.push(fmt(ga?.[g]));
      for (let g = 0; g < maxGroups; g++) cells.push(fmt(gl?.[g]));
      lines.push(cells.join(','));
    }
  }
  return lines.join('\n') + '\n';
}

function fmt(v: number | null | undefined): string {
  return v === null || v === undefined ? '' : String(v);
}
